"""Helpers for the tests: small geometries and error norms."""

from __future__ import annotations

from mpi4py import MPI

import numpy as np
import ufl
from dolfinx import fem

from batteryfx.geometry import build_geometry
from batteryfx.geometry.coupon import CouponLayer, CouponSpec, CouponStack


def column(layers: list[tuple[str, float, int]], width: float = 0.25, comm=MPI.COMM_WORLD):
    """A 1D-through-thickness column: one hexahedron in-plane, ``layers`` = (material,
    thickness m, cells) bottom-up. Markers: bottom (z = 0), top, sides, s/l0, s/l1, ..."""
    rows, top = [], 0.0
    for i, (m, t, n) in enumerate(layers):
        rows.append(CouponLayer(f"l{i}", m, top, top + t, n))
        top += t
    spec = CouponSpec(size=(width, width), mesh_size=width,
                      stacks=(CouponStack("s", tuple(rows)),))
    return build_geometry(spec, comm)


def l2_norm(expr, mesh, degree: int = 8) -> float:
    """sqrt(int expr^2 dx / |Omega|), assembled on all ranks (collective)."""
    dx = ufl.dx(domain=mesh, metadata={"quadrature_degree": degree})
    one = fem.Constant(mesh, 1.0)
    local = fem.assemble_scalar(fem.form(expr**2 * dx))
    vol = fem.assemble_scalar(fem.form(one * dx))
    return float(np.sqrt(mesh.comm.allreduce(local) / mesh.comm.allreduce(vol)))


def rates(hs, errors) -> np.ndarray:
    """Observed convergence rates log(e_i / e_{i+1}) / log(h_i / h_{i+1})."""
    hs, errors = np.asarray(hs), np.asarray(errors)
    return np.log(errors[:-1] / errors[1:]) / np.log(hs[:-1] / hs[1:])


REDUCED_COUPON = [
    'geometry.mesh_size="1 um"',
    'geometry.hot_spot.mesh_size="1 um"',
    'geometry.max_cell_thickness="1 um"',
    'time.end="2 ms"',
    'time.dt_max="50 us"',
    "time.growth=1.1",
    "time.hold_steps=4",
    'outputs.field_times=["1 us", "100 us"]',
    'figures.times=["1 us", "100 us"]',
    "outputs.checkpoint_every=10",
]


def bundled_case_with(name: str, overrides: list[str], path):
    """Write the bundled case ``name`` with ``--set`` style ``overrides`` to ``path`` (rank 0;
    every rank waits) and return the path."""
    import tomli_w

    from batteryfx.case import apply_overrides, read_toml
    from batteryfx.cli import bundled_cases

    data = apply_overrides(read_toml(bundled_cases()[name]), list(overrides))
    if MPI.COMM_WORLD.rank == 0:
        path.write_text(tomli_w.dumps(data))
    MPI.COMM_WORLD.Barrier()
    return path


def reduced_coupon_case(folder):
    """Write the bundled coupon case with the REDUCED_COUPON overrides applied to ``folder``."""
    return bundled_case_with("coupon_pi_ag_vs_cu", REDUCED_COUPON, folder / "coupon_reduced.toml")


def expect_one_error(capfd, argv: list[str], *texts: str) -> str:
    """Run the CLI in-process; assert exit 2 on every rank and, on rank 0, exactly one error
    line ("batteryfx: error: ...", < 500 characters, no traceback) holding ``texts``; other
    ranks print nothing. Returns the line (rank 0; "" elsewhere)."""
    from batteryfx.cli import main

    capfd.readouterr()
    code = main(argv)
    err = capfd.readouterr().err
    assert code == 2, (code, err[-2000:])
    if MPI.COMM_WORLD.rank != 0:
        assert err == "", err
        return ""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err[:2000]
    assert lines[0].startswith("batteryfx: error:"), lines[0]
    assert len(lines[0]) < 500, len(lines[0])
    for text in texts:
        assert text in lines[0], lines[0]
    return lines[0]


def probe_results(summary: dict) -> dict:
    """summary.json's probe results as {(probe, key): value}."""
    return {(name, key): value for name, res in summary["probes"].items()
            for key, value in res.items()}


def on_all_and_one_rank(run):
    """(``run(COMM_WORLD)``, ``run(COMM_SELF)`` on rank 0 broadcast to every rank): the same
    computation on all ranks and on one, for rank-independence tests (collective)."""
    comm = MPI.COMM_WORLD
    par = run(comm)
    ser = run(MPI.COMM_SELF) if comm.rank == 0 else None
    return par, comm.bcast(ser, root=0)


def assert_ranks_agree(case, folder, rel: float = 1e-8) -> dict:
    """Run ``case`` on all ranks and on rank 0 alone (COMM_SELF) into ``folder``/par and /ser;
    assert the same dofs and steps and every probe result equal to ``rel``; return the
    all-rank summary."""
    import pytest

    from batteryfx.run import run

    comm = MPI.COMM_WORLD
    par = run(case, out=folder / "par", figures=False, progress=False).summary
    ser = None
    if comm.rank == 0:
        ser = run(case, out=folder / "ser", figures=False, progress=False,
                  comm=MPI.COMM_SELF).summary
    ser = comm.bcast(ser, root=0)
    assert par["ranks"] == comm.size and ser["ranks"] == 1
    assert par["dofs"] == ser["dofs"] and par["time_steps"] == ser["time_steps"]
    a, b = probe_results(par), probe_results(ser)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=rel), key
    return par
