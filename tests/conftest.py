"""Shared fixtures. After each test: gc + MPI barrier (as DOLFINx's own test suite does)."""

from __future__ import annotations

import gc

from mpi4py import MPI

import pytest

import batteryfx  # noqa: F401  (imports dolfinx_solver before dolfinx when installed)


@pytest.fixture(autouse=True)
def _collect_and_sync():
    yield
    gc.collect()
    MPI.COMM_WORLD.Barrier()


def pytest_configure(config):
    if MPI.COMM_WORLD.size > 1:
        # only rank 0 reports; the other ranks run the same collective tests quietly
        if MPI.COMM_WORLD.rank != 0:
            config.option.verbose = -1
