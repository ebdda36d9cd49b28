"""Binary-electrolyte salt transport (solvers/electrolyte.py) against closed forms
(solvers/analytic_electrolyte.py, PHYSICS.md D).

* 1D Li | separator | Li-counter cell: steady linear profile, ohmic drop and concentration
  overpotential; the limiting current (just below: no depletion, just above: depletion
  raised); the finite-cell transient against the cosine series (L2 rate in h, BDF2 rate in
  dt); Sand's time and the sqrt(t) surface law on a long cell; the slowest relaxation time
  fitted after a current interrupt; the BDF2 restart at current switches (2nd order vs 1st).
* Li | separator | porous cathode with uniform reaction (two regions, Bruggeman and
  tortuosity): steady piecewise profile and the exact salt balance, also with c-dependent D.
* 2D patterned anode: all facets active = the 1D solution; half active: higher peak.
* Manufactured solution with c-dependent D, t+ and kappa (Newton, mixed P1 x P1): rate 2.
* Newton = linear path for constant laws, undo / checkpoint, options prefixes, 1 = 2 ranks.
* Electrode kinetics: Butler-Volmer 1D steady cell voltage against the closed form; the
  linearised law's current distribution on a patterned anode between the uniform and the
  primary limits; a uniform 2D face = 1D; the cut-off time of a finite Li inventory; ranks.
Every test runs serially and under mpiexec -n 2.
"""

from __future__ import annotations

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import pytest
import ufl
from dolfinx import fem
from dolfinx import mesh as dmesh
from dolfinx.fem import petsc as fem_petsc

from batteryfx.errors import PhysicsViolation
from batteryfx.solvers import analytic_electrolyte as ax
from batteryfx.solvers.electrolyte import (
    FARADAY,
    Electrolyte,
    ElectrolyteParams,
    ElectrolyteProblem,
    Region,
    Table,
)
from tests.helpers import on_all_and_one_rank

pytestmark = [pytest.mark.verification, pytest.mark.mpi]

#: 1 M LiPF6-like electrolyte in a 25 um separator of porosity 0.4 (PHYSICS.md D, lit.)
D0, KAPPA, TP, C0, T = 3e-10, 1.0, 0.38, 1000.0, 298.15
L = 25e-6
SEP = Region(0.4)  # Bruggeman 1.5
D_EFF = D0 * SEP.factor
ELYTE = Electrolyte(D0, KAPPA, TP)
ANODE, COUNTER, CU = 1, 2, 3
TAU = ax.relaxation_time(L, D_EFF, SEP.porosity)  # 0.33 s
I_LIM = ax.limiting_current(D_EFF, C0, L, TP)  # 946 A/m^2


def interval(n: int, length: float = L, comm=MPI.COMM_WORLD, grading: float = 1.0,
             split: float | None = None):
    """[0, length] with n cells (x -> length (x/length)^grading), facet tags ANODE (x = 0)
    and COUNTER (x = length), cell tags 1 (x < split) and 2 (x > split) when split."""
    mesh = dmesh.create_interval(comm, n, [0.0, length])
    if grading != 1.0:
        x = mesh.geometry.x
        x[:, 0] = length * (x[:, 0] / length) ** grading
    facets = dmesh.locate_entities_boundary(mesh, 0, lambda p: np.full(p.shape[1], True))
    mid = dmesh.compute_midpoints(mesh, 0, facets)
    vals = np.where(mid[:, 0] < 0.5 * length, ANODE, COUNTER).astype(np.int32)
    order = np.argsort(facets)
    ftags = dmesh.meshtags(mesh, 0, facets[order].astype(np.int32), vals[order])
    ctags = None
    if split is not None:
        imap = mesh.topology.index_map(1)
        cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
        cmid = dmesh.compute_midpoints(mesh, 1, cells)
        ctags = dmesh.meshtags(mesh, 1, cells, np.where(cmid[:, 0] < split, 1, 2)
                               .astype(np.int32))
    return mesh, ctags, ftags


def rectangle(nx: int, ny: int, width: float, piles: int, active: str, comm=MPI.COMM_WORLD):
    """[0, L] x [0, width], quadrilaterals (Q1: a y-independent solution is exactly the 1D
    one; on triangles the boundary rows of the mass matrix are not the 1D rows, a 1e-3
    deviation at the corners during transients); the face x = 0 is cut into 2 piles bands:
    even bands ANODE (Li piles), odd bands ANODE (active="all") or CU (active="half");
    x = L COUNTER."""
    mesh = dmesh.create_rectangle(comm, [[0.0, 0.0], [L, width]], [nx, ny],
                                  cell_type=dmesh.CellType.quadrilateral)
    facets = dmesh.locate_entities_boundary(
        mesh, 1, lambda p: np.isclose(p[0], 0.0) | np.isclose(p[0], L))
    mid = dmesh.compute_midpoints(mesh, 1, facets)
    band = np.floor(mid[:, 1] / width * 2 * piles).astype(int) % 2
    left = mid[:, 0] < 0.5 * L
    vals = np.where(left, np.where((band == 0) | (active == "all"), ANODE, CU), COUNTER)
    order = np.argsort(facets)
    return mesh, dmesh.meshtags(mesh, 1, facets[order].astype(np.int32),
                                vals[order].astype(np.int32))


def params(protocol, **kw) -> ElectrolyteParams:
    base = {"electrolyte": ELYTE, "regions": SEP, "anode": ANODE, "counter": COUNTER,
            "c_initial": C0, "temperature": T}
    base.update(kw)
    return ElectrolyteParams(protocol=tuple(protocol), **base)


def run(prob: ElectrolyteProblem, t_end: float, dt: float) -> None:
    """Steps of dt, the last one shortened to land on t_end."""
    while prob.t < t_end * (1 - 1e-12):
        prob.step(min(dt, t_end - prob.t))


def l2(expr, mesh, degree: int = 6) -> float:
    dx = ufl.dx(domain=mesh, metadata={"quadrature_degree": degree})
    return np.sqrt(mesh.comm.allreduce(fem.assemble_scalar(fem.form(expr**2 * dx)),
                                       op=MPI.SUM))


def series_error(prob: ElectrolyteProblem, exact: ax.FiniteCell) -> float:
    """L2 error of c against the series (interpolated in P3) over L2 of the exact c - c0."""
    V3 = fem.functionspace(prob.mesh, ("Lagrange", 3))
    ce = fem.Function(V3)
    ce.interpolate(lambda x: exact.concentration(x[0], prob.t) - C0)
    return l2(prob.c - C0 - ce, prob.mesh) / l2(ce, prob.mesh)


def rates(errors, sizes) -> np.ndarray:
    e, h = np.asarray(errors, dtype=float), np.asarray(sizes, dtype=float)
    h = h.reshape((-1,) + (1,) * (e.ndim - 1))
    return np.log(e[:-1] / e[1:]) / np.log(h[:-1] / h[1:])


# ------------------------------------------------------------------ steady, limiting current
def test_steady_profile_potentials_and_limiting_current():
    """i = 0.5 i_lim to steady state (30 tau): nodal c = the linear profile (P1 reproduces it:
    round-off), ohmic drop = i L / kappa_eff and eta_c = (2RT/F)(1 - t+) ln(c_a/c_c) to 1e-9;
    0.98 i_lim stays above 0 (min c = 2 % of c0); 1.02 i_lim depletes the counter side:
    PhysicsViolation, the state before the step kept, the depletion time recorded (with
    on_depletion = "flag" the run continues past it)."""
    mesh, _, ftags = interval(40)
    i = 0.5 * I_LIM
    prob = ElectrolyteProblem(mesh, None, ftags, params([(0.0, np.inf, i)]))
    assert prob.linear
    run(prob, 30 * TAU, TAU / 5)
    q = prob.quantities()
    x = prob.V.tabulate_dof_coordinates()[:, 0]
    exact = ax.steady_profile(x, L, D_EFF, C0, TP, i)
    assert np.abs(prob.c.x.array - exact).max() < 1e-9 * C0
    assert q["anode_concentration_mol_m3"] == pytest.approx(1.5 * C0, rel=1e-9)
    assert q["counter_concentration_mol_m3"] == pytest.approx(0.5 * C0, rel=1e-9)
    assert q["ohmic_drop_V"] == pytest.approx(ax.ohmic_drop(i, L, KAPPA * SEP.factor),
                                              rel=1e-9)
    assert q["concentration_overpotential_V"] == pytest.approx(
        ax.concentration_overpotential(1.5 * C0, 0.5 * C0, TP, T), rel=1e-9)
    assert q["salt_drift_rel"] < 1e-12
    prob.destroy()
    # just below and just above the limiting current
    prob = ElectrolyteProblem(mesh, None, ftags, params([(0.0, np.inf, 0.98 * I_LIM)]))
    run(prob, 20 * TAU, TAU / 5)
    assert prob.quantities()["min_concentration_mol_m3"] == pytest.approx(0.02 * C0, rel=1e-6)
    assert prob.depletion_time is None
    prob.destroy()
    prob = ElectrolyteProblem(mesh, None, ftags, params([(0.0, np.inf, 1.02 * I_LIM)]))
    with pytest.raises(PhysicsViolation, match="depleted"):
        run(prob, 20 * TAU, TAU / 5)
    assert prob.depletion_time is not None and prob.depletion_time > TAU
    assert prob.quantities()["min_concentration_mol_m3"] > 0.0  # the last good state
    t_dep = prob.depletion_time
    prob.destroy()
    # on_depletion = "flag": the run goes on, the same interpolated time is recorded
    prob = ElectrolyteProblem(mesh, None, ftags, params([(0.0, np.inf, 1.02 * I_LIM)],
                                                        on_depletion="flag"))
    run(prob, 20 * TAU, TAU / 5)
    assert prob.depletion_time == pytest.approx(t_dep, rel=1e-12)
    assert prob.quantities()["min_concentration_mol_m3"] < 0.0
    prob.destroy()


# ------------------------------------------------------------------ transient series, rates
def test_finite_cell_transient_against_series_and_rates():
    """i = 0.3 i_lim from t = 0: c against the cosine series at t = 0.1, 0.5, 2 tau.
    Space (dt = tau/400, n = 10, 20, 40), relative L2 errors measured: 0.040 / 0.010 /
    0.0025 at 0.1 tau, 0.0082 / 0.0020 / 0.00051 at 0.5 tau, 0.0026 / 0.00065 / 0.00016 at
    2 tau, rates 1.99-2.02; time (n = 160, dt = tau/5, /10, /20 against dt = tau/640 on the
    same mesh, max nodal error at t = tau): 1.6 / 0.39 / 0.094 mol/m^3, rates 2.02, 2.05."""
    i = 0.3 * I_LIM
    exact = ax.FiniteCell(L, D_EFF, C0, TP, ((0.0, np.inf, i),), porosity=SEP.porosity)
    errs = {n: [] for n in (10, 20, 40)}
    for n in errs:
        mesh, _, ftags = interval(n)
        prob = ElectrolyteProblem(mesh, None, ftags, params([(0.0, np.inf, i)]))
        for t in (0.1, 0.5, 2.0):
            run(prob, t * TAU, TAU / 400)
            errs[n].append(series_error(prob, exact))
        prob.destroy()
    e = np.array(list(errs.values()))
    r = rates(e, [1.0, 0.5, 0.25])
    print("space errors", e, "rates", r)
    assert e[-1].max() < 3e-3
    assert r.min() > 1.9, r
    # time: BDF2 (the first step backward Euler) against a fine-dt run on the same mesh
    mesh, _, ftags = interval(160)

    def at_tau(dt):
        prob = ElectrolyteProblem(mesh, None, ftags, params([(0.0, np.inf, i)]))
        run(prob, TAU, dt)
        out = prob.c.x.array.copy()
        prob.destroy()
        return out

    ref = at_tau(TAU / 640)
    comm = mesh.comm
    n_own = mesh.topology.index_map(0).size_local  # P1 dofs = vertices, owned first
    et = [comm.allreduce(float(np.abs(at_tau(TAU / k) - ref)[:n_own].max()), op=MPI.MAX)
          for k in (5, 10, 20)]
    rt = rates(et, [1.0, 0.5, 0.25])
    print("time errors", et, "rates", rt)
    assert rt.min() > 1.8, (et, rt)


# ------------------------------------------------------------------ Sand's time
def test_sand_time_on_a_long_cell():
    """Plating at 50 A/m^2 on a long cell (no separator, eps = 1, L = 10 sqrt(D t_s)),
    graded mesh: the surface concentration follows c0 - 2 (1 - t+) i / F sqrt(t / (pi D))
    and reaches 0 at Sand's time t_s = pi D (c0 F / (2 i (1 - t+)))^2 (here 2280 s);
    measured errors: surface c -0.08 % at t_s / 4, t_s 1e-5 (relative)."""
    i = -50.0
    t_s = ax.sand_time(D0, C0, i, TP)
    length = 10 * np.sqrt(D0 * t_s)
    mesh, _, ftags = interval(200, length, grading=2.0)
    prob = ElectrolyteProblem(mesh, None, ftags, params([(0.0, np.inf, i)],
                                                        regions=Region(1.0)))
    dt, t_quarter = 1e-3 * t_s, 0.25 * t_s
    while prob.t < t_quarter * (1 - 1e-12):  # growing steps: sqrt(t) start
        prob.step(min(dt, t_quarter - prob.t))
        dt *= 1.15
    cs = prob.quantities()["anode_concentration_mol_m3"]
    assert cs == pytest.approx(ax.semi_infinite_surface(prob.t, D0, C0, i, TP), rel=2e-3)
    with pytest.raises(PhysicsViolation, match="depleted"):
        run(prob, 2 * t_s, 5e-3 * t_s)
    print("sand", prob.depletion_time / t_s - 1, cs / ax.semi_infinite_surface(
        t_quarter, D0, C0, i, TP) - 1)
    assert prob.depletion_time == pytest.approx(t_s, rel=1e-3)
    prob.destroy()


# ------------------------------------------------------------------ relaxation
def test_relaxation_time_after_interrupt_and_restart_order():
    """Current on for 1 tau, then rest: Delta c = c_a - c_c decays as exp(-t / tau_1),
    tau_1 = eps L^2 / (pi^2 D_eff); the log-slope fitted over [1.5, 4] tau after the
    interrupt gives tau_1 to 0.05 % (n = 50, dt = tau/40); the rest profile agrees with the
    superposed series. Restarting BDF2 at the switch keeps second order through the
    interrupt (Delta c at 1.5 tau, dt = tau/32, /64, /128: errors 1.8e-2, 5.6e-3, 1.5e-3
    mol/m^3, rates 1.7, 1.9); without the restart BDF2 is first order through the switch
    (4.7, 2.3, 1.1 mol/m^3, rates 1.04; worse than backward Euler)."""
    i = 0.3 * I_LIM
    protocol = [(0.0, TAU, i)]
    exact = ax.FiniteCell(L, D_EFF, C0, TP, tuple(protocol), porosity=SEP.porosity)
    mesh, _, ftags = interval(50)
    prob = ElectrolyteProblem(mesh, None, ftags, params(protocol))
    assert prob.breakpoints() == [TAU]
    run(prob, TAU, TAU / 40)
    ts, dc = [], []
    while prob.t < 5 * TAU * (1 - 1e-12):
        prob.step(TAU / 40)
        q = prob.quantities()
        ts.append(prob.t)
        dc.append(q["anode_concentration_mol_m3"] - q["counter_concentration_mol_m3"])
    ts, dc = np.array(ts), np.array(dc)
    window = (ts >= 2.5 * TAU - 1e-12) & (ts <= 5 * TAU + 1e-12)
    slope = np.polyfit(ts[window], np.log(dc[window]), 1)[0]
    print("tau fit", -1 / slope / TAU - 1)
    assert -1.0 / slope == pytest.approx(TAU, rel=2e-3)
    assert series_error(prob, exact) < 0.01
    assert prob.quantities()["current_density_A_m2"] == 0.0
    prob.destroy()
    # the order through the interrupt: Delta c at 1.5 tau against dt = tau/1280
    errors = {}
    for restart in (True, False):
        def dc_at(dt, restart=restart):
            p = ElectrolyteProblem(mesh, None, ftags, params(protocol,
                                                             restart_at_switches=restart))
            run(p, TAU, dt)
            run(p, 1.5 * TAU, dt)
            q = p.quantities()
            p.destroy()
            return q["anode_concentration_mol_m3"] - q["counter_concentration_mol_m3"]

        ref = dc_at(TAU / 1280)
        errors[restart] = np.array([abs(dc_at(TAU / k) - ref) for k in (32, 64, 128)])
    r_on, r_off = rates(errors[True], [4, 2, 1]), rates(errors[False], [4, 2, 1])
    print("restart", errors, r_on, r_off)
    assert r_on[-1] > 1.8 and errors[True][-1] < 1e-5 * C0
    assert r_off.max() < 1.2 and (errors[False] > 100 * errors[True]).all()


# ------------------------------------------------------------------ porous cathode, balance
def test_porous_cathode_steady_profile_and_salt_balance():
    """Li | separator (eps 0.4, Bruggeman) | porous cathode (eps 0.3, tortuosity 3, uniform
    reaction a j = -i / L_p), blocking back wall: steady state against the piecewise
    linear/quadratic profile (max nodal error 7e-6 c0 at n = 60, the profile spans 0.15 c0); then a
    strip / rest / plate protocol with a c-dependent D (Table, Newton): the salt content
    int eps c dx stays at its initial value to 1e-12 at every step."""
    lp = 50e-6
    cathode = Region(0.3, tortuosity=3.0, porous_electrode=True)
    mesh, ctags, ftags = interval(60, L + lp, split=L)
    i = 20.0
    prob = ElectrolyteProblem(mesh, ctags, ftags, params(
        [(0.0, np.inf, i)], regions={1: SEP, 2: cathode}, counter=None))
    assert prob.porous_volume == pytest.approx(lp, rel=1e-12)
    tau = (0.3 * (L + lp) ** 2) / (np.pi**2 * D0 * cathode.factor)
    run(prob, 15 * tau, tau / 10)
    x = prob.V.tabulate_dof_coordinates()[:, 0]
    exact = ax.steady_two_region(x, L, D_EFF, SEP.porosity, lp, D0 * cathode.factor, 0.3,
                                 C0, TP, i)
    n_own = prob.V.dofmap.index_map.size_local
    err = mesh.comm.allreduce(float(np.abs(prob.c.x.array - exact)[:n_own].max()),
                              op=MPI.MAX)
    print("two-region steady", err / C0, np.ptp(exact) / C0)
    assert err < 1e-3 * np.ptp(exact)
    assert prob.quantities()["salt_drift_rel"] < 1e-12
    prob.destroy()
    law = Table((500.0, 1000.0, 1500.0), (1.5 * D0, D0, 0.6 * D0))
    prob = ElectrolyteProblem(mesh, ctags, ftags, params(
        [(0.0, 2 * tau, 3 * i), (3 * tau, 5 * tau, -2 * i)], regions={1: SEP, 2: cathode},
        counter=None, electrolyte=Electrolyte(law, KAPPA, TP)))
    assert not prob.linear
    drift = 0.0
    while prob.t < 6 * tau * (1 - 1e-12):
        prob.step(tau / 8)
        drift = max(drift, prob.quantities()["salt_drift_rel"])
    assert drift < 1e-12
    prob.destroy()


# ------------------------------------------------------------------ 2D patterned anode
def _profile_1d(n: int, i: float, t_end: float, comm=MPI.COMM_WORLD, make=None, **kw):
    """(x sorted, c at x, quantities) of the 1D cell after t_end at current density i
    (``make``: the params factory, default :func:`params`; ``kw`` its extra arguments)."""
    mesh, _, ftags = interval(n, comm=comm)
    prob = ElectrolyteProblem(mesh, None, ftags, (make or params)([(0.0, np.inf, i)], **kw))
    run(prob, t_end, TAU / 20)
    x = prob.V.tabulate_dof_coordinates()[:, 0]
    xs = np.concatenate(mesh.comm.allgather(x))
    cs = np.concatenate(mesh.comm.allgather(prob.c.x.array.copy()))
    order = np.argsort(xs)
    q = prob.quantities()
    prob.destroy()
    return xs[order], cs[order], q


def test_patterned_anode_2d():
    """A 2D cell, anode face cut into 4 bands. All bands active: the solution is the 1D one
    (nodal c to 1e-9 c0, same eta_c and ohmic drop). Every other band active (Li piles on
    Cu, the current density on the piles doubled so the total current is the same): the
    peak concentration at the piles rises (measured: (c_max - c0) 1.61x the 1D value at
    t = tau, width = L) while the counter side and the salt balance stay the same."""
    i, width = 0.3 * I_LIM, L
    xs, cs, q1 = _profile_1d(40, i, TAU)
    results = {}
    for active in ("all", "half"):
        mesh, ftags = rectangle(40, 16, width, 2, active)
        prob = ElectrolyteProblem(mesh, None, ftags, params(
            [(0.0, np.inf, i)], anode_reference=(ANODE, CU) if active == "half" else None))
        assert prob.reference_area == pytest.approx(width, rel=1e-12)
        run(prob, TAU, TAU / 20)
        q = prob.quantities()
        results[active] = q
        if active == "all":
            x = prob.V.tabulate_dof_coordinates()[:, 0]
            diff = np.abs(prob.c.x.array - np.interp(x, xs, cs)).max()
            assert mesh.comm.allreduce(float(diff), op=MPI.MAX) < 1e-9 * C0
            for key in ("anode_concentration_mol_m3", "counter_concentration_mol_m3",
                        "concentration_overpotential_V", "ohmic_drop_V"):
                assert q[key] == pytest.approx(q1[key], rel=1e-9), key
        else:
            assert q["anode_current_density_A_m2"] == pytest.approx(2 * i, rel=1e-12)
        assert q["salt_drift_rel"] < 1e-12
        prob.destroy()
    rise = (results["half"]["max_concentration_mol_m3"] - C0) / (
        q1["max_concentration_mol_m3"] - C0)
    print("pile rise", rise)
    assert rise > 1.3
    assert results["half"]["counter_concentration_mol_m3"] == pytest.approx(
        q1["counter_concentration_mol_m3"], rel=1e-3)


def test_box_3d_solvers_and_diffusion_potential():
    """3D box of hexahedra (anode x = 0, counter x = L): the 1D solution again (Q1, nodal
    c to 1e-9 c0); CG + GAMG (solver = "cg_gamg") = MUMPS to 1e-8. eta_c with a
    c-dependent t+ and factor (Gauss-Legendre in ln c) against scipy quad to 1e-10."""
    from scipy.integrate import quad

    i = 0.3 * I_LIM
    xs, cs, q1 = _profile_1d(12, i, 0.5 * TAU)
    mesh = dmesh.create_box(MPI.COMM_WORLD, [[0.0, 0.0, 0.0], [L, 0.3 * L, 0.3 * L]],
                            [12, 3, 3], cell_type=dmesh.CellType.hexahedron)
    facets = dmesh.locate_entities_boundary(
        mesh, 2, lambda p: np.isclose(p[0], 0.0) | np.isclose(p[0], L))
    mid = dmesh.compute_midpoints(mesh, 2, facets)
    order = np.argsort(facets)
    ftags = dmesh.meshtags(mesh, 2, facets[order].astype(np.int32),
                           np.where(mid[:, 0] < 0.5 * L, ANODE, COUNTER)[order]
                           .astype(np.int32))
    out = {}
    for solver in ("direct", "cg_gamg"):
        prob = ElectrolyteProblem(mesh, None, ftags, params([(0.0, np.inf, i)],
                                                            solver=solver))
        run(prob, 0.5 * TAU, TAU / 20)
        x = prob.V.tabulate_dof_coordinates()[:, 0]
        diff = np.abs(prob.c.x.array - np.interp(x, xs, cs)).max()
        assert mesh.comm.allreduce(float(diff), op=MPI.MAX) < 1e-9 * C0
        out[solver] = prob.quantities()
        if solver == "cg_gamg":
            assert prob.ksp.getType() == "cg" and prob.iterations > 2 * prob.steps
        prob.destroy()
    for key in ("anode_concentration_mol_m3", "ohmic_drop_V", "potential_difference_V"):
        assert out["cg_gamg"][key] == pytest.approx(out["direct"][key], rel=1e-8), key
        assert out["direct"][key] == pytest.approx(q1[key], rel=1e-9), key
    # diffusion potential with c-dependent t+ and thermodynamic factor
    m1, _, ft1 = interval(4)
    tp_law = lambda c: 0.3 + 1e-4 * c  # noqa: E731
    tf_law = Table((0.0, 2000.0), (1.0, 2.0))
    prob = ElectrolyteProblem(m1, None, ft1, params(
        [], electrolyte=Electrolyte(D0, KAPPA, tp_law, tf_law)))
    rtf = 8.314462618 * T / FARADAY
    ref = quad(lambda c: 2 * rtf * (1 - tp_law(c)) * tf_law(c) / c, 700.0, 1400.0,
               epsabs=0, epsrel=1e-13)[0]
    assert prob.diffusion_potential(1400.0, 700.0) == pytest.approx(ref, rel=1e-10)
    prob.destroy()


# ------------------------------------------------------------------ manufactured solution
def test_manufactured_concentrated_solution():
    """Unit square, eps = 0.5 (Bruggeman), D(c) a Table, t+(c) and kappa(c) callables,
    thermodynamic factor 1.2; c_ex = 1 + 0.3 cos(pi x) cos(pi y) (1 + t) and phi_ex =
    0.05 cos(pi x) cos(2 pi y) (1 + t) (zero normal derivatives: blocking walls), sources
    from the strong form. c linear in t: BDF2 is exact in time, the error is spatial.
    kappa ~ F so that migration and the diffusion potential matter. Measured relative L2
    errors at n = 8 / 16 / 32: c 0.039 / 0.0099 / 0.0025 (rates 1.96, 1.99), phi (mean
    removed) 0.10 / 0.027 / 0.0068 (rates 1.93, 1.98)."""
    d_law = Table((0.5, 1.0, 1.5), (0.8, 1.0, 1.6))
    t_law = lambda c: 0.3 + 0.1 * c  # noqa: E731
    k_law = lambda c: FARADAY * (0.5 + 0.5 * c * c)  # noqa: E731
    el = Electrolyte(d_law, k_law, t_law, 1.2)
    region = Region(0.5)
    rtf = 2 * 8.314462618 * 300.0 / FARADAY
    errs = []
    for n in (8, 16, 32):
        mesh = dmesh.create_unit_square(MPI.COMM_WORLD, n, n)
        x = ufl.SpatialCoordinate(mesh)

        def exact(t, x=x):
            c = 1 + 0.3 * ufl.cos(ufl.pi * x[0]) * ufl.cos(ufl.pi * x[1]) * (1 + t)
            phi = 0.05 * ufl.cos(ufl.pi * x[0]) * ufl.cos(2 * ufl.pi * x[1]) * (1 + t)
            return c, phi

        def sources(t, exact=exact, x=x):
            c, phi = exact(t)
            dcdt = 0.3 * ufl.cos(ufl.pi * x[0]) * ufl.cos(ufl.pi * x[1])
            f = region.factor
            tp = t_law(c)
            i = -f * k_law(c) * ufl.grad(phi) + f * k_law(c) * rtf * (1 - tp) * 1.2 \
                * ufl.grad(c) / c
            f_c = region.porosity * dcdt - ufl.div(f * d_law.ufl(c) * ufl.grad(c)) \
                + ufl.div(tp * i) / FARADAY
            return f_c, ufl.div(i)

        prm = ElectrolyteParams(el, region, c_initial=lambda p: 1 + 0.3 * np.cos(
            np.pi * p[0]) * np.cos(np.pi * p[1]), temperature=300.0, quadrature_degree=6)
        prob = ElectrolyteProblem(mesh, None, None, prm, sources=sources)
        assert not prob.linear
        for _ in range(2):
            prob.step(0.25)
        ce, pe = exact(prob.t)
        vol = 1.0
        mean_h = mesh.comm.allreduce(fem.assemble_scalar(fem.form(prob.phi * ufl.dx)),
                                     op=MPI.SUM) / vol
        mean_e = mesh.comm.allreduce(fem.assemble_scalar(fem.form(
            pe * ufl.dx(metadata={"quadrature_degree": 6}))), op=MPI.SUM) / vol
        errs.append((l2(prob.c - ce, mesh) / l2(ce - 1, mesh),
                     l2(prob.phi - mean_h - (pe - mean_e), mesh) / l2(pe - mean_e, mesh)))
        assert prob.newton_iterations <= 2 * 6
        prob.destroy()
    errs = np.array(errs)
    r = rates(errs, [1 / 8, 1 / 16, 1 / 32])
    print("mms", errs, r)
    assert errs[-1].max() < 1e-2
    assert r[-1].min() > 1.9, (errs, r)


# ------------------------------------------------------------------ paths, undo, options
def test_newton_matches_linear_undo_checkpoint_and_prefixes():
    """Constant laws through Newton (path="newton") give the linear path's c and phi to
    1e-10; undo() and state()/restore() reproduce a run exactly; the solvers carry the
    elyte_ / elyte_phi_ prefixes, the user's option wins and stays after destroy();
    saturation is flagged at the interpolated time."""
    opts = PETSc.Options()
    opts["elyte_phi_ksp_type"] = "cg"
    opts["elyte_phi_pc_type"] = "gamg"
    opts["elyte_phi_ksp_rtol"] = 1e-13
    try:
        mesh, _, ftags = interval(30)
        protocol = [(0.0, TAU, 0.5 * I_LIM), (1.5 * TAU, 2 * TAU, -0.3 * I_LIM)]
        out = {}
        for path in ("linear", "newton"):
            prob = ElectrolyteProblem(mesh, None, ftags, params(
                protocol, path=path, c_saturation=1.3 * C0))
            if path == "linear":
                assert prob.ksp.getOptionsPrefix() == "elyte_"
                assert prob.ksp_phi.getOptionsPrefix() == "elyte_phi_"
                assert prob.ksp.getType() == "preonly" and prob.ksp_phi.getType() == "cg"
            else:
                assert prob.snes_problem.solver.getOptionsPrefix() == "elyte_"
            for dt in (0.1, 0.1, 0.2, 0.25, 0.25, 0.25):
                prob.step(dt * TAU)
            saved = {k: f.x.array.copy() for k, f in prob.checkpoint_functions().items()}
            state = prob.state()
            for dt in (0.3, 0.4):
                prob.step(dt * TAU)
            final = prob.c.x.array.copy(), prob.phi.x.array.copy(), prob.quantities()
            prob.undo()
            prob.step(0.4 * TAU)
            assert np.abs(prob.c.x.array - final[0]).max() <= 1e-12 * C0
            for k, f in prob.checkpoint_functions().items():
                f.x.array[:] = saved[k]
            prob.restore(state)
            for dt in (0.3, 0.4):
                prob.step(dt * TAU)
            assert np.abs(prob.c.x.array - final[0]).max() <= 1e-12 * C0
            assert np.abs(prob.phi.x.array - final[1]).max() <= 1e-10
            q = prob.quantities()
            assert q["saturation_time_s"] is not None and q["depletion_time_s"] is None
            out[path] = final
            prob.destroy()
        assert np.abs(out["linear"][0] - out["newton"][0]).max() < 1e-10 * C0
        assert np.abs(out["linear"][1] - out["newton"][1]).max() < 1e-10
        assert out["linear"][2]["saturation_time_s"] == pytest.approx(
            out["newton"][2]["saturation_time_s"], rel=1e-9)
        assert opts.getString("elyte_phi_ksp_type") == "cg"
        assert not opts.hasName("elyte_ksp_type")  # batteryfx's default removed again
    finally:
        for key in ("elyte_phi_ksp_type", "elyte_phi_pc_type", "elyte_phi_ksp_rtol"):
            opts.delValue(key)


# ------------------------------------------------------------------ ranks
def _run_1d_newton(comm) -> dict:
    mesh, _, ftags = interval(40, comm=comm)
    law = Table((500.0, 1500.0), (1.2 * D0, 0.8 * D0))
    prob = ElectrolyteProblem(mesh, None, ftags, params(
        [(0.0, TAU, 0.4 * I_LIM)], electrolyte=Electrolyte(law, KAPPA, TP)))
    for dt in (0.1, 0.2, 0.4, 0.4, 0.4):
        prob.step(dt * TAU)
    out = prob.quantities()
    prob.destroy()
    return out


def _run_2d_half(comm) -> dict:
    mesh, ftags = rectangle(20, 8, L, 2, "half", comm=comm)
    prob = ElectrolyteProblem(mesh, None, ftags, params(
        [(0.0, np.inf, 0.3 * I_LIM)], anode_reference=(ANODE, CU)))
    for dt in (0.1, 0.2, 0.4):
        prob.step(dt * TAU)
    out = prob.quantities()
    prob.destroy()
    return out


@pytest.mark.parametrize("case", [_run_1d_newton, _run_2d_half])
def test_ranks_agree(case):
    """All ranks = rank 0 alone (1D Newton with a Table D; 2D patterned anode, linear), to
    1e-8 (the gauge vertex is the same point: the smallest (x, y, z) on the anode)."""
    par, ser = on_all_and_one_rank(case)
    assert par.keys() == ser.keys()
    for key, value in ser.items():
        if value is None or not np.isfinite(value):
            assert par[key] == value or not np.isfinite(par[key]), key
            continue
        assert par[key] == pytest.approx(value, rel=1e-8, abs=1e-10 * abs(value) + 1e-14), key


# ------------------------------------------------------------------ electrode kinetics
def _bv(protocol, **kw) -> ElectrolyteParams:
    return params(protocol, kinetics="butler_volmer", **kw)


@pytest.mark.parametrize("alphas, i0c", [((0.5, 0.5), None), ((0.3, 0.7), 40.0)])
def test_butler_volmer_1d_steady_cell_voltage(alphas, i0c):
    """1D Li | separator | Li with Butler-Volmer at both electrodes (i0 = i0_ref
    sqrt(c_s / c0), the counter metal potential from the total current), i = 0.5 i_lim to
    steady state: the cell voltage V = phi_s,c - phi_s,a equals -(ohmic drop + eta_c +
    eta_a - eta_counter), every part from the closed forms (eta from the inverse of the
    Butler-Volmer law at the steady surface concentrations 1.5 c0 / 0.5 c0; the symmetric
    case (2RT/F) asinh(i / (2 i0))). Measured |error| 8e-12 V (symmetric); the
    concentration profile is the one of the imposed uniform current (1D: the same flux)."""
    from batteryfx.solvers.electrolyte import GAS_CONSTANT, bv_overpotential

    mesh, _, ftags = interval(40)
    i, i0 = 0.5 * I_LIM, 20.0
    aa, ac = alphas
    prob = ElectrolyteProblem(mesh, None, ftags, _bv(
        [(0.0, np.inf, i)], exchange_current_density=i0, counter_exchange_current_density=i0c,
        alpha_anodic=aa, alpha_cathodic=ac))
    assert not prob.linear and prob.kinetic
    run(prob, 30 * TAU, TAU / 5)
    q = prob.quantities()
    rtf = GAS_CONSTANT * T / FARADAY
    ca, cc = 1.5 * C0, 0.5 * C0
    eta_a = bv_overpotential(i, i0 * np.sqrt(ca / C0), aa, ac, rtf)
    eta_c = bv_overpotential(-i, (i0c or i0) * np.sqrt(cc / C0), aa, ac, rtf)
    ohmic = ax.ohmic_drop(i, L, KAPPA * SEP.factor)
    conc = ax.concentration_overpotential(ca, cc, TP, T)
    exact = -(ohmic + conc + eta_a - eta_c)
    print("bv 1d", q["cell_voltage_V"] - exact, prob.bordered_iterations / prob.steps)
    assert abs(q["cell_voltage_V"] - exact) < 1e-8 * abs(exact)
    assert q["anode_kinetic_overpotential_V"] == pytest.approx(eta_a, rel=1e-8)
    assert q["counter_kinetic_overpotential_V"] == pytest.approx(eta_c, rel=1e-8)
    assert q["ohmic_drop_V"] == pytest.approx(ohmic, rel=1e-8)
    assert q["anode_concentration_mol_m3"] == pytest.approx(ca, rel=1e-9)
    assert q["salt_drift_rel"] < 1e-12
    if aa == ac:  # the closed form of the symmetric law
        assert eta_a == pytest.approx(2 * rtf * np.arcsinh(i / (2 * i0 * np.sqrt(1.5))),
                                      rel=1e-14)
    assert prob.bordered_iterations <= 3 * prob.steps
    prob.destroy()


def test_linearised_kinetics_current_distribution_limits_2d():
    """Patterned anode (Li piles on half of the face, the rest blocking Cu), t+ = 1 so that
    c stays uniform and the potential solves Laplace's equation with the kinetic Robin
    condition (secondary current distribution); Wagner number Wa = (RT/F) / (2 i0 alpha
    L / kappa_eff) (~257 / i0 A/m^2). Consistent nodal currents int i_n w_k ds on the anode
    against the two limits: small i0 (large Wa) -> uniform current density (relative
    error measured 1.6e-4 / 1.6e-3 at i0 = 1 / 10 A/m^2: rate 1 in i0); large i0 -> the
    primary distribution (equipotential electrodes: the discrete Dirichlet problem's
    reaction currents; 0.055 / 0.0063 at 1e5 / 1e6: rate ~0.94 in 1/i0). Butler-Volmer at
    1e6 A/m^2 gives the same as the linearised law (to 1e-6). Total current exact to
    1e-10 in every case."""
    from dolfinx.fem.petsc import LinearProblem

    mesh, ftags = rectangle(40, 16, L, 2, "half")
    el1 = Electrolyte(D0, KAPPA, 1.0)
    i = 0.3 * I_LIM
    nodal = {}
    for kinetics, i0 in (("linear", 1.0), ("linear", 10.0), ("linear", 1e5), ("linear", 1e6),
                         ("butler_volmer", 1e6)):
        prob = ElectrolyteProblem(mesh, None, ftags, params(
            [(0.0, np.inf, i)], electrolyte=el1, anode_reference=(ANODE, CU),
            kinetics=kinetics, exchange_current_density=i0))
        prob.step(0.1 * TAU)
        n_own = prob.V.dofmap.index_map.size_local
        i_n = prob.anode_current_nodal()[:n_own]  # A/m^2 at the anode vertices
        weights = prob._lump[:n_own]  # int w_k ds (the vertex rule's weights)
        total = mesh.comm.allreduce(float(np.dot(i_n, weights)), op=MPI.SUM)
        assert total == pytest.approx(i * L, rel=1e-10)  # galvanostatic constraint
        assert prob.quantities()["max_concentration_mol_m3"] == pytest.approx(C0, rel=1e-10)
        nodal[(kinetics, i0)] = i_n
        prob.destroy()
    V = prob.V
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    anode = fem.locate_dofs_topological(V, 1, ftags.find(ANODE))
    counter = fem.locate_dofs_topological(V, 1, ftags.find(COUNTER))
    bcs = [fem.dirichletbc(0.0, anode, V), fem.dirichletbc(1.0, counter, V)]
    zero = fem.Constant(mesh, 0.0)
    uh = LinearProblem(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx, zero * v * ufl.dx,
                       bcs=bcs, petsc_options_prefix="test_primary_",
                       petsc_options={"ksp_type": "preonly", "pc_type": "lu"}).solve()
    react = fem_petsc.assemble_vector(fem.form(ufl.inner(ufl.grad(uh), ufl.grad(v)) * ufl.dx))
    react.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    n_own = react.getLocalSize()
    on = np.zeros(n_own, bool)
    on[anode[anode < n_own]] = True
    comm = mesh.comm
    # the reaction currents of the equipotential problem, per unit area (lumped)
    primary = np.where(on, react.array, 0.0)
    primary *= i * L / comm.allreduce(float(primary.sum()), op=MPI.SUM)
    primary[on] /= weights[on]
    react.destroy()
    uniform = np.where(on, i / 0.5, 0.0)

    def rel(a, b):  # weighted L2 over the anode
        return np.sqrt(comm.allreduce(float(np.sum(weights * (a - b) ** 2)), op=MPI.SUM)
                       / comm.allreduce(float(np.sum(weights * b**2)), op=MPI.SUM))

    e_u = [rel(nodal[("linear", i0)], uniform) for i0 in (1.0, 10.0)]
    e_p = [rel(nodal[("linear", i0)], primary) for i0 in (1e5, 1e6)]
    print("limits: uniform", e_u, "primary", e_p)
    assert e_u[0] < 3e-4 and 0.9 < np.log10(e_u[1] / e_u[0]) < 1.1
    assert e_p[1] < 0.01 and 0.85 < np.log10(e_p[0] / e_p[1]) < 1.1
    assert rel(nodal[("linear", 1.0)], primary) > 0.3  # the two limits do differ
    assert rel(nodal[("butler_volmer", 1e6)], nodal[("linear", 1e6)]) < 1e-6


def test_uniform_pattern_butler_volmer_equals_1d():
    """A 2D cell whose whole anode face is Li (all bands active) with Butler-Volmer
    kinetics at both electrodes: the 1D solution (Q1 quadrilaterals), nodal c to 1e-9 c0,
    the cell voltage and the kinetic overpotentials to 1e-9, at t = tau."""
    i, i0 = 0.3 * I_LIM, 20.0
    xs, cs, q1 = _profile_1d(40, i, TAU, make=_bv, exchange_current_density=i0)
    mesh, ftags = rectangle(40, 16, L, 2, "all")
    prob = ElectrolyteProblem(mesh, None, ftags, _bv([(0.0, np.inf, i)],
                                                     exchange_current_density=i0))
    run(prob, TAU, TAU / 20)
    x = prob.V.tabulate_dof_coordinates()[:, 0]
    diff = np.abs(prob.c.x.array - np.interp(x, xs, cs)).max()
    assert mesh.comm.allreduce(float(diff), op=MPI.MAX) < 1e-9 * C0
    q = prob.quantities()
    for key in ("cell_voltage_V", "anode_kinetic_overpotential_V",
                "counter_kinetic_overpotential_V", "concentration_overpotential_V"):
        assert q[key] == pytest.approx(q1[key], rel=1e-9), key
    assert q["anode_current_density_peak_A_m2"] == pytest.approx(i, rel=1e-9)
    prob.destroy()


def test_cutoff_time_and_li_inventory():
    """Stripping a finite Li inventory Q0 = 5 tau i to a 1 V cut-off: with Butler-Volmer
    the overpotential rises only in the last 0.1 % (the reserve), so the cut-off time is
    the closed form Q0 / i up to the Li left at 1 V, q* = q_s (i / i0) exp(-alpha_a F
    eta_a / RT) ~ 1e-9 Q0 (1D: measured -1.9e-9 with the crossing at the end of a step,
    the same inside one) and the charge stripped is Q0; afterwards the current is 0 (open
    circuit). Uniform kinetics: the run stops when the Li is used up, exactly at
    Q0 / i. Patterned anode (2D, Li on half of the face): the Li runs out first where the
    current is highest, the current moves to where Li is left; the cut-off comes at 0.99 to
    1 of Q_total / I. undo() takes back a step that crossed."""
    i = 0.3 * I_LIM
    t_end = 5 * TAU
    mesh, _, ftags = interval(20)
    for dt in (TAU / 5, 0.3 * TAU):  # the crossing at the end of a step / inside one
        prob = ElectrolyteProblem(mesh, None, ftags, _bv(
            [(0.0, np.inf, i)], exchange_current_density=20.0, anode_capacity=i * t_end,
            cutoff_voltage=1.0))
        while prob.cutoff_time is None:
            before = prob.quantities()
            prob.step(dt)
            assert prob.t < 2 * t_end
        q = prob.quantities()
        print("cut-off", dt, q["cutoff_time_s"] / t_end - 1, q["cell_voltage_V"])
        assert q["cutoff_time_s"] == pytest.approx(t_end, rel=1e-8)
        assert q["cutoff_time_s"] <= t_end * (1 + 1e-12)
        assert q["charge_at_cutoff_C"] == pytest.approx(i * t_end, rel=1e-8)
        assert q["li_inventory_C"] < 1e-6 * i * t_end
        assert before["cell_voltage_V"] > -0.5 and abs(q["cell_voltage_V"]) >= 1.0 - 1e-9 \
            or prob.t > q["cutoff_time_s"]
        prob.undo()  # the crossing step taken back, and again
        assert prob.cutoff_time is None and prob.quantities()["cell_voltage_V"] == \
            pytest.approx(before["cell_voltage_V"], rel=1e-12)
        prob.step(dt)
        assert prob.cutoff_time == pytest.approx(q["cutoff_time_s"], rel=1e-12)
        prob.step(dt)
        assert prob.current_density == 0.0
        assert prob.quantities()["charge_passed_C"] == pytest.approx(i * t_end, rel=1e-8)
        prob.destroy()
    # uniform kinetics: the inventory alone
    prob = ElectrolyteProblem(mesh, None, ftags, params([(0.0, np.inf, i)],
                                                        anode_capacity=i * t_end))
    while prob.inventory_time is None:
        prob.step(TAU / 3)
    assert prob.inventory_time == pytest.approx(t_end, rel=1e-12)
    assert prob.linear and prob.cutoff_time is None
    prob.destroy()
    # patterned 2D: local inventory on the piles (capacity per m^2 of Li)
    mesh2, ftags2 = rectangle(20, 8, L, 2, "half")
    cap = i * t_end
    prob = ElectrolyteProblem(mesh2, None, ftags2, _bv(
        [(0.0, np.inf, i)], exchange_current_density=20.0, anode_capacity=cap,
        cutoff_voltage=1.0, anode_reference=(ANODE, CU)))
    total = cap * prob.anode_area / (i * prob.reference_area)  # Q_total / I
    while prob.cutoff_time is None:
        prob.step(TAU / 2)
    q = prob.quantities()
    print("2D cut-off", q["cutoff_time_s"] / total, q["li_inventory_C"] / (cap * L / 2))
    assert 0.99 * total < q["cutoff_time_s"] <= total * (1 + 1e-9)
    assert q["li_inventory_C"] < 0.01 * cap * prob.anode_area
    prob.destroy()


def _run_2d_bv(comm) -> dict:
    mesh, ftags = rectangle(20, 8, L, 2, "half", comm=comm)
    prob = ElectrolyteProblem(mesh, None, ftags, _bv(
        [(0.0, np.inf, 0.3 * I_LIM)], anode_reference=(ANODE, CU),
        exchange_current_density=20.0, anode_capacity=0.3 * I_LIM * 1.2 * TAU,
        cutoff_voltage=1.0))
    for dt in (0.1, 0.2, 0.25):  # the Li runs out at 0.6 tau
        prob.step(dt * TAU)
    out = prob.quantities()
    prob.step(0.2 * TAU)  # crosses the cut-off (the state there is steep: not compared)
    out["cutoff_time_after_s"] = prob.cutoff_time
    out["charge_at_cutoff_after_C"] = prob.charge_at_cutoff
    prob.destroy()
    return out


def test_ranks_agree_with_kinetics():
    """Butler-Volmer on a patterned anode with a local Li inventory (the counter metal
    potential a global unknown), part of the Li used up: all ranks = rank 0 alone to
    1e-10; then the cut-off time (bisection) the same."""
    par, ser = on_all_and_one_rank(_run_2d_bv)
    assert par.keys() == ser.keys()
    for key, value in ser.items():
        if value is None or not np.isfinite(value):
            assert par[key] == value or not np.isfinite(par[key]), key
            continue
        assert par[key] == pytest.approx(value, rel=1e-10, abs=1e-14), key


@pytest.mark.mpi
def test_counter_ocv_discharge_to_cutoff():
    """Li | separator | planar cathode with an OCV curve U(s) = 3.0 + 1.2 s V (s = 1 - q / Q,
    q the charge passed per m^2), Butler-Volmer at both electrodes, i = 0.5 i_lim. Once the
    salt profile is steady the polarization is constant, so V(t) = U(s(t)) - (ohmic + eta_c +
    eta_a - eta_counter) with every part from the closed forms (as in the Li | Li test): V
    to 1e-8 at two times; the 3.5 V cut-off is crossed at t = Q (1 - s_c) / i with
    U(s_c) = 3.5 V + the polarization (the crossing interpolated inside its step: 1e-6 of
    the step, the OCV being linear in t)."""
    from batteryfx.solvers.electrolyte import GAS_CONSTANT, bv_overpotential

    i, i0 = 0.5 * I_LIM, 20.0
    Q = i * 200 * TAU  # C/m^2: the cathode is empty after 200 tau

    def ocv(q: float) -> float:
        return 3.0 + 1.2 * min(max(1.0 - q / Q, 0.0), 1.0)

    mesh, _, ftags = interval(40)
    prob = ElectrolyteProblem(mesh, None, ftags, _bv(
        [(0.0, np.inf, i)], exchange_current_density=i0, ocv_counter=ocv,
        cutoff_voltage=3.5))
    rtf = GAS_CONSTANT * T / FARADAY
    ca, cc = 1.5 * C0, 0.5 * C0
    polarization = (ax.ohmic_drop(i, L, KAPPA * SEP.factor)
                    + ax.concentration_overpotential(ca, cc, TP, T)
                    + bv_overpotential(i, i0 * np.sqrt(ca / C0), 0.5, 0.5, rtf)
                    - bv_overpotential(-i, i0 * np.sqrt(cc / C0), 0.5, 0.5, rtf))
    for t_check in (20 * TAU, 40 * TAU):  # the cut-off comes at 47.6 tau
        run(prob, t_check, TAU / 5)
        v = prob.quantities()["cell_voltage_V"]
        assert v == pytest.approx(ocv(i * prob.t) - polarization, abs=1e-8), (t_check, v)
    dt = TAU / 5
    while prob.cutoff_time is None and prob.t < 250 * TAU:
        prob.step(dt)
    s_c = (3.5 + polarization - 3.0) / 1.2
    t_c = Q * (1.0 - s_c) / i
    assert prob.cutoff_time == pytest.approx(t_c, abs=1e-6 * dt), (prob.cutoff_time, t_c)
    assert prob.quantities()["charge_at_cutoff_C"] == pytest.approx(i * t_c, rel=1e-9)
    prob.destroy()
