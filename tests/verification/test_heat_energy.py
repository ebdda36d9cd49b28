"""Discrete energy balance of the heat solver (PHYSICS.md B v, without reactions): insulated
body, heat put in by a volume source switched off at t1 or by a surface flux. Because
1^T K = 0, the theta scheme conserves energy exactly: int rho c_p (T - T0) dx = Q_in(t)."""

from __future__ import annotations

import pytest

from batteryfx.solvers.heat import HeatFlux, HeatProblem, VolumeSource
from tests.helpers import column

pytestmark = [pytest.mark.verification, pytest.mark.mpi]


@pytest.mark.parametrize("theta", [1.0, 0.5])
def test_volume_source_window(theta):
    geometry = column([("Cu", 2e-6, 4), ("polyimide", 6e-6, 6)], width=4e-6)
    volume = 4e-6 * 4e-6 * 8e-6
    q, t1, dt = 1e12, 3.05e-6, 2e-7  # W/m^3 in the Cu layer only, off inside step 16
    source = VolumeSource("s/l0", q, start=0.0, end=t1)
    problem = HeatProblem(geometry, 100.0, 3.4e6, initial_temperature=298.0,
                          sources=[source], scheme="theta", theta=theta)
    energies = []
    for _ in range(30):
        problem.step(dt)
        energies.append(problem.energy())
    q_in = q * volume / 4  # the Cu layer is a quarter of the column
    assert energies[-1] == pytest.approx(q_in * t1, rel=1e-10)
    assert energies[4] == pytest.approx(q_in * 5 * dt, rel=1e-10)
    problem.destroy()


def test_surface_flux():
    geometry = column([("Cu", 8e-6, 8)], width=2e-6)
    flux, dt = 1e6, 1e-7  # W/m^2 into the top face
    problem = HeatProblem(geometry, 400.0, 3.4e6, initial_temperature=298.0,
                          conditions=[HeatFlux("top", flux)])
    for _ in range(10):
        problem.step(dt)
    assert problem.energy() == pytest.approx(flux * 2e-6 * 2e-6 * 10 * dt, rel=1e-10)
    problem.destroy()
