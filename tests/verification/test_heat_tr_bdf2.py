"""TR-BDF2 (the default time scheme): second order in time on the plane-wall series of
test_heat_slab (convection, and the face suddenly held at a fixed temperature, where
Crank-Nicolson needs its backward-Euler start-up and TR-BDF2, L-stable, needs none); one
factorization per dt for both stages; exact energy bookkeeping (windowed source + convection,
fixed-temperature hot spot); run-time sanity checks; state()/restore(). Serial and 2 ranks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from batteryfx.errors import PhysicsViolation
from batteryfx.solvers import analytic
from batteryfx.solvers.heat import (
    Convection,
    FixedTemperature,
    HeatFlux,
    HeatProblem,
    VolumeSource,
)
from tests.helpers import column, l2_norm, rates
from tests.verification.test_heat_slab import RC, K, L, _series

pytestmark = [pytest.mark.verification, pytest.mark.mpi]
T_INF = 300.0


def _slab_error(nz: int, dt: float, bc: str, t_end: float = 0.2) -> float:
    """theta = T - T_INF (temperatures offset so that the consistent mass's undershoots do
    not go below 0 K, which stops a run)."""
    geometry = column([("Cu", L, nz)])
    if bc == "convection":
        cond = Convection("top", h=5.0 * K / L, ambient=T_INF)
        terms = analytic.slab_convection_terms(5.0, 60)
    else:
        cond = FixedTemperature("top", T_INF)
        terms = analytic.slab_fixed_terms(400)
    problem = HeatProblem(geometry, K, RC, initial_temperature=T_INF + 1.0, conditions=[cond])
    assert problem.scheme == "tr_bdf2"
    for _ in range(round(t_end / dt)):
        problem.step(dt)
    assert problem.factorizations == 1  # one operator serves both stages
    err = l2_norm(problem.T - T_INF - _series(geometry, problem.t, terms), geometry.mesh)
    problem.destroy()
    return err


@pytest.mark.parametrize("bc", ["convection", "fixed"])
def test_tr_bdf2_temporal_rate(bc):
    """Second order in time (measured rates: 2.07 / 2.01 convection, 2.11 / 2.00 fixed)."""
    steps = [0.05, 0.025, 0.0125]
    errors = [_slab_error(256, dt=dt, bc=bc) for dt in steps]
    observed = rates(steps, errors)
    assert np.all((observed > 1.9) & (observed < 2.15)), (bc, errors, observed)


def test_energy_balance_source_window_and_convection():
    """Windowed volume source (switched on and off inside steps, in either stage) plus
    convection: stored heat = cumulative input to round-off; and insulated, the stored heat is
    exactly q V (t1 - t0)."""
    geometry = column([("Cu", 2e-6, 4), ("polyimide", 6e-6, 6)], width=4e-6)
    volume = 4e-6 * 4e-6 * 8e-6
    q, t0, t1, dt = 1e12, 0.3e-6, 3.05e-6, 2e-7
    source = VolumeSource("s/l0", q, start=t0, end=t1)
    for conditions in ([Convection("top", 2e5, 310.0)], []):
        problem = HeatProblem(geometry, 100.0, 3.4e6, initial_temperature=298.0,
                              conditions=conditions, sources=[source], mass_lumping=True)
        for i in range(30):
            problem.step(dt * (1.0 + 0.1 * (i % 3)))  # varying dt: several factorizations
        balance = problem.energy_balance()
        assert balance["drift_rel"] < 1e-8, balance
        assert abs(balance["drift_J"]) < 1e-8 * abs(balance["stored_J"]), balance
        assert balance["roundoff_J"] < 1e-8 * abs(balance["stored_J"]), balance
        assert balance["fixed_temperature_J"] == 0.0
        if not conditions:
            assert balance["stored_J"] == pytest.approx(q * volume / 4 * (t1 - t0), rel=1e-10)
        assert problem.max_principle_excess() is None  # a source: no maximum principle
        problem.destroy()


@pytest.mark.parametrize("scheme", ["tr_bdf2", "theta"])
def test_energy_balance_fixed_temperature(scheme):
    """A face suddenly held at 473 K (the hot-spot path): the heat through it (the Dirichlet
    reaction) equals the stored heat, with growing steps."""
    geometry = column([("Ag", 0.5e-6, 2), ("polyimide", 7e-6, 7), ("Ag", 0.5e-6, 2)],
                      width=1e-6)
    problem = HeatProblem(geometry, 429.0, 2.5e6, initial_temperature=298.0,
                          conditions=[FixedTemperature("top", 473.0)], scheme=scheme,
                          theta=0.5, mass_lumping=True)
    dt = 1e-9
    for _ in range(25):
        problem.step(dt)
        dt *= 1.5
    balance = problem.energy_balance()
    assert balance["stored_J"] > 0 and balance["loads_J"] == 0.0
    assert balance["drift_rel"] < 1e-8, balance
    assert abs(balance["drift_J"]) < 1e-8 * balance["stored_J"], balance
    assert balance["roundoff_J"] < 1e-8 * balance["stored_J"], balance
    if scheme == "tr_bdf2":  # (Crank-Nicolson overshoots: 0.05 K here)
        assert problem.max_principle_excess() < 1e-6 * 175.0
    problem.destroy()


def test_negative_temperature_stops_the_run():
    """A sink far too strong for the heat capacity (the reported -5.6e7 K): PhysicsViolation,
    naming t, dt, the temperature and the likely cause."""
    geometry = column([("Cu", 8e-6, 8)], width=2e-6)
    problem = HeatProblem(geometry, 400.0, 3.4e6, initial_temperature=298.0,
                          conditions=[HeatFlux("bottom", -1e12)])
    with pytest.raises(PhysicsViolation) as info:
        for _ in range(10):
            problem.step(1e-7)
    message = str(info.value)
    assert "below 0 K" in message and "t = " in message and "dt = 1e-07 s" in message
    assert "time.dt_max" in message and "\n" not in message
    assert info.value.exit_code == 4
    problem.destroy()


def test_state_restore_roundtrip():
    """state() is JSON-serialisable; a problem restored from it (and T, t) continues exactly
    like the original: counters, energy balance, maximum-principle tracking."""
    geometry = column([("Cu", 2e-6, 4), ("polyimide", 6e-6, 6)], width=4e-6)

    def make():
        return HeatProblem(geometry, 100.0, 3.4e6, initial_temperature=298.0,
                           conditions=[FixedTemperature("top", 473.0),
                                       Convection("bottom", 1e5, 300.0)], mass_lumping=True)

    a = make()
    for _ in range(5):
        a.step(1e-7)
    state = json.loads(json.dumps(a.state()))
    b = make()
    b.T.x.array[:] = a.T.x.array
    b.t = a.t
    b.restore(state)
    assert b.state() == a.state()
    for p in (a, b):
        for _ in range(5):
            p.step(2e-7)
    assert np.array_equal(a.T.x.array, b.T.x.array)
    ea, eb = a.energy_balance(), b.energy_balance()
    assert eb["net_input_J"] == pytest.approx(ea["net_input_J"], rel=1e-12)
    assert b.iterations == a.iterations and b.factorizations == a.factorizations
    assert b.max_principle_excess() == a.max_principle_excess()
    a.destroy()
    b.destroy()
