"""Shared fixtures. After each test: gc + MPI barrier (as DOLFINx's own test suite does)."""

from __future__ import annotations

import gc
import os
import tempfile
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
    comm = MPI.COMM_WORLD
    if comm.size > 1:
        # only rank 0 reports; the other ranks run the same collective tests quietly
        if comm.rank != 0:
            config.option.verbose = -1
        # one temporary root per run and rank: pytest's rotation of numbered folders
        # (keep the newest 3) must not delete a folder another rank or run still uses
        if config.option.basetemp is None:
            run_id = comm.bcast(f"{os.getpid()}", root=0)
            root = Path(tempfile.gettempdir()) / f"batteryfx-pytest-{run_id}"
            root.mkdir(parents=True, exist_ok=True)
            config.option.basetemp = str(root / f"rank{comm.rank}")


@pytest.fixture
def shared_tmp(tmp_path_factory):
    """A temporary folder with the same path on every rank (created on rank 0, broadcast)."""
    from batteryfx.parallel import on_rank0

    return on_rank0(MPI.COMM_WORLD, tmp_path_factory.mktemp, "shared", what="temporary folder")


@pytest.fixture
def reduced_coupon(shared_tmp):
    """The bundled coupon case with CI-sized mesh and time stepping, written to a file."""
    from tests.helpers import reduced_coupon_case

    return reduced_coupon_case(shared_tmp)
