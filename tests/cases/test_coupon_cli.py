"""The coupon case through the CLI (reduced resolution): validate, run, plot; outputs and the
physics claim; serial vs 2-rank agreement; restart from a checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys

from mpi4py import MPI

import h5py
import numpy as np
import pytest

from batteryfx.cli import main
from batteryfx.post.probes import read_probes
from tests.helpers import assert_ranks_agree, probe_results

comm = MPI.COMM_WORLD


def test_validate_bundled(capfd):
    assert main(["validate", "coupon_pi_ag_vs_cu"]) == 0
    assert "valid" in capfd.readouterr().out


def test_materials_and_cases_commands(capfd):
    assert main(["materials"]) == 0
    out = capfd.readouterr().out
    assert "polyimide" in out and "Cu" in out
    assert main(["materials", "polyimide"]) == 0
    assert "Kapton" in capfd.readouterr().out
    assert main(["cases"]) == 0
    assert "coupon_pi_ag_vs_cu" in capfd.readouterr().out
    assert main(["materials", "kryptonite"]) == 2


@pytest.mark.mpi
def test_run_and_plot(reduced_coupon, shared_tmp, capfd):
    out = shared_tmp / "coupon"
    assert main(["run", str(reduced_coupon), "--out", str(out), "-q"]) == 0
    assert not (shared_tmp / "coupon.partial").exists()
    for name in ("case.resolved.toml", "summary.json", "probes.csv", "log.txt",
                 "fields/fields.vtkhdf", "figures/probes.png",
                 "figures/temperature_cut_y.png", "checkpoint/state.npz"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ranks"] == comm.size
    assert not (out / "fields/fields.vtkhdf.series").exists()
    with h5py.File(out / "fields/fields.vtkhdf", "r") as f:
        times = f["VTKHDF/Steps/Values"][:]
    assert [round(float(t), 12) for t in times] == [0.0, 1e-6, 1e-4, 2e-3]
    p = summary["probes"]
    t_pi = p["pi_ag_bottom"]["time_to_50pct_rise_s"]
    t_cu = p["cu_bottom"]["time_to_50pct_rise_s"]
    # the PI film delays the bottom face by two orders of magnitude (diffusion times:
    # (7 um)^2 / alpha_PI ~ 0.6 ms vs (8 um)^2 / alpha_Cu ~ 0.6 us)
    assert 1e-4 < t_pi < 1e-3 and 3e-7 < t_cu < 1e-5, (t_pi, t_cu)
    assert t_pi / t_cu > 50
    # insulated everywhere but the hot spot: everything tends to 473 K; no overshoot/undershoot
    t, probes = read_probes(out / "probes.csv")
    for v in probes.values():
        assert v.min() >= 298.0 - 1e-9 and v.max() <= 473.0 + 1e-6
        assert np.all(np.diff(v) >= -1e-9)  # heating only
    # plot again from the outputs alone
    comm.Barrier()  # (every rank has checked the files above)
    for f in (out / "figures").glob("*.png"):
        if comm.rank == 0:
            f.unlink()
    comm.Barrier()
    assert main(["plot", str(out)]) == 0
    assert (out / "figures/temperature_cut_y.png").exists()
    if comm.size == 1:  # and without DOLFINx, PETSc or UFL (a laptop with PyVista only)
        (out / "figures/temperature_cut_y.png").unlink()
        run = subprocess.run([sys.executable, "-c", _PLOT_WITHOUT_FEM, str(out)],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        assert (out / "figures/temperature_cut_y.png").exists()


#: ``batteryfx plot OUT`` in a fresh interpreter where DOLFINx, PETSc, UFL and basix cannot
#: be imported
_PLOT_WITHOUT_FEM = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dolfinx", "petsc4py", "ufl", "basix"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
from batteryfx.cli import main
sys.exit(main(["plot", sys.argv[1]]))
"""


@pytest.mark.mpi
def test_summary_independent_of_ranks(reduced_coupon, shared_tmp):
    """The run on all ranks agrees with a serial run (rank 0 alone) to 1e-8 relative."""
    assert_ranks_agree(reduced_coupon, shared_tmp)


def _assert_same_results(whole, cut):
    """probes.csv and summary results of a restarted run equal the uninterrupted run's (to
    round-off: parallel MUMPS factorizations are not bitwise reproducible, ~1e-12)."""
    t1, p1 = read_probes(whole / "probes.csv")
    t2, p2 = read_probes(cut / "probes.csv")
    np.testing.assert_array_equal(t1, t2)
    for name in p1:
        np.testing.assert_allclose(p2[name], p1[name], rtol=1e-10, atol=0)
    s1 = json.loads((whole / "summary.json").read_text())
    s2 = json.loads((cut / "summary.json").read_text())
    assert probe_results(s1) == pytest.approx(probe_results(s2), rel=1e-10)
    return s1, s2


@pytest.mark.mpi
def test_restart_matches_uninterrupted(reduced_coupon, shared_tmp, capfd):
    whole = shared_tmp / "whole"
    cut = shared_tmp / "cut"
    assert main(["run", str(reduced_coupon), "--out", str(whole), "--no-figures", "-q"]) == 0
    assert main(["run", str(reduced_coupon), "--out", str(cut), "--no-figures", "-q",
                 "--stop-after-steps", "25"]) == 0
    assert (shared_tmp / "cut.partial").exists() and not cut.exists()
    if comm.rank == 0:
        assert "--restart" in capfd.readouterr().out
    # the interrupted folder is not overwritten by a fresh run by accident
    assert main(["run", str(reduced_coupon), "--out", str(cut), "--no-figures", "-q"]) == 2
    assert main(["run", str(reduced_coupon), "--restart", str(cut), "--no-figures", "-q"]) == 0
    assert cut.exists() and not (shared_tmp / "cut.partial").exists()
    _assert_same_results(whole, cut)


@pytest.mark.mpi
@pytest.mark.parametrize("stop", [1, 14])
def test_restart_after_a_kill(reduced_coupon, shared_tmp, stop):
    """A run killed after its last checkpoint (rows written past it, a torn last line) and
    a stop inside the backward-Euler start-up both restart to the uninterrupted result."""
    whole, cut = shared_tmp / f"whole{stop}", shared_tmp / f"cut{stop}"
    args = [str(reduced_coupon), "--no-figures", "-q"]
    assert main(["run", *args, "--out", str(whole)]) == 0
    assert main(["run", *args, "--out", str(cut), "--stop-after-steps", str(stop)]) == 0
    probes = shared_tmp / f"cut{stop}.partial" / "probes.csv"
    if comm.rank == 0:  # what a kill -9 a few steps after the checkpoint leaves behind
        lines = probes.read_text().splitlines()
        probes.write_text("\n".join(lines + [lines[-1]] * 3) + "\n3.9751e-")
    comm.Barrier()
    assert main(["run", *args, "--restart", str(cut)]) == 0
    s1, s2 = _assert_same_results(whole, cut)
    # counters survive the restart (which re-factorizes once more: a new process)
    assert s1["factorizations"] <= s2["factorizations"] <= s1["factorizations"] + 1


def test_restart_refuses_a_changed_case(reduced_coupon, shared_tmp, capfd):
    cut = shared_tmp / "cut2"
    assert main(["run", str(reduced_coupon), "--out", str(cut), "--no-figures", "-q",
                 "--stop-after-steps", "3"]) == 0
    assert main(["run", str(reduced_coupon), "--restart", str(cut), "--no-figures", "-q",
                 "--set", "time.growth=1.2"]) == 2
    assert "differs" in capfd.readouterr().err
