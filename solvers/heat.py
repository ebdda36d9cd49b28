r"""Transient heat conduction on layered geometries.

    rho c_p dT/dt = div(k grad T) + q            in Omega (SI units: K, s, W/m^3)
    T = T_D                                      on Gamma_D  (e.g. a hot spot held at 473 K)
    -k dT/dn = h (T - T_amb)                     on Gamma_R  (convection)
    -k dT/dn = eps sigma (T^4 - T_rad^4)         on Gamma_S  (radiation; may share a face
                                                              with convection: the fluxes add)
    -k dT/dn = -q_n                              on Gamma_N  (heat flux q_n into the body)
    -k dT/dn = 0                                 elsewhere   (insulated / symmetry)

with k and rho c_p cellwise constant (one value per material layer); P1 Lagrange in space,
consistent or lumped mass M (rho c_p) and K (conduction + convection + radiation's fixed
linear part, below).

Radiation (semi-implicit, the operator kept): eps sigma (T^4 - T_rad^4) = h_r0 (T - T_rad) + R(T)
with a FIXED coefficient h_r0 = 4 eps sigma T_lin^3 put into K like a convection coefficient
(T_lin = ``radiation_temperature``, default the largest data temperature: initial, fixed and
ambient), and the remainder R(T) = (T - T_rad) (eps sigma (T + T_rad)(T^2 + T_rad^2) - h_r0) a
load evaluated at known temperatures: the vector int -R(T~) v ds over the radiating faces, from
one form compiled once and assembled (boundary facets only) into a preallocated vector at each
evaluation. For T <= T_lin, 0 <= -R'(T) <= h_r0, so the explicit part never outgrows the
implicit one: stable at any dt (for the linearised scalar model |amplification| <= 1 while
T < 2^(1/3) T_lin; sources heating the body far above T_lin need a larger
``radiation_temperature``). Where R is evaluated keeps each scheme's order (measured in
tests/verification/test_heat_radiation.py):

* TR-BDF2: stage 1 is solved twice, first with R(T^n) for both trapezoid ends (predictor U*_0),
  then with (R(T^n) + R(U*_0)) / 2; stage 2 takes R at the linear extrapolation
  T^n + (U* - T^n) / gamma of the stage values to t + dt. Second order; cost per step 3 solves
  with the same factorization (instead of 2) and 3 boundary-form assemblies. Not L-stable for
  the radiation part at dt much larger than the radiative time scale (the amplification of the
  linearised model stays within [-0.78, 1]); with the lumped mass the positivity safeguard
  below redoes steps that overshoot the data range.
* theta: backward Euler (and the start-up half steps) use R(T^n) (first order, 1 solve);
  theta < 1 adds a corrector with theta R(T^{n+1}_0) + (1 - theta) R(T^n) (second order for
  Crank-Nicolson, 2 solves).
* the positivity fallback: each backward-Euler sub-step uses R at its start (monotone: the
  explicit part is increasing in T for T <= T_lin).
* :meth:`HeatProblem.steady`: fixed-point iteration K T_{k+1} = F + r(T_k) with the same K
  (contraction factor max(1 - (T/T_lin)^3) < 1), to 1e-12 relative.

Each step is self-contained (nothing is lagged from one step to the next), so
:meth:`HeatProblem.state` / :meth:`HeatProblem.restore` stay exact; the radiative heat, like
the convective, is part of ``loads_J`` in :meth:`HeatProblem.energy_balance` (it enters the
right-hand side as a load, so the discrete balance stays exact).

Time schemes (``scheme``):

* ``"tr_bdf2"`` (default; Bank et al. 1985, Hosea & Shampine 1996): a trapezoidal stage to
  t + gamma dt, then BDF2 on (t, t + gamma dt, t + dt), gamma = 2 - sqrt(2). Second order and
  L-stable (large steps damp stiff modes instead of keeping them as Crank-Nicolson does); with
  this gamma both stage matrices are M + d dt K, d = gamma / 2 = 1 - 1/sqrt(2), so ONE operator
  per dt serves both stages:

      (M + d dt K) U* = (M - d dt K) T^n + gamma dt F1
      (M + d dt K) T^{n+1} = c1 M U* - c2 M T^n + d dt F2,
      c1 = 1 / (gamma (2 - gamma)), c2 = (1 - gamma)^2 / (gamma (2 - gamma))

  F1 is the mean load over [t, t + gamma dt] and F2 = (2 - gamma) F2' - (1 - gamma) F1 with F2'
  the mean over [t + gamma dt, t + dt]: for loads constant over the step F1 = F2 = F, and the
  energy put in over a step is exactly int_t^{t+dt} F (sources switched on or off inside a
  step), as for the theta scheme.

  Positivity safeguard: no second-order linear scheme preserves positivity / the maximum
  principle for every dt (Bolley & Crouzeix 1978); TR-BDF2's amplification factor
  R(z) = (1 + (sqrt 2 - 1) z) / (1 - d z)^2 is negative for z < -1 - sqrt 2 (down to -0.207 at
  z = -8.24), so huge steps can overshoot (measured: 18.6 K above a 473 K hot spot with
  growth 10). With the lumped mass, when the maximum principle applies (no sources, no heat
  fluxes), a step whose result leaves [min, max] of the data (initial, fixed and ambient
  temperatures) by more than round-off is redone with a first-order, positivity-preserving
  combination of backward-Euler sub-steps of d dt that uses the SAME factorized operator:
  four sub-steps, T^{n+1} = (4 - 1/d) U_3 + (1/d - 3) U_4 (a convex combination; L-stable;
  the sub-step loads are the means over [0, d, 2d, 3d, 1] dt, so the energy stays exact).
  ``fallback_steps`` counts them. (With the consistent mass no scheme keeps the maximum
  principle, so there is no safeguard; nor can time stepping remove undershoots from a mesh
  whose stiffness matrix is not an M-matrix: Q1 hexahedra with aspect ratios above ~sqrt 2 at
  a sudden hot spot.) After such a futile redo (it leaves more than half of the excursion;
  measured on the pouch hot spot: 62 of 101 steps redone, every redo leaving 0.01-1 K below
  298 K, as much as TR-BDF2 did; counted in ``fallback_futile``; the step keeps whichever
  result leaves the range less) the steps whose excursion stays within twice what that redo
  left are not redone (``fallback_skipped``): there the redo costs four solves and only lowers
  the order. An excursion beyond that, or on the other side of the range, is redone again.

* ``"theta"``: (M/dt + theta K) T^{n+1} = (M/dt - (1 - theta) K) T^n + F^{n+1/2} (theta = 1
  backward Euler, 1/2 Crank-Nicolson with a backward-Euler (Rannacher) start-up), F^{n+1/2}
  the mean load over the step.

M, K and the load vectors F_i are assembled once; each step builds the right-hand sides from
SpMVs and AXPYs (no form assembly but the radiation remainder's, over the radiating boundary
facets only), and the system matrix is re-assembled and re-factorized only when dt changes.
Dirichlet rows are handled by lifting with the unconstrained operator (b -= (M/tau + theta K) g;
b[D] = g).

Initial guesses of the iterative solvers (not MUMPS): T^n extrapolated in time through the last
three states (quadratic; linear after one step; TR-BDF2's second stage from T^n and U*), then
projected onto the corrections of up to ``projection`` (16) earlier solves with the same
operator (solvers/projection.py, Fischer 1998: the best correction within their span in the
energy norm), and CG stops at ||B r|| <= rtol ||x_0|| (:class:`GuessRelativeTest`: PETSc's
||B b|| costs one more preconditioner application). Measured on the 84 k-dof pouch hot spot
(backward Euler, consistent mass, column multigrid, steps 3-32 at fixed dt; CPU time in
matrix-vector products): dt = 1 s 55 -> 25-30 MatMult per step, 10 s 71 -> 22-26, iterations
falling to 0-1 per step once the basis holds the slow modes of the transient; the linear
predictor alone and PETSc's test: 66 / 78. The basis is dropped when dt changes the operator.

Run-time checks and diagnostics: after every solve a temperature below 0 K or not finite raises
:class:`PhysicsViolation`; :meth:`HeatProblem.energy_balance` compares the stored heat with the
cumulative input of the loads and through the fixed-temperature faces (the Dirichlet reaction:
the residual of the unconstrained equations on the constrained rows);
:meth:`HeatProblem.max_principle_excess` is how far T left the data's temperature range (when
that bound applies). :meth:`HeatProblem.state` / :meth:`HeatProblem.restore` carry all of this
(and the start-up and counters) through a checkpoint.

PETSc options: the linear solver has the stable options prefix ``heat_``
(:data:`OPTIONS_PREFIX`). batteryfx's defaults for ``solver`` (:data:`SOLVERS`) go into the
options database only where the user has not set the option, so ``-heat_...`` options set
before the problem is created win (``PETSC_OPTIONS="-heat_ksp_monitor -heat_ksp_type cg"``);
:meth:`HeatProblem.destroy` removes batteryfx's defaults again and leaves the user's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc

from batteryfx.errors import PhysicsViolation, SolverDiverged
from batteryfx.geometry import Geometry
from batteryfx.log import LOGGER
from batteryfx.solvers.petsc_options import (
    _set_defaults,
    _unset_defaults,
    _without_defaults_of_others,
)
from batteryfx.solvers.projection import SolutionProjection

#: PETSc options prefix of every HeatProblem's linear solver (KSP). Options given in the PETSc
#: options database before the problem is created win over batteryfx's defaults, e.g.
#: ``PETSC_OPTIONS="-heat_ksp_monitor -heat_ksp_type cg -heat_pc_type jacobi"``.
OPTIONS_PREFIX = "heat_"

#: time schemes of :class:`HeatProblem`
SCHEMES = ("tr_bdf2", "theta")
#: TR-BDF2 stage fraction (Hosea & Shampine 1996): both stage matrices are M + d dt K
GAMMA = 2.0 - np.sqrt(2.0)
_D = GAMMA / 2.0  # = (1 - gamma) / (2 - gamma) = 1 - 1/sqrt(2)
_C1 = 1.0 / (GAMMA * (2.0 - GAMMA))
_C2 = (1.0 - GAMMA) ** 2 / (GAMMA * (2.0 - GAMMA))
#: error constant of TR-BDF2's local truncation error C dt^3 d3T/dt3 (Hosea & Shampine 1996)
_C_LTE = (-3.0 * GAMMA**2 + 4.0 * GAMMA - 2.0) / (12.0 * (2.0 - GAMMA))
_A4 = 1.0 / _D - 3.0  # weight of U4 in the positive fallback (sqrt 2 - 1)
#: a TR-BDF2 step leaving the data range by more than this fraction of it is redone with the
#: positivity-preserving fallback (round-off level)
_FALLBACK_RTOL = 1e-9
#: recommended warning threshold of max_principle_excess(), as a fraction of the data range
MAX_PRINCIPLE_RTOL = 1e-6
#: Stefan-Boltzmann constant (W m^-2 K^-4) = 2 pi^5 k_B^4 / (15 h^3 c^2) from the exact SI
#: defining constants (= CODATA 2018 / scipy.constants.Stefan_Boltzmann 5.670374419e-8)
STEFAN_BOLTZMANN = 2 * np.pi**5 * 1.380649e-23**4 / (15 * 6.62607015e-34**3 * 299792458.0**2)
#: HeatProblem.steady with radiation: fixed-point iterations allowed, relative tolerance
_STEADY_MAX_IT, _STEADY_RTOL = 1000, 1e-12

#: PETSc option sets by name; see :func:`solver_options`.
SOLVERS = {
    "direct": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
    "cg_icc": {"ksp_type": "cg", "pc_type": "bjacobi", "sub_pc_type": "icc"},
    "cg_gamg": {"ksp_type": "cg", "pc_type": "gamg", "mg_levels_pc_type": "sor"},
    # CG + column multigrid (solvers/column_mg.py: z-line smoothing, in-plane coarsening of
    # the columns of an extruded mesh); the preconditioner is attached after the options are
    # read, unless the user chose another -heat_pc_type
    "cg_column_mg": {"ksp_type": "cg"},
}
#: ``solver = "auto"``: from this many dofs, column multigrid on an extruded mesh (below it
#: MUMPS). Measured with the column multigrid of this version (2 shared cores, same results to
#: 1e-8 relative): the 134 k-dof pouch hot spot 14.0 s CPU for 9 steps vs MUMPS 48.6 s; the
#: 54 k-dof nail case 17.0 vs 34.8 s for its run; the 63 k-dof PI-Ag/Cu coupon 70.5 vs 138.9 s.
#: Small meshes (the CI cases) keep MUMPS: exact to round-off on any rank count
AUTO_ITERATIVE_DOFS = 40_000
#: column multigrid: its coarsening and interpolation are kept while dt stays within this
#: factor of the dt they were built for (HeatProblem._reuse_multigrid_interpolation)
#: (measured on the bundled hot-spot case, 84 k dofs, dt x 1.73 every 3 steps: 45.1 -> 42.7 s
#: CPU for the run with factor 3, 814 -> 832 CG iterations; factor 10: 42.3 s, 879)
MG_REUSE_FACTOR = 3.0
#: ... where at least this fraction of the (columns x z levels) grid carries a dof
_EXTRUDED_FILL = 0.6


def _same_pattern(comm, *patterns: tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether the CSR patterns (row pointers, global column indices of the owned rows, as
    ``Mat.getValuesCSR()`` gives them) of matrices on the same row layout are identical on
    every rank (collective): then MatAXPY may combine them with SAME_NONZERO_PATTERN."""
    ref = patterns[0]
    ok = all(a.shape == b.shape and np.array_equal(a, b)
             for other in patterns[1:] for a, b in zip(ref, other, strict=True))
    return bool(comm.allreduce(ok, op=MPI.LAND))


def choose_solver(V) -> str:
    """The solver ``"auto"`` picks for the scalar space V: ``"direct"`` (MUMPS) below
    :data:`AUTO_ITERATIVE_DOFS` dofs or on a mesh that is not extruded, ``"cg_column_mg"``
    on a large extruded mesh (nodes on common z levels: the layered pouch cell). The same
    choice on every rank (collective)."""
    if V.dofmap.index_map.size_global < AUTO_ITERATIVE_DOFS:
        return "direct"
    from batteryfx.solvers.column_mg import find_columns

    try:
        present = find_columns(V)["present"]
    except ValueError:  # the dofs are not on common z levels
        return "direct"
    return "cg_column_mg" if present.mean() >= _EXTRUDED_FILL else "direct"


def solver_options(kind: str, rtol: float) -> dict[str, str | float]:
    """A fresh copy of the PETSc options of a solver kind."""
    opts: dict[str, str | float] = dict(SOLVERS[kind])
    if opts["ksp_type"] != "preonly":
        opts.update({"ksp_rtol": rtol, "ksp_atol": 0.0, "ksp_max_it": 10000})
    return opts


class GuessRelativeTest:
    """KSP convergence test ||B r_k|| <= max(rtol ||x_0||, atol) for a left-preconditioned
    Krylov solve with the preconditioned residual norm (CG's default), x_0 the initial guess.

    PETSc's default test with a nonzero initial guess takes rtol relative to ||B b||, and
    computes B b with one extra preconditioner application per solve (for a column-multigrid
    V-cycle about 7 matrix-vector products, an eighth to a quarter of a time step). For a
    preconditioner close to A^-1, B b ~ A^-1 b = x and B r = B A (x - x_k) ~ the error, so
    both tests ask for a relative error of about rtol; this one gets its reference for the
    price of one vector norm. With a zero guess (||x_0|| = 0) it falls back to ||B r_0|| =
    ||B b||, i.e. PETSc's reference. Divergence (not finite, or above dtol x the reference)
    is reported as PETSc's test would; the iteration limit is the KSP's own."""

    def __init__(self) -> None:
        self.reference = 0.0

    def __call__(self, ksp: PETSc.KSP, its: int, rnorm: float) -> int:
        rtol, atol, dtol, _ = ksp.getTolerances()
        if its == 0:
            self.reference = ksp.getSolution().norm()
            if self.reference == 0.0:
                self.reference = rnorm
        if not np.isfinite(rnorm):
            return PETSc.KSP.ConvergedReason.DIVERGED_NANORINF
        if rnorm <= max(rtol * self.reference, atol):
            return PETSc.KSP.ConvergedReason.CONVERGED_RTOL if rnorm > atol \
                else PETSc.KSP.ConvergedReason.CONVERGED_ATOL
        if its > 0 and rnorm > dtol * self.reference:
            return PETSc.KSP.ConvergedReason.DIVERGED_DTOL
        return PETSc.KSP.ConvergedReason.ITERATING


@dataclass(frozen=True)
class FixedTemperature:
    marker: str
    value: float  # K


@dataclass(frozen=True)
class Convection:
    marker: str
    h: float  # W/(m^2 K)
    ambient: float  # K


@dataclass(frozen=True)
class Radiation:
    """-k dT/dn = emissivity sigma (T^4 - ambient^4) (grey surface, surroundings at
    ``ambient``); on its own or on a face that also has a :class:`Convection`."""

    marker: str
    emissivity: float  # 0 .. 1
    ambient: float  # K

    def __post_init__(self):
        if not 0.0 <= self.emissivity <= 1.0:
            raise ValueError(f"Radiation({self.marker!r}): emissivity = {self.emissivity}; "
                             "allowed 0 .. 1")
        if not self.ambient > 0.0:
            raise ValueError(f"Radiation({self.marker!r}): ambient = {self.ambient} K; "
                             "allowed > 0 K")


@dataclass(frozen=True)
class HeatFlux:
    marker: str
    value: float  # W/m^2 into the body


@dataclass(frozen=True)
class VolumeSource:
    marker: str
    value: float  # W/m^3
    start: float = 0.0  # s
    end: float = np.inf  # s
    #: optional time shape: the source is ``value`` x profile.shape(t) (-) on [start, end),
    #: and profile.integral(t0, t1) (s) is its exact integral over a step (e.g. the power of
    #: a short whose open-circuit voltage falls with the state of charge); None: constant
    profile: object | None = field(default=None, compare=False)

    def amplitude(self, t0: float, t1: float | None = None) -> float:
        """On/off (times the shape) at t0, or the mean over [t0, t1] (the fraction of the
        step during which the source is on, or the profile's integral / dt): the energy put
        in over a step is exact whatever the step boundaries."""
        if self.profile is not None:
            if t1 is None:
                return self.profile.shape(t0) if self.start <= t0 < self.end else 0.0
            lo, hi = max(t0, self.start), min(t1, self.end)
            return self.profile.integral(lo, hi) / (t1 - t0) if hi > lo else 0.0
        if t1 is None:
            return 1.0 if self.start <= t0 < self.end else 0.0
        overlap = min(t1, self.end) - max(t0, self.start)
        return max(overlap, 0.0) / (t1 - t0)


def cellwise(geometry: Geometry, values: dict[int, float], name: str) -> fem.Function:
    """A DG0 function with one value per cell tag (e.g. conductivity per layer)."""
    mesh = geometry.mesh
    Q = fem.functionspace(mesh, ("DG", 0))
    f = fem.Function(Q, name=name)
    tags = geometry.cell_tags
    missing = set(np.unique(tags.values)) - set(values)
    if missing:
        raise ValueError(f"{name}: no value for cell tags {sorted(missing)}")
    for tag, value in values.items():
        cells = tags.indices[tags.values == tag]
        f.x.array[Q.dofmap.list[cells].ravel()] = value
    f.x.scatter_forward()
    return f


class HeatProblem:
    """Heat conduction (TR-BDF2 or theta scheme) with operators assembled once (see the
    module docstring)."""

    def __init__(
        self,
        geometry: Geometry,
        conductivity: fem.Function | float | tuple,
        heat_capacity: fem.Function | float,
        *,
        initial_temperature: float,
        conditions: list = (),
        sources: list[VolumeSource] = (),
        scheme: str = "tr_bdf2",
        theta: float = 1.0,
        solver: str = "auto",
        rtol: float = 1e-10,
        degree: int = 1,
        startup_steps: int = 2,
        mass_lumping: bool = False,
        radiation_temperature: float | None = None,
        projection: int = 16,
    ):
        if scheme not in SCHEMES:
            raise ValueError(f"scheme = {scheme!r}: allowed {', '.join(SCHEMES)}")
        self.geometry = geometry
        self.sources = list(sources)
        mesh = geometry.mesh
        self.scheme = scheme
        self.theta = float(theta)  # (scheme = "theta" only)
        self.V = V = fem.functionspace(mesh, ("Lagrange", degree))
        self.T = fem.Function(V, name="temperature")
        self.T.x.array[:] = initial_temperature
        self.t = 0.0
        self.initial_temperature = float(initial_temperature)
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        dx = ufl.Measure("dx", domain=mesh, subdomain_data=geometry.cell_tags)
        ds = ufl.Measure("ds", domain=mesh, subdomain_data=geometry.facet_tags)
        self.conductivity, self.heat_capacity = k, rc = conductivity, heat_capacity

        def on(measure, marker):
            return measure(tuple(geometry.markers[marker].tags))

        # Lumped (vertex-quadrature) mass keeps a sudden hot spot from producing the
        # undershoots below the initial temperature that the consistent P1 mass gives.
        dxm = dx(metadata={"quadrature_rule": "vertex", "quadrature_degree": 1}) \
            if mass_lumping else dx
        m_form = rc * u * v * dxm
        if isinstance(k, tuple):  # orthotropic (in-plane x, y; through-plane z)
            k_in, k_z = k
            grad_u, grad_v = ufl.grad(u), ufl.grad(v)
            k_form = (k_in * (grad_u[0] * grad_v[0] + grad_u[1] * grad_v[1])
                      + k_z * grad_u[2] * grad_v[2]) * dx
        else:
            k_form = k * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx
        loads = []  # (form, amplitude(t) or None for constant)
        self.bcs: list[fem.DirichletBC] = []
        data_temperatures = [self.initial_temperature]  # range of the maximum principle
        conv_form = None  # int h v ds over the convection faces (= 1^T K_convection)
        radiating: list[Radiation] = []
        max_principle = True
        for c in conditions:
            if isinstance(c, FixedTemperature):
                # on faces, or on a volume (e.g. a hot spot held at a temperature)
                entities = geometry.entities(c.marker)
                edim = geometry.markers[c.marker].dim
                mesh.topology.create_connectivity(edim, mesh.topology.dim)
                dofs = fem.locate_dofs_topological(V, edim, entities)  # (shared over ranks)
                self.bcs.append(fem.dirichletbc(PETSc.ScalarType(c.value), dofs, V))
                data_temperatures.append(float(c.value))
            elif isinstance(c, Convection):
                k_form += c.h * u * v * on(ds, c.marker)
                if c.h > 0:
                    data_temperatures.append(float(c.ambient))
                    term = c.h * v * on(ds, c.marker)
                    conv_form = term if conv_form is None else conv_form + term
                if c.h * c.ambient:  # (UFL drops a zero integrand; skip it here)
                    loads.append((c.h * c.ambient * v * on(ds, c.marker), None))
            elif isinstance(c, HeatFlux) and c.value:
                loads.append((c.value * v * on(ds, c.marker), None))
                max_principle = False
            elif isinstance(c, Radiation) and c.emissivity > 0:
                radiating.append(c)
                data_temperatures.append(float(c.ambient))
            else:  # insulated: natural condition, nothing to add
                pass
        # Radiation: h_r0 (T - T_rad) with the fixed h_r0 = 4 eps sigma T_lin^3 goes into K
        # and the loads (like convection); the remainder -R(T) v ds is the form _rad_form of
        # the evaluation temperature _T_rad (module docstring)
        self._rad_form = None
        #: T_lin (K) of the radiation's fixed linear part (None: no radiating face)
        self.radiation_temperature = None
        if radiating:
            t_lin = float(max(data_temperatures) if radiation_temperature is None
                          else radiation_temperature)
            if not t_lin > 0.0:
                raise ValueError(f"radiation_temperature = {t_lin} K: allowed > 0 K")
            self.radiation_temperature = t_lin
            self._T_rad = fem.Function(V, name="radiation_evaluation_temperature")
            tr, rad_form = self._T_rad, None
            for c in radiating:
                es, ta = c.emissivity * STEFAN_BOLTZMANN, float(c.ambient)
                h0 = 4.0 * es * t_lin**3
                k_form += h0 * u * v * on(ds, c.marker)
                term = h0 * v * on(ds, c.marker)
                conv_form = term if conv_form is None else conv_form + term
                loads.append((h0 * ta * v * on(ds, c.marker), None))
                # -R(T) = -(T - T_rad) (eps sigma (T + T_rad)(T^2 + T_rad^2) - h_r0), factored
                # so that it vanishes at T = T_rad without cancellation
                rem = -(tr - ta) * (es * (tr + ta) * (tr**2 + ta**2) - h0) * v * on(ds, c.marker)
                rad_form = rem if rad_form is None else rad_form + rem
            self._rad_form = fem.form(rad_form)
        for s in (s for s in sources if s.value):
            loads.append((s.value * v * on(dx, s.marker), s.amplitude))
            max_principle = False
        #: [min, max] of the data temperatures when the maximum principle applies, else None
        self.bounds = (min(data_temperatures), max(data_temperatures)) if max_principle \
            else None

        self._dt = fem.Constant(mesh, PETSc.ScalarType(1.0))
        self._theta = fem.Constant(mesh, PETSc.ScalarType(self.theta))
        self._a_form = fem.form(rc * u * v / self._dt * dxm + self._theta * k_form)
        self._m_form, self._k_form = fem.form(m_form), fem.form(k_form)
        self.M = fem_petsc.assemble_matrix(self._m_form)
        self.M.assemble()
        self.K = fem_petsc.assemble_matrix(self._k_form)
        self.K.assemble()
        self._constant_load = self._new_vector()
        self._timed_loads: list[tuple[PETSc.Vec, object]] = []
        for form, amplitude in loads:
            vec = fem_petsc.assemble_vector(fem.form(form))
            vec.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
            if amplitude is None:
                self._constant_load.axpy(1.0, vec)
                vec.destroy()
            else:
                self._timed_loads.append((vec, amplitude))
        # Dirichlet values g (zero off the constrained dofs) and the constrained-dof mask.
        g = fem.Function(V)
        for bc in self.bcs:
            bc.set(g.x.array)
        self._g = g.x.petsc_vec.copy()
        self._mg_kg: tuple[PETSc.Vec, PETSc.Vec] | None = None  # (M g, K g), see _lifting
        owned = V.dofmap.index_map.size_local * V.dofmap.index_map_bs
        self._bc_rows = np.unique(np.concatenate(
            [bc.dof_indices()[0] for bc in self.bcs] or [np.zeros(0, np.int32)]))
        self._bc_rows = self._bc_rows[self._bc_rows < owned].astype(PETSc.IntType)
        self._g_owned = self._g.array_r[self._bc_rows].copy()
        self._has_bc_rows = mesh.comm.allreduce(len(self._bc_rows), op=MPI.SUM) > 0
        # Energy bookkeeping: m1 = 1^T M, k1 = 1^T K = int h v ds (convection only: conduction
        # conserves heat exactly, so its round-off is not counted), and M, K restricted to the
        # constrained rows (whose residual is the Dirichlet reaction). K terms are evaluated on
        # T - c (c a data temperature) to limit cancellation at very large steps.
        ones, one_d = self._new_vector(), self._new_vector()
        ones.set(1.0)
        one_d.array[self._bc_rows] = 1.0
        self._m1, self._md, self._kd = self._new_vector(), self._new_vector(), self._new_vector()
        self.M.multTranspose(ones, self._m1)
        self.M.multTranspose(one_d, self._md)
        self.K.multTranspose(one_d, self._kd)
        self._k1 = fem_petsc.assemble_vector(fem.form(conv_form)) if conv_form is not None \
            else self._new_vector()
        self._k1.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        self._one_d = one_d
        self._c = max(data_temperatures)
        self._kd1 = self._k1.dot(one_d)  # 1_D^T K 1
        self._norms = {name: vec.norm(PETSc.NormType.NORM_1) for name, vec in
                       (("m1", self._m1), ("md", self._md), ("kd", self._kd), ("k1", self._k1))}
        # sum |A_ij| of M and K: the backward error of a solve, eps |A| |x|, summed over the
        # rows and times the step, bounds what round-off can do to the balance
        csr = {"M": self.M.getValuesCSR(), "K": self.K.getValuesCSR()}  # (local rows)
        for name, (_, _, vals) in csr.items():
            self._norms[name] = mesh.comm.allreduce(float(np.abs(vals).sum()))
        self._shifted = self._new_vector()
        ones.destroy()

        # A = M/dt + theta K by two MatAXPYs on a common sparsity pattern (M and K come from
        # forms on the same space: the cell pattern, which the facet terms do not widen; A is
        # a copy of K's structure) and the Dirichlet rows and columns cleared with diagonal 1,
        # as assemble_matrix with bcs does: 0.44 s -> ~0.01 s per change of dt at 84 k dofs
        # (a form assembly each time before; the adaptive hot-spot run changes dt 35 times)
        self._same_pattern = _same_pattern(mesh.comm, csr["M"][:2], csr["K"][:2])
        del csr
        self.A = (self.K.duplicate(copy=False) if self._same_pattern
                  else fem_petsc.create_matrix(self._a_form))
        lo = self.A.getOwnershipRange()[0]
        self._bc_rows_global = (self._bc_rows + lo).astype(PETSc.IntType)
        self._b = self._new_vector()
        self._work = self._new_vector()
        self._un = self._new_vector()  # T^n (TR-BDF2: the step's start, kept for a redo)
        self._prev = self._new_vector()  # T before the last step (undo)
        self._rate = self._new_vector()  # (T^n - T^n-1) / dt of the last step (predictor)
        self._have_rate = False
        self._rate0 = self._new_vector()  # the rate of the step before (quadratic predictor)
        self._dts = (0.0, 0.0)  # (dt of the last step, dt of the one before); 0: unknown
        self._us = self._new_vector()  # TR-BDF2 stage value / fallback sub-step
        self._y = self._new_vector()  # TR-BDF2: c1 U* - c2 T^n
        self._load_vec, self._load_vec1 = self._new_vector(), self._new_vector()
        # radiation: -R at T^n, at another point, and a stage's load with them
        self._rad_vecs = [self._new_vector() for _ in range(3)] if radiating else []
        # linear solver: batteryfx's defaults for ``solver`` under the stable prefix "heat_",
        # overridden by the user's -heat_... options (kept in the database until destroy(),
        # since some are read only when the solver is set up)
        self.prefix = OPTIONS_PREFIX
        self.ksp = PETSc.KSP().create(mesh.comm)
        self.ksp.setOptionsPrefix(self.prefix)
        #: the solver kind in use (``"auto"`` resolved, see :func:`choose_solver`)
        self.solver = choose_solver(V) if solver == "auto" else solver
        if self.solver not in SOLVERS:
            raise ValueError(f"solver = {solver!r}: allowed auto, {', '.join(SOLVERS)}")
        self.options = solver_options(self.solver, rtol)  # batteryfx's defaults
        self._options_set, self.user_options = _set_defaults(self.prefix, self.options)
        with _without_defaults_of_others(self.prefix, self._options_set):
            self.ksp.setFromOptions()
        if self.solver == "cg_column_mg" and "pc_type" not in self.user_options:
            from batteryfx.solvers.column_mg import setup_column_mg

            # set up at the first solve; again (numeric part) whenever dt changes A
            setup_column_mg(self.ksp, None, V)
        if solver == "auto":
            LOGGER.info(f"heat solver: {self.solver} ({self.num_dofs} dofs)")
        if self.user_options:
            LOGGER.info("PETSc options of the heat solver from the user: " + " ".join(
                f"-{self.prefix}{k}" + ("" if v is None else f" {v}")
                for k, v in self.user_options.items()))
        if self.ksp.getType() != PETSc.KSP.Type.PREONLY:
            self.ksp.setInitialGuessNonzero(True)  # the last step's T is a good guess
            if (self.ksp.getNormType() in (PETSc.KSP.NormType.PRECONDITIONED,
                                           PETSc.KSP.NormType.DEFAULT)
                    and self.ksp.getPCSide() == PETSc.PC.Side.LEFT
                    and not any(k.startswith("ksp_converged") for k in self.user_options)):
                # rtol relative to the guess instead of B b: one preconditioner application
                # less per solve (see GuessRelativeTest)
                self.ksp.setConvergenceTest(GuessRelativeTest())
        # the positivity safeguard needs the lumped mass (with the consistent mass no scheme
        # keeps the maximum principle: it would redo every step at first order)
        self._safeguard = self.bounds is not None and mass_lumping
        self._has_sink = bool(self.bcs) or bool(radiating) or any(
            isinstance(c, Convection) and c.h > 0 for c in conditions)
        self._assembled: tuple[float, float] | None = None
        self._mg_built: tuple[float, float] | None = None  # (dt, theta) of the MG hierarchy
        self._startup_left = startup_steps if scheme == "theta" and self.theta < 1.0 else 0
        #: initial guesses of iterative solves extrapolated in time (the last two rates;
        #: TR-BDF2's second stage from its first): fewer iterations, the same tolerance
        self.predict = self.solver != "direct"
        self._projection: SolutionProjection | None = None
        self.set_projection(projection)
        self.iterations = 0
        self.factorizations = 0
        self.fallback_steps = 0  # TR-BDF2 steps redone with the positive first-order scheme
        self.fallback_futile = 0  # ... of which the redo did not remove the excursion
        self.fallback_skipped = 0  # excursions within twice the last futile redo's: kept
        self._mesh_excess = (0.0, 0.0)  # excursions (above, below; K) futile redos left
        self._fallback: PETSc.KSP | None = None  # MUMPS when an iterative solve fails
        self.direct_fallback_solves = 0
        self._energy = {"loads_J": 0.0, "fixed_temperature_J": 0.0, "steady_J": 0.0,
                        "roundoff_J": 0.0}
        self._excess = 0.0  # largest excursion (K) outside self.bounds so far
        self._bc_applied = False  # TR-BDF2: T = g on the fixed-temperature dofs yet?
        self.radiation_assemblies = 0  # evaluations of the radiation remainder (cost)

    # ------------------------------------------------------------------ helpers
    def _new_vector(self) -> PETSc.Vec:
        return fem_petsc.create_vector(self.V)

    def _load(self, t: float, out: PETSc.Vec, t_end: float | None = None) -> None:
        """out = F(t), or its mean over [t, t_end]: constant loads plus windowed sources."""
        self._constant_load.copy(out)
        for vec, amplitude in self._timed_loads:
            a = amplitude(t, t_end)
            if a:
                out.axpy(a, vec)

    def _radiation(self, out: PETSc.Vec, *terms: tuple[float, PETSc.Vec]) -> None:
        """out = int -R(T~) v ds over the radiating faces (the radiation's remainder load, see
        the module docstring) at T~ = sum of coefficient * vector of ``terms``: one assembly of
        the compiled boundary form (collective)."""
        point = self._T_rad.x.petsc_vec
        point.set(0.0)
        for a, vec in terms:
            point.axpy(a, vec)
        self._T_rad.x.scatter_forward()
        with out.localForm() as local:
            local.set(0.0)
        fem_petsc.assemble_vector(out, self._rad_form)
        out.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        self.radiation_assemblies += 1

    def _set_operator(self, dt: float, theta: float) -> None:
        """A = M/dt + theta K (with the Dirichlet rows), factorized once per (dt, theta)."""
        if self._assembled == (dt, theta):
            return
        self._dt.value = dt
        self._theta.value = theta
        if self._same_pattern:
            same = PETSc.Mat.Structure.SAME_NONZERO_PATTERN
            self.A.zeroEntries()
            self.A.axpy(1.0 / dt, self.M, same)
            self.A.axpy(theta, self.K, same)
            if self._has_bc_rows:
                self.A.zeroRowsColumns(self._bc_rows_global, diag=1.0)
        else:
            self.A.zeroEntries()
            fem_petsc.assemble_matrix(self.A, self._a_form, bcs=self.bcs)
            self.A.assemble()
        self.ksp.setOperators(self.A)
        self._reuse_multigrid_interpolation(dt, theta)
        self._assembled = (dt, theta)
        if self._projection is not None:
            self._projection.reset()
        self.factorizations += 1

    def _reuse_multigrid_interpolation(self, dt: float, theta: float) -> None:
        """Column multigrid: keep its coarsening and interpolation (re-setup = Galerkin
        products and smoothers only) while dt stays within a factor
        :data:`MG_REUSE_FACTOR` of the dt they were built for (same theta); rebuild them
        otherwise. The coarsening depends on dt (mass-dominated columns are weak), so a
        hierarchy built at 1 us would be poor at 1 s, but not at 2 us."""
        if self.solver != "cg_column_mg" or "pc_type" in self.user_options:
            return
        ctx = self.ksp.getPC().getPythonContext()
        built = self._mg_built
        reuse = (built is not None and built[1] == theta
                 and 1.0 / MG_REUSE_FACTOR <= dt / built[0] <= MG_REUSE_FACTOR)
        ctx.options["reuse_interpolation"] = reuse
        if not reuse:
            self._mg_built = (dt, theta)

    @property
    def num_dofs(self) -> int:
        imap = self.V.dofmap.index_map
        return imap.size_global * self.V.dofmap.index_map_bs

    # ------------------------------------------------------------------ stepping
    def step(self, dt: float) -> None:
        """Advance T from t to t + dt.

        ``scheme = "theta"`` with theta < 1: the first ``startup_steps`` steps are each taken
        as two backward-Euler half steps (Rannacher start-up), which damps the non-smooth modes
        that a sudden fixed temperature (a hot spot) excites and Crank-Nicolson would otherwise
        keep. TR-BDF2 is L-stable and needs no start-up.
        """
        t0 = self.t
        if self.scheme == "tr_bdf2" and len(self.bcs) and not self._bc_applied:
            self._apply_bcs()
        # what undo() puts back
        self.T.x.petsc_vec.copy(self._prev)
        self._before = (t0, dict(self._energy), self._excess, self._startup_left,
                        self.fallback_steps, self.fallback_futile, self.fallback_skipped,
                        self._mesh_excess)
        if self.scheme == "tr_bdf2":
            energy = self._tr_bdf2(dt)
        elif self._startup_left > 0:
            self._startup_left -= 1
            energy = self._theta_step(dt / 2, 1.0)
            self.t = t0 + dt / 2
            energy += self._theta_step(dt / 2, 1.0)
        else:
            energy = self._theta_step(dt, self.theta)
        self.t = t0 + dt
        if self.predict:
            if self._have_rate:
                self._rate.copy(self._rate0)
                self._dts = (dt, self._dts[0])
            else:
                self._dts = (dt, 0.0)
            self._rate.waxpy(-1.0, self._prev, self.T.x.petsc_vec)
            self._rate.scale(1.0 / dt)
            self._have_rate = True
        for key, value in zip(("loads_J", "fixed_temperature_J", "roundoff_J"), energy,
                              strict=True):
            self._energy[key] += float(value)
        self.T.x.scatter_forward()
        self._track_extremes()

    def _extrapolate(self, x: PETSc.Vec, h: float) -> None:
        """x (= T^n) += the change to t + h of the polynomial through the last two or three
        states."""
        x.axpy(h, self._rate)
        dt1, dt0 = self._dts
        if dt0 > 0:
            coef = h * (h + dt1) / (dt1 + dt0)
            x.axpy(coef, self._rate)
            x.axpy(-coef, self._rate0)

    def set_projection(self, size: int) -> None:
        """Project the initial guesses of iterative solves onto the corrections of up to
        ``size`` earlier solves with the same operator (solvers/projection.py; 0: off)."""
        if self._projection is not None:
            self._projection.destroy()
        self._projection = (SolutionProjection(self._b, size)
                            if self.solver != "direct" and size > 0 else None)

    def reset_predictor(self) -> None:
        """Forget the history the initial guesses come from (call after setting T from
        outside): the last step's rate dT/dt (the next step's guess is T itself) and the
        corrections the guesses are projected on."""
        self._have_rate = False
        if self._projection is not None:
            self._projection.reset()

    def probe_integrands(self) -> dict:
        """UFL integrands of the heat probes: ``heat`` = rho c_p (T - T0) (J/m^3; integrated:
        the heat stored in a marker), ``flux_in_plane`` = |k_in grad_xy T| and
        ``flux_through`` = |k_z dT/dz| (W/m^2; averaged: how much heat flows along the layers
        vs across them)."""
        k = self.conductivity
        k_in, k_z = k if isinstance(k, tuple) else (k, k)
        g = ufl.grad(self.T)
        return {"heat": self.heat_capacity * (self.T - self.initial_temperature),
                "flux_in_plane": k_in * ufl.sqrt(g[0] ** 2 + g[1] ** 2),
                "flux_through": k_z * abs(g[2])}

    def breakpoints(self) -> list[float]:
        """Times (s) at which a source switches on or off: a stepper lands on them, so that no
        step hides a switch between the points the error estimate looks at."""
        return sorted({t for s in self.sources for t in (s.start, s.end) if np.isfinite(t)})

    def undo(self) -> None:
        """Take back the last step (an adaptive stepper rejected it): T, t and the energy
        bookkeeping as before it (the solve counters keep the work done)."""
        t0, energy, excess, startup, *fallback = self._before
        self._prev.copy(self.T.x.petsc_vec)
        self.T.x.scatter_forward()
        self.t, self._energy, self._excess, self._startup_left = t0, energy, excess, startup
        (self.fallback_steps, self.fallback_futile, self.fallback_skipped,
         self._mesh_excess) = fallback
        self._have_rate = False  # (the rejected step's rate would be a poor predictor)

    def error_estimate(self) -> float | None:
        """Local error (K, largest over the nodes) of the last TR-BDF2 step, from the rates at
        its three points (Bank et al. 1985; Hosea & Shampine 1996): the local truncation
        error is C dt^3 d3T/dt3 with C = (-3 gamma^2 + 4 gamma - 2) / (12 (2 - gamma)), and
        the second divided difference of the rates f = dT/dt at t, t + gamma dt, t + dt
        gives dt^2 d3T/dt3 ~ 2 (f_n / gamma - f_* / (gamma (1 - gamma)) + f_n+1 / (1 - gamma)).
        The rates are M_L^-1 (F(t) - K u) with the lumped mass M_L and the loads at those
        instants (a step over a source switching on or off shows a large error), without the
        radiation remainder; zero on the fixed-temperature rows. None for scheme = "theta"."""
        if self.scheme != "tr_bdf2":
            return None
        t0 = self._before[0]
        dt = self.t - t0
        est, f, w = self._work, self._load_vec, self._b
        est.set(0.0)
        eps = 1e-9  # loads as the one-sided limits inside the step (a switch at an end
        # point belongs to the neighbouring step)
        for u, t, weight in ((self._prev, t0 + eps * dt, 1.0 / GAMMA),
                             (self._us, t0 + GAMMA * dt, -1.0 / (GAMMA * (1.0 - GAMMA))),
                             (self.T.x.petsc_vec, t0 + (1 - eps) * dt, 1.0 / (1.0 - GAMMA))):
            self._load(t, f)
            self.K.mult(u, w)
            f.axpy(-1.0, w)
            est.axpy(weight, f)
        est.pointwiseDivide(est, self._m1)
        est.scale(2.0 * _C_LTE * dt)
        est.array[self._bc_rows] = 0.0
        return float(est.norm(PETSc.NormType.INFINITY))

    def _apply_bcs(self) -> None:
        """T = g on the fixed-temperature dofs before the first TR-BDF2 step: the values are
        held from t = 0+ (else the trapezoidal stage would ramp them from T0 over the stage,
        an O(dt) error: measured first order instead of second). The heat this puts into the
        stored energy counts as heat through the fixed-temperature faces."""
        x = self.T.x.petsc_vec
        before = self._m1.dot(x)
        x.array[self._bc_rows] = self._g_owned
        self.T.x.scatter_forward()
        self._energy["fixed_temperature_J"] += self._m1.dot(x) - before
        self._bc_applied = True

    def _solve(self, x: PETSc.Vec, tau: float, th: float, y: PETSc.Vec, f: PETSc.Vec,
               t1: float, dt: float, z: PETSc.Vec | None = None, s: float = 0.0) -> np.ndarray:
        """Solve (M/tau + th K) x = M y / tau - s K z + f with x = g on the fixed-temperature
        rows (lifting with the unconstrained operator). ``y`` may be ``x``.

        Returns the heat (J) put in by the loads (incl. convection, net), through the fixed-
        temperature rows, and a round-off bound of the two. From the unconstrained equations,
        1^T M (x - y) = tau (1^T f - k1 (th x + s z) + 1_D^T R), R the reaction (the residual on
        the constrained rows): tau 1_D^T R = md (x - y) + tau (kd (th x + s z) - 1_D^T f).
        """
        self._set_operator(tau, th)
        b, w, sh = self._b, self._work, self._shifted
        c, n, eps = self._c, self._norms, 100 * np.finfo(float).eps
        has_d = len(self.bcs) > 0
        md_y = self._md.dot(y) if has_d else 0.0
        y_inf = y.norm(PETSc.NormType.INFINITY)
        self.M.mult(y, b)
        b.scale(1.0 / tau)
        k_explicit = k1_explicit = z_inf = zc_inf = 0.0
        if s:
            self.K.mult(z, w)
            b.axpy(-s, w)
            z.copy(sh)
            sh.shift(-c)
            k_explicit = s * (self._kd.dot(sh) + c * self._kd1) if has_d else 0.0
            k1_explicit = s * self._k1.dot(z)
            z_inf, zc_inf = z.norm(PETSc.NormType.INFINITY), sh.norm(PETSc.NormType.INFINITY)
        b.axpy(1.0, f)
        load = f.sum()
        f_d = f.dot(self._one_d) if has_d else 0.0
        if has_d:  # lifting of the fixed temperatures: M g and K g, computed once
            mg, kg = self._lifting()
            b.axpy(-1.0 / tau, mg)
            b.axpy(-th, kg)
            b.array[self._bc_rows] = self._g_owned
        proj = self._projection
        if proj is not None:
            proj.guess(self.A, b, x)
        self.ksp.solve(b, x)
        ksp = self.ksp
        if self.ksp.getConvergedReason() < 0 and self.solver != "direct":
            ksp = self._direct_fallback(b, x, t1)
        elif proj is not None:
            proj.add(self.A, x)
        self._check(x, t1, dt, ksp)
        x.copy(sh)
        sh.shift(-c)
        x_inf, xc_inf = x.norm(PETSc.NormType.INFINITY), sh.norm(PETSc.NormType.INFINITY)
        fixed = 0.0
        if has_d:
            k_implicit = th * (self._kd.dot(sh) + c * self._kd1)
            fixed = self._md.dot(x) - md_y + tau * (k_implicit + k_explicit - f_d)
        convection = th * self._k1.dot(x) + k1_explicit
        roundoff = eps * (n["md"] * (x_inf + y_inf) + tau * (
            n["kd"] * (th * xc_inf + s * zc_inf) + n["k1"] * (th * x_inf + s * z_inf)))
        roundoff += np.finfo(float).eps * (n["M"] * x_inf + tau * th * n["K"] * x_inf)
        return np.array([tau * (load - convection), fixed, roundoff])

    def _lifting(self) -> tuple[PETSc.Vec, PETSc.Vec]:
        """(M g, K g) of the fixed temperatures g (constant: computed at the first call)."""
        if self._mg_kg is None:
            mg, kg = self._new_vector(), self._new_vector()
            self.M.mult(self._g, mg)
            self.K.mult(self._g, kg)
            self._mg_kg = (mg, kg)
        return self._mg_kg

    def _theta_step(self, dt: float, th: float) -> np.ndarray:
        """(M/dt + theta K) T^{n+1} = M T^n/dt - (1 - theta) K T^n + F_step, F_step the mean of
        F over [t, t + dt] (= theta F(t+dt) + (1 - theta) F(t) for the constant loads; exact
        energy input for sources switched on or off inside a step)."""
        x, un, w = self.T.x.petsc_vec, self._un, self._load_vec
        x.copy(un)
        if self.predict and self._have_rate:  # initial guess T^n + dt dT/dt
            self._extrapolate(x, dt)
        self._load(self.t, w, self.t + dt)
        if self._rad_form is None:
            return self._solve(x, dt, th, un, w, self.t + dt, dt, z=un, s=1.0 - th)
        # radiation: R(T^n) (backward Euler: first order, as the scheme); theta < 1: then
        # corrected with theta R(T^{n+1}_0) + (1 - theta) R(T^n) (second order)
        rn, r1, f = self._rad_vecs
        self._radiation(rn, (1.0, un))
        w.copy(f)
        f.axpy(1.0, rn)
        if th < 1.0:
            self._solve(x, dt, th, un, f, self.t + dt, dt, z=un, s=1.0 - th)
            self._radiation(r1, (1.0, x))
            w.copy(f)
            f.axpy(1.0 - th, rn)
            f.axpy(th, r1)
        return self._solve(x, dt, th, un, f, self.t + dt, dt, z=un, s=1.0 - th)

    def _tr_bdf2(self, dt: float) -> np.ndarray:
        t = self.t
        tau = _D * dt
        t_stage = t + GAMMA * dt
        x, un, us, w, f1 = (self.T.x.petsc_vec, self._un, self._us, self._load_vec,
                            self._load_vec1)
        x.copy(un)
        un.copy(us)
        if self.predict and self._have_rate:  # initial guess T^n + gamma dt dT/dt
            self._extrapolate(us, GAMMA * dt)
        # stage 1 (trapezoid to t + gamma dt): (M/tau + K) U* = M T^n/tau - K T^n + 2 F1
        self._load(t, f1, t_stage)
        f1.copy(w)
        w.scale(2.0)
        if self._rad_form is not None:
            # radiation: predictor U*_0 with R(T^n) at both ends, then R(T^n) + R(U*_0)
            rn, r1, _ = self._rad_vecs
            self._radiation(rn, (1.0, un))
            w.axpy(2.0, rn)
            self._solve(us, tau, 1.0, un, w, t_stage, dt, z=un, s=1.0)
            self._radiation(r1, (1.0, us))
            f1.copy(w)
            w.scale(2.0)
            w.axpy(1.0, rn)
            w.axpy(1.0, r1)
        e1 = self._solve(us, tau, 1.0, un, w, t_stage, dt, z=un, s=1.0)
        # stage 2 (BDF2): (M/tau + K) T^{n+1} = M (c1 U* - c2 T^n)/tau + F2,
        # F2 = (2 - gamma) F2' - (1 - gamma) F1 (exact energy input over the step)
        y = self._y
        y.set(0.0)
        y.axpy(_C1, us)
        y.axpy(-_C2, un)
        self._load(t_stage, w, t + dt)
        w.scale(2.0 - GAMMA)
        w.axpy(-(1.0 - GAMMA), f1)
        if self._rad_form is not None:
            # radiation at T^n + (U* - T^n) / gamma (the stage values extrapolated to t + dt)
            r1 = self._rad_vecs[1]
            self._radiation(r1, (1.0 - 1.0 / GAMMA, un), (1.0 / GAMMA, us))
            w.axpy(1.0, r1)
        if self.predict:  # initial guess T^n + (U* - T^n) / gamma, the stages extrapolated
            x.axpy(1.0 / GAMMA, us)
            x.axpy(-1.0 / GAMMA, un)
        # energy: E^{n+1} - E^n = c1 (E* - E^n) + (stage-2 inputs)
        energy = _C1 * e1 + self._solve(x, tau, 1.0, y, w, t + dt, dt)
        if self._safeguard:
            trigger = self._fallback_trigger()
            excess = self._bounds_excess(x)  # (above hi, below lo)
            floor = self._mesh_excess
            if all(e <= max(trigger, 2.0 * f) for e, f in zip(excess, floor, strict=True)):
                # within round-off, or on each side no worse than what the first-order scheme
                # left on this mesh before: the mesh, not the time scheme, makes it; keep the
                # second-order result (a side without a futile redo has floor 0)
                if max(excess) > trigger:
                    self.fallback_skipped += 1
                return energy
            x.copy(y)  # the TR-BDF2 result (y is free after stage 2)
            positive = self._positive_step(dt)
            self.fallback_steps += 1
            left = self._bounds_excess(x)
            futile = [e > trigger and lf > 0.5 * e for e, lf in zip(excess, left, strict=True)]
            if all(f or e <= trigger for f, e in zip(futile, excess, strict=True)):
                # futile: backward Euler leaves (most of) it too, so Q1 cells that are no
                # M-matrix cause it (at a sudden hot spot): keep the result that leaves the
                # range less (this step's redo is paid for) and skip the redo while the
                # excursion stays within twice this level
                self._mesh_excess = tuple(lf if f else fl for lf, f, fl
                                          in zip(left, futile, floor, strict=True))
                self.fallback_futile += 1
                if max(left) < max(excess):
                    energy = positive
                else:
                    y.copy(x)
            else:
                self._mesh_excess = tuple(lf if f else 0.0 for lf, f
                                          in zip(left, futile, strict=True))
                energy = positive
        return energy

    def _positive_step(self, dt: float) -> np.ndarray:
        """The step from T^n (kept in _un) again as the first-order positivity-preserving
        combination of four backward-Euler sub-steps of d dt (the same operator):
        T^{n+1} = U3 + (1/d - 3) (U4 - U3); the sub-step loads are the means over
        [0, d, 2d, 3d, 1] dt (the 4th, weighted 1/d - 3, covers (1 - 3d) dt)."""
        t = self.t
        tau = _D * dt
        x, un, us, w = self.T.x.petsc_vec, self._un, self._us, self._load_vec
        edges = [t, t + tau, t + 2 * tau, t + 3 * tau, t + dt]
        energy = np.zeros(3)
        un.copy(x)
        for k in range(4):
            if k == 3:
                x.copy(us)  # U3
            self._load(edges[k], w, edges[k + 1])
            if self._rad_form is not None:  # radiation at the sub-step's start
                r1 = self._rad_vecs[1]
                self._radiation(r1, (1.0, x))
                w.axpy(1.0, r1)
            energy += (_A4 if k == 3 else 1.0) * self._solve(x, tau, 1.0, x, w, edges[k + 1], dt)
        x.scale(_A4)
        x.axpy(1.0 - _A4, us)
        return energy

    def _fallback_trigger(self) -> float:
        """Excursion (K) outside the data range that redoes a TR-BDF2 step: round-off."""
        lo, hi = self.bounds
        return _FALLBACK_RTOL * max(hi - lo, 1e-3 * abs(hi))

    def _bounds_excess(self, x: PETSc.Vec) -> tuple[float, float]:
        """How far (K, <= 0 inside) x goes above hi and below lo of the data (collective)."""
        lo, hi = self.bounds
        return x.max()[1] - hi, lo - x.min()[1]

    def _track_extremes(self) -> None:
        if self.bounds is None:
            return
        lo, hi = self.bounds
        x = self.T.x.petsc_vec
        self._excess = max(self._excess, x.max()[1] - hi, lo - x.min()[1])

    def steady(self) -> None:
        """Solve the steady problem K T = F(t) (sources at the current time); with radiation
        by the fixed-point iteration K T_{k+1} = F + r(T_k) from the current T (module
        docstring). The energy balance counts the change of stored heat as ``steady_J`` (no
        time history)."""
        if not self._has_sink:
            raise SolverDiverged("a steady heat problem needs a fixed temperature, a "
                                 "convection or a radiation condition somewhere (insulated "
                                 "everywhere has no steady state)")
        stored = self.energy()
        Kc = fem_petsc.assemble_matrix(self._k_form, bcs=self.bcs)
        Kc.assemble()
        b, w, x = self._b, self._work, self.T.x.petsc_vec
        self.ksp.setOperators(Kc)
        self._assembled = None
        radiation = self._rad_form is not None
        for _ in range(_STEADY_MAX_IT if radiation else 1):
            self._load(self.t, b)
            if radiation:
                x.copy(self._un)
                self._radiation(self._rad_vecs[1], (1.0, x))
                b.axpy(1.0, self._rad_vecs[1])
            if len(self.bcs):
                b.axpy(-1.0, self._lifting()[1])
                b.array[self._bc_rows] = self._g_owned
            self.ksp.solve(b, x)
            self._check(x, self.t, None)
            if not radiation:
                break
            x.copy(w)
            w.axpy(-1.0, self._un)
            if w.norm(PETSc.NormType.INFINITY) <= _STEADY_RTOL * x.norm(PETSc.NormType.INFINITY):
                break
        else:
            Kc.destroy()
            raise SolverDiverged(
                f"steady heat problem with radiation: the fixed-point iteration did not "
                f"converge in {_STEADY_MAX_IT} iterations; set a radiation_temperature near "
                "the expected surface temperatures")
        self.T.x.scatter_forward()
        Kc.destroy()
        self._energy["steady_J"] += self.energy() - stored
        self._track_extremes()

    def _direct_fallback(self, b: PETSc.Vec, x: PETSc.Vec, t: float) -> PETSc.KSP:
        """The iterative solve failed: solve this system again with MUMPS (LU of the same
        operator, factorized again only when the operator changed) and say so once. The
        iterative solver stays the first choice for the next solves. Returns the KSP used."""
        comm = self.V.mesh.comm
        self.iterations += self.ksp.getIterationNumber()
        reason = self.ksp.getConvergedReason()
        if self._fallback is None:
            ksp = PETSc.KSP().create(comm)
            ksp.setOptionsPrefix("heat_fallback_")
            ksp.setType(PETSc.KSP.Type.PREONLY)
            pc = ksp.getPC()
            pc.setType(PETSc.PC.Type.LU)
            pc.setFactorSolverType("mumps")
            ksp.setOperators(self.A)
            pc.setFactorSetUpSolverType()
            pc.getFactorMatrix().setMumpsIcntl(14, 100)
            self._fallback = ksp
            LOGGER.warning(f"warning: the {self.solver} heat solve failed at t = {t:.6g} s "
                           f"(PETSc reason {reason}); solved again with MUMPS (LU). This and "
                           "any later such solve are counted in summary.json "
                           "direct_fallback_solves")
        else:
            self._fallback.setOperators(self.A)
        x.set(0.0)
        self._fallback.solve(b, x)
        self.direct_fallback_solves += 1
        return self._fallback

    def _check(self, x: PETSc.Vec, t: float, dt: float | None,
               ksp: PETSc.KSP | None = None) -> None:
        """After a solve: convergence (SolverDiverged), then T finite and >= 0 K
        (PhysicsViolation)."""
        comm = self.V.mesh.comm
        ksp = self.ksp if ksp is None else ksp
        reason = ksp.getConvergedReason()
        self.iterations += ksp.getIterationNumber()
        when = f"t = {t:.6g} s" + (f", dt = {dt:.3g} s" if dt is not None else " (steady)")
        what = f"time step {when}" if dt is not None else "steady solve"
        if reason < 0:
            raise SolverDiverged(
                f"heat solver did not converge at {what} (PETSc reason {reason}, "
                f"{ksp.getIterationNumber()} iterations); try physics.solver = 'direct', "
                "a smaller time.dt_initial / time.dt_max, or a finer mesh"
            )
        finite = comm.allreduce(bool(np.isfinite(x.array_r).all()), op=MPI.LAND)
        t_min = x.min()[1] if finite else float("nan")
        if not finite or t_min < 0.0:
            found = "not finite" if not finite else f"down to {t_min:.4g} K (below 0 K)"
            raise PhysicsViolation(
                f"temperature {found} at {when}: a heat flux or sink too strong for the heat "
                "capacity, or steps too large; check boundary_conditions / sources / "
                "time.dt_max"
            )

    # ------------------------------------------------------------------ diagnostics
    def energy(self, reference: float | None = None) -> float:
        """Stored heat int rho c_p (T - T_ref) dx (J) over the whole domain (collective)."""
        ref = self.initial_temperature if reference is None else reference
        return float(self._m1.dot(self.T.x.petsc_vec) - ref * self._m1.sum())

    def energy_balance(self) -> dict[str, float]:
        """Stored heat against the cumulative input (J; collective, the same on all ranks):
        ``stored_J`` = int rho c_p (T - T0) dx (via M); ``loads_J`` = sources + heat fluxes +
        convection + radiation (net: heat lost counts negative); ``fixed_temperature_J`` =
        through the fixed-temperature faces (the Dirichlet reaction); ``steady_J`` = the jumps
        of :meth:`steady`; ``net_input_J`` their sum; ``drift_J`` = stored - net input;
        ``roundoff_J`` a floating-point bound of the bookkeeping (large only for absurdly large
        steps, where the reaction times dt is round-off times dt); ``drift_rel`` =
        max(|drift| - roundoff, 0) / max(|stored|, |loads|, |fixed temperature|, |steady|).
        Measured ~1e-14 with a direct solver; of the order of rtol with an iterative one."""
        e = dict(self._energy)
        stored = self.energy()
        e["roundoff_J"] += 100 * np.finfo(float).eps * self._norms["m1"] * (
            self.T.x.petsc_vec.norm(PETSc.NormType.INFINITY) + abs(self.initial_temperature))
        net = e["loads_J"] + e["fixed_temperature_J"] + e["steady_J"]
        scale = max(abs(stored), abs(e["loads_J"]), abs(e["fixed_temperature_J"]),
                    abs(e["steady_J"]), 1e-300)
        drift = stored - net
        return {"stored_J": stored, "net_input_J": net, **e, "drift_J": drift,
                "drift_rel": max(abs(drift) - e["roundoff_J"], 0.0) / scale}

    def max_principle_excess(self) -> float | None:
        """None if the maximum principle does not apply (a source or a heat flux); else the
        largest amount (K, >= 0) by which T went, at any dof and step end so far, above the
        largest or below the smallest of the initial, fixed and ambient temperatures
        (collective). Compare with :meth:`max_principle_tolerance`."""
        return None if self.bounds is None else max(self._excess, 0.0)

    def max_principle_tolerance(self) -> float:
        """The recommended warning threshold (K) for :meth:`max_principle_excess`:
        MAX_PRINCIPLE_RTOL of the data temperature range."""
        lo, hi = self.bounds if self.bounds is not None else (0.0, 0.0)
        return MAX_PRINCIPLE_RTOL * max(hi - lo, 1e-3 * abs(hi))

    # ------------------------------------------------------------------ restart
    def state(self) -> dict:
        """JSON-serialisable state besides T and t, for a checkpoint (see :meth:`restore`)."""
        return {"scheme": self.scheme, "startup_left": int(self._startup_left),
                "factorizations": int(self.factorizations), "iterations": int(self.iterations),
                "fallback_steps": int(self.fallback_steps),
                "fallback_futile": int(self.fallback_futile),
                "fallback_skipped": int(self.fallback_skipped),
                "mesh_excess": list(self._mesh_excess),
                "energy": {k: float(v) for k, v in self._energy.items()},
                "max_principle_excess": float(self._excess), "bc_applied": self._bc_applied,
                "radiation_assemblies": int(self.radiation_assemblies)}

    def restore(self, state: dict) -> None:
        """Restore :meth:`state` (T and t are restored by the caller)."""
        if state.get("scheme", self.scheme) != self.scheme:
            raise ValueError(f"checkpoint of scheme {state['scheme']!r}, problem uses "
                             f"{self.scheme!r}")
        self._startup_left = int(state["startup_left"])
        self.factorizations = int(state["factorizations"])
        self.iterations = int(state["iterations"])
        self.fallback_steps = int(state.get("fallback_steps", 0))
        self.fallback_futile = int(state.get("fallback_futile", 0))
        self.fallback_skipped = int(state.get("fallback_skipped", 0))
        self._mesh_excess = tuple(float(v) for v in state.get("mesh_excess", (0.0, 0.0)))
        self._energy.update({k: float(v) for k, v in state.get("energy", {}).items()})
        self._excess = float(state.get("max_principle_excess", 0.0))
        self._bc_applied = bool(state.get("bc_applied", True))
        self._have_rate = False  # the first step after a restart predicts T^n
        # (no radiation state besides this counter: nothing is lagged from step to step)
        self.radiation_assemblies = int(state.get("radiation_assemblies", 0))

    def destroy(self) -> None:
        for obj in (self.ksp, self.A, self.M, self.K, self._b, self._work, self._g,
                    self._un, self._prev, self._rate, self._us, self._m1, self._k1, self._md,
                    self._kd,
                    self._one_d,
                    self._y, self._load_vec, self._load_vec1, self._shifted, self._rate0,
                    self._constant_load, *[v for v, _ in self._timed_loads], *self._rad_vecs):
            obj.destroy()
        if self._fallback is not None:
            self._fallback.destroy()
        if self._projection is not None:
            self._projection.destroy()
        for vec in self._mg_kg or ():
            vec.destroy()
        _unset_defaults(self._options_set)  # the user's own options stay
        self._options_set = []


__all__ = [
    "MAX_PRINCIPLE_RTOL",
    "OPTIONS_PREFIX",
    "SCHEMES",
    "STEFAN_BOLTZMANN",
    "Convection",
    "FixedTemperature",
    "HeatFlux",
    "HeatProblem",
    "Radiation",
    "VolumeSource",
    "cellwise",
]
