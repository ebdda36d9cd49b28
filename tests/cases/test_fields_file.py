"""fields/fields.vtkhdf of the reduced coupon: the same file on 1 and on all ranks, after a
stop + restart (also with a step written past the checkpoint) as without, and its last step
equal to the solver's nodal values in the checkpoint."""

from __future__ import annotations

from mpi4py import MPI

import h5py
import numpy as np
import pytest

from batteryfx.cli import main
from batteryfx.fields import _append_step
from batteryfx.run import run

comm = MPI.COMM_WORLD
pytestmark = pytest.mark.mpi


def h5_contents(path) -> dict:
    """Every dataset and attribute of an HDF5 file, by name."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            for key, value in obj.attrs.items():
                out[f"{name}@{key}"] = np.asarray(value)
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        visit("/", f)
        f.visititems(visit)
    return out


def assert_same_file(a, b, rtol=0.0, atol=0.0):
    """Every dataset and attribute equal: bitwise, except the field values (PointData and
    CellData arrays) to ``rtol`` / ``atol`` when given."""
    ca, cb = h5_contents(a), h5_contents(b)
    assert ca.keys() == cb.keys()
    for key in ca:
        if (rtol or atol) and ("/PointData/" in key or "/CellData/" in key):
            np.testing.assert_allclose(cb[key], ca[key], rtol=rtol, atol=atol, err_msg=key)
        else:
            np.testing.assert_array_equal(cb[key], ca[key], err_msg=key)


def test_fields_file_independent_of_ranks(reduced_coupon, shared_tmp):
    run(reduced_coupon, out=shared_tmp / "fpar", figures=False, progress=False)
    if comm.rank == 0:
        run(reduced_coupon, out=shared_tmp / "fser", figures=False, progress=False,
            comm=MPI.COMM_SELF)
        par, ser = (shared_tmp / d / "fields" / "fields.vtkhdf" for d in ("fpar", "fser"))
        # mesh, times and offsets bitwise; values to the solver's rank-count round-off
        assert_same_file(ser, par, rtol=1e-8)
        with h5py.File(par) as f:
            n = int(f["VTKHDF/NumberOfPoints"][0])
            steps = f["VTKHDF/Steps/Values"][:]
            last = f["VTKHDF/PointData/temperature"][(len(steps) - 1) * n:]
        np.testing.assert_allclose(steps, [0.0, 1e-6, 1e-4, 2e-3], rtol=1e-12, atol=0)
        with np.load(shared_tmp / "fpar" / "checkpoint" / "state.npz") as ck:
            # the solver's nodal values
            np.testing.assert_array_equal(last, ck["field_temperature"])
    comm.Barrier()


def test_fields_file_after_restart(reduced_coupon, shared_tmp):
    whole, cut = shared_tmp / "fwhole", shared_tmp / "fcut"
    args = [str(reduced_coupon), "--no-figures", "-q"]
    assert main(["run", *args, "--out", str(whole)]) == 0
    assert main(["run", *args, "--out", str(cut), "--stop-after-steps", "25"]) == 0
    partial = shared_tmp / "fcut.partial" / "fields" / "fields.vtkhdf"
    if comm.rank == 0:  # a step written after the last checkpoint (killed before it)
        with h5py.File(partial) as f:
            steps = int(f["VTKHDF/Steps"].attrs["NSteps"])
            n = int(f["VTKHDF/NumberOfPoints"][0])
        assert 1 <= steps < 4
        _append_step(partial, steps, 1.0, {"temperature": np.full(n, 999.0)})
    comm.Barrier()
    assert main(["run", *args, "--restart", str(cut)]) == 0
    if comm.rank == 0:
        assert_same_file(whole / "fields" / "fields.vtkhdf", cut / "fields" / "fields.vtkhdf",
                         rtol=1e-10)
    comm.Barrier()
