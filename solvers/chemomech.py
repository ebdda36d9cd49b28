r"""Particle chemo-mechanics: Li diffusion and diffusion-induced stress (shared/PHYSICS.md C).

Diffusion (concentration c in mol/m^3, P1 Lagrange by default)::

    dc/dt = div(D grad c - D c Omega / (R T) grad sigma_h)      in Omega (particle)
    (D grad c - ...) . n = J                                      on Gamma_J (galvanostatic)
    c = c_s                                                       on Gamma_c (potentiostatic)
    zero flux                                                     elsewhere

J (mol m^-2 s^-1) is the flux INTO the particle: insertion (lithiation) positive, extraction
negative. From a C-rate: J = Delta c V / (A t_full), t_full = 3600 s / |C-rate| (for a sphere
V / A = R / 3, i.e. J = Delta c R / (3 t_full)); V is the mesh volume and A the area of the
flux marker, so the mean concentration changes by exactly Delta c over t_full. D (m^2/s) is a
constant, a :class:`Table` of the state of charge x = c / c_max (piecewise linear, clamped
outside its range) or a callable taking the UFL concentration (mol/m^3) and returning a UFL
expression. The stress-assisted term (chemical potential mu = mu_0 + R T ln(...) - Omega
sigma_h; optional, ``stress_assisted=True``, isotropic expansion only) uses the hydrostatic
stress of the previous mechanics solve, L2-projected (lumped) onto P1: staggered, one-step
lag (first order in the coupling).

Time schemes (``scheme``): ``"bdf2"`` (default; variable-step BDF2, the first step backward
Euler) or ``"theta"`` (theta = 1 backward Euler, 1/2 Crank-Nicolson without start-up
smoothing). The flux over a step is its mean over the step (exact Li input for windows
switching inside a step with the theta scheme; with BDF2 exact for piecewise-constant flux
that does not switch). With a constant D and no stress coupling the problem is linear: the mass
M and stiffness K are assembled once, each step is SpMVs plus one solve, and the operator
a0/dt M + K is re-assembled only when dt (or the BDF2 step ratio) changes. Otherwise each step
is a Newton solve (``dolfinx.fem.petsc.NonlinearProblem``, PETSc SNES newtonls with a
backtracking line search). Li content int c dx (mol) against the injected int J dA dt is
tracked; with no Dirichlet concentration the balance is exact to solver tolerance (1^T K = 0).

Mechanics (small strain, quasi-static, displacement u in m, vector P1 by default or P2)::

    div sigma = 0,  sigma = C : (eps(u) - eps*(c)),  eps(u) = sym(grad u)   (Pa)
    sigma . n = 0 (traction-free) or u_i = g on marked faces (symmetry planes, clamps)

eps* is isotropic Omega (c - c_ref) / 3 I (:class:`IsotropicExpansion`) or from the lattice
(:class:`LatticeExpansion`): diag(eps_a(x), eps_a(x), eps_c(x)) in the crystal frame, rotated
per cell by the grain orientation R (crystal -> lab; eps*_lab = R diag R^T). C is isotropic
(E, nu) or a 6x6 Voigt matrix in the crystal frame (order 11, 22, 33, 23, 13, 12, engineering
shear strains), applied as sigma = R (C : (R^T eps R)) R^T. One-way coupling c -> eps*: the
mechanics is re-solved after each diffusion step (or on demand).

Rigid-body modes: with no displacement condition the 6 rigid modes (3 translations, 3
rotations about the centroid) span the null space of the stiffness matrix. They are removed
by a PETSc MatNullSpace (orthonormalised, :func:`rigid_body_modes`): the right-hand side is
projected onto its complement before the solve and so is the solution afterwards (the unique
displacement with no rigid component in the dof inner product); stresses do not depend on
that choice. The same 6 vectors are the near-null space for GAMG in every case.

Linear solvers (stable options prefixes; ``-chem_...`` / ``-mech_...`` options set by the
user in the PETSc options database before the problem is created win over batteryfx's
defaults, which are removed again by :meth:`ChemoMechProblem.destroy`):

* ``chem_`` (:data:`CHEM_PREFIX`): diffusion KSP (or SNES + its KSP); ``"auto"`` (default):
  MUMPS LU factorised once per dt below :data:`CHEM_AUTO_ITERATIVE_DOFS`, else CG +
  block-Jacobi ICC(0) (GMRES + ILU(0) for a state-dependent D).
* ``mech_`` (:data:`MECH_PREFIX`): elasticity KSP. The matrix does not depend on c: it is
  assembled and its preconditioner / factorisation set up once. ``"auto"`` (default):
  ``"direct"`` below :data:`MECH_AUTO_ITERATIVE_DOFS` displacement dofs, ``"cg_gamg"`` above
  (benchmarks/particle.py, 174 k displacement dofs, 30 steps: the same time, direct 2.6x
  faster per step but 37 s more set-up and 4.3x the memory). ``"direct"``: MUMPS
  LU with null-pivot detection (ICNTL(24) = 1) for the singular free-particle matrix, then
  the projection above. ``"cg_gamg"``: CG + GAMG (Chebyshev/Jacobi smoothing, the rigid-body
  near-null space, SVD coarse solve, which tolerates the singular coarse operator of a free
  particle), rtol 1e-10. Measured on a free sphere (2 shared cores, one solve after the
  set-up): GAMG iterations do not grow with the mesh (P1: 13 / 17 / 17 / 18 iterations at
  624 / 1.9k / 6.9k / 19.6k dofs; P2: 34 / 36 / 35 / 35 at 3.8k / 12.9k / 49k / 147k dofs),
  but a solve with the reused MUMPS factors is 3-7x faster (P2, 147k dofs: 1.2 s vs 8.3 s;
  the factorisation ~100 s once, GAMG set-up ~15 s), so "auto" keeps direct for the
  particle meshes this module is mostly for and takes GAMG where the factorisation's time
  and memory (growing faster than the iterations' cost) would dominate.

Stress evaluation: with P1 displacement eps(u) is constant per cell and the weak form sees only
the cell mean of eps*, so sigma uses eps* of the cell-mean concentration (consistent; the
pointwise P1 c would add an intra-cell oscillation K Omega h |grad c|, as large as the stress
itself on coarse meshes). With ``degree_u=2`` the pointwise P1 c is used. Measured on the
Zhang 2007 sphere (tests/verification/test_chemomech_sphere.py), relative L2 error of the
stress tensor at tau = 0.1: P1 31 % (h = R/4) -> 18 % (R/8); P2 8 % -> 2.6 %: use P2 where
stresses matter.

Derived outputs (cellwise, DG0, evaluated at cell midpoints): stress tensor, von Mises,
hydrostatic (tr sigma / 3), principal stresses (descending), radial and hoop stress about
``centre`` (hoop = the mean of the two tangential normal stresses, (tr sigma - sigma_rr) / 2),
strain energy 1/2 int sigma : (eps - eps*) dx (J), Li content and mean concentration, and
:meth:`ChemoMechProblem.facet_traction` (normal and shear traction on a facet marker,
interior facets such as grain boundaries included).
A particle in a bonded matrix (solid electrolyte) is a second cell tag with a Material without
expansion and D = 0 (with ``mass_lumping=True`` no Li enters it; the consistent mass would
couple the interface nodes to it); Li content and mean concentration are then over the whole
mesh. See the Eshelby / Lame check in the tests.
Voltage protocols (:class:`VoltageProtocol`): cc (constant Li flux), cv (the surface held at
c = c_max U^-1(V), a Dirichlet condition switched on for the segment) and rest segments on a
facet marker, controlled by an open-circuit voltage table U(x) (V, x = c / c_max) of the MEAN
surface stoichiometry; a limit (voltage, current cut-off, duration) reached inside a step is
located by regula falsi on the part of the step and the next segment takes the rest of it
(the time scheme restarts with backward Euler at each switch, and whenever a step grows by
more than 1 + sqrt(2), the zero-stability bound of variable-step BDF2). The Li of a cc segment
is J A t exactly; that of a cv segment is the content change, and its current the discrete
balance (a0 Q^{n+1} - a1 Q^n + a2 Q^{n-1}) / dt (mol/s). Verified in
tests/verification/test_chemomech_protocol.py (Crank's sphere for a cv hold, the galvanostatic
series for a cc-to-voltage switch time, exact bookkeeping).
Not done: kinetic (Butler-Volmer) or ohmic drops in the protocol voltage, Cahn-Hilliard phase
separation, contact / debonding, 2D, a local time-error estimate (``error_estimate()`` returns
None), diffusion restricted to a sub-mesh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import ufl
from dolfinx import fem, la
from dolfinx import mesh as dmesh
from dolfinx.fem import petsc as fem_petsc

from batteryfx.errors import PhysicsViolation, SolverDiverged
from batteryfx.solvers.petsc_options import _unset_defaults, new_ksp, read_options

#: Faraday constant (C/mol), exact SI N_A e
FARADAY = 96485.33212
#: options prefix of the diffusion solver (KSP, or SNES and its KSP)
CHEM_PREFIX = "chem_"
#: options prefix of the elasticity KSP
MECH_PREFIX = "mech_"
#: gas constant (J mol^-1 K^-1), exact SI value N_A k_B
GAS_CONSTANT = 6.02214076e23 * 1.380649e-23
#: time schemes of the diffusion
SCHEMES = ("bdf2", "theta")
#: ``chem_solver`` / ``mech_solver`` = "auto": MUMPS below these global dof counts (the
#: factorisation is reused over the run), the iterative kind above (CHEM: CG + block-Jacobi
#: ICC(0) on the mass-dominated diffusion matrix, GMRES + ILU(0) when D depends on the state
#: (the Newton Jacobian is not symmetric); MECH: CG + GAMG with the rigid-body
#: near-null space), where the factorisation's time and memory grow faster than the
#: iterations cost (benchmarks/particle.py)
CHEM_AUTO_ITERATIVE_DOFS = 400_000
MECH_AUTO_ITERATIVE_DOFS = 250_000


def _auto_solver(kind: str, space, threshold: int, iterative: str) -> str:
    """``kind``, or for "auto" "direct" below ``threshold`` global dofs of ``space`` and
    ``iterative`` from there (the same on every rank)."""
    if kind != "auto":
        return kind
    imap = space.dofmap.index_map
    return "direct" if imap.size_global * space.dofmap.index_map_bs < threshold else iterative

#: PETSc option sets (without prefix)
CHEM_SOLVERS = {
    "direct": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
    # (zero-pivot test off: PETSc's is absolute, 2.2e-14, and a diffusion matrix of a
    # micrometre particle in SI units has entries ~1e-20)
    "cg_icc": {"ksp_type": "cg", "pc_type": "bjacobi", "sub_pc_type": "icc",
               "sub_pc_factor_zeropivot": 0.0, "ksp_rtol": 1e-12, "ksp_atol": 0.0},
    "cg_gamg": {"ksp_type": "cg", "pc_type": "gamg", "ksp_rtol": 1e-12, "ksp_atol": 0.0},
    # c-dependent D or stress-assisted diffusion: the Newton Jacobian is not symmetric
    "gmres_ilu": {"ksp_type": "gmres", "pc_type": "bjacobi", "sub_pc_type": "ilu",
                  "sub_pc_factor_zeropivot": 0.0, "ksp_rtol": 1e-12, "ksp_atol": 0.0,
                  "ksp_max_it": 2000},
}
MECH_SOLVERS = {
    "direct": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps",
               "mat_mumps_icntl_24": 1, "mat_mumps_icntl_25": 0},
    "cg_gamg": {"ksp_type": "cg", "ksp_rtol": 1e-10, "ksp_atol": 0.0, "ksp_max_it": 2000,
                "pc_type": "gamg", "mg_levels_ksp_type": "chebyshev",
                "mg_levels_pc_type": "jacobi", "mg_levels_ksp_chebyshev_esteig_steps": 10,
                "mg_coarse_pc_type": "svd"},
}
#: SNES defaults of the nonlinear diffusion (with the chem_ KSP defaults above)
SNES_DEFAULTS = {"snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_rtol": 1e-10,
                 "snes_stol": 0.0, "snes_max_it": 30}


# ---------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Table:
    """A piecewise-linear law y(x) through the points (x_i, y_i), x increasing; held constant
    outside [x_0, x_n]. Used for D(x) (m^2/s) and lattice strains eps(x) (-), x = c / c_max."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __post_init__(self):
        object.__setattr__(self, "x", tuple(float(v) for v in self.x))
        object.__setattr__(self, "y", tuple(float(v) for v in self.y))
        if len(self.x) != len(self.y) or len(self.x) < 1:
            raise ValueError(f"Table: {len(self.x)} x values and {len(self.y)} y values; "
                             "allowed: the same number, at least 1")
        if any(b <= a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError(f"Table: x = {self.x} must increase strictly")

    def __call__(self, x):
        """Numpy evaluation."""
        return np.interp(x, self.x, self.y)

    def ufl(self, x):
        """UFL evaluation: y_0 + sum_k s_k (min(max(x, x_k), x_k+1) - x_k) (s_k the slope of
        segment k), which is linear on each segment and constant outside the table."""
        out = self.y[0] + 0.0 * x
        for (x0, x1), (y0, y1) in zip(zip(self.x, self.x[1:], strict=False),
                                      zip(self.y, self.y[1:], strict=False), strict=True):
            slope = (y1 - y0) / (x1 - x0)
            if slope:
                out = out + slope * (ufl.min_value(ufl.max_value(x, x0), x1) - x0)
        return out


@dataclass(frozen=True)
class IsotropicElasticity:
    """Isotropic linear elasticity: Young's modulus E (Pa), Poisson's ratio nu (-)."""

    young: float
    poisson: float

    def __post_init__(self):
        if not self.young > 0 or not -1.0 < self.poisson < 0.5:
            raise ValueError(f"IsotropicElasticity(E={self.young}, nu={self.poisson}): "
                             "allowed E > 0 Pa, -1 < nu < 0.5")

    @property
    def lame(self) -> tuple[float, float]:
        """(lambda, mu) in Pa."""
        e, nu = self.young, self.poisson
        return e * nu / ((1 + nu) * (1 - 2 * nu)), e / (2 * (1 + nu))

    @property
    def bulk(self) -> float:
        return self.young / (3 * (1 - 2 * self.poisson))

    @property
    def shear(self) -> float:
        return self.lame[1]


@dataclass(frozen=True)
class AnisotropicElasticity:
    """Stiffness as a symmetric 6x6 Voigt matrix (Pa) in the crystal frame, order 11, 22, 33,
    23, 13, 12 with engineering shear strains; rotated per cell by the grain orientation."""

    voigt: tuple[tuple[float, ...], ...]

    def __post_init__(self):
        c = np.asarray(self.voigt, dtype=float)
        if c.shape != (6, 6) or not np.allclose(c, c.T, rtol=1e-12, atol=0.0):
            raise ValueError("AnisotropicElasticity: the Voigt matrix must be symmetric 6x6")
        if np.linalg.eigvalsh(c).min() <= 0:
            raise ValueError("AnisotropicElasticity: the Voigt matrix is not positive definite")
        object.__setattr__(self, "voigt", tuple(tuple(float(v) for v in row) for row in c))

    @classmethod
    def hexagonal(cls, c11, c12, c13, c33, c44) -> AnisotropicElasticity:
        """Transversely isotropic about the crystal c-axis (= crystal z); c66 = (c11-c12)/2."""
        return cls.trigonal(c11, c12, c13, 0.0, c33, c44)

    @classmethod
    def trigonal(cls, c11, c12, c13, c14, c33, c44) -> AnisotropicElasticity:
        """Trigonal (R-3m, e.g. layered oxides), 6 constants, c-axis = crystal z."""
        c66 = 0.5 * (c11 - c12)
        c = np.array([[c11, c12, c13, c14, 0, 0],
                      [c12, c11, c13, -c14, 0, 0],
                      [c13, c13, c33, 0, 0, 0],
                      [c14, -c14, 0, c44, 0, 0],
                      [0, 0, 0, 0, c44, c14],
                      [0, 0, 0, 0, c14, c66]], dtype=float)
        return cls(tuple(map(tuple, c)))

    @classmethod
    def from_isotropic(cls, young: float, poisson: float) -> AnisotropicElasticity:
        lam, mu = IsotropicElasticity(young, poisson).lame
        c = np.zeros((6, 6))
        c[:3, :3] = lam
        c[np.arange(3), np.arange(3)] += 2 * mu
        c[np.arange(3, 6), np.arange(3, 6)] = mu
        return cls(tuple(map(tuple, c)))


@dataclass(frozen=True)
class IsotropicExpansion:
    """eps* = omega (c - c_ref) / 3 I; ``omega`` partial molar volume (m^3/mol); ``c_ref``
    stress-free concentration (mol/m^3; None: the initial concentration)."""

    omega: float
    c_ref: float | None = None


@dataclass(frozen=True)
class LatticeExpansion:
    """eps* = R diag(eps_a(x), eps_a(x), eps_c(x)) R^T, x = c / c_max, eps_a = a(x)/a0 - 1 and
    eps_c = c(x)/c0 - 1 relative to the stress-free lattice (:class:`Table` of x)."""

    eps_a: Table
    eps_c: Table


@dataclass(frozen=True)
class Material:
    """The particle material of one or more cell tags: diffusivity D (m^2/s; a float, a
    :class:`Table` of x = c / c_max, or a callable c (UFL, mol/m^3) -> UFL), stiffness and
    eigenstrain (None: no chemical strain, e.g. a matrix or solid electrolyte)."""

    elasticity: IsotropicElasticity | AnisotropicElasticity
    expansion: IsotropicExpansion | LatticeExpansion | None = None
    diffusivity: float | Table | Callable = 0.0


@dataclass(frozen=True)
class SurfaceFlux:
    """Galvanostatic Li flux into the particle on a facet marker (insertion positive).

    Either ``flux`` J (mol m^-2 s^-1) or ``c_rate`` (1/h; positive = insertion) with
    ``delta_c`` (mol/m^3; None: c_max): J = delta_c V / (A t_full), t_full = 3600 s / |C-rate|,
    V the mesh volume, A the marker's area. Active for start <= t < end (s)."""

    marker: int | tuple[int, ...] | str
    flux: float | None = None
    c_rate: float | None = None
    delta_c: float | None = None
    start: float = 0.0
    end: float = np.inf

    def __post_init__(self):
        if (self.flux is None) == (self.c_rate is None):
            raise ValueError(f"SurfaceFlux({self.marker!r}): give exactly one of flux, c_rate")

    def amplitude(self, t0: float, t1: float) -> float:
        """Fraction of [t0, t1] during which the flux is on."""
        overlap = min(t1, self.end) - max(t0, self.start)
        return max(overlap, 0.0) / (t1 - t0)


@dataclass(frozen=True)
class SurfaceConcentration:
    """Fixed concentration c_s (mol/m^3) on a facet marker (potentiostatic, fast kinetics)."""

    marker: int | tuple[int, ...] | str
    value: float


#: modes of a :class:`ProtocolSegment`
PROTOCOL_MODES = ("cc", "cv", "rest")


@dataclass(frozen=True)
class ProtocolSegment:
    """One step of a :class:`VoltageProtocol`.

    ``mode``:

    * ``"cc"``: constant Li flux into the particle through the protocol's marker, ``flux``
      J (mol m^-2 s^-1) or ``c_rate`` (1/h, J = delta_c V / (A t_full) as for
      :class:`SurfaceFlux`; ``delta_c`` None: c_max); insertion (lithiation, the discharge
      of a cathode) positive, extraction (charge) negative. Ends when the surface voltage
      reaches ``until_voltage`` (V) and / or after ``until_time`` (s).
    * ``"cv"``: the surface held at the voltage ``voltage`` (V; None: the voltage the
      surface has when the segment starts), i.e. the Dirichlet condition c = c_max U^-1(V)
      on the marker; ends when |current| falls to ``until_flux`` (mol m^-2 s^-1 of the
      marker) or ``until_c_rate`` (1/h, relative to delta_c as above) and / or after
      ``until_time``.
    * ``"rest"``: zero flux for ``until_time``.
    """

    mode: str
    flux: float | None = None
    c_rate: float | None = None
    delta_c: float | None = None
    voltage: float | None = None
    until_voltage: float | None = None
    until_flux: float | None = None
    until_c_rate: float | None = None
    until_time: float | None = None

    def __post_init__(self):
        m = self.mode
        if m not in PROTOCOL_MODES:
            raise ValueError(f"ProtocolSegment: mode = {m!r}; allowed {', '.join(PROTOCOL_MODES)}")
        rate = [k for k in ("flux", "c_rate") if getattr(self, k) is not None]
        cut = [k for k in ("until_flux", "until_c_rate") if getattr(self, k) is not None]
        if self.until_time is not None and not self.until_time >= 0:
            raise ValueError(f"ProtocolSegment: until_time = {self.until_time}; allowed >= 0 s")
        if m == "cc":
            if len(rate) != 1 or not getattr(self, rate[0]):
                raise ValueError("ProtocolSegment(cc): give exactly one nonzero flux or c_rate")
            if self.until_voltage is None and self.until_time is None:
                raise ValueError("ProtocolSegment(cc): give until_voltage and / or until_time")
            if cut or self.voltage is not None:
                raise ValueError("ProtocolSegment(cc): no voltage, until_flux or until_c_rate")
        elif m == "cv":
            if rate or self.until_voltage is not None:
                raise ValueError("ProtocolSegment(cv): no flux, c_rate or until_voltage")
            if len(cut) > 1 or (not cut and self.until_time is None):
                raise ValueError("ProtocolSegment(cv): give one current cut-off (until_flux or "
                                 "until_c_rate) and / or until_time")
        else:
            if rate or cut or self.voltage is not None or self.until_voltage is not None \
                    or self.until_time is None:
                raise ValueError("ProtocolSegment(rest): give until_time only")


@dataclass(frozen=True)
class VoltageProtocol:
    """Segments of constant current (cc), constant voltage (cv) and rest on a facet marker,
    controlled by the particle's open-circuit voltage ``ocv`` (a :class:`Table` of the
    stoichiometry x = c / c_max -> U in V, strictly monotonic).

    The surface voltage is U(x_s) of the MEAN surface stoichiometry x_s = int c dA / (A
    c_max) over the marker (the particle's open-circuit potential at its surface: fast
    kinetics, no ohmic or charge-transfer drop). A limit crossed inside a step is located by
    the Illinois (regula falsi) method on the length of the part of the step up to it (to
    1e-9 of the step or of the initial distance to the limit); the next segment takes the
    rest of the step, its time scheme restarted (the first step backward Euler). After the
    last segment the particle is at open circuit (zero flux)."""

    marker: int | tuple[int, ...] | str
    segments: tuple[ProtocolSegment, ...]
    ocv: Table

    def __post_init__(self):
        object.__setattr__(self, "segments", tuple(self.segments))
        if not self.segments:
            raise ValueError("VoltageProtocol: no segments")
        d = np.diff(np.asarray(self.ocv.y))
        if not (np.all(d > 0) or np.all(d < 0)):
            raise ValueError("VoltageProtocol: the OCV table must be strictly monotonic in x "
                             "(a voltage gives one surface concentration)")

    @property
    def slope_sign(self) -> float:
        """+1 if U rises with x = c / c_max, -1 if it falls (a cathode vs Li)."""
        return 1.0 if self.ocv.y[-1] > self.ocv.y[0] else -1.0

    def voltage(self, x) -> float:
        """U(x) (V), x = c / c_max, held constant outside the table."""
        return float(self.ocv(x))

    def stoichiometry(self, v: float) -> float:
        """x = U^-1(v) (piecewise-linear inverse); ValueError outside the table's range."""
        ys, xs = np.asarray(self.ocv.y), np.asarray(self.ocv.x)
        lo, hi = float(ys.min()), float(ys.max())
        if not lo <= v <= hi:
            raise ValueError(f"voltage {v:g} V outside the OCV table ({lo:g} .. {hi:g} V)")
        if ys[0] > ys[-1]:
            ys, xs = ys[::-1], xs[::-1]
        return float(np.interp(v, ys, xs))


@dataclass(frozen=True)
class FixedDisplacement:
    """u_component = value (m) on a facet marker; component None fixes all three. A symmetry
    plane normal to axis i is FixedDisplacement(marker, i)."""

    marker: int | tuple[int, ...] | str
    component: int | None = None
    value: float = 0.0


@dataclass(frozen=True)
class ChemoMechParams:
    """Model and numerics. ``materials``: one :class:`Material` for every cell, or
    {cell tag: Material}. ``c_max`` (mol/m^3) scales x = c / c_max and bounds c;
    ``c_initial`` (mol/m^3) a value or a callable x (3, N) -> (N,); ``temperature`` (K) for the
    stress-assisted term. ``orientations``: {cell tag: 3x3 rotation crystal -> lab} (others:
    identity)."""

    materials: Material | dict[int, Material]
    c_max: float
    c_initial: float | Callable = 0.0
    temperature: float = 298.15
    stress_assisted: bool = False
    orientations: dict[int, tuple] = field(default_factory=dict)
    scheme: str = "bdf2"
    theta: float = 1.0
    degree_c: int = 1
    degree_u: int = 1
    mass_lumping: bool = False
    chem_solver: str = "auto"
    mech_solver: str = "auto"
    #: "auto" (null space when no displacement is fixed), "nullspace" or "none"
    rigid_modes: str = "auto"
    #: a concentration below -tol c_max or above (1 + tol) c_max raises PhysicsViolation
    bounds_tolerance: float = 0.05
    #: centre (m) for the radial / hoop stress fields (None: no such fields)
    centre: tuple[float, float, float] | None = None

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme = {self.scheme!r}: allowed {', '.join(SCHEMES)}")
        if self.chem_solver not in (*CHEM_SOLVERS, "auto"):
            raise ValueError(f"chem_solver = {self.chem_solver!r}: allowed auto, "
                             f"{', '.join(CHEM_SOLVERS)}")
        if self.mech_solver not in (*MECH_SOLVERS, "auto"):
            raise ValueError(f"mech_solver = {self.mech_solver!r}: allowed auto, "
                             f"{', '.join(MECH_SOLVERS)}")
        if self.rigid_modes not in ("auto", "nullspace", "none"):
            raise ValueError(f"rigid_modes = {self.rigid_modes!r}: allowed auto, nullspace, "
                             "none")
        if not self.c_max > 0:
            raise ValueError(f"c_max = {self.c_max}: allowed > 0 mol/m^3")
        if not 0.0 < self.theta <= 1.0:
            raise ValueError(f"theta = {self.theta}: allowed 0 < theta <= 1")


# ---------------------------------------------------------------------------- helpers
def rigid_body_modes(V: fem.FunctionSpace) -> tuple[PETSc.NullSpace, list]:
    """The 6 rigid-body modes of a 3D vector space (translations, rotations about the dof
    centroid), orthonormalised (dolfinx.la.orthonormalize), as a PETSc NullSpace. Returns
    (nullspace, the la vectors that own the memory: keep them alive)."""
    if V.mesh.geometry.dim != 3 or V.dofmap.index_map_bs != 3:
        raise ValueError("rigid_body_modes: 3D vector spaces only")
    imap = V.dofmap.index_map
    basis = [la.vector(imap, bs=3, dtype=PETSc.ScalarType) for _ in range(6)]
    n_own = imap.size_local
    x = V.tabulate_dof_coordinates()[:n_own]
    comm = V.mesh.comm
    centre = comm.allreduce(x.sum(axis=0), op=MPI.SUM) / comm.allreduce(n_own, op=MPI.SUM)
    x = x - centre
    b = [v.array[: 3 * n_own].reshape(-1, 3) for v in basis]
    for i in range(3):
        b[i][:, i] = 1.0
    b[3][:, 0], b[3][:, 1] = -x[:, 1], x[:, 0]
    b[4][:, 0], b[4][:, 2] = x[:, 2], -x[:, 0]
    b[5][:, 2], b[5][:, 1] = x[:, 1], -x[:, 2]
    for v in basis:
        v.scatter_forward()
    la.orthonormalize(basis)
    vecs = [PETSc.Vec().createWithArray(v.array[: 3 * n_own], bsize=3, comm=comm)
            for v in basis]
    return PETSc.NullSpace().create(vectors=vecs, comm=comm), [basis, vecs]


def _resolve(marker, markers: dict | None) -> tuple[int, ...]:
    if isinstance(marker, str):
        if not markers or marker not in markers:
            raise ValueError(f"marker {marker!r}: not in the markers "
                             f"{sorted(markers or {})}")
        m = markers[marker]
        m = getattr(m, "tags", m)
        return (int(m),) if np.isscalar(m) else tuple(int(t) for t in m)
    return (int(marker),) if np.isscalar(marker) else tuple(int(t) for t in marker)


def _voigt(e):
    return ufl.as_vector([e[0, 0], e[1, 1], e[2, 2], 2 * e[1, 2], 2 * e[0, 2], 2 * e[0, 1]])


def _unvoigt(s):
    return ufl.as_matrix([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])


def _vm(s):
    dev = ufl.dev(s)
    return ufl.sqrt(1.5 * ufl.inner(dev, dev))


# ---------------------------------------------------------------------------- the problem
class ChemoMechProblem:
    """Li diffusion + one-way coupled small-strain elasticity in particles (module docstring).

    Args:
        mesh: a 3D dolfinx mesh (coordinates in m).
        cell_tags: MeshTags of the cells (material / grain tags), or None (one material).
        facet_tags: MeshTags of the facets used by the conditions (None: no conditions).
        params: :class:`ChemoMechParams`.
        conditions: :class:`SurfaceFlux`, :class:`SurfaceConcentration`,
            :class:`VoltageProtocol` (at most one), :class:`FixedDisplacement`.
        markers: optional {name: tag(s) or an object with ``.tags``} to resolve named
            markers (a Geometry's ``markers`` works).
        mechanics_every_step: re-solve the elasticity after every diffusion step (else call
            :meth:`solve_mechanics` when stresses are needed).
        body_force: optional UFL vector (N/m^3) added to the elasticity load (manufactured
            solutions); with the null space its rigid-mode part is projected out.

    Attributes: ``c`` (P1 concentration, mol/m^3), ``u`` (displacement, m), ``stress`` (UFL,
    Pa), ``dx`` / ``ds`` / ``dS`` (measures with the tags), ``t`` (s), ``nullspace`` (the 6
    orthonormal rigid modes), ``ksp`` (diffusion, linear case) / ``snes_problem``
    (nonlinear case), ``ksp_u`` (elasticity).
    """

    def __init__(self, mesh: dmesh.Mesh, cell_tags: dmesh.MeshTags | None,
                 facet_tags: dmesh.MeshTags | None, params: ChemoMechParams,
                 conditions: list = (), *, markers: dict | None = None,
                 mechanics_every_step: bool = True, body_force=None):
        if mesh.geometry.dim != 3:
            raise ValueError("ChemoMechProblem: 3D meshes only")
        self.mesh, self.params = mesh, params
        self.cell_tags, self.facet_tags, self.markers = cell_tags, facet_tags, markers
        self.mechanics_every_step = mechanics_every_step
        self.body_force = body_force
        self.conditions = list(conditions)
        comm = mesh.comm
        tdim = mesh.topology.dim
        mesh.topology.create_connectivity(tdim - 1, tdim)
        self.dx = ufl.Measure("dx", domain=mesh, subdomain_data=cell_tags)
        self.ds = ufl.Measure("ds", domain=mesh, subdomain_data=facet_tags)
        self.dS = ufl.Measure("dS", domain=mesh, subdomain_data=facet_tags)
        self.t, self.steps = 0.0, 0
        self._dt_prev: float | None = None  # BDF2 history (None: next step is BE)
        self.chem_iterations = self.mech_iterations = self.newton_iterations = 0
        self.chem_factorizations = self.mech_solves = 0
        self._injected = 0.0  # mol
        self._c_range = [np.inf, -np.inf]  # extremes of c over the run (mol/m^3)
        self._scalar_forms: dict[str, fem.Form] = {}
        self._derived_stale = True
        self._options: list[str] = []

        # ---- materials as DG0 indicators
        self.Q0 = fem.functionspace(mesh, ("DG", 0))
        num_cells = mesh.topology.index_map(tdim).size_local \
            + mesh.topology.index_map(tdim).num_ghosts
        mats = params.materials
        if isinstance(mats, Material):
            groups = {mats: np.arange(num_cells, dtype=np.int32)}
        else:
            if cell_tags is None:
                raise ValueError("materials given per cell tag but no cell_tags")
            present = set().union(*comm.allgather(set(np.unique(cell_tags.values).tolist())))
            missing = present - set(mats)
            if missing:
                raise ValueError(f"materials: no Material for cell tags {sorted(missing)}")
            groups = {}
            for tag, m in mats.items():
                cells = cell_tags.indices[cell_tags.values == tag]
                groups[m] = np.concatenate([groups.get(m, np.zeros(0, np.int32)), cells])
            covered = np.unique(np.concatenate(list(groups.values())))
            n_own = mesh.topology.index_map(tdim).size_local
            if comm.allreduce(int(np.count_nonzero(covered < n_own) < n_own), op=MPI.MAX):
                raise ValueError("materials: some cells have no cell tag with a Material")
        self._groups: list[tuple[Material, object]] = []
        for m, cells in groups.items():
            if len(groups) == 1:
                self._groups.append((m, 1.0))
                continue
            chi = fem.Function(self.Q0)
            chi.x.array[self.Q0.dofmap.list[cells].ravel()] = 1.0
            chi.x.scatter_forward()
            self._groups.append((m, chi))
        # grain orientations (DG0 3x3, crystal -> lab)
        self.T0 = fem.functionspace(mesh, ("DG", 0, (3, 3)))
        self.R = fem.Function(self.T0, name="orientation")
        rot = self.R.x.array.reshape(-1, 3, 3)
        rot[:] = np.eye(3)
        for tag, mat in params.orientations.items():
            q = np.asarray(mat, dtype=float)
            if q.shape != (3, 3) or not np.allclose(q @ q.T, np.eye(3), atol=1e-8) \
                    or np.linalg.det(q) < 0:
                raise ValueError(f"orientations[{tag}]: not a 3x3 rotation matrix")
            if cell_tags is None:
                raise ValueError("orientations given per cell tag but no cell_tags")
            cells = cell_tags.indices[cell_tags.values == tag]
            rot[self.T0.dofmap.list[cells].ravel()] = q
        self.R.x.scatter_forward()

        # ---- diffusion
        self.V = V = fem.functionspace(mesh, ("Lagrange", params.degree_c))
        self.c = fem.Function(V, name="concentration")
        if callable(params.c_initial):
            self.c.interpolate(params.c_initial)
        else:
            self.c.x.array[:] = float(params.c_initial)
        self.c_n = fem.Function(V, name="concentration_n")
        self.c_nm1 = fem.Function(V, name="concentration_previous")
        self.c.x.petsc_vec.copy(self.c_nm1.x.petsc_vec)
        self.c_nm1.x.scatter_forward()
        one = fem.Constant(mesh, PETSc.ScalarType(1.0))
        self.volume = comm.allreduce(fem.assemble_scalar(fem.form(one * self.dx)), op=MPI.SUM)
        self.c_initial_mean = self._integral(self.c, "li_content") / self.volume
        owned = self.c.x.array[: V.dofmap.index_map.size_local]
        self._c_range = [comm.allreduce(float(owned.min()) if owned.size else np.inf,
                                        op=MPI.MIN),
                         comm.allreduce(float(owned.max()) if owned.size else -np.inf,
                                        op=MPI.MAX)]
        self.sigma_h = fem.Function(V, name="hydrostatic_stress_p1")  # stress-assisted
        self.protocol: VoltageProtocol | None = None
        self._flux_consts: list[tuple[SurfaceFlux, fem.Constant, float]] = []
        self._fluxes: list[tuple[SurfaceFlux, float, tuple]] = []
        self.bcs_c: list[fem.DirichletBC] = []
        self.bcs_u: list[fem.DirichletBC] = []
        for cond in self.conditions:
            if isinstance(cond, SurfaceFlux):
                tags = _resolve(cond.marker, markers)
                area = self._marker_area(one, tags, "SurfaceFlux", cond.marker)
                if cond.flux is not None:
                    j = float(cond.flux)
                else:
                    j = np.sign(cond.c_rate) * self._reference_current(cond, cond.c_rate) \
                        / area
                self._fluxes.append((cond, j, tags))
            elif isinstance(cond, SurfaceConcentration):
                dofs = self._facet_dofs(V, cond.marker)
                self.bcs_c.append(fem.dirichletbc(PETSc.ScalarType(cond.value), dofs, V))
            elif isinstance(cond, VoltageProtocol):
                if self.protocol is not None:
                    raise ValueError("VoltageProtocol: one protocol per problem")
                self.protocol = cond
            elif isinstance(cond, FixedDisplacement):
                pass
            else:
                raise TypeError(f"unknown condition {cond!r}")
        self.flux_values = [j for _, j, _ in self._fluxes]  # mol m^-2 s^-1
        self._bcs_active = list(self.bcs_c)  # the Dirichlet conditions now (+ a cv hold)
        self._proto_flux = 0.0  # mol m^-2 s^-1 of the protocol's marker, this step
        if self.protocol is not None:
            self._init_protocol(one)
        diffusivities = [m.diffusivity for m, _ in self._groups]
        self.linear = all(np.isscalar(d) for d in diffusivities) and not params.stress_assisted
        if params.stress_assisted and any(not isinstance(m.expansion, IsotropicExpansion)
                                          for m, _ in self._groups if m.expansion):
            raise ValueError("stress_assisted: isotropic expansion (Omega) only")
        #: the diffusion / elasticity solver kinds in use ("auto" resolved by size)
        self.chem_solver = _auto_solver(params.chem_solver, V, CHEM_AUTO_ITERATIVE_DOFS,
                                        "cg_icc" if self.linear else "gmres_ilu")
        self._build_diffusion()

        # ---- mechanics
        self.W = W = fem.functionspace(mesh, ("Lagrange", params.degree_u, (3,)))
        self.mech_solver = _auto_solver(params.mech_solver, W, MECH_AUTO_ITERATIVE_DOFS,
                                        "cg_gamg")
        self.u = fem.Function(W, name="displacement")
        for cond in self.conditions:
            if isinstance(cond, FixedDisplacement):
                comps = range(3) if cond.component is None else [int(cond.component)]
                for i in comps:
                    Wi = W.sub(i)
                    dofs = self._facet_dofs(Wi, cond.marker)
                    self.bcs_u.append(fem.dirichletbc(PETSc.ScalarType(cond.value), dofs, Wi))
        mode = params.rigid_modes
        self.rigid_modes = ("nullspace" if not self.bcs_u else "none") if mode == "auto" \
            else mode
        self._build_mechanics()
        self._derived = None
        self.solve_mechanics()

    # ------------------------------------------------------------------ construction
    def _facets(self, marker) -> np.ndarray:
        """Local facets of a marker; ValueError when it has none on any rank."""
        if self.facet_tags is None:
            raise ValueError(f"marker {marker!r}: no facet_tags given")
        tags = _resolve(marker, self.markers)
        facets = np.concatenate([self.facet_tags.find(t) for t in tags])
        if self.mesh.comm.allreduce(len(facets), op=MPI.SUM) == 0:
            raise ValueError(f"marker {marker!r} (facet tags {tags}) has no facets")
        return facets

    def _facet_dofs(self, V, marker) -> np.ndarray:
        return fem.locate_dofs_topological(V, self.mesh.topology.dim - 1,
                                           self._facets(marker))

    def _integral(self, expr, key: str | None = None) -> float:
        """int expr dx over the mesh (collective); with ``key`` the compiled form is kept."""
        if key is None:
            form = fem.form(expr * self.dx)
        else:
            if key not in self._scalar_forms:
                self._scalar_forms[key] = fem.form(expr * self.dx)
            form = self._scalar_forms[key]
        return self.mesh.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM)

    def _sum_groups(self, fn):
        """sum_m chi_m fn(material m) (UFL); None terms skipped."""
        out = None
        for m, chi in self._groups:
            term = fn(m)
            if term is None:
                continue
            term = term if isinstance(chi, float) else chi * term
            out = term if out is None else out + term
        return out

    def _diffusivity(self, m: Material, c):
        d = m.diffusivity
        if isinstance(d, Table):
            return d.ufl(c / self.params.c_max)
        if callable(d):
            return d(c)
        return fem.Constant(self.mesh, PETSc.ScalarType(float(d)))

    def _set_solver_options(self, prefix: str, defaults: dict, obj) -> dict:
        return read_options(obj, prefix, defaults, self._options)

    def _build_diffusion(self) -> None:
        p, mesh, V = self.params, self.mesh, self.V
        cu, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        dxm = self.dx(metadata={"quadrature_rule": "vertex", "quadrature_degree": 1}) \
            if p.mass_lumping else self.dx
        self._dxm = dxm
        self._alpha = fem.Constant(mesh, PETSc.ScalarType(1.0))  # a0 / dt or 1 / dt
        self._beta = fem.Constant(mesh, PETSc.ScalarType(1.0))  # 1 (BDF2) or theta
        chem_defaults = dict(CHEM_SOLVERS[self.chem_solver])
        # flux load vectors: int v ds(marker) (J applied as amplitude)
        self._flux_vecs = []
        for _, _, tags in self._fluxes:
            vec = fem_petsc.assemble_vector(fem.form(v * self.ds(tags)))
            vec.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
            self._flux_vecs.append(vec)
        self._g = fem.Function(V)
        self._refresh_bcs()
        if self.linear:
            dform = self._sum_groups(lambda m: self._diffusivity(m, None)
                                     * ufl.inner(ufl.grad(cu), ufl.grad(v)))
            self._m_form = fem.form(cu * v * dxm)
            self._k_form = fem.form(dform * self.dx)
            self._a_form = fem.form(self._alpha * cu * v * dxm + self._beta * dform * self.dx)
            self.M = fem_petsc.assemble_matrix(self._m_form)
            self.M.assemble()
            self.K = fem_petsc.assemble_matrix(self._k_form)
            self.K.assemble()
            self.A = fem_petsc.create_matrix(self._a_form)
            self._assembled = None
            self.ksp, self.chem_user_options = new_ksp(mesh.comm, CHEM_PREFIX, chem_defaults,
                                                       self._options)
            self._b = fem_petsc.create_vector(V)
            self._w = fem_petsc.create_vector(V)
            self.snes_problem = None
            return
        # nonlinear residual: BDF2 (a0 c - a1 c_n + a2 c_nm1) / dt or theta scheme
        self._a1 = fem.Constant(mesh, PETSc.ScalarType(1.0))
        self._a2 = fem.Constant(mesh, PETSc.ScalarType(0.0))
        self._jc = [fem.Constant(mesh, PETSc.ScalarType(0.0)) for _ in self._fluxes]
        c = self.c
        rt = GAS_CONSTANT * p.temperature

        def flux_form(cc):
            def per(m):
                d = self._diffusivity(m, cc)
                term = d * ufl.inner(ufl.grad(cc), ufl.grad(v))
                if p.stress_assisted and isinstance(m.expansion, IsotropicExpansion):
                    term -= d * cc * m.expansion.omega / rt * ufl.inner(
                        ufl.grad(self.sigma_h), ufl.grad(v))
                return term
            return self._sum_groups(per)

        self._theta_c = fem.Constant(mesh, PETSc.ScalarType(1.0))
        F = (self._alpha * c - self._a1 * self.c_n + self._a2 * self.c_nm1) * v * dxm \
            + self._beta * flux_form(c) * self.dx
        if p.scheme == "theta":
            F += (1.0 - self._beta) * flux_form(self.c_n) * self.dx
        for jc, (_, _, tags) in zip(self._jc, self._fluxes, strict=True):
            F -= jc * v * self.ds(tags)
        self._jp = fem.Constant(mesh, PETSc.ScalarType(0.0))
        if self.protocol is not None:
            F -= self._jp * v * self.ds(self._proto_tags)
        self._m_form = fem.form(cu * v * dxm)
        self.M = fem_petsc.assemble_matrix(self._m_form)
        self.M.assemble()
        self.snes_problem = fem_petsc.NonlinearProblem(
            F, c, petsc_options_prefix=CHEM_PREFIX, bcs=self._bcs_active)
        # (the SNES callbacks keep this list object: a cv hold is added to / removed from it)
        snes = self.snes_problem.solver
        self.chem_user_options = self._set_solver_options(
            CHEM_PREFIX, {**SNES_DEFAULTS, **chem_defaults}, snes)
        self.ksp = None

    def _build_mechanics(self) -> None:
        p, mesh, W = self.params, self.mesh, self.W
        uu, w = ufl.TrialFunction(W), ufl.TestFunction(W)
        R = self.R

        def stress_of(m: Material, strain):
            el = m.elasticity
            if isinstance(el, IsotropicElasticity):
                lam, mu = el.lame
                return 2 * mu * strain + lam * ufl.tr(strain) * ufl.Identity(3)
            cmat = ufl.as_matrix(el.voigt)
            local = R.T * strain * R
            return R * _unvoigt(cmat * _voigt(local)) * R.T

        def eigenstrain(m: Material, c):
            ex = m.expansion
            if ex is None:
                return None
            if isinstance(ex, IsotropicExpansion):
                ref = self.c_initial_mean if ex.c_ref is None else ex.c_ref
                if ex.c_ref is None and callable(p.c_initial):
                    raise ValueError("IsotropicExpansion.c_ref is needed with a non-uniform "
                                     "initial concentration")
                return ex.omega * (c - ref) / 3.0 * ufl.Identity(3)
            x = c / p.c_max
            ea, ec = ex.eps_a.ufl(x), ex.eps_c.ufl(x)
            return R * ufl.as_matrix([[ea, 0, 0], [0, ea, 0], [0, 0, ec]]) * R.T

        self._stress_of, self._eigenstrain = stress_of, eigenstrain
        eps = lambda q: ufl.sym(ufl.grad(q))  # noqa: E731
        a = self._sum_groups(lambda m: ufl.inner(stress_of(m, eps(uu)), eps(w)))
        # P1 displacement: eps(u) is constant per cell and the weak form sees only the cell
        # mean of eps*; the stress is evaluated with eps* of the cell-mean concentration
        # (c_mech, DG0), which is consistent (the pointwise P1 c would add an O(h) intra-cell
        # oscillation of order K Omega h |grad c|). P2 displacement: the P1 c itself.
        self.c_cell = fem.Function(self.Q0, name="cell_mean_concentration")
        cm = self.c_cell if p.degree_u == 1 else self.c
        self._c_mech = cm
        rhs = self._sum_groups(lambda m: None if m.expansion is None else ufl.inner(
            stress_of(m, eigenstrain(m, cm)), eps(w)))
        if self.body_force is not None:
            term = ufl.inner(self.body_force, w)
            rhs = term if rhs is None else rhs + term
        if rhs is None:
            rhs = ufl.inner(fem.Constant(mesh, np.zeros(3)), w)
        self._ua_form = fem.form(a * self.dx)
        self._ul_form = fem.form(rhs * self.dx)
        # total stress of the current state (UFL), for outputs
        self.eps_star = self._sum_groups(lambda m: eigenstrain(m, cm))
        if self.eps_star is None:
            self.eps_star = ufl.as_matrix(np.zeros((3, 3)))
        self.stress = self._sum_groups(lambda m: stress_of(
            m, eps(self.u) - (eigenstrain(m, cm) if m.expansion else 0 * eps(self.u))))
        self.Au = fem_petsc.assemble_matrix(self._ua_form, bcs=self.bcs_u)
        self.Au.assemble()
        self.nullspace, self._ns_keep = rigid_body_modes(W)
        self.Au.setNearNullSpace(self.nullspace)
        if self.rigid_modes == "nullspace":
            self.Au.setNullSpace(self.nullspace)
        self.Au.setOption(PETSc.Mat.Option.SPD, True)
        self.ksp_u, self.mech_user_options = new_ksp(
            mesh.comm, MECH_PREFIX, dict(MECH_SOLVERS[self.mech_solver]), self._options,
            self.Au)
        self._bu = fem_petsc.create_vector(W)

    # ------------------------------------------------------------------ properties
    @property
    def num_dofs(self) -> dict[str, int]:
        out = {}
        for name, S in (("concentration", self.V), ("displacement", self.W)):
            imap = S.dofmap.index_map
            out[name] = imap.size_global * S.dofmap.index_map_bs
        return out

    # ------------------------------------------------------------------ stepping
    def _scheme_coefficients(self, dt: float) -> tuple[float, float, float, float]:
        """(a0, a1, a2, beta): (a0 c^{n+1} - a1 c^n + a2 c^{n-1}) / dt + beta K c^{n+1} ...
        variable-step BDF2 with w = dt / dt_prev (first step: backward Euler)."""
        p = self.params
        if p.scheme == "theta":
            return 1.0, 1.0, 0.0, p.theta
        if self._dt_prev is None:
            return 1.0, 1.0, 0.0, 1.0
        w = dt / self._dt_prev
        return (1 + 2 * w) / (1 + w), 1 + w, w * w / (1 + w), 1.0

    def step(self, dt: float, mechanics: bool | None = None) -> dict:
        """Advance c from t to t + dt (and re-solve the mechanics, unless
        ``mechanics_every_step`` is False and ``mechanics`` is not True). Returns {"converged":
        True, "iterations": linear iterations of both solvers, "chem_iterations",
        "mech_iterations", "newton_iterations"}; raises SolverDiverged / PhysicsViolation."""
        if not dt > 0:
            raise ValueError(f"dt = {dt}: allowed > 0 s")
        before = (self.chem_iterations, self.mech_iterations, self.newton_iterations)
        if self.protocol is None:
            self._chem_step(dt)
        else:
            self._protocol_step(dt)
        if mechanics or (mechanics is None and self.mechanics_every_step):
            self.solve_mechanics()
        its = (self.chem_iterations - before[0], self.mech_iterations - before[1],
               self.newton_iterations - before[2])
        return {"converged": True, "iterations": its[0] + its[1], "chem_iterations": its[0],
                "mech_iterations": its[1], "newton_iterations": its[2]}

    def _chem_step(self, dt: float) -> None:
        """One diffusion step t -> t + dt (no mechanics); the state before it kept for
        :meth:`undo` (and put back on SolverDiverged / PhysicsViolation)."""
        a0, a1, a2, beta = self._scheme_coefficients(dt)
        t0, t1 = self.t, self.t + dt
        amps = [cond.amplitude(t0, t1) * j for cond, j, _ in self._fluxes]
        # what undo() puts back (c itself is c_n after the step)
        if not hasattr(self, "_undo_nm1"):
            self._undo_nm1 = self.c_nm1.x.petsc_vec.copy()
        self.c_nm1.x.petsc_vec.copy(self._undo_nm1)
        self._undo = (self.t, self.steps, self._dt_prev, self._injected, list(self._c_range))
        self.c.x.petsc_vec.copy(self.c_n.x.petsc_vec)
        self.c_n.x.scatter_forward()
        try:
            if self.linear:
                self._linear_step(dt, a0, a1, a2, beta, amps)
            else:
                self._nonlinear_step(dt, a0, a1, a2, beta, amps)
            self._check_c(t1, dt)
        except (SolverDiverged, PhysicsViolation):
            self.c_n.x.petsc_vec.copy(self.c.x.petsc_vec)  # the state before the step
            self.c.x.scatter_forward()
            self._c_range = list(self._undo[4])
            self._undo = None
            raise
        # history for BDF2: c_nm1 <- c_n
        self.c_n.x.petsc_vec.copy(self.c_nm1.x.petsc_vec)
        self.c_nm1.x.scatter_forward()
        self._injected += dt * sum(a * vec.sum() for a, vec in
                                   zip(amps, self._flux_vecs, strict=True))
        if self._proto_flux:
            self._injected += dt * self._proto_flux * self._proto_area
        self._dt_prev = dt
        self.t = t1
        self.steps += 1
        self._derived_stale = True

    def undo(self) -> None:
        """Take back the last step (an adaptive stepper rejected it): c, its BDF2 history, t
        and the Li bookkeeping as before it; the mechanics is re-solved if it is solved every
        step (the solver counters keep the work done)."""
        self._traction_cache = None
        if self.protocol is not None:
            snap = getattr(self, "_undo_snap", None)
            if snap is None:
                raise RuntimeError("undo(): no step to take back")
            self._put_snapshot(snap)
            self._undo_snap = None
            self._derived_stale = True
            if self.mechanics_every_step:
                self.solve_mechanics()
            return
        if getattr(self, "_undo", None) is None:
            raise RuntimeError("undo(): no step to take back")
        self.c_nm1.x.petsc_vec.copy(self.c.x.petsc_vec)  # c_nm1 holds c^n after a step
        self._undo_nm1.copy(self.c_nm1.x.petsc_vec)
        for f in (self.c, self.c_nm1):
            f.x.scatter_forward()
        self.t, self.steps, self._dt_prev, self._injected, self._c_range = self._undo
        self._undo = None
        self._derived_stale = True
        if self.mechanics_every_step:
            self.solve_mechanics()

    # ------------------------------------------------------------------ voltage protocol
    def _refresh_bcs(self) -> None:
        """The lifting function g and the owned Dirichlet rows of the active conditions."""
        g = self._g
        g.x.array[:] = 0.0
        for bc in self._bcs_active:
            bc.set(g.x.array)
        owned = self.V.dofmap.index_map.size_local
        rows = [bc.dof_indices()[0] for bc in self._bcs_active] or [np.zeros(0, np.int32)]
        r = np.unique(np.concatenate(rows))
        self._bc_rows = r[r < owned].astype(PETSc.IntType)

    def _init_protocol(self, one) -> None:
        """The protocol's marker: its area, load vector int v dA, the surface-mean form and the
        cv hold (a Dirichlet condition on the marker, active only in cv segments)."""
        V, P = self.V, self.protocol
        tags = _resolve(P.marker, self.markers)
        self._proto_tags = tags
        self._proto_area = self._marker_area(one, tags, "VoltageProtocol", P.marker)
        v = ufl.TestFunction(V)
        self._proto_vec = fem_petsc.assemble_vector(fem.form(v * self.ds(tags)))
        self._proto_vec.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        self._surface_form = fem.form(self.c * self.ds(tags))
        self._cv_value = fem.Constant(self.mesh, PETSc.ScalarType(0.0))
        self._cv_bc = fem.dirichletbc(self._cv_value, self._facet_dofs(V, P.marker), V)
        q0 = self.li_content()
        #: protocol state (JSON-able): segment index, its start time and Li content, whether
        #: it has begun, the held concentration, the last two contents, the current (mol/s)
        self._ps = {"k": 0, "t0": 0.0, "q0": q0, "begun": False, "hold": None,
                    "q": [q0, q0], "current": 0.0, "events": []}

    def surface_concentration(self, marker=None) -> float:
        """Mean concentration over a facet marker (mol/m^3; default the protocol's)."""
        comm = self.mesh.comm
        if marker is None:
            form, area = self._surface_form, self._proto_area
        else:
            tags = _resolve(marker, self.markers)
            one = fem.Constant(self.mesh, PETSc.ScalarType(1.0))
            area = comm.allreduce(fem.assemble_scalar(fem.form(one * self.ds(tags))),
                                  op=MPI.SUM)
            form = fem.form(self.c * self.ds(tags))
        return comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM) / area

    def surface_voltage(self, marker=None, ocv: Table | None = None) -> float:
        """U(x_s) (V): the OCV (default the protocol's) of the mean surface stoichiometry
        x_s = mean c / c_max over a facet marker (default the protocol's)."""
        table = ocv if ocv is not None else self.protocol.ocv
        return float(table(self.surface_concentration(marker) / self.params.c_max))

    @property
    def protocol_current(self) -> float:
        """Li current into the particle through the protocol's marker at the end of the
        last step (mol/s, insertion positive; cv: from the discrete Li balance)."""
        return float(self._ps["current"]) if self.protocol is not None else 0.0

    @property
    def protocol_finished(self) -> bool:
        return self.protocol is not None and self._ps["k"] >= len(self.protocol.segments)

    def protocol_events(self) -> list[dict]:
        """One record per finished segment: ``segment``, ``mode``, ``start_s``, ``end_s``,
        ``reason`` (voltage / current / time / at_limit: the limit held at its start),
        ``surface_voltage_V`` and ``surface_stoichiometry`` at the end, ``li_mol`` (Li into
        the particle during it), ``charge_C`` (F li_mol; insertion positive) and
        ``current_end_A`` (F times the current at its end)."""
        return [dict(e) for e in self._ps["events"]] if self.protocol is not None else []

    def _marker_area(self, one, tags, what: str, marker) -> float:
        """Area (m^2) of facet tags (collective); ValueError naming ``what`` if it is 0."""
        area = self.mesh.comm.allreduce(
            fem.assemble_scalar(fem.form(one * self.ds(tags))), op=MPI.SUM)
        if not area > 0:
            raise ValueError(f"{what}: marker {marker!r} has no area")
        return area

    def _reference_current(self, seg, c_rate: float) -> float:
        """|mol/s| of a C-rate: delta_c V / t_full, t_full = 3600 s / |C-rate| (``seg``: a
        :class:`ProtocolSegment` or :class:`SurfaceFlux`, for its ``delta_c``)."""
        dc = self.params.c_max if seg.delta_c is None else seg.delta_c
        return abs(c_rate) * dc * self.volume / 3600.0

    def _segment_flux(self, seg: ProtocolSegment) -> float:
        """J (mol m^-2 s^-1) of a cc segment."""
        if seg.flux is not None:
            return float(seg.flux)
        return float(np.sign(seg.c_rate)) * self._reference_current(seg, seg.c_rate) \
            / self._proto_area

    def _apply_mode(self) -> None:
        """Flux and Dirichlet hold of the current segment (open circuit after the last)."""
        ps, P = self._ps, self.protocol
        seg = P.segments[ps["k"]] if ps["k"] < len(P.segments) else None
        hold = seg is not None and seg.mode == "cv" and ps["begun"]
        self._proto_flux = self._segment_flux(seg) if seg is not None and seg.mode == "cc" \
            and ps["begun"] else 0.0
        active = self._cv_bc in self._bcs_active
        if hold:
            self._cv_value.value = ps["hold"]
        if hold != active:
            if hold:
                self._bcs_active.append(self._cv_bc)
            else:
                self._bcs_active.remove(self._cv_bc)
        self._refresh_bcs()

    def _snapshot(self) -> dict:
        import copy

        return {"c": self.c.x.array.copy(), "nm1": self.c_nm1.x.array.copy(),
                "scalars": (self.t, self.steps, self._dt_prev, self._injected,
                            list(self._c_range)),
                "ps": copy.deepcopy(self._ps)}

    def _put_snapshot(self, snap: dict) -> None:
        import copy

        self.c.x.array[:] = snap["c"]
        self.c_nm1.x.array[:] = snap["nm1"]
        t, self.steps, self._dt_prev, self._injected, rng = snap["scalars"]
        self.t, self._c_range = t, list(rng)
        self._ps = copy.deepcopy(snap["ps"])
        self._apply_mode()
        self._derived_stale = True

    def _limit(self, seg: ProtocolSegment) -> float | None:
        """g < 0 while the segment's voltage / current limit is ahead, >= 0 once reached (V
        for a voltage, mol/s for a current); None: the segment has no such limit."""
        if seg.mode == "cc" and seg.until_voltage is not None:
            direction = np.sign(self._segment_flux(seg)) * self.protocol.slope_sign
            return float(direction * (self.surface_voltage() - seg.until_voltage))
        if seg.mode == "cv" and (seg.until_flux is not None or seg.until_c_rate is not None):
            cut = abs(seg.until_flux) * self._proto_area if seg.until_flux is not None \
                else self._reference_current(seg, seg.until_c_rate)
            return float(cut - abs(self._ps["current"]))
        return None

    def _substep(self, h: float) -> None:
        """One diffusion step in the current mode, with the Li bookkeeping: the current of a
        cv step from the discrete balance (BDF2: (a0 Q^{n+1} - a1 Q^n + a2 Q^{n-1}) / h,
        which the conservative scheme makes exactly the boundary flux; theta: the mean over
        the step), the Li it passes = the change of the content (exact)."""
        ps = self._ps
        if self._dt_prev is not None and h > (1.0 + np.sqrt(2.0)) * self._dt_prev:
            # variable-step BDF2 is zero-stable only for step ratios below 1 + sqrt(2): after
            # the short part of a step that ended a segment, restart with backward Euler
            self._dt_prev = None
        a0, a1, a2, _ = self._scheme_coefficients(h)
        self._chem_step(h)
        q = self.li_content()
        qn, qnm1 = ps["q"]
        if self._cv_bc in self._bcs_active:
            self._injected += q - qn
            ps["current"] = (q - qn) / h if self.params.scheme == "theta" else \
                (a0 * q - a1 * qn + a2 * qnm1) / h
        else:
            ps["current"] = self._proto_flux * self._proto_area
        ps["q"] = [q, qn]

    def _begin_segment(self) -> None:
        ps, seg = self._ps, self.protocol.segments[self._ps["k"]]
        ps.update(begun=True, t0=self.t, q0=ps["q"][0])
        if seg.mode == "cv":
            x = self.protocol.stoichiometry(seg.voltage) if seg.voltage is not None \
                else self.surface_concentration() / self.params.c_max
            ps["hold"] = x * self.params.c_max
        self._dt_prev = None  # the time scheme restarts (BE) at a switch
        self._apply_mode()

    def _end_segment(self, reason: str) -> None:
        ps, seg = self._ps, self.protocol.segments[self._ps["k"]]
        x_s = self.surface_concentration() / self.params.c_max
        li = ps["q"][0] - ps["q0"]
        ps["events"].append({
            "segment": ps["k"], "mode": seg.mode, "start_s": ps["t0"], "end_s": self.t,
            "reason": reason, "surface_voltage_V": self.protocol.voltage(x_s),
            "surface_stoichiometry": x_s, "li_mol": li, "charge_C": li * FARADAY,
            "current_end_A": ps["current"] * FARADAY})
        ps.update(k=ps["k"] + 1, begun=False, hold=None)
        self._dt_prev = None
        self._apply_mode()

    def _protocol_step(self, dt: float) -> None:
        """t -> t + dt through the protocol's segments (class docstring of
        :class:`VoltageProtocol`); all-or-nothing (the state before it on an error)."""
        snap0 = self._snapshot()
        t_end = self.t + dt
        segs = self.protocol.segments
        try:
            for _ in range(10 * len(segs) + 10):
                h = t_end - self.t
                if h <= 1e-12 * dt:
                    break
                ps = self._ps
                if ps["k"] >= len(segs):  # open circuit after the last segment
                    self._substep(h)
                    continue
                seg = segs[ps["k"]]
                if not ps["begun"]:
                    self._begin_segment()
                    g = self._limit(seg)
                    if seg.mode == "cc" and g is not None and g >= 0:
                        self._end_segment("at_limit")
                        continue
                    if seg.until_time is not None and seg.until_time <= 0:
                        self._end_segment("time")
                        continue
                timed = False
                if seg.until_time is not None:
                    left = ps["t0"] + seg.until_time - self.t
                    if left <= h * (1 + 1e-12):
                        h, timed = max(left, 0.0), True
                if h <= 1e-12 * dt:
                    self._end_segment("time")
                    continue
                # g at the start of the part (a cv's current is unknown before its first step)
                g0 = self._limit(seg) if seg.mode == "cc" or self.t > ps["t0"] else None
                before = self._snapshot()
                self._substep(h)
                g1 = self._limit(seg)
                if g1 is not None and g1 >= 0:
                    self._locate(seg, before, h, g0, g1)
                    self._end_segment("voltage" if seg.mode == "cc" else "current")
                elif timed:
                    self._end_segment("time")
            else:
                raise SolverDiverged(f"voltage protocol: too many segment switches in one "
                                     f"step at t = {self.t:.6g} s")
        except (SolverDiverged, PhysicsViolation):
            self._put_snapshot(snap0)
            raise
        self.t = t_end
        self._undo_snap = snap0

    def _locate(self, seg, before: dict, h: float, g0: float | None, g1: float) -> None:
        """The part of a step of length h (from the state ``before``) at whose end the limit
        g of :meth:`_limit` is reached: Illinois regula falsi on [0, h] (bisection while
        g(0) is unknown), to 1e-9 h or |g| <= 1e-9 |g(0)|; leaves the state there."""
        lo, hi, glo, ghi = 0.0, h, g0, g1
        scale = abs(g0) if g0 is not None else 0.0
        side = 0
        for _ in range(80):
            if hi - lo <= 1e-9 * h or ghi <= 1e-9 * scale:
                break
            if glo is None or ghi == glo:
                m = 0.5 * (lo + hi)
            else:
                m = hi - ghi * (hi - lo) / (ghi - glo)
                m = min(max(m, lo + 1e-3 * (hi - lo)), hi - 1e-3 * (hi - lo))
            self._put_snapshot(before)
            self._substep(m)
            gm = self._limit(seg)
            if gm >= 0:
                hi, ghi = m, gm
                if side == 1 and glo is not None:
                    glo *= 0.5  # Illinois: the retained end's value halved
                side = 1
            else:
                lo, glo = m, gm
                if side == -1:
                    ghi *= 0.5
                side = -1
        if hi != h or self.t != before["scalars"][0] + hi:
            self._put_snapshot(before)
            self._substep(hi)

    def error_estimate(self) -> float | None:
        """No local time-error estimate yet (None): use fixed or growing steps."""
        return None

    def _linear_step(self, dt, a0, a1, a2, beta, amps) -> None:
        key = (a0 / dt, beta, len(self._bcs_active))
        if self._assembled != key:
            self._alpha.value, self._beta.value = key[:2]
            self.A.zeroEntries()
            fem_petsc.assemble_matrix(self.A, self._a_form, bcs=self._bcs_active)
            self.A.assemble()
            self.ksp.setOperators(self.A)
            self._assembled = key
            self.chem_factorizations += 1
        b, w, x = self._b, self._w, self.c.x.petsc_vec
        # b = M (a1 c^n - a2 c^{n-1}) / dt - (1 - beta) K c^n + F
        w.set(0.0)
        w.axpy(a1, self.c_n.x.petsc_vec)
        if a2:
            w.axpy(-a2, self.c_nm1.x.petsc_vec)
        self.M.mult(w, b)
        b.scale(1.0 / dt)
        if beta < 1.0:
            self.K.mult(self.c_n.x.petsc_vec, w)
            b.axpy(-(1.0 - beta), w)
        for a, vec in zip(amps, self._flux_vecs, strict=True):
            if a:
                b.axpy(a, vec)
        if self._proto_flux:
            b.axpy(self._proto_flux, self._proto_vec)
        if self._bcs_active:
            g = self._g.x.petsc_vec
            self.M.mult(g, w)
            b.axpy(-a0 / dt, w)
            self.K.mult(g, w)
            b.axpy(-beta, w)
            b.array[self._bc_rows] = g.array_r[self._bc_rows]
        self.ksp.solve(b, x)
        reason = self.ksp.getConvergedReason()
        self.chem_iterations += self.ksp.getIterationNumber()
        if reason < 0:
            raise SolverDiverged(
                f"diffusion solver did not converge at t = {self.t + dt:.6g} s, dt = "
                f"{dt:.3g} s (PETSc reason {reason}); try chem_solver = 'direct'")
        self.c.x.scatter_forward()

    def _nonlinear_step(self, dt, a0, a1, a2, beta, amps) -> None:
        self._alpha.value = a0 / dt
        self._a1.value = a1 / dt
        self._a2.value = a2 / dt
        self._beta.value = beta
        for jc, a in zip(self._jc, amps, strict=True):
            jc.value = a
        self._jp.value = self._proto_flux
        if self.params.stress_assisted:
            self._project_sigma_h()
        snes = self.snes_problem.solver
        if "snes_atol" not in self.chem_user_options:
            # absolute residual tolerance (mol/s) scaled to the problem: 1e-13 of a full
            # particle's Li over the step (the residual of a tiny particle is tiny)
            snes.setTolerances(atol=1e-13 * self.params.c_max * self.volume / dt)
        self.snes_problem.solve()
        reason = snes.getConvergedReason()
        self.newton_iterations += snes.getIterationNumber()
        self.chem_iterations += snes.getLinearSolveIterations()
        if reason <= 0:
            self.c_n.x.petsc_vec.copy(self.c.x.petsc_vec)
            self.c.x.scatter_forward()
            raise SolverDiverged(
                f"nonlinear diffusion (Newton) did not converge at t = {self.t + dt:.6g} s, "
                f"dt = {dt:.3g} s (SNES reason {reason}, {snes.getIterationNumber()} "
                "iterations); try a smaller dt")
        self.chem_factorizations += snes.getIterationNumber()

    def _project_sigma_h(self) -> None:
        """sigma_h (P1) = lumped L2 projection of tr(sigma) / 3 of the last mechanics solve."""
        v = ufl.TestFunction(self.V)
        if not hasattr(self, "_sh_form"):
            self._sh_form = fem.form(ufl.tr(self.stress) / 3.0 * v * self.dx)
            lumped = fem_petsc.assemble_vector(fem.form(v * self.dx))
            lumped.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
            self._lumped = lumped
        b = fem_petsc.assemble_vector(self._sh_form)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        x = self.sigma_h.x.petsc_vec
        x.pointwiseDivide(b, self._lumped)
        self.sigma_h.x.scatter_forward()
        b.destroy()

    def _check_c(self, t: float, dt: float) -> None:
        comm = self.mesh.comm
        arr = self.c.x.array[: self.V.dofmap.index_map.size_local]
        finite = comm.allreduce(bool(np.isfinite(arr).all()), op=MPI.LAND)
        if not finite:
            raise PhysicsViolation(f"concentration not finite at t = {t:.6g} s (dt = "
                                   f"{dt:.3g} s): steps too large or the flux too strong")
        lo = comm.allreduce(float(arr.min()) if arr.size else np.inf, op=MPI.MIN)
        hi = comm.allreduce(float(arr.max()) if arr.size else -np.inf, op=MPI.MAX)
        self._c_range = [min(self._c_range[0], lo), max(self._c_range[1], hi)]
        cmax, tol = self.params.c_max, self.params.bounds_tolerance
        if lo < -tol * cmax or hi > (1 + tol) * cmax:
            what = "above c_max (the particle is full)" if hi > (1 + tol) * cmax else \
                "below 0 (the particle is empty)"
            raise PhysicsViolation(
                f"concentration {what} at t = {t:.6g} s: range [{lo:.4g}, {hi:.4g}] mol/m^3, "
                f"c_max = {cmax:.4g} mol/m^3; reduce the C-rate or the end time")

    def solve_mechanics(self) -> int:
        """Solve the elasticity for the current c; returns the KSP iterations."""
        b, x = self._bu, self.u.x.petsc_vec
        if self._c_mech is self.c_cell:
            self.c_cell.interpolate(self.c)  # P1 -> DG0: the value at the centroid = mean
        with b.localForm() as loc:
            loc.set(0.0)
        fem_petsc.assemble_vector(b, self._ul_form)
        if self.bcs_u:
            fem_petsc.apply_lifting(b, [self._ua_form], bcs=[self.bcs_u])
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        if self.bcs_u:
            fem_petsc.set_bc(b, self.bcs_u)
        if self.rigid_modes == "nullspace":
            self.nullspace.remove(b)
        self.ksp_u.solve(b, x)
        reason = self.ksp_u.getConvergedReason()
        its = self.ksp_u.getIterationNumber()
        self.mech_iterations += its
        self.mech_solves += 1
        if reason < 0:
            raise SolverDiverged(
                f"elasticity solver did not converge at t = {self.t:.6g} s (PETSc reason "
                f"{reason}, {its} iterations); try mech_solver = 'direct' or fix the rigid "
                "modes (rigid_modes / FixedDisplacement)")
        if self.rigid_modes == "nullspace":
            self.nullspace.remove(x)
        self.u.x.scatter_forward()
        self._derived_stale = True
        return its

    # ------------------------------------------------------------------ outputs
    def update_derived(self) -> dict[str, fem.Function]:
        """The derived DG0 fields (stress tensor, von Mises, hydrostatic, principal, radial,
        hoop) of the current state, refreshed if the state changed (collective)."""
        self._update_derived()
        return self._derived

    def flux_windows(self) -> list[tuple[float, float]]:
        """(start, end) (s) of every galvanostatic flux condition."""
        return [(cond.start, cond.end) for cond, _, _ in self._fluxes]

    def _update_derived(self) -> None:
        """The DG0 fields: the stress tensor from one compiled Expression (cell midpoints),
        the rest cellwise in numpy from it (one JIT kernel instead of one per field)."""
        if not self._derived_stale and self._derived is not None:
            return
        mesh = self.mesh
        if self._derived is None:
            Vv = fem.functionspace(mesh, ("DG", 0, (3,)))
            d = {"stress": fem.Function(self.T0, name="stress"),
                 "von_mises": fem.Function(self.Q0, name="von_mises"),
                 "hydrostatic_stress": fem.Function(self.Q0, name="hydrostatic_stress"),
                 "principal_stress": fem.Function(Vv, name="principal_stress")}
            if self.params.centre is not None:
                d["radial_stress"] = fem.Function(self.Q0, name="radial_stress")
                d["hoop_stress"] = fem.Function(self.Q0, name="hoop_stress")
                tdim = mesh.topology.dim
                imap = mesh.topology.index_map(tdim)
                cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
                dofs = self.Q0.dofmap.list[cells].ravel()
                mid = np.zeros((len(dofs), 3))
                mid[dofs] = dmesh.compute_midpoints(mesh, tdim, cells)
                rel = mid - np.asarray(self.params.centre, dtype=float)
                self._er = rel / np.maximum(np.linalg.norm(rel, axis=1), 1e-300)[:, None]
            self._derived = d
            self._stress_expr = fem.Expression(self.stress,
                                               self.T0.element.interpolation_points)
        d = self._derived
        d["stress"].interpolate(self._stress_expr)
        s = d["stress"].x.array.reshape(-1, 3, 3)
        s = 0.5 * (s + s.transpose(0, 2, 1))
        tr = np.trace(s, axis1=1, axis2=2)
        dev = s - tr[:, None, None] / 3.0 * np.eye(3)
        d["hydrostatic_stress"].x.array[:] = tr / 3.0
        d["von_mises"].x.array[:] = np.sqrt(1.5 * np.einsum("cij,cij->c", dev, dev))
        d["principal_stress"].x.array[:] = np.linalg.eigvalsh(s)[:, ::-1].ravel()
        if "radial_stress" in d:
            srr = np.einsum("ci,cij,cj->c", self._er, s, self._er)
            d["radial_stress"].x.array[:] = srr
            d["hoop_stress"].x.array[:] = 0.5 * (tr - srr)
        self._derived_stale = False

    @property
    def fields(self) -> dict[str, tuple[fem.Function, str]]:
        """{name: (Function, unit)}: concentration (P1), displacement, and the DG0 stress
        fields (stress tensor, von Mises, hydrostatic, principal (descending), radial and
        hoop about ``centre``)."""
        self._update_derived()
        out = {"concentration": (self.c, "mol/m^3"), "displacement": (self.u, "m")}
        for name, f in self._derived.items():
            out[name] = (f, "Pa")
        return out

    def checkpoint_functions(self) -> dict[str, fem.Function]:
        """Functions a checkpoint must store besides :meth:`state` (BDF2 needs c^{n-1})."""
        return {"concentration": self.c, "concentration_previous": self.c_nm1,
                "displacement": self.u}

    def probe_integrands(self) -> dict:
        """UFL integrands: ``concentration`` (mol/m^3), ``state_of_charge`` (-),
        ``von_mises`` and ``hydrostatic_stress`` (Pa), ``strain_energy_density`` (J/m^3)."""
        eps_el = ufl.sym(ufl.grad(self.u)) - self.eps_star
        return {"concentration": self.c, "state_of_charge": self.c / self.params.c_max,
                "von_mises": _vm(self.stress),
                "hydrostatic_stress": ufl.tr(self.stress) / 3.0,
                "strain_energy_density": 0.5 * ufl.inner(self.stress, eps_el)}

    def li_content(self) -> float:
        """int c dx (mol)."""
        return self._integral(self.c, "li_content")

    def strain_energy(self) -> float:
        """1/2 int sigma : (eps(u) - eps*) dx (J)."""
        return self._integral(self.probe_integrands()["strain_energy_density"],
                              "strain_energy")

    def quantities(self) -> dict[str, float]:
        """Scalar results (collective; the same on every rank), units in the key names."""
        self._update_derived()
        comm = self.mesh.comm
        n_own = self.mesh.topology.index_map(self.mesh.topology.dim).size_local
        d = self._derived

        def ext(arr, op):
            local = (arr.max() if op is MPI.MAX else arr.min()) if arr.size else \
                (-np.inf if op is MPI.MAX else np.inf)
            return float(comm.allreduce(float(local), op=op))

        vm = d["von_mises"].x.array[:n_own]
        sh = d["hydrostatic_stress"].x.array[:n_own]
        pr = d["principal_stress"].x.array.reshape(-1, 3)[:n_own]
        content = self.li_content()
        out = {"time_s": self.t, "li_content_mol": content,
               "li_injected_mol": self._injected,
               "mean_concentration_mol_m3": content / self.volume,
               "mean_state_of_charge": content / self.volume / self.params.c_max,
               "min_concentration_mol_m3": self._c_range[0],
               "max_concentration_mol_m3": self._c_range[1],
               "strain_energy_J": self.strain_energy(),
               "max_von_mises_Pa": ext(vm, MPI.MAX),
               "max_principal_stress_Pa": ext(pr[:, 0], MPI.MAX),
               "min_principal_stress_Pa": ext(pr[:, 2], MPI.MIN),
               "max_hydrostatic_stress_Pa": ext(sh, MPI.MAX),
               "min_hydrostatic_stress_Pa": ext(sh, MPI.MIN)}
        return out

    def mass_balance(self) -> dict[str, float]:
        """Li content against initial + injected (mol); drift_rel relative to the content."""
        content = self.li_content()
        expected = self._injected + self.c_initial_mean * self.volume
        return {"content_mol": content, "expected_mol": expected,
                "drift_rel": abs(content - expected) / max(abs(content), abs(expected),
                                                           1e-300)}

    def facet_traction(self, marker) -> dict[str, float]:
        """Normal traction t_n = n . sigma n and shear |sigma n - t_n n| (Pa) on the facets of
        a marker (exterior faces or interior faces such as grain boundaries; on an interior
        facet sigma is the mean of its two cells' values). Returns {"normal_max_Pa",
        "normal_min_Pa", "normal_mean_Pa" (area mean), "shear_max_Pa", "shear_mean_Pa",
        "area_m2"}: from the cell-midpoint (DG0) stresses of the adjacent cells (for P1
        displacement the stress of the cell-mean concentration, see the module docstring);
        the means also as facet integrals of the stress evaluated on the facet ('+'/'-'
        average over dS, or ds: "normal_mean_form_Pa", "shear_mean_form_Pa"); the two agree
        when the stress is constant per cell and differ by O(h) otherwise. Interior facets on
        a process boundary need a mesh with GhostMode.shared_facet (checked)."""
        key = (str(marker), self.steps, self.mech_solves)
        cache = getattr(self, "_traction_cache", None)
        if cache is not None and cache[0] == key:  # (probes and the summary ask repeatedly)
            return dict(cache[1])
        out = self._facet_traction(marker)
        self._traction_cache = (key, dict(out))
        return out

    def facet_traction_values(self, marker) -> dict[str, np.ndarray]:
        """Per owned facet of ``marker`` (this rank): ``triangles`` (k, 3, 3) node
        coordinates (m; the first three nodes), ``normal_Pa`` t_n = n . sigma n and
        ``shear_Pa`` |sigma n - t_n n| (from the adjacent cells' DG0 stresses, their mean on
        an interior facet), ``area_m2`` and ``interior`` (two adjacent cells)."""
        self._update_derived()
        mesh = self.mesh
        tdim = mesh.topology.dim
        facets = self._facets(marker)
        facets = facets[facets < mesh.topology.index_map(tdim - 1).size_local]
        f2c = mesh.topology.connectivity(tdim - 1, tdim)
        nodes = dmesh.entities_to_geometry(mesh, tdim - 1, facets)
        x = mesh.geometry.x[nodes[:, :3]] if len(facets) else np.zeros((0, 3, 3))
        nvec = np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0])
        area = 0.5 * np.linalg.norm(nvec, axis=1)
        n = nvec / np.maximum(2 * area, 1e-300)[:, None]
        sig = self._derived["stress"].x.array.reshape(-1, 3, 3)
        counts = np.array([len(f2c.links(f)) for f in facets], dtype=int)
        s = np.zeros((len(facets), 3, 3))
        dofs = self.T0.dofmap.list
        for k, f in enumerate(facets):
            s[k] = sig[dofs[f2c.links(f)].ravel()].mean(axis=0)
        trac = np.einsum("kij,kj->ki", s, n)
        tn = np.einsum("ki,ki->k", trac, n)
        ts = np.linalg.norm(trac - tn[:, None] * n, axis=1)
        return {"triangles": x, "normal_Pa": tn, "shear_Pa": ts, "area_m2": area,
                "interior": counts == 2}

    def _facet_traction(self, marker) -> dict[str, float]:
        mesh, comm = self.mesh, self.mesh.comm
        tdim = mesh.topology.dim
        tags = _resolve(marker, self.markers)
        v = self.facet_traction_values(marker)
        tn, ts, area = v["normal_Pa"], v["shear_Pa"], v["area_m2"]
        has_interior = comm.allreduce(bool(v["interior"].any()), op=MPI.LOR)
        imap = mesh.topology.index_map(tdim)
        if has_interior and comm.size > 1 and comm.allreduce(imap.num_ghosts, op=MPI.SUM) == 0:
            raise ValueError("facet_traction on interior facets in parallel needs a mesh "
                             "created with GhostMode.shared_facet")
        tot = comm.allreduce(float(area.sum()), op=MPI.SUM)

        def red(a, op, empty):
            return float(comm.allreduce(float(op(a)) if a.size else empty,
                                        op=MPI.MAX if op is np.max else MPI.MIN))

        out = {"area_m2": tot,
               "normal_max_Pa": red(tn, np.max, -np.inf),
               "normal_min_Pa": red(tn, np.min, np.inf),
               "shear_max_Pa": red(ts, np.max, -np.inf),
               "normal_mean_Pa": comm.allreduce(float((tn * area).sum()), op=MPI.SUM)
               / max(tot, 1e-300),
               "shear_mean_Pa": comm.allreduce(float((ts * area).sum()), op=MPI.SUM)
               / max(tot, 1e-300)}
        # the same means from the forms ('+' side normal, averaged stress)
        if has_interior:
            nn = ufl.FacetNormal(mesh)("+")
            sa = ufl.avg(self.stress)
            meas = self.dS(tags)
        else:
            nn, sa, meas = ufl.FacetNormal(mesh), self.stress, self.ds(tags)
        tr_ = sa * nn
        tnf = ufl.dot(tr_, nn)
        tsf = ufl.sqrt(ufl.max_value(ufl.dot(tr_, tr_) - tnf**2, 0.0))
        one = fem.Constant(mesh, PETSc.ScalarType(1.0))

        def integ(e):
            return comm.allreduce(fem.assemble_scalar(fem.form(e * meas)), op=MPI.SUM)

        a_form = integ(one)
        out["normal_mean_form_Pa"] = integ(tnf) / max(a_form, 1e-300)
        out["shear_mean_form_Pa"] = integ(tsf) / max(a_form, 1e-300)
        return out

    def summary(self) -> dict:
        """Counters, choices and :meth:`quantities` (JSON-serialisable)."""
        return {"dofs": self.num_dofs, "time_steps": self.steps, "scheme": self.params.scheme,
                "linear_diffusion": self.linear, "rigid_modes": self.rigid_modes,
                "chem_solver": self.chem_solver, "mech_solver": self.mech_solver,
                "chem_iterations": self.chem_iterations,
                "mech_iterations": self.mech_iterations,
                "newton_iterations": self.newton_iterations,
                "chem_factorizations": self.chem_factorizations,
                "mech_solves": self.mech_solves,
                "flux_mol_m2_s": list(self.flux_values),
                **self.quantities(), **self.protocol_summary()}

    def protocol_summary(self) -> dict:
        """{"protocol": ...} of a run with a :class:`VoltageProtocol` (else {}): the surface
        voltage now (V, U of the mean surface stoichiometry of the marker), the segment
        running (None: all done, open circuit), the finished segments'
        :meth:`protocol_events`, the Li passed (mol, insertion positive) and charge (C)."""
        if self.protocol is None:
            return {}
        ps = self._ps
        li = ps["q"][0] - self.c_initial_mean * self.volume
        return {"protocol": {
            "voltage_definition": "U(x_s), x_s = mean c / c_max over the protocol's marker",
            "surface_voltage_V": self.surface_voltage(),
            "segment_running": ps["k"] if ps["k"] < len(self.protocol.segments) else None,
            "finished": self.protocol_finished,
            "li_passed_mol": li, "charge_passed_C": li * FARADAY,
            "current_A": ps["current"] * FARADAY, "segments": self.protocol_events()}}

    # ------------------------------------------------------------------ restart
    def state(self) -> dict:
        """JSON-serialisable state besides :meth:`checkpoint_functions` (restored by the
        caller first; then :meth:`restore`)."""
        extra = {"protocol": self._ps} if self.protocol is not None else {}
        return {**extra, "t": self.t, "steps": self.steps, "dt_prev": self._dt_prev,
                "scheme": self.params.scheme, "injected_mol": self._injected,
                "c_range": list(self._c_range),
                "counters": [self.chem_iterations, self.mech_iterations,
                             self.newton_iterations, self.chem_factorizations,
                             self.mech_solves]}

    def restore(self, state: dict) -> None:
        """Restore :meth:`state` after the caller put back the checkpoint functions; the
        mechanics is re-solved (stresses follow from c)."""
        if state.get("scheme", self.params.scheme) != self.params.scheme:
            raise ValueError(f"checkpoint of scheme {state['scheme']!r}, problem uses "
                             f"{self.params.scheme!r}")
        self._traction_cache = None
        self.t, self.steps = float(state["t"]), int(state["steps"])
        self._dt_prev = None if state["dt_prev"] is None else float(state["dt_prev"])
        self._injected = float(state["injected_mol"])
        self._c_range = [float(v) for v in state["c_range"]]
        (self.chem_iterations, self.mech_iterations, self.newton_iterations,
         self.chem_factorizations, self.mech_solves) = (int(v) for v in state["counters"])
        for f in (self.c, self.c_nm1):
            f.x.scatter_forward()
        if self.protocol is not None:
            import copy

            self._ps = copy.deepcopy(state["protocol"])
            self._apply_mode()
        self.solve_mechanics()

    def destroy(self) -> None:
        if hasattr(self, "_undo_nm1"):
            self._undo_nm1.destroy()
        objs = [self.ksp_u, self.Au, self._bu, self.nullspace, self.M,
                *self._flux_vecs, *self._ns_keep[1]]
        if self.linear:
            objs += [self.ksp, self.A, self.K, self._b, self._w]
        else:
            self.snes_problem = None
        if hasattr(self, "_lumped"):
            objs.append(self._lumped)
        for obj in objs:
            obj.destroy()
        _unset_defaults(self._options)
        self._options = []


__all__ = [
    "CHEM_PREFIX",
    "GAS_CONSTANT",
    "FARADAY",
    "MECH_PREFIX",
    "SCHEMES",
    "AnisotropicElasticity",
    "ChemoMechParams",
    "ChemoMechProblem",
    "FixedDisplacement",
    "IsotropicElasticity",
    "IsotropicExpansion",
    "LatticeExpansion",
    "Material",
    "ProtocolSegment",
    "SurfaceConcentration",
    "SurfaceFlux",
    "Table",
    "VoltageProtocol",
    "rigid_body_modes",
]
