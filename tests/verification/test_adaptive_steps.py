"""Error-controlled time steps (TR-BDF2's embedded estimate): the estimate tracks the true
local error (third order), the global error follows the tolerance, a source switched on late
is followed with small steps and then the steps grow again, and a rejected step is undone
exactly."""

from __future__ import annotations

from mpi4py import MPI

import numpy as np
import pytest

from batteryfx.geometry import build_geometry
from batteryfx.geometry.coupon import CouponLayer, CouponSpec, CouponStack
from batteryfx.solvers import heat
from batteryfx.solvers.timestepping import TimeStepper

pytestmark = pytest.mark.mpi
UM = 1e-6


def _slab(cells=16):
    """A 100 um Cu-like column: layer a (0-90 um) and a thin top layer b (90-100 um)."""
    spec = CouponSpec(size=(40 * UM, 40 * UM), mesh_size=40 * UM, stacks=(CouponStack(
        "s", (CouponLayer("a", "Cu", 0.0, 90 * UM, cells - 2),
              CouponLayer("b", "Cu", 90 * UM, 100 * UM, 2))),), min_cells_per_layer=1)
    return build_geometry(spec, MPI.COMM_WORLD)


def _problem(geometry, sources=(), conditions=None):
    k, rc = 400.0, 3.45e6  # alpha = 1.16e-4 m^2/s: tau = L^2 / alpha = 86 us
    if conditions is None:
        conditions = [heat.Convection("bottom", 1e5, 300.0)]
    return heat.HeatProblem(geometry, k, rc, initial_temperature=400.0,
                            conditions=conditions, sources=list(sources), mass_lumping=True)


def _run(problem, stepper, accepted: list | None = None):
    """Adaptive stepping as the run loop does it; (t, dt) of accepted steps into
    ``accepted``."""
    while not stepper.done:
        dt, hit = stepper.next()
        problem.step(dt)
        if not stepper.accept(dt, problem.error_estimate()):
            problem.undo()
            continue
        stepper.advance(dt, hit)
        if accepted is not None:
            accepted.append((stepper.t, dt))
    return problem


def test_estimate_is_third_order_and_matches_the_error():
    """One step from the same smooth state: estimate and true error (against 64 small steps)
    both fall by ~8x per halving of dt, and agree within a factor 3."""
    g = _slab()
    base = _problem(g)
    for _ in range(20):  # a smooth state: the mesh's fast modes (h^2/alpha ~ 0.3 us) decayed
        base.step(5e-6)
    start = base.T.x.array.copy()
    rows = []
    for dt in (4e-6, 2e-6, 1e-6):
        p = _problem(g)
        p.T.x.array[:] = start
        p.step(dt)
        est = p.error_estimate()
        ref = _problem(g)
        ref.T.x.array[:] = start
        for _ in range(64):
            ref.step(dt / 64)
        err = g.mesh.comm.allreduce(float(np.abs(p.T.x.array - ref.T.x.array).max()), op=MPI.MAX)
        rows.append((est, err))
        for q in (p, ref):
            q.destroy()
    base.destroy()
    print("estimate, true error:", rows)
    (e1, r1), (e2, r2), (e3, r3) = rows
    assert 6 < e1 / e2 < 10 and 6 < e2 / e3 < 10, rows
    assert 6 < r1 / r2 < 10 and 6 < r2 / r3 < 10, rows
    for est, err in rows:
        assert 1 / 3 < est / err < 3, rows


def test_global_error_follows_the_tolerance():
    """Convective cooling to 1 ms (~12 tau): the error at the end against a fine fixed-step run
    falls with the tolerance, and stays below it; fewer steps at looser tolerance."""
    g = _slab()
    ref = _problem(g)
    for _ in range(4000):
        ref.step(1e-3 / 4000)
    errs, steps = [], []
    for tol in (1e-1, 1e-2, 1e-3):
        st = TimeStepper(1e-3, 1e-7, tolerance=tol)
        p = _run(_problem(g), st)
        errs.append(g.mesh.comm.allreduce(float(np.abs(p.T.x.array - ref.T.x.array).max()),
                                          op=MPI.MAX))
        steps.append(st.step)
        p.destroy()
    ref.destroy()
    assert errs[0] > errs[1] > errs[2] and errs[0] < 1e-1, errs
    assert steps[0] < steps[1] < steps[2], steps


def test_follows_a_late_source_then_grows():
    """A strong source in the top 10 um switched on at t = 2 ms: the steps shrink after the
    switch (below 5 us) and grow again afterwards (to > 50 us); the energy put in is exact."""
    g = _slab()
    src = heat.VolumeSource("s/b", 1e13, 2e-3, 3e-3)
    p = _problem(g, [src], conditions=[])  # insulated: all the source's heat stays
    st = TimeStepper(6e-3, 1e-6, tolerance=0.05, targets=p.breakpoints())
    dts = []
    _run(p, st, dts)
    near = [dt for t, dt in dts if 2e-3 <= t <= 2.02e-3]
    late = [dt for t, dt in dts if t > 4e-3]
    before = [dt for t, dt in dts if t <= 2e-3]
    assert max(before) > 5e-5 and min(near) < 5e-6 and max(late) > 5e-5, (before, near, late)
    assert st.rejected >= 1
    energy = 1e13 * 1e-3 * (40 * UM) ** 2 * 10 * UM  # q x duration x volume
    balance = p.energy_balance()
    assert balance["loads_J"] == pytest.approx(energy, rel=1e-12)
    assert balance["stored_J"] == pytest.approx(energy, rel=1e-9)
    p.destroy()


def test_undo_restores_the_state():
    g = _slab()
    p = _problem(g, conditions=[heat.FixedTemperature("top", 500.0)])
    p.step(1e-6)
    before = (p.T.x.array.copy(), p.t, dict(p.energy_balance()))
    p.step(1e-5)
    p.undo()
    np.testing.assert_array_equal(p.T.x.array, before[0])
    assert p.t == before[1] and p.energy_balance() == before[2]
    p.destroy()
