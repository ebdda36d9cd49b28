"""Shared fixtures. After each test: gc + MPI barrier (as DOLFINx's own test suite does)."""

from __future__ import annotations

import gc
from pathlib import Path

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


@pytest.fixture
def shared_tmp(tmp_path_factory):
    """A temporary folder with the same path on every rank (created on rank 0, broadcast)."""
    comm = MPI.COMM_WORLD
    path = str(tmp_path_factory.mktemp("shared")) if comm.rank == 0 else None
    return Path(comm.bcast(path, root=0))


@pytest.fixture
def reduced_coupon(shared_tmp):
    """The bundled coupon case with CI-sized mesh and time stepping, written to a file."""
    from tests.helpers import reduced_coupon_case

    return reduced_coupon_case(shared_tmp)
