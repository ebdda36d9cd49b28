"""Radiation boundary condition -k dT/dn = eps sigma (T^4 - T_amb^4) (PHYSICS.md B), alone and
together with convection on the same face; semi-implicit scheme of solvers/heat.py (fixed
h_r0 = 4 eps sigma T_lin^3 in the operator, the remainder as a load).

(1) lumped coupon (Bi ~ 2e-7) cooling by radiation from all faces against the closed form
    t(T) = rho c V / (eps sigma A) / (4 Ta^3) [ln((T + Ta)/(T - Ta)) + 2 atan(T/Ta)]_{T0}^{T}:
    error and temporal order of TR-BDF2 (2), Crank-Nicolson (2) and backward Euler (1);
(2) slab, convection + radiation (different ambients) on one face, the other insulated, against
    a fine 1D reference computed here (P1, 400 elements, implicit TR-BDF2 with Newton on the
    face node, Richardson-extrapolated in time): temperature history and spatial order 2;
(3) energy balance (radiative heat in net_input_J), maximum-principle bounds and steady
    radiative equilibrium; state()/restore() exact;
(4) serial (COMM_SELF) vs all ranks equal to 1e-8.
All run serially and on 2 ranks.
"""

from __future__ import annotations

import json

from mpi4py import MPI

import numpy as np
import pytest

from batteryfx.geometry import build_geometry
from batteryfx.geometry.coupon import CouponLayer, CouponSpec, CouponStack
from batteryfx.solvers.heat import (
    STEFAN_BOLTZMANN,
    Convection,
    HeatProblem,
    Radiation,
    VolumeSource,
)
from tests.helpers import column, rates

pytestmark = [pytest.mark.verification, pytest.mark.mpi]
SIGMA = STEFAN_BOLTZMANN


def test_stefan_boltzmann_constant():
    assert SIGMA == pytest.approx(5.670374419e-8, rel=1e-10)  # CODATA 2018 (exact SI)


# --------------------------------------------------------------------------- (1) lumped
L1, W1, RC1, K1 = 1e-3, 2e-3, 3.45e6, 1e6  # m, m, J/(m^3 K), W/(m K) (k huge: Bi ~ 2e-7)
EPS1, T01, TA1, T_END1 = 0.8, 1000.0, 300.0, 40.0
AREA1, VOLUME1 = 2 * W1 * W1 + 4 * W1 * L1, W1 * W1 * L1


def _lumped_time(temperature):
    """Closed form: time for the lumped body to cool from T01 to ``temperature``."""
    beta = EPS1 * SIGMA * AREA1 / (RC1 * VOLUME1)

    def g(t):
        return np.log((t + TA1) / (t - TA1)) + 2.0 * np.arctan(t / TA1)

    return (g(temperature) - g(T01)) / (4.0 * TA1**3 * beta)


def _lumped_temperature(time: float) -> float:
    """Invert the closed form by bisection (t(T) decreases monotonically on (Ta, T0])."""
    lo, hi = TA1 * (1 + 1e-12), T01
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if _lumped_time(mid) < time else (mid, hi)
    return 0.5 * (lo + hi)


def test_lumped_closed_form_solves_the_ode():
    """The closed form t(T) satisfies dT/dt = -eps sigma A / (rho c V) (T^4 - Ta^4)."""
    beta = EPS1 * SIGMA * AREA1 / (RC1 * VOLUME1)
    assert _lumped_time(T01) == 0.0
    for temp in (950.0, 700.0, 400.0, 310.0):
        h = 1e-5 * (temp - TA1)
        dtdT = (_lumped_time(temp + h) - _lumped_time(temp - h)) / (2 * h)
        assert 1.0 / dtdT == pytest.approx(-beta * (temp**4 - TA1**4), rel=1e-6)


def _lumped_error(steps: int, scheme: str, theta: float = 1.0) -> float:
    """Largest nodal error over the history (K) of the coupon radiating from every face."""
    geometry = column([("Cu", L1, 2)], width=W1)
    problem = HeatProblem(geometry, K1, RC1, initial_temperature=T01, scheme=scheme,
                          theta=theta, startup_steps=0,
                          conditions=[Radiation(m, EPS1, TA1) for m in ("top", "bottom",
                                                                          "sides")])
    assert problem.radiation_temperature == T01 and problem.bounds == (TA1, T01)
    dt, error = T_END1 / steps, 0.0
    for _ in range(steps):
        problem.step(dt)
        exact = _lumped_temperature(problem.t)
        local = np.abs(problem.T.x.array - exact).max(initial=0.0)
        error = max(error, problem.V.mesh.comm.allreduce(local, op=MPI.MAX))
    # the operator is kept: one factorization; boundary-form assemblies per step: TR-BDF2 3,
    # Crank-Nicolson 2 (predictor + corrector), backward Euler 1
    assert problem.factorizations == 1
    per_step = 3 if scheme == "tr_bdf2" else (2 if theta < 1 else 1)
    assert problem.radiation_assemblies == per_step * steps
    problem.destroy()
    return error


@pytest.mark.parametrize("scheme, theta, order, finest", [
    ("tr_bdf2", 1.0, 2.0, 0.08),  # measured 5.2, 1.10, 0.258, 0.0623 K: rates 2.23 2.10 2.05
    ("theta", 0.5, 2.0, 0.2),  # 6.35, 1.78, 0.534, 0.147 K: rates 1.84 1.73 1.86
    ("theta", 1.0, 1.0, 13.0),  # 74.0, 42.5, 23.1, 12.1 K: rates 0.80 0.88 0.93
], ids=["tr_bdf2", "crank_nicolson", "backward_euler"])
def test_lumped_radiative_cooling(scheme, theta, order, finest):
    """1000 K -> 524 K in 40 s (Ta = 300 K) with 10, 20, 40, 80 steps: error against the
    closed form and the observed temporal order."""
    steps = [10, 20, 40, 80]
    errors = [_lumped_error(n, scheme, theta) for n in steps]
    observed = rates([1.0 / n for n in steps], errors)
    assert errors[-1] < finest, (errors, observed)
    if order == 2.0:
        assert np.all((observed > 1.65) & (observed < 2.35)), (errors, observed)
        assert observed[-1] > 1.8, (errors, observed)
    else:
        assert np.all((observed > 0.75) & (observed < 1.1)), (errors, observed)
        assert observed[-1] > 0.9, (errors, observed)


# --------------------------------------------------------------------------- (2) slab
L2, K2, RC2, T02 = 5e-3, 0.5, 2e6, 800.0  # Bi ~ 1 at the start, diffusion time 100 s
H2, TA_CONV, EPS2, TA_RAD = 20.0, 300.0, 0.9, 320.0
TIMES2 = np.arange(1, 11) * 20.0
_GAMMA = 2.0 - np.sqrt(2.0)


def _slab_reference(n: int = 400, dt: float = 0.1) -> np.ndarray:
    """Temperatures at TIMES2 (rows) on n + 1 equispaced nodes z in [0, L2] (insulated at 0,
    convection + radiation at L2): P1 in space with lumped mass (O(h^2); 400 elements put
    this ~5e-5 K from the 800-element result), fully implicit TR-BDF2 in time with the face
    node's nonlinearity solved by scalar Newton, with a dense inverse of the (constant) stage
    matrix: T = z + w flux(T_L)."""
    d = _GAMMA / 2.0
    c1, c2 = 1.0 / (_GAMMA * (2.0 - _GAMMA)), (1.0 - _GAMMA) ** 2 / (_GAMMA * (2.0 - _GAMMA))
    hx = L2 / n
    mass = np.full(n + 1, RC2 * hx)
    mass[[0, -1]] /= 2.0
    stiff = np.zeros((n + 1, n + 1))
    i = np.arange(n)
    for a, b, sign in ((i, i, 1.0), (i + 1, i + 1, 1.0), (i, i + 1, -1.0), (i + 1, i, -1.0)):
        np.add.at(stiff, (a, b), sign * K2 / hx)

    def flux(t):  # into the body at z = L2
        return -(H2 * (t - TA_CONV) + EPS2 * SIGMA * (t**4 - TA_RAD**4))

    def dflux(t):
        return -(H2 + 4.0 * EPS2 * SIGMA * t**3)

    tau = d * dt
    inverse = np.linalg.inv(np.diag(mass / tau) + stiff)
    w = inverse[:, -1]

    def solve(rhs):
        z = inverse @ rhs
        x = z[-1]
        for _ in range(50):
            step = (x - z[-1] - w[-1] * flux(x)) / (1.0 - w[-1] * dflux(x))
            x -= step
            if abs(step) < 1e-14 * x:
                break
        return z + w * flux(x)

    temp, t, out = np.full(n + 1, T02), 0.0, []
    for target in TIMES2:
        while t < target - 1e-9:
            rhs = mass * temp / tau - stiff @ temp  # trapezoid to t + gamma dt
            rhs[-1] += flux(temp[-1])
            stage = solve(rhs)
            temp = solve(mass * (c1 * stage - c2 * temp) / tau)  # BDF2 to t + dt
            t += dt
        out.append(temp.copy())
    return np.array(out)


@pytest.fixture(scope="module")
def slab_reference():
    coarse, fine = _slab_reference(dt=0.2), _slab_reference(dt=0.1)
    return fine + (fine - coarse) / 3.0  # Richardson: the time error ~1e-4 K -> negligible


def _slab_error(nz: int, reference: np.ndarray, dt: float = 1.0) -> float:
    geometry = column([("Cu", L2, nz)], width=L2)
    problem = HeatProblem(geometry, K2, RC2, initial_temperature=T02,
                          conditions=[Convection("top", H2, TA_CONV),
                                      Radiation("top", EPS2, TA_RAD)])
    z = problem.V.tabulate_dof_coordinates()[:, 2]
    z_ref = np.linspace(0.0, L2, reference.shape[1])
    error = 0.0
    for row, target in zip(reference, TIMES2, strict=True):
        while problem.t < target - 1e-9:
            problem.step(dt)
        local = np.abs(problem.T.x.array - np.interp(z, z_ref, row)).max(initial=0.0)
        error = max(error, problem.V.mesh.comm.allreduce(local, op=MPI.MAX))
    assert problem.energy_balance()["drift_rel"] < 1e-10
    problem.destroy()
    return error


def test_slab_convection_and_radiation(slab_reference):
    """800 K slab, 5 mm, k = 0.5: 10, 20, 40 cells; the history (every 20 s to 200 s, all
    nodes) agrees with the reference to 4e-5 of the temperature drop, at spatial order 2
    (dt = 1 s; measured 0.205, 0.0501, 0.0122 K: rates 2.03, 2.04; relative 4.3e-5 at 40
    cells)."""
    drop = T02 - slab_reference.min()
    assert 250.0 < drop < 300.0  # the face radiates and convects to ~517 K
    sizes = [10, 20, 40]
    errors = [_slab_error(nz, slab_reference) for nz in sizes]
    observed = rates([1.0 / n for n in sizes], errors)
    assert errors[-1] / drop < 6e-5, (errors, observed)
    assert np.all((observed > 1.9) & (observed < 2.2)), (errors, observed)


# --------------------------------------------------------------------------- (3) balance
L3, K3, RC3 = 2e-3, 5.0, 2e6  # m, W/(m K), J/(m^3 K): radiative time scale ~30 s


def _mm_column():
    return column([("Cu", 0.5e-3, 4), ("polyimide", 1.5e-3, 6)], width=2e-3)


CONDITIONS3 = [Radiation("top", 0.9, 300.0), Convection("top", 20.0, 310.0),
               Radiation("bottom", 0.6, 350.0)]


@pytest.mark.parametrize("scheme", ["tr_bdf2", "theta"])
def test_energy_balance_with_radiation(scheme):
    """Radiation (+ convection on the same face, + a windowed source), growing steps (several
    factorizations): stored heat = cumulative input, the radiative loss included, to
    round-off; radiation alone: the heat lost is all of loads_J."""
    geometry = _mm_column()
    source = VolumeSource("s/l0", 2e7, start=2.0, end=20.0)
    for conditions, sources in ((CONDITIONS3, [source]), (CONDITIONS3[::2], [])):
        problem = HeatProblem(geometry, K3, RC3, initial_temperature=900.0,
                              conditions=conditions, sources=sources, scheme=scheme,
                              theta=0.5, mass_lumping=True)
        dt = 0.05
        for _ in range(40):  # to t = 1.5e3 s, the last steps ~300 s (>> 30 s)
            problem.step(dt)
            dt *= 1.25
        balance = problem.energy_balance()
        assert balance["drift_rel"] < 1e-10, balance  # measured 0 (drift below round-off)
        # measured ~1e-12 of the stored heat
        assert abs(balance["drift_J"]) < 1e-10 * abs(balance["stored_J"]), balance
        assert balance["fixed_temperature_J"] == 0.0
        assert balance["loads_J"] < 0.0 and balance["stored_J"] < 0.0  # cooled
        if not sources:
            assert balance["net_input_J"] == pytest.approx(balance["stored_J"], rel=1e-10)
            # it has cooled most of the way to the radiative equilibrium (~345 K)
            assert problem.T.x.array.max(initial=0.0) < 400.0
            assert problem.max_principle_excess() < 1e-6 * 600.0
            assert problem.bounds == (300.0, 900.0)
        problem.destroy()


def test_bounds_and_steady_radiative_equilibrium():
    """Top (eps 0.9, 300 K) and bottom (eps 0.5, 400 K) of equal area radiating, sides
    insulated: the steady profile is linear, q = k (T_b - T_t) / L = 0.9 sigma (T_t^4 - 300^4)
    = 0.5 sigma (400^4 - T_b^4) (P1 is nodally exact; near ((0.9 300^4 + 0.5 400^4) / 1.4)^(1/4)
    = 346.1 K); the data range includes both ambients."""
    geometry = _mm_column()
    conditions = [Radiation("top", 0.9, 300.0), Radiation("bottom", 0.5, 400.0)]
    problem = HeatProblem(geometry, K3, RC3, initial_temperature=350.0,
                          conditions=conditions)
    assert problem.bounds == (300.0, 400.0) and problem.radiation_temperature == 400.0
    problem.steady()

    def bottom_residual(t_top):
        q = 0.9 * SIGMA * (t_top**4 - 300.0**4)
        t_bottom = t_top + q * L3 / K3
        return q - 0.5 * SIGMA * (400.0**4 - t_bottom**4), t_bottom

    lo, hi = 300.0, 400.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if bottom_residual(mid)[0] < 0.0 else (lo, mid)
    t_top = 0.5 * (lo + hi)
    t_bottom = bottom_residual(t_top)[1]
    assert 0.1 < t_bottom - t_top < 0.2  # a real gradient (0.13 K)
    z = problem.V.tabulate_dof_coordinates()[:, 2]
    exact = t_bottom + (t_top - t_bottom) * z / L3
    assert np.allclose(problem.T.x.array, exact, rtol=1e-11, atol=0.0)
    balance = problem.energy_balance()
    assert balance["steady_J"] == pytest.approx(balance["stored_J"], rel=1e-12)
    problem.destroy()


def test_state_restore_with_radiation():
    """A problem restored from state() (and T, t) continues exactly like the original: nothing
    is lagged from one step to the next."""
    geometry = _mm_column()

    def make():
        return HeatProblem(geometry, K3, RC3, initial_temperature=900.0,
                           conditions=CONDITIONS3, mass_lumping=True)

    a = make()
    for _ in range(5):
        a.step(1.0)
    state = json.loads(json.dumps(a.state()))
    b = make()
    b.T.x.array[:] = a.T.x.array
    b.t = a.t
    b.restore(state)
    assert b.state() == a.state()
    for p in (a, b):
        for _ in range(5):
            p.step(2.0)
    assert np.array_equal(a.T.x.array, b.T.x.array)
    assert b.state() == a.state()
    a.destroy()
    b.destroy()


# --------------------------------------------------------------------------- (4) ranks
def _coupon(comm):
    spec = CouponSpec(size=(4e-4, 3e-4), mesh_size=1e-4, stacks=(CouponStack("s", (
        CouponLayer("cu", "Cu", 0.0, 2e-5, 2), CouponLayer("pi", "polyimide", 2e-5, 6e-5, 3))),))
    return build_geometry(spec, comm)


def _coupon_run(comm):
    """(coordinates, temperatures) of every dof, sorted, and the energy balance."""
    geometry = _coupon(comm)
    problem = HeatProblem(geometry, 50.0, 3.0e6, initial_temperature=700.0, mass_lumping=True,
                          conditions=[Radiation("top", 0.9, 300.0),
                                      Convection("top", 30.0, 290.0),
                                      Radiation("sides", 0.4, 350.0)])
    for _ in range(20):
        problem.step(0.5)
    owned = problem.V.dofmap.index_map.size_local
    coords = problem.V.tabulate_dof_coordinates()[:owned]
    values = problem.T.x.array[:owned].copy()
    coords = np.concatenate(comm.allgather(coords))
    values = np.concatenate(comm.allgather(values))
    order = np.lexsort(np.round(coords / 1e-9).T[::-1])
    balance = problem.energy_balance()
    problem.destroy()
    return coords[order], values[order], balance


def test_serial_and_parallel_agree():
    """The run on all ranks equals the serial run (each rank alone) to 1e-8."""
    c_all, t_all, b_all = _coupon_run(MPI.COMM_WORLD)
    c_one, t_one, b_one = _coupon_run(MPI.COMM_SELF)
    assert np.allclose(c_all, c_one, rtol=0.0, atol=1e-12)
    assert t_one.min() < 690.0  # cooled noticeably
    assert np.allclose(t_all, t_one, rtol=1e-8, atol=0.0), np.abs(t_all - t_one).max()
    for key in ("stored_J", "loads_J", "net_input_J"):
        assert b_all[key] == pytest.approx(b_one[key], rel=1e-8), key
    assert b_all["drift_rel"] < 1e-10 and b_one["drift_rel"] < 1e-10


# --------------------------------------------------------------------------- case -> problem
def test_case_radiation_maps_to_the_problem():
    """A case's radiation condition, on the face that also convects, reaches the problem:
    T_lin = the hot spot's 473 K, bounds [ambient, 473 K], and the face loses heat."""
    from batteryfx.case import apply_overrides, parse_case, read_toml
    from batteryfx.cli import bundled_cases
    from batteryfx.geometry_args import build_case_geometry
    from batteryfx.run import build_problem

    data = apply_overrides(read_toml(bundled_cases()["coupon_pi_ag_vs_cu"]), [
        'geometry.mesh_size="2.5 um"', 'geometry.hot_spot.mesh_size="1 um"',
        'geometry.max_cell_thickness="2 um"', "geometry.min_cells_per_layer=1"])
    data["boundary_conditions"] += [
        {"marker": "top", "type": "radiation", "emissivity": 0.8, "ambient": "250 K"},
        {"marker": "cu/top", "type": "convection", "h": "1e5 W/(m^2*K)", "ambient": "298 K"}]
    case = parse_case(data)
    geometry = build_case_geometry(case.geometry, MPI.COMM_WORLD)
    problem = build_problem(case, geometry)
    assert problem.radiation_temperature == 473.0 and problem.bounds == (250.0, 473.0)
    for _ in range(5):
        problem.step(1e-6)
    balance = problem.energy_balance()
    assert balance["loads_J"] < 0.0 < balance["fixed_temperature_J"]
    assert balance["drift_rel"] < 1e-10
    problem.destroy()
