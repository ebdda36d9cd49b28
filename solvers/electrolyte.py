r"""Li+ salt transport in a liquid binary electrolyte (concentrated solution theory,
isothermal; shared/PHYSICS.md D).

Unknowns: salt concentration c (mol/m^3) and electrolyte potential phi (V), both P1 Lagrange
on a 1D interval, 2D or 3D mesh (coordinates in m; geometric = topological dimension). In 1D
all extensive outputs are per m^2 of cell area, in 2D per m of depth. Equations (Newman)::

    eps dc/dt = div(D_eff(c) grad c) - div(t+(c) i / F) + a j / F          (salt, mol m^-3 s^-1)
    div i = a j,   i = -kappa_eff(c) grad phi
                       + (2 R T kappa_eff / F)(1 - t+)(1 + dlnf/dlnc) grad ln c   (A/m^2)

eps the porosity of a region (cell tag), D_eff = D eps^b and kappa_eff = kappa eps^b
(Bruggeman, b = 1.5 by default) or D eps / tau and kappa eps / tau (given tortuosity tau).
D (m^2/s), kappa (S/m), t+ (-) and the thermodynamic factor 1 + dlnf/dlnc (-) are each a
constant, a :class:`~batteryfx.solvers.chemomech.Table` of c (mol/m^3; piecewise linear,
clamped outside its range) or a callable (UFL c in, UFL out). ``a j`` (A/m^3) is the
interfacial current per volume: zero in the separator; in porous electrode regions it is
uniform, a j = -I / V_porous (simplification: uniform reaction distribution, no kinetics, no
solid phase), i.e. -i / L_region in 1D. The salt source a j / F is the Li+ a reaction puts
into the electrolyte.

Electrodes (facet tags) and the sign convention: the protocol gives the current density i
(A/m^2) of the planar Li metal electrode, positive = stripping (Li -> Li+ + e-, Li+ enters
the electrolyte), negative = plating, as piecewise-constant segments (start, end, i), zero
between segments (rest, current interrupt). i refers to a nominal area A_ref
(``anode_reference``: facet tags of the whole anode face, or an area; default the active
area), the total current is I = i A_ref. It flows through the ``anode`` facets (the active
Li surface, e.g. the Li piles of a patterned anode) with the uniform normal current density
i_n = I / A_active (scaled up when only part of the face is active); the other facets of
the face (exposed Cu) and all untagged boundaries are blocking (no flux, no current). The
counter electrode takes -I: uniformly over the ``counter`` facets (planar counter electrode,
i_n = -I / A_counter) or, without counter facets, as the uniform a j = -I / V_porous of the
porous electrode regions.

Boundary fluxes as implemented: at an electrode facet the whole current is carried by Li+
(the anion is blocked), so the natural boundary terms are i . n = -i_n (current into the
electrolyte) and the total Li+ flux N+ . n = -i_n / F with N+ = -D_eff grad c + t+ i / F
(the divergence form of the salt equation). Split into diffusion and migration this is the
diffusive flux -D_eff grad c . n = -(1 - t+(c_s)) i_n / F with t+ at the surface
concentration c_s, i.e. (1 - t+) i_n / F into the electrolyte, the dilute / constant-t+ form.
With constant t+ the discrete salt equation is exactly the decoupled
eps dc/dt = div(D_eff grad c) + (1 - t+) a j / F with the boundary flux (1 - t+) i_n / F
(the same P1 test space makes the potential equation substitute exactly). Salt is conserved:
d/dt int eps c dx = (1/F)(int i_n ds + int a j dx) = 0 because the currents balance (anions
never leave); the tracked balance is exact to the solver tolerance.

Electrode kinetics (``kinetics``): "uniform" is the imposed distribution above (an
``exchange_current_density`` then only reports the Butler-Volmer overpotential of the
imposed current at the surface-mean concentrations). With "butler_volmer" the Li facets
and a planar counter electrode carry

    i_n = i0(c) [a exp(alpha_a F eta / RT) - exp(-alpha_c F eta / RT)],   eta = phi_s - phi - U

(A/m^2 into the electrolyte, oxidation / stripping positive), i0(c) = i0_ref (c /
c_reference)^i0_exponent (default exponent 1/2 = alpha_a, c_reference the initial c), U the
electrode's open-circuit potential vs Li metal (0 for Li; the counter's may follow an OCV
curve of the charge passed), a the Li activity (1 without an inventory); "linear" is the
linearised law i_n = i0(c) (alpha_a + alpha_c) F eta / RT. Formulation chosen: the Li
metal potential is the gauge, phi_s,Li = 0 (it replaces the gauge vertex: the Robin-type
kinetic condition fixes the level of phi), and the counter metal potential s = phi_s,c is
ONE global scalar unknown fixed by the galvanostatic constraint int_counter i_n ds = -I
(equivalently int_Li i_n ds = I: the potential equation tested with 1 gives the sum). With a
porous counter electrode (uniform reaction, no kinetics) there is no scalar unknown: the
constraint holds by that same compatibility. The coupled system (c, phi, s) is solved by
Newton on the bordered Jacobian [[J, dF/ds], [dg/dw, dg/ds]] (an augmented equation: two
solves with one MUMPS factorisation per iteration, then the scalar update; dF/ds by
ufl.diff with s a UFL variable; dot products and scalar forms reduced over all ranks, so
any number of ranks gives the same iterates), backtracking on |(R, g)| and at most
DPHI_MAX = 0.2 V of potential change per iteration for Butler-Volmer (measured: 1.2
iterations per step on a 1D cell near steady state, 2 per step on the patterned anode). The
kinetic facet terms use the vertex rule (GLL, degree 1: lumped, on point, interval and
quadrilateral facets; triangle facets fall back to the default rule): the nodal current
is i_n at the vertex, no oscillation near pile edges, and the inventory update below exact.

Cell voltage: V = phi_s,c - phi_s,Li (V): with kinetics the metal potentials, i.e. U_c - U_a
minus the ohmic, concentration and both kinetic overpotentials; without kinetics
(U_c + phi_c + eta_c) - (U_a + phi_a + eta_a) of the surface means and the reported
overpotentials; a porous counter electrode contributes U_c + its mean phi (its kinetics
and solid phase are not modelled).

Li inventory (``anode_capacity`` q0, C per m^2 of the active facets): with Butler-Volmer
each anode vertex holds q (C/m^2), the anodic (stripping) term scales with the Li activity
a = min(1, q_new / q_s), q_s = ``inventory_reserve`` q0 (the surface runs out of Li over
the last 0.1 % by default), and q_new = q_old - dt i_n (backward Euler). The two are
eliminated in closed form per point, a = min(1, (q_old + dt i0 e_c) / (q_s + dt i0 e_a))
(e_a, e_c the two exponentials; the minimum picks the consistent branch), so q_new = a q_s
>= 0 at every vertex and int q ds falls by exactly I dt. Where the Li runs out the current
moves to where Li is left; when it is gone everywhere the overpotential rises without
bound. With "uniform" kinetics the inventory is global: the run stops when I t reaches
q0 A_active (exactly). ``cutoff_voltage``: a step across which |V| crosses the value (from
the side of |OCV| at t = 0, so a Li | Cu strip stops when |V| rises to 1 V, a full cell's
discharge when it falls to 3 V) is retaken up to the crossing (bisection to 1e-9 of the
step, the time interpolated linearly in |V|; no further than the Li left allows), recording
``cutoff_time`` and the charge passed; the state stays there, the clock goes on to the end
of the step, later steps carry no current. With Butler-Volmer the cut-off comes when the Li
left is q* = q_s (i / i0) exp(-alpha_a F eta / RT), about 1e-9 q0 at 1 V: the cut-off time
is the inventory / current to about 1e-9 (measured), the Coulombic-efficiency style result.

Gauge (uniform kinetics): the potential of a galvanostatic cell is defined up to a
constant (pure Neumann). It is fixed by phi = 0 at ONE vertex of the Li electrode (of the
``anode`` facets' vertices the lexicographically smallest point (x, y, z), so the same on any
number of ranks; with no anode of all vertices): a Dirichlet condition on the whole electrode
would replace the imposed current distribution by an equipotential one. The
dropped equation of that row is implied by the others because the currents balance. In 1D
that vertex is the electrode; in 2D/3D potentials are reported relative to phi there, and
the potential differences below use surface means.

Time scheme: variable-step BDF2 for c (first step backward Euler; with ``restart_at_switches``
BDF2 restarts with one backward-Euler step whenever the step's current differs from the
previous step's: across a kink in c(t) the BDF2 history would give a one-step O(1) error in
dc/dt, i.e. a first-order global error after a current interrupt). The potential equation
has no time derivative: it holds at t_n+1 (index-1 DAE). The current of a step is its mean
over the step (exact charge; steps that land on :meth:`breakpoints` see the segment value).

Solvers: with constant D, kappa, t+ and factor (``path = "auto"``) the problem is linear in
two stages: the decoupled salt equation (matrix a0/dt M_eps + K_D, re-assembled only when
a0/dt changes), then a Poisson equation for phi with the right-hand side
int kappa_eff K(c) grad c / c . grad w + the electrode currents (matrix K_kappa assembled and
factorised once). Both are SPD: MUMPS LU by default, ``solver = "cg_gamg"`` (CG + algebraic
multigrid, rtol 1e-12) for large 3D meshes. Otherwise (c-dependent laws, manufactured
sources, or ``path = "newton"``) c and phi are solved together by Newton
(``dolfinx.fem.petsc.NonlinearProblem``, PETSc SNES newtonls with backtracking) on a mixed
P1 x P1 space: the two fields are coupled both ways (grad ln c drives the current, the
current carries salt by migration), so a monolithic Jacobian converges quadratically where a
staggered scheme would need sub-iterations; one matrix for MUMPS is simpler than a blocked
(nest) layout, whose benefit (fieldsplit preconditioning) matters only for iterative solvers.
The potential equation is divided by F so both residual blocks are in mol/s. ln c is
evaluated as grad c / max(c, c_floor). Options prefixes (user options in the PETSc database
win over the defaults, which :meth:`ElectrolyteProblem.destroy` removes again): ``elyte_``
(the salt KSP, or the SNES and its KSP) and ``elyte_phi_`` (the potential KSP of the linear
path).

Depletion and saturation: after each step the extremes of the nodal c are checked. When the
minimum falls to ``c_depleted`` (default 0), the depletion time is interpolated linearly
between the step's ends (``depletion_time``) and, with ``on_depletion = "raise"`` (default),
PhysicsViolation is raised and the state before the step kept (the transport model is
meaningless beyond: the current exceeds what diffusion can supply, i.e. Sand's time or the
limiting current is passed); with ``"flag"`` the run continues. Reaching ``c_saturation``
(salt precipitation) is flagged the same way (``saturation_time``; ``on_saturation``).

Measured (tests/verification/test_electrolyte.py, 2 shared cores; details in the test
docstrings): against the cosine series, relative L2 error of c 0.040 / 0.010 / 0.0025 at
n = 10 / 20 / 40 cells (rate 2.0); BDF2 rate 2.0 in dt (2.0 through a current interrupt
with the restart, 1.05 without); steady profile, ohmic drop and eta_c to 1e-9; Sand's time
to 1e-5 and the sqrt(t) surface law to 0.1 % (graded 200-cell mesh); slowest relaxation
time fitted to 0.05 %; manufactured solution with c-dependent D, t+, kappa: rates 1.99 (c)
and 1.98 (phi); salt balance 1e-12 or better; 1 rank = 2 ranks to 1e-8. Cost: ~1 ms per
step for a 1D cell on the linear path (two MUMPS solves), 2 Newton iterations per step on
the Newton path.
Kinetics (tests): 1D steady cell voltage with Butler-Volmer at both electrodes = ohmic +
concentration + both kinetic overpotentials of the closed form to 8e-12 V (symmetric and
alpha = 0.3 / 0.7); linearised kinetics on a patterned anode: the current distribution
tends to uniform as i0 -> 0 (error 1.6e-4 / 1.6e-3 at i0 = 1 / 10 A/m^2, rate 1) and to the
primary distribution as i0 -> infinity (0.055 / 0.0063 at 1e5 / 1e6, rate 0.94), the total
current exact to 1e-11; a uniform 2D face = 1D to 1e-9; the cut-off time = inventory /
current to 2e-9; 1 rank = 2 ranks to 1e-10.
Not done: kinetics and the solid phase of porous electrodes (reaction distribution),
temperature dependence, convection, a local time-error estimate (``error_estimate()``
returns None), potentiostatic control, Li nucleation on bare Cu (plating on a facet without
Li is not limited).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mpi4py import MPI
from petsc4py import PETSc

import basix.ufl
import numpy as np
import ufl
from dolfinx import fem
from dolfinx import mesh as dmesh
from dolfinx.fem import petsc as fem_petsc

from batteryfx.errors import PhysicsViolation, SolverDiverged
from batteryfx.solvers.chemomech import Table
from batteryfx.solvers.petsc_options import _unset_defaults, new_ksp, read_options

#: options prefix of the salt KSP (linear path) or of the SNES and its KSP (Newton path)
ELYTE_PREFIX = "elyte_"
#: options prefix of the potential KSP (linear path)
ELYTE_PHI_PREFIX = "elyte_phi_"
#: Faraday constant (C/mol) and gas constant (J mol^-1 K^-1), exact SI values
FARADAY = 6.02214076e23 * 1.602176634e-19
GAS_CONSTANT = 6.02214076e23 * 1.380649e-23
SCHEMES = ("bdf2", "euler")
PATHS = ("auto", "linear", "newton")
KINETICS = ("uniform", "butler_volmer", "linear")

#: PETSc option sets (without prefix)
SOLVERS = {
    "direct": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
    "cg_gamg": {"ksp_type": "cg", "pc_type": "gamg", "ksp_rtol": 1e-12, "ksp_atol": 0.0},
}
#: bisection of a step that crosses the cut-off: to this fraction of the step
CUTOFF_RTOL = 1e-9
#: largest change of a potential (V) in one kinetic Newton iteration (Butler-Volmer)
DPHI_MAX = 0.2
SNES_DEFAULTS = {"snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_rtol": 1e-10,
                 "snes_stol": 0.0, "snes_max_it": 30}

Law = float | Table | Callable


# ---------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Electrolyte:
    """Transport properties of the liquid: ``diffusivity`` D (m^2/s), ``conductivity`` kappa
    (S/m), ``transference`` t+ (-), ``thermodynamic_factor`` 1 + dlnf/dlnc (-). Each a
    constant, a :class:`Table` of c (mol/m^3) or a callable (UFL c -> UFL)."""

    diffusivity: Law
    conductivity: Law
    transference: Law
    thermodynamic_factor: Law = 1.0

    @property
    def constant(self) -> bool:
        return all(np.isscalar(v) for v in (self.diffusivity, self.conductivity,
                                             self.transference, self.thermodynamic_factor))


@dataclass(frozen=True)
class Region:
    """A cell-tag region: ``porosity`` eps (-), Bruggeman exponent ``bruggeman`` b (D_eff =
    D eps^b) or, if given, ``tortuosity`` tau (D_eff = D eps / tau); ``porous_electrode``:
    the region takes the counter current as a uniform volumetric reaction."""

    porosity: float = 1.0
    bruggeman: float = 1.5
    tortuosity: float | None = None
    porous_electrode: bool = False

    def __post_init__(self):
        if not 0.0 < self.porosity <= 1.0:
            raise ValueError(f"Region: porosity = {self.porosity}: allowed 0 < eps <= 1")
        if self.tortuosity is not None and not self.tortuosity >= 1.0:
            raise ValueError(f"Region: tortuosity = {self.tortuosity}: allowed >= 1")

    @property
    def factor(self) -> float:
        """D_eff / D = kappa_eff / kappa (-)."""
        if self.tortuosity is not None:
            return self.porosity / self.tortuosity
        return self.porosity**self.bruggeman


@dataclass(frozen=True)
class ElectrolyteParams:
    """Model and numerics (module docstring).

    ``regions``: one :class:`Region` for all cells or {cell tag: Region}. ``anode``: facet
    tag(s) of the active Li surface; ``anode_reference``: facet tag(s) (int) of the whole
    anode face or its area as a float (m^2 in 3D, m in 2D, 1.0 in 1D) that the protocol's
    current density refers to
    (None: the active area). ``counter``: facet tag(s) of a planar counter electrode (None:
    the porous-electrode regions). ``protocol``: ((start s, end s, i A/m^2), ...), stripping
    at the Li electrode positive. ``c_initial`` (mol/m^3): a value or a callable x (3, N) ->
    (N,). ``temperature`` (K)."""

    electrolyte: Electrolyte
    regions: Region | dict[int, Region] = field(default_factory=Region)
    anode: int | tuple[int, ...] | None = None
    counter: int | tuple[int, ...] | None = None
    anode_reference: int | tuple[int, ...] | float | None = None
    protocol: tuple[tuple[float, float, float], ...] = ()
    c_initial: float | Callable = 1000.0
    temperature: float = 298.15
    c_saturation: float | None = None
    c_depleted: float = 0.0
    on_depletion: str = "raise"
    on_saturation: str = "flag"
    scheme: str = "bdf2"
    restart_at_switches: bool = True
    path: str = "auto"
    solver: str = "direct"
    #: ln c is evaluated with max(c, c_floor) (mol/m^3)
    c_floor: float = 1e-6
    #: quadrature degree of the Newton forms (None: UFL's estimate)
    quadrature_degree: int | None = 4
    #: electrode kinetics (module docstring): "uniform" (imposed uniform current density),
    #: "butler_volmer" or "linear" (linearised Butler-Volmer)
    kinetics: str = "uniform"
    #: i0_ref (A/m^2) of the Li electrode at c_reference: with "uniform" only reported
    #: (the kinetic overpotential at the surface means), else it shapes the current
    exchange_current_density: float | None = None
    #: i0_ref of the planar counter electrode (A/m^2; None: the Li electrode's)
    counter_exchange_current_density: float | None = None
    #: anodic and cathodic charge-transfer coefficients (-)
    alpha_anodic: float = 0.5
    alpha_cathodic: float = 0.5
    #: i0 = i0_ref (c / c_reference)^i0_exponent; c_reference None: c_initial (a value)
    i0_exponent: float = 0.5
    c_reference: float | None = None
    #: open-circuit potentials (V vs Li metal) of the Li electrode (a value) and of the
    #: counter electrode: a value or a callable q -> U of the charge q passed (C per m^2 of
    #: the reference area, discharge positive)
    ocv_anode: float = 0.0
    ocv_counter: float | Callable = 0.0
    #: Li inventory of the stripping electrode (C per m^2 of the active facets; None:
    #: unlimited) and the reserve fraction over which its stripping activity falls to 0
    anode_capacity: float | None = None
    inventory_reserve: float = 1e-3
    #: the run stops when |cell voltage| crosses this value (V; None: no cut-off)
    cutoff_voltage: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "protocol",
                           tuple(tuple(float(v) for v in seg) for seg in self.protocol))
        for seg in self.protocol:
            if len(seg) != 3 or not seg[1] > seg[0]:
                raise ValueError(f"protocol segment {seg}: allowed (start, end, i) with "
                                 "end > start")
        segs = sorted(self.protocol)
        for a, b in zip(segs, segs[1:], strict=False):
            if b[0] < a[1]:
                raise ValueError(f"protocol segments {a} and {b} overlap")
        for name, value, allowed in (("scheme", self.scheme, SCHEMES),
                                     ("path", self.path, PATHS),
                                     ("solver", self.solver, tuple(SOLVERS)),
                                     ("on_depletion", self.on_depletion, ("raise", "flag")),
                                     ("on_saturation", self.on_saturation, ("raise", "flag"))):
            if value not in allowed:
                raise ValueError(f"{name} = {value!r}: allowed {', '.join(allowed)}")
        if not self.temperature > 0:
            raise ValueError(f"temperature = {self.temperature}: allowed > 0 K")
        if self.kinetics not in KINETICS:
            raise ValueError(f"kinetics = {self.kinetics!r}: allowed {', '.join(KINETICS)}")
        for name in ("exchange_current_density", "counter_exchange_current_density",
                     "c_reference", "anode_capacity", "cutoff_voltage"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} = {value}: allowed > 0")
        for name in ("alpha_anodic", "alpha_cathodic"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} = {getattr(self, name)}: allowed 0 < alpha < 1")
        if not 0.0 < self.inventory_reserve < 1.0:
            raise ValueError(f"inventory_reserve = {self.inventory_reserve}: allowed 0 < "
                             "reserve < 1")
        if self.kinetics != "uniform" and self.exchange_current_density is None:
            raise ValueError(f"kinetics = {self.kinetics!r} needs exchange_current_density")
        if self.anode_capacity is not None and self.kinetics == "linear":
            raise ValueError("anode_capacity needs kinetics = 'butler_volmer' or 'uniform' "
                             "(the linearised law has no stripping branch to limit)")
        if self.anode_capacity is not None and self.kinetics == "butler_volmer" \
                and self.cutoff_voltage is None:
            raise ValueError("anode_capacity with Butler-Volmer kinetics needs "
                             "cutoff_voltage (the voltage rises without bound when the Li "
                             "is used up)")

    @property
    def c_ref(self) -> float:
        """The concentration of i0_ref (mol/m^3): c_reference or the initial value."""
        if self.c_reference is not None:
            return float(self.c_reference)
        if callable(self.c_initial):
            raise ValueError("a c_initial function needs c_reference for the kinetics")
        return float(self.c_initial)

    def current(self, t0: float, t1: float) -> float:
        """Mean protocol current density over [t0, t1] (A/m^2)."""
        total = 0.0
        for start, end, i in self.protocol:
            total += i * max(min(t1, end) - max(t0, start), 0.0)
        return total / (t1 - t0)


def _tags(marker) -> tuple[int, ...]:
    if marker is None:
        return ()
    return (int(marker),) if np.isscalar(marker) else tuple(int(t) for t in marker)


def _collapse_map(dofs, V) -> np.ndarray:
    """The collapse map (collapsed dof -> mixed dof) of a scalar sub-space as one int32
    array (DOLFINx 0.11 returns a list with one array per block)."""
    arr = np.asarray(dofs[0] if isinstance(dofs, list | tuple) and len(dofs) == 1 else dofs,
                     dtype=np.int32).ravel()
    imap = V.dofmap.index_map
    if len(arr) != imap.size_local + imap.num_ghosts:
        raise RuntimeError("unexpected collapse map of the mixed space")
    return arr


def mesh_basix_cell(mesh) -> basix.CellType:
    """The basix cell type of a mesh's cells."""
    return getattr(basix.CellType, mesh.topology.cell_type.name)


def _law_ufl(law: Law, c, mesh):
    if isinstance(law, Table):
        return law.ufl(c)
    if callable(law):
        return law(c)
    return fem.Constant(mesh, PETSc.ScalarType(float(law)))


def bv_overpotential(i_n: float, i0: float, alpha_a: float, alpha_c: float,
                     rt_f: float) -> float:
    """eta (V) with i0 (exp(alpha_a eta / (RT/F)) - exp(-alpha_c eta / (RT/F))) = i_n:
    (RT/F) asinh(i_n / (2 i0)) / alpha for alpha_a = alpha_c = alpha, else Newton on the
    monotone law from the Tafel asymptote (to 1e-14 V)."""
    if alpha_a == alpha_c:
        return rt_f * float(np.arcsinh(i_n / (2.0 * i0))) / alpha_a
    x = i_n / i0
    eta = rt_f * (np.log(x) / alpha_a if x > 1 else -np.log(-x) / alpha_c if x < -1
                  else x / (alpha_a + alpha_c))
    for _ in range(100):
        ea, ec = np.exp(alpha_a * eta / rt_f), np.exp(-alpha_c * eta / rt_f)
        step = (ea - ec - x) / ((alpha_a * ea + alpha_c * ec) / rt_f)
        eta -= step
        if abs(step) < 1e-14:
            break
    return float(eta)


# ---------------------------------------------------------------------------- the problem
class ElectrolyteProblem:
    """Binary-electrolyte salt transport and potential (module docstring).

    Args:
        mesh: 1D, 2D or 3D dolfinx mesh (m).
        cell_tags: MeshTags of the cells (regions), or None (one Region).
        facet_tags: MeshTags of the facets (electrodes).
        params: :class:`ElectrolyteParams`.
        sources: optional callable t -> (f_c, f_phi) (UFL, t a fem.Constant holding the time
            of the new level): extra salt source f_c (mol m^-3 s^-1) and extra divergence of
            the current f_phi (A/m^3), for manufactured solutions (forces the Newton path).

    Attributes: ``c``, ``phi`` (P1 Functions), ``t`` (s), ``steps``, ``linear`` (which path),
    ``dx`` / ``ds`` (tagged measures), ``eps`` (DG0 porosity), ``iterations`` (linear
    iterations so far), ``newton_iterations``, ``depletion_time`` / ``saturation_time``
    (s, None until reached).
    """

    def __init__(self, mesh: dmesh.Mesh, cell_tags: dmesh.MeshTags | None,
                 facet_tags: dmesh.MeshTags | None, params: ElectrolyteParams, *,
                 sources: Callable | None = None):
        tdim = mesh.topology.dim
        if mesh.geometry.dim != tdim or tdim not in (1, 2, 3):
            raise ValueError(f"ElectrolyteProblem: geometric dimension {mesh.geometry.dim} "
                             f"and topological {tdim}: allowed equal, 1, 2 or 3")
        self.mesh, self.params = mesh, params
        self.cell_tags, self.facet_tags = cell_tags, facet_tags
        comm = mesh.comm
        mesh.topology.create_connectivity(tdim - 1, tdim)
        self.dx = ufl.Measure("dx", domain=mesh, subdomain_data=cell_tags)
        self.ds = ufl.Measure("ds", domain=mesh, subdomain_data=facet_tags)
        self.t, self.steps = 0.0, 0
        self._dt_prev: float | None = None
        self._i_prev: float | None = None  # mean current of the previous step
        self.iterations = self.newton_iterations = self.factorizations = 0
        self.depletion_time: float | None = None
        self.saturation_time: float | None = None
        self.current_density = 0.0  # nominal, last step (A/m^2)
        self._forms: dict[str, fem.Form] = {}
        self._options: list[str] = []
        self._undo = None
        el = params.electrolyte
        #: the electrode current follows kinetics (Newton with the counter potential)
        self.kinetic = params.kinetics != "uniform"
        if self.kinetic and params.path == "linear":
            raise ValueError(f"kinetics = {params.kinetics!r} is nonlinear in phi: path = "
                             "'auto' or 'newton'")
        self.linear = (params.path == "linear" or (params.path == "auto" and el.constant
                                                   and sources is None
                                                   and not self.kinetic))
        if self.linear and not el.constant:
            raise ValueError("path = 'linear' needs constant D, kappa, t+ and factor")
        if self.linear and sources is not None:
            raise ValueError("manufactured sources need path = 'newton' (or 'auto')")
        if not self.linear and params.solver != "direct":
            raise ValueError(f"solver = {params.solver!r} is for the linear path (constant "
                             "properties); the coupled Newton path uses 'direct' (MUMPS)")
        self.rt_f = GAS_CONSTANT * params.temperature / FARADAY

        # ---- regions as DG0 fields
        self.Q0 = fem.functionspace(mesh, ("DG", 0))
        self.eps = fem.Function(self.Q0, name="porosity")
        self.fac = fem.Function(self.Q0, name="effective_factor")
        self.chi = fem.Function(self.Q0, name="porous_electrode")
        regions = params.regions
        if isinstance(regions, Region):
            self.eps.x.array[:] = regions.porosity
            self.fac.x.array[:] = regions.factor
            self.chi.x.array[:] = 1.0 if regions.porous_electrode else 0.0
        else:
            if cell_tags is None:
                raise ValueError("regions given per cell tag but no cell_tags")
            n_own = mesh.topology.index_map(tdim).size_local
            covered = np.zeros(n_own + mesh.topology.index_map(tdim).num_ghosts, bool)
            for tag, reg in regions.items():
                cells = cell_tags.find(int(tag))
                dofs = self.Q0.dofmap.list[cells].ravel()
                self.eps.x.array[dofs] = reg.porosity
                self.fac.x.array[dofs] = reg.factor
                self.chi.x.array[dofs] = 1.0 if reg.porous_electrode else 0.0
                covered[cells] = True
            if comm.allreduce(int(not covered[:n_own].all()), op=MPI.MAX):
                raise ValueError("regions: some cells have no cell tag with a Region")
        for f in (self.eps, self.fac, self.chi):
            f.x.scatter_forward()
        one = fem.Constant(mesh, PETSc.ScalarType(1.0))
        self.volume = self._assemble(one * self.dx)
        self.porous_volume = self._assemble(self.chi * self.dx)

        # ---- electrodes
        self.anode_tags = _tags(params.anode)
        self.counter_tags = _tags(params.counter)
        self.anode_area = self._area(self.anode_tags, "anode") if self.anode_tags else 0.0
        self.counter_area = self._area(self.counter_tags, "counter") \
            if self.counter_tags else 0.0
        ref = params.anode_reference
        if ref is None:
            self.reference_area = self.anode_area
        elif isinstance(ref, float):
            self.reference_area = float(ref)
        else:
            self.reference_area = self._area(_tags(ref), "anode_reference")
        if (self.kinetic or params.anode_capacity is not None) and not self.anode_tags:
            raise ValueError(f"kinetics = {params.kinetics!r} / anode_capacity need the "
                             "anode facet tag(s)")
        if params.protocol and any(i for _, _, i in params.protocol):
            if not self.anode_tags:
                raise ValueError("a current protocol needs the anode facet tag(s)")
            if not self.counter_tags and not self.porous_volume > 0:
                raise ValueError("a current needs a counter electrode: counter facet tag(s) "
                                 "or a Region with porous_electrode=True")

        # ---- spaces and functions
        if self.linear:
            self.V = V = fem.functionspace(mesh, ("Lagrange", 1))
        else:  # c and phi on the collapsed sub-spaces of the mixed space (same layout)
            p1 = basix.ufl.element("Lagrange", mesh.basix_cell(), 1)
            self.W = fem.functionspace(mesh, basix.ufl.mixed_element([p1, p1]))
            self.V, map_c = self.W.sub(0).collapse()
            V = self.V
            V1, map_phi = self.W.sub(1).collapse()
            if not np.array_equal(V.tabulate_dof_coordinates(), V1.tabulate_dof_coordinates()):
                raise RuntimeError("the two P1 sub-spaces of the mixed space differ in layout")
            self._map_c, self._map_phi = _collapse_map(map_c, V), _collapse_map(map_phi, V)
        self.c = fem.Function(V, name="concentration")
        self.phi = fem.Function(V, name="potential")
        if callable(params.c_initial):
            self.c.interpolate(params.c_initial)
        else:
            self.c.x.array[:] = float(params.c_initial)
        self.c.x.scatter_forward()
        self.c_n = fem.Function(V, name="concentration_n")
        self.c_nm1 = fem.Function(V, name="concentration_previous")
        self.c.x.petsc_vec.copy(self.c_nm1.x.petsc_vec)
        self.c_nm1.x.scatter_forward()
        self.salt_initial = self.salt_content()
        self._salt_injected = 0.0
        self._c_range = list(self._extremes())
        self._c_min_last = self._c_range[0]
        self._c_max_last = self._c_range[1]
        self.c_scale = max(abs(self._c_range[1]), 1e-300)

        # ---- forms
        self.t_ufl = fem.Constant(mesh, PETSc.ScalarType(0.0))  # time of the new level
        self._alpha = fem.Constant(mesh, PETSc.ScalarType(1.0))  # a0 / dt
        self._a1 = fem.Constant(mesh, PETSc.ScalarType(1.0))  # a1 / dt
        self._a2 = fem.Constant(mesh, PETSc.ScalarType(0.0))  # a2 / dt
        self._ia = fem.Constant(mesh, PETSc.ScalarType(0.0))  # anode i_n (A/m^2)
        self._ic = fem.Constant(mesh, PETSc.ScalarType(0.0))  # counter i_n (A/m^2)
        self._aj = fem.Constant(mesh, PETSc.ScalarType(0.0))  # porous a j (A/m^3)
        # ---- kinetics, cell voltage, inventory, cut-off
        self._dt = fem.Constant(mesh, PETSc.ScalarType(1.0))  # the step (s)
        self._phis_a = fem.Constant(mesh, PETSc.ScalarType(0.0))  # Li metal: the gauge
        self._phis_c = fem.Constant(mesh, PETSc.ScalarType(0.0))  # counter metal (V)
        self._ua = fem.Constant(mesh, PETSc.ScalarType(float(params.ocv_anode)))
        i0a = params.exchange_current_density or 0.0  # (Constants: no new JIT per value)
        self._i0a = fem.Constant(mesh, PETSc.ScalarType(i0a))
        self._i0c = fem.Constant(mesh, PETSc.ScalarType(
            params.counter_exchange_current_density or i0a))
        self._uc = fem.Constant(mesh, PETSc.ScalarType(self._ocv_counter(0.0)))
        # start the counter metal at its open-circuit potential U_c - U_a (a 4 V cathode
        # from 0 V would overflow the Butler-Volmer exponentials of the first Newton step)
        self._phis_c.value = float(self._uc.value) - float(params.ocv_anode)
        #: charge passed (C; per m^2 in 1D, per m in 2D), stripping / discharge positive
        self.charge_passed = 0.0
        #: when |V| crossed cutoff_voltage / the (uniform-mode) inventory ran out (s)
        self.cutoff_time: float | None = None
        self.inventory_time: float | None = None
        self.charge_at_cutoff: float | None = None
        self.bordered_iterations = 0  # Newton iterations of the kinetic (bordered) solver
        self._undo_snapshot = None
        self.q_li = None
        if params.anode_capacity is not None:
            self.inventory_initial = params.anode_capacity * self.anode_area  # C
            if self.kinetic:  # local Li (C/m^2) at the anode facets' vertices
                self.q_li = fem.Function(V, name="li_inventory")
                self.q_li.x.array[:] = params.anode_capacity
        ocv0 = abs(params.ocv_anode - self._ocv_counter(0.0))
        self._cut_above = (params.cutoff_voltage is not None
                           and ocv0 >= params.cutoff_voltage)
        if self.linear:
            self._build_linear()
        else:
            self._build_newton(sources)

    # ------------------------------------------------------------------ helpers
    def _assemble(self, expr) -> float:
        return self._scalar_form(fem.form(expr))

    def _scalar(self, key: str, expr) -> float:
        """A kept compiled scalar form, assembled (collective)."""
        if key not in self._forms:
            self._forms[key] = fem.form(expr)
        return self._scalar_form(self._forms[key])

    def _area(self, tags: tuple[int, ...], what: str) -> float:
        if self.facet_tags is None:
            raise ValueError(f"{what} facet tags {tags} given but no facet_tags")
        one = fem.Constant(self.mesh, PETSc.ScalarType(1.0))
        area = self._assemble(one * self.ds(tags))
        if not area > 0:
            raise ValueError(f"{what}: facet tags {tags} have no (exterior) facets")
        return area

    def _extremes(self) -> tuple[float, float]:
        comm = self.mesh.comm
        arr = self.c.x.array[: self.V.dofmap.index_map.size_local]
        lo = comm.allreduce(float(arr.min()) if arr.size else np.inf, op=MPI.MIN)
        hi = comm.allreduce(float(arr.max()) if arr.size else -np.inf, op=MPI.MAX)
        return lo, hi

    def _gauge_dofs(self) -> np.ndarray:
        """Local P1 dofs (owned or ghost copies) of the gauge vertex: of the anode facets'
        vertices (all vertices without an anode) the lexicographically smallest point
        (x, y, z), compared on a grid of 1e-10 of the mesh size (the ranks' copies of a
        vertex may differ in the last bits), so the same vertex on any number of ranks."""
        V, comm = self.V, self.mesh.comm
        imap = V.dofmap.index_map
        if self.anode_tags:
            cands = fem.locate_dofs_topological(V, self.mesh.topology.dim - 1,
                                                self._anode_facets())
        else:
            cands = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
        x = self.mesh.geometry.x
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        comm.Allreduce(x.min(axis=0) if len(x) else lo.copy(), lo, op=MPI.MIN)
        comm.Allreduce(x.max(axis=0) if len(x) else hi.copy(), hi, op=MPI.MAX)
        quantum = 1e-10 * max(float(np.max(hi - lo)), 1e-300)
        key = np.rint((V.tabulate_dof_coordinates()[cands] - lo) / quantum).astype(np.int64)
        best = tuple(int(v) for v in key[np.lexsort(key.T[::-1])[0]]) if len(cands) else None
        pts = [b for b in comm.allgather(best) if b is not None]
        if not pts:
            raise ValueError("no dof found for the potential gauge")
        return cands[np.all(key == np.array(min(pts)), axis=1)].astype(np.int32)

    def _anode_facets(self) -> np.ndarray:
        return np.concatenate([self.facet_tags.find(t) for t in self.anode_tags]) \
            if self.anode_tags else np.zeros(0, np.int32)

    def _set_solver_options(self, prefix: str, defaults: dict, obj) -> dict:
        return read_options(obj, prefix, defaults, self._options)

    def laws(self, c):
        """(D, kappa, t+, factor) as UFL of the concentration ``c``."""
        el, m = self.params.electrolyte, self.mesh
        return (_law_ufl(el.diffusivity, c, m), _law_ufl(el.conductivity, c, m),
                _law_ufl(el.transference, c, m), _law_ufl(el.thermodynamic_factor, c, m))

    def current_density_ufl(self, c, phi):
        """The ionic current density i (UFL vector, A/m^2) of c and phi."""
        _, kap, tp, tf = self.laws(c)
        cl = ufl.max_value(c, self.params.c_floor)
        keff = self.fac * kap
        return -keff * ufl.grad(phi) + keff * 2.0 * self.rt_f * (1.0 - tp) * tf \
            * ufl.grad(c) / cl

    def _electrode_terms(self, w):
        """int i_n w ds over both electrodes + int a j w dx (UFL, A/s-ish), or None."""
        out = None
        terms = []
        ia, ic = getattr(self, "_i_kinetic", (self._ia, self._ic))
        ds = self._ds_kinetic if self.kinetic else self.ds
        if self.anode_tags:
            terms.append(ia * w * ds(self.anode_tags))
        if self.counter_tags:
            terms.append(ic * w * ds(self.counter_tags))
        if self.porous_volume > 0:
            terms.append(self._aj * self.chi * w * self.dx)
        for term in terms:
            out = term if out is None else out + term
        return out

    def _build_linear(self) -> None:
        p, V, mesh = self.params, self.V, self.mesh
        el = p.electrolyte
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        d, kap = float(el.diffusivity), float(el.conductivity)
        self.t_plus_constant = float(el.transference)
        self._m_form = fem.form(self.eps * u * v * self.dx)
        self._k_form = fem.form(d * self.fac * ufl.inner(ufl.grad(u), ufl.grad(v)) * self.dx)
        self._a_form = fem.form(self._alpha * self.eps * u * v * self.dx
                                + d * self.fac * ufl.inner(ufl.grad(u), ufl.grad(v)) * self.dx)
        self.M = fem_petsc.assemble_matrix(self._m_form)
        self.M.assemble()
        self.A = fem_petsc.create_matrix(self._a_form)
        self._assembled = None
        # electrode load: int i_n v ds + int a j v dx, assembled per step (3 constants)
        load = self._electrode_terms(v)
        self._load_form = fem.form(load if load is not None
                                   else fem.Constant(mesh, PETSc.ScalarType(0.0)) * v * self.dx)
        self.ksp, self.user_options = new_ksp(mesh.comm, ELYTE_PREFIX, dict(SOLVERS[p.solver]),
                                              self._options)
        self._b = fem_petsc.create_vector(V)
        self._w = fem_petsc.create_vector(V)
        self._load = fem_petsc.create_vector(V)
        # potential: K_kappa phi = int kappa_eff K grad c / c . grad w + load, phi pinned
        self._gauge = self._gauge_dofs()
        self.bcs_phi = [fem.dirichletbc(PETSc.ScalarType(0.0), self._gauge, V)]
        self._gauge_rows = self._gauge[self._gauge < V.dofmap.index_map.size_local]
        keff = kap * self.fac
        self._kphi_form = fem.form(keff * ufl.inner(ufl.grad(u), ufl.grad(v)) * self.dx)
        self.K_phi = fem_petsc.assemble_matrix(self._kphi_form, bcs=self.bcs_phi)
        self.K_phi.assemble()
        kd = 2.0 * self.rt_f * (1.0 - float(el.transference)) * float(el.thermodynamic_factor)
        cl = ufl.max_value(self.c, p.c_floor)
        md = {} if p.quadrature_degree is None else {"quadrature_degree": p.quadrature_degree}
        self._phi_rhs_form = fem.form(keff * kd * ufl.inner(ufl.grad(self.c) / cl, ufl.grad(v))
                                      * self.dx(metadata=md))
        self.ksp_phi, self.phi_user_options = new_ksp(
            mesh.comm, ELYTE_PHI_PREFIX, dict(SOLVERS[p.solver]), self._options, self.K_phi)
        self._bphi = fem_petsc.create_vector(V)
        self.snes_problem = None

    def kinetic_currents(self, c, phi, phis_c=None, implicit: bool = True):
        """(i_n anode, i_n counter or None): the kinetic normal current densities (UFL,
        A/m^2, into the electrolyte; stripping / oxidation positive) of c and phi at the
        electrode facets, with the counter metal potential ``phis_c`` (default the
        problem's). Module docstring: Butler-Volmer or its linearisation, i0 of the
        surface concentration, the Li activity of a finite inventory (``implicit``: from the
        inventory before the step, as the step solves it; else min(1, q_li / q_s) of the
        inventory now, the same value after the step)."""
        p = self.params
        f = 1.0 / self.rt_f
        aa, ac = p.alpha_anodic, p.alpha_cathodic
        cl = ufl.max_value(c, p.c_floor)
        shape = (cl / p.c_ref) ** p.i0_exponent

        def law(i0_ref, eta, inventory):
            i0 = i0_ref * shape
            if p.kinetics == "linear":
                return i0 * (aa + ac) * f * eta
            ea, ec = ufl.exp(aa * f * eta), ufl.exp(-ac * f * eta)
            if not inventory:
                return i0 * (ea - ec)
            # Li activity a = min(1, q_new / q_s), q_new = q_old - dt i_n (backward Euler,
            # eliminated in closed form: module docstring)
            qs = p.inventory_reserve * p.anode_capacity
            if implicit:
                act = ufl.min_value(1.0, (self.q_li + self._dt * i0 * ec)
                                    / (qs + self._dt * i0 * ea))
            else:
                act = ufl.min_value(1.0, self.q_li / qs)
            return i0 * (act * ea - ec)

        ia = law(self._i0a, self._phis_a - phi - self._ua, self.q_li is not None)
        if not self.counter_tags:
            return ia, None
        s = self._phis_c if phis_c is None else phis_c
        return ia, law(self._i0c, s - phi - self._uc, False)

    def _build_newton(self, sources) -> None:
        p, W = self.params, self.W
        self.w = fem.Function(W, name="c_phi")
        c, phi = ufl.split(self.w)
        if self.kinetic:
            # the kinetic facet terms with the vertex (GLL, lumped) rule where basix has
            # one (point, interval and quadrilateral facets): module docstring
            facet = basix.cell.sub_entity_type(mesh_cell := mesh_basix_cell(self.mesh),
                                               self.mesh.topology.dim - 1, 0)
            md_k = ({"quadrature_rule": "GLL", "quadrature_degree": 1}
                    if facet in (basix.CellType.interval, basix.CellType.quadrilateral)
                    else {})
            self.lumped_kinetics = bool(md_k) or mesh_cell == basix.CellType.interval
            self._ds_kinetic = ufl.Measure("ds", domain=self.mesh,
                                           subdomain_data=self.facet_tags, metadata=md_k)
            # the counter potential as a UFL variable: d(residual)/d(phi_s,c) by ufl.diff
            self._s_var = ufl.variable(self._phis_c)
            self._i_kinetic = self.kinetic_currents(c, phi, self._s_var)
        v, q = ufl.TestFunctions(W)
        md = {} if p.quadrature_degree is None else {"quadrature_degree": p.quadrature_degree}
        dx = self.dx(metadata=md)
        d, _, tp, _ = self.laws(c)
        i = self.current_density_ufl(c, phi)
        F = (self._alpha * c - self._a1 * self.c_n + self._a2 * self.c_nm1) * self.eps * v * dx \
            + self.fac * d * ufl.inner(ufl.grad(c), ufl.grad(v)) * dx \
            - tp / FARADAY * ufl.inner(i, ufl.grad(v)) * dx
        load_c = self._electrode_terms(v / FARADAY)
        if load_c is not None:
            F -= load_c
        qf = q / FARADAY  # the potential equation in mol/s, like the salt equation
        F += ufl.inner(i, ufl.grad(qf)) * dx
        load_p = self._electrode_terms(qf)
        if load_p is not None:
            F += load_p
        if sources is not None:
            f_c, f_phi = sources(self.t_ufl)
            if f_c is not None:
                F -= f_c * v * dx
            if f_phi is not None:
                F += f_phi * qf * dx
        if self.kinetic:
            self._build_bordered(F)
            return
        self._gauge = self._map_phi[self._gauge_dofs()]
        self.bcs_w = [fem.dirichletbc(PETSc.ScalarType(0.0), self._gauge, W.sub(1))]
        self.snes_problem = fem_petsc.NonlinearProblem(F, self.w, bcs=self.bcs_w,
                                                       petsc_options_prefix=ELYTE_PREFIX)
        self.user_options = self._set_solver_options(
            ELYTE_PREFIX, {**SNES_DEFAULTS, **SOLVERS["direct"]}, self.snes_problem.solver)
        self.ksp = None

    def _build_bordered(self, F) -> None:
        """Forms, matrix, vectors and the KSP of the kinetic Newton solver: the residual F of
        (c, phi), its Jacobian J, and with a planar counter electrode the border of the
        unknown counter potential s = phi_s,c: b = dF/ds, the constraint
        g = (int_counter i_n ds + I) / F (mol/s), its derivatives dg/dw and dg/ds."""
        W, comm = self.W, self.mesh.comm
        v, q = ufl.TestFunctions(W)
        self._F_form = fem.form(F)
        self._J_form = fem.form(ufl.derivative(F, self.w, ufl.TrialFunction(W)))
        self._J = fem_petsc.create_matrix(self._J_form)
        self._R = fem_petsc.create_vector(W)
        self._y = fem_petsc.create_vector(W)
        self._dw = fem_petsc.create_vector(W)
        self._x0 = fem_petsc.create_vector(W)
        if self.counter_tags:
            ic = self._i_kinetic[1]
            dic = ufl.diff(ic, self._s_var)
            dsc = self._ds_kinetic(self.counter_tags)
            g = ic / FARADAY * dsc
            self._b_form = fem.form((q - v) * dic / FARADAY * dsc)
            self._g_form = fem.form(g)
            self._gw_form = fem.form(ufl.derivative(g, self.w, ufl.TestFunction(W)))
            self._gs_form = fem.form(dic / FARADAY * dsc)
            self._bvec = fem_petsc.create_vector(W)
            self._z = fem_petsc.create_vector(W)
            self._gw = fem_petsc.create_vector(W)
        self.ksp, self.user_options = new_ksp(comm, ELYTE_PREFIX, dict(SOLVERS["direct"]),
                                              self._options, self._J)
        self.snes_problem = None
        n_owned = self._R.getLocalSize()
        self._phi_owned = self._map_phi[self._map_phi < n_owned]
        # nodal anode currents, lumped (int i_n w_k ds / int w_k ds): for the inventory
        # (the law of the step: implicit) and the outputs (the state now)
        vv = ufl.TestFunction(self.V)
        dsa = self._ds_kinetic(self.anode_tags)
        self._ia_nodal = fem_petsc.create_vector(self.V)
        self._ia_nodal_form = fem.form(self.kinetic_currents(self.c, self.phi)[0] * vv * dsa)
        self._ia_state_form = fem.form(self.kinetic_currents(self.c, self.phi,
                                                             implicit=False)[0] * vv * dsa)
        lump = fem_petsc.create_vector(self.V)
        fem_petsc.assemble_vector(lump, fem.form(
            fem.Constant(self.mesh, PETSc.ScalarType(1.0)) * vv * dsa))
        lump.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        lump.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        with lump.localForm() as loc:
            self._lump = loc.array.copy()
        lump.destroy()

    def anode_current_nodal(self, implicit: bool = False) -> np.ndarray:
        """The lumped normal current density i_n (A/m^2) at the anode vertices, local
        (owned and ghost) P1 dofs of :attr:`V`, 0 elsewhere (kinetics only; collective)."""
        vec = self._ia_nodal
        self._vector(vec, self._ia_nodal_form if implicit else self._ia_state_form)
        vec.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        with vec.localForm() as loc:
            nodal = loc.array.copy()
        on = self._lump > 0
        nodal[on] /= self._lump[on]
        nodal[~on] = 0.0
        return nodal

    def _vector(self, vec, form) -> None:
        with vec.localForm() as loc:
            loc.set(0.0)
        fem_petsc.assemble_vector(vec, form)
        vec.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)

    def _kinetic_newton(self, dt: float) -> None:
        """Newton on the bordered system [[J, b], [dg/dw, dg/ds]] [dw, ds] = -[R, g]:
        two solves with one LU factorisation per iteration (J y = R, J z = b), then
        ds = (dg/dw . y - g) / (dg/ds - dg/dw . z), dw = -y - z ds (exact Newton for w and
        s together). Backtracking on |(R, g)|; with Butler-Volmer at most DPHI_MAX of
        potential change per iteration (the exponentials). Converged: |(R, g)| <= max(atol,
        rtol |(R0, g0)|), SNES's defaults and the elyte_snes_{atol,rtol,max_it} options."""
        w, x, ksp = self.w, self.w.x.petsc_vec, self.ksp
        planar = bool(self.counter_tags)
        total = self._ia.value * self.anode_area  # I (A; per m^2 in 1D, per m in 2D)
        opts = self.user_options
        i_max = max((abs(i) for _, _, i in self.params.protocol), default=0.0)
        atol = float(opts.get("snes_atol", 1e-12 * (self.c_scale * self.volume / dt
                                                    + i_max * self.reference_area
                                                    / FARADAY)))
        rtol = float(opts.get("snes_rtol", SNES_DEFAULTS["snes_rtol"]))
        max_it = int(opts.get("snes_max_it", SNES_DEFAULTS["snes_max_it"]))
        comm = self.mesh.comm

        def residual():
            self._vector(self._R, self._F_form)
            g = self._scalar_form(self._g_form) + total / FARADAY if planar else 0.0
            return g, float(np.hypot(self._R.norm(), g))

        g, norm = residual()
        norm0 = norm
        its = 0
        while not (norm <= atol or (its > 0 and norm <= rtol * norm0)):
            if (its >= max_it or not np.isfinite(norm)) and self.cutoff_time is not None:
                raise SolverDiverged(
                    f"electrolyte kinetic Newton solve did not converge at t = "
                    f"{self.t + dt:.6g} s, after the cut-off at {self.cutoff_time:.6g} s: at "
                    "open circuit an electrode stripped of its Li has no defined potential "
                    "in this model (end the run at the cut-off)")
            if its >= max_it or not np.isfinite(norm):
                raise SolverDiverged(
                    f"electrolyte kinetic Newton solve did not converge at t = "
                    f"{self.t + dt:.6g} s, dt = {dt:.3g} s ({its} iterations, residual "
                    f"{norm:.3g} from {norm0:.3g} mol/s); try a smaller dt (near a "
                    "cut-off or depletion the overpotential is steep)")
            self._J.zeroEntries()
            fem_petsc.assemble_matrix(self._J, self._J_form)
            self._J.assemble()
            ksp.setOperators(self._J)
            self._solve(ksp, self._R, self._y, "kinetic Newton")
            self.factorizations += 1
            ds_ = 0.0
            self._y.copy(self._dw)
            self._dw.scale(-1.0)
            if planar:
                self._vector(self._bvec, self._b_form)
                self._vector(self._gw, self._gw_form)
                self._solve(ksp, self._bvec, self._z, "kinetic Newton")
                gs = self._scalar_form(self._gs_form)
                cy, cz = self._gw.dot(self._y), self._gw.dot(self._z)
                ds_ = (cy - g) / (gs - cz)
                self._dw.axpy(-ds_, self._z)
            dmax = comm.allreduce(float(np.abs(self._dw.array_r[self._phi_owned]).max())
                                  if len(self._phi_owned) else 0.0, op=MPI.MAX)
            dmax = max(dmax, abs(ds_))
            lam = min(1.0, DPHI_MAX / dmax) if dmax > 0 and self.params.kinetics \
                == "butler_volmer" else 1.0
            x.copy(self._x0)
            s0 = float(self._phis_c.value)
            while True:
                self._x0.copy(x)
                x.axpy(lam, self._dw)
                w.x.scatter_forward()
                self._phis_c.value = s0 + lam * ds_
                g_new, norm_new = residual()
                if (np.isfinite(norm_new) and norm_new < (1 - 1e-4 * lam) * norm) \
                        or lam < 2.0**-10:
                    break
                lam *= 0.5
            g, norm = g_new, norm_new
            its += 1
        self.newton_iterations += its
        self.bordered_iterations += its

    def _scalar_form(self, form) -> float:
        """A compiled scalar form, assembled and summed over the ranks (collective)."""
        return self.mesh.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM)

    # ------------------------------------------------------------------ protocol
    @property
    def num_dofs(self) -> int:
        """Degrees of freedom of c and phi together."""
        return 2 * self.V.dofmap.index_map.size_global

    def breakpoints(self) -> list[float]:
        """Times (s) at which the current switches (segment starts and ends)."""
        return sorted({t for s, e, _ in self.params.protocol for t in (s, e)
                       if np.isfinite(t) and t > 0})

    def _coefficients(self, dt: float, restart: bool) -> tuple[float, float, float]:
        """(a0, a1, a2): (a0 c^{n+1} - a1 c^n + a2 c^{n-1}) / dt, variable-step BDF2 with
        w = dt / dt_prev, backward Euler on the first step and after a restart."""
        if self.params.scheme == "euler" or self._dt_prev is None or restart:
            return 1.0, 1.0, 0.0
        w = dt / self._dt_prev
        return (1 + 2 * w) / (1 + w), 1 + w, w * w / (1 + w)

    def _currents(self, i_nominal: float) -> tuple[float, float, float]:
        """(anode i_n A/m^2, counter i_n A/m^2, porous a j A/m^3) of a nominal current."""
        total = i_nominal * self.reference_area
        ia = total / self.anode_area if self.anode_area else 0.0
        if self.counter_tags:
            return ia, -total / self.counter_area, 0.0
        aj = -total / self.porous_volume if self.porous_volume > 0 else 0.0
        return ia, 0.0, aj

    def _ocv_counter(self, q: float) -> float:
        """U of the counter electrode (V) after the charge q (C/m^2 of the reference
        area) passed."""
        u = self.params.ocv_counter
        return float(u(q)) if callable(u) else float(u)

    def _protocol_current(self, t0: float, t1: float) -> float:
        """Mean protocol current density over [t0, t1] (A/m^2); 0 after the cut-off (the
        cycler opens the circuit) or after a uniform-mode inventory ran out."""
        if self.cutoff_time is not None or self.inventory_time is not None:
            return 0.0
        return self.params.current(t0, t1)

    @property
    def _watching(self) -> bool:
        """Whether a step must watch for the cut-off / the end of the inventory."""
        p = self.params
        return (self.cutoff_time is None and self.inventory_time is None
                and (p.cutoff_voltage is not None or p.anode_capacity is not None))

    def _extra_state(self) -> dict:
        return {"charge_passed": self.charge_passed, "cutoff_time": self.cutoff_time,
                "inventory_time": self.inventory_time,
                "charge_at_cutoff": self.charge_at_cutoff,
                "phis_c": float(self._phis_c.value), "uc": float(self._uc.value)}

    def _set_extra_state(self, d: dict) -> None:
        self.charge_passed = float(d["charge_passed"])
        self.cutoff_time, self.inventory_time = d["cutoff_time"], d["inventory_time"]
        self.charge_at_cutoff = d["charge_at_cutoff"]
        self._phis_c.value, self._uc.value = float(d["phis_c"]), float(d["uc"])

    def step(self, dt: float) -> dict:
        """Advance from t to t + dt. Returns {"converged": True, "iterations": linear
        iterations of the step, "newton_iterations"}; raises SolverDiverged / PhysicsViolation
        (the state before the step kept). With a cut-off (``cutoff_voltage``, or the end of
        a uniform-mode inventory) a step that crosses it is retaken up to the crossing
        (bisection on the part's length to 1e-9 dt, the time interpolated linearly in |V|
        between the bracket's ends; the end of the Li in the uniform mode exactly); the
        state is the one there, t = t + dt, and later steps carry no current."""
        if not dt > 0:
            raise ValueError(f"dt = {dt}: allowed > 0 s")
        if not self._watching:
            return self._step(dt)
        before = (self.iterations, self.newton_iterations)
        snap = self._snapshot()
        try:
            self._step(dt)
            crossed = self._crossed()
        except SolverDiverged:
            if self.q_li is None:  # only the end of the Li may make Newton fail here
                raise
            crossed = True  # (the state before the step is kept)
        else:
            if crossed:
                self.undo()
        if crossed:
            t0 = self.t
            self._to_cutoff(dt)
            # the run ends here: the state stays the one at the crossing (at open circuit a
            # fully stripped electrode has no defined potential in this model), the clock
            # goes on to the end of the step the caller asked for
            self.t = t0 + dt
            self._undo_snapshot = snap
        return {"converged": True, "iterations": self.iterations - before[0],
                "newton_iterations": self.newton_iterations - before[1]}

    def _crossed(self) -> bool:
        """Whether the state now is past the cut-off (collective)."""
        p = self.params
        if p.anode_capacity is not None and self.q_li is None \
                and self.charge_passed >= self.inventory_initial * (1 - 1e-12):
            return True
        if p.cutoff_voltage is None:
            return False
        v = self.cell_voltage()
        return (not np.isfinite(v)) or ((abs(v) >= p.cutoff_voltage) != self._cut_above)

    def _to_cutoff(self, dt: float) -> float:
        """From the state before a step that crossed the cut-off: take the part of the step
        up to the crossing, record the time, return the part's length (s)."""
        p, t0 = self.params, self.t
        total = p.current(t0, t0 + dt) * self.reference_area  # A (per m^2 / m)
        charge0 = self.charge_passed
        if p.anode_capacity is not None and self.q_li is None:
            left = self.inventory_initial - charge0
            if total > 0 and left <= total * dt * (1 + 1e-12):
                part = min(max(left / total, 1e-12 * dt), dt)
                self._step(part)  # the Li ends exactly here (constant current in a step)
                if p.cutoff_voltage is None or not self._crossed_voltage():
                    self.inventory_time = t0 + part
                    self.charge_at_cutoff = self.charge_passed
                    return part
                self.undo()
                dt = part  # the voltage crossed first
        lo, hi = 0.0, dt
        if self.q_li is not None and total > 0:  # no stripping beyond the Li left
            hi = min(dt, max(self.li_inventory(), 0.0) / total)
        v_lo, v_hi = abs(self.cell_voltage()), None
        while hi - lo > CUTOFF_RTOL * dt:
            mid = 0.5 * (lo + hi)
            try:
                self._step(mid)
            except SolverDiverged:
                hi, v_hi = mid, None
                continue
            v = abs(self.cell_voltage())
            if self._crossed():
                hi, v_hi = mid, v
            else:
                lo, v_lo = mid, v
            self.undo()
        part = hi
        try:
            self._step(hi)
        except SolverDiverged:
            part, v_hi = lo, None
            if lo > 0:
                self._step(lo)
        frac = 1.0
        if v_hi is not None and p.cutoff_voltage is not None and v_hi != v_lo:
            frac = min(max((p.cutoff_voltage - v_lo) / (v_hi - v_lo), 0.0), 1.0)
        self.cutoff_time = t0 + lo + frac * (hi - lo)
        self.charge_at_cutoff = charge0 + total * (self.cutoff_time - t0)
        return part

    def _crossed_voltage(self) -> bool:
        v = self.cell_voltage()
        return (abs(v) >= self.params.cutoff_voltage) != self._cut_above

    def _snapshot(self) -> dict:
        funcs = [self.c, self.c_nm1, self.phi] + ([self.q_li] if self.q_li is not None
                                                  else [])
        return {"vecs": [f.x.petsc_vec.copy() for f in funcs], "funcs": funcs,
                "state": self.state(), "extra": self._extra_state()}

    def _restore_snapshot(self, snap: dict) -> None:
        for f, vec in zip(snap["funcs"], snap["vecs"], strict=True):
            vec.copy(f.x.petsc_vec)
            f.x.scatter_forward()
        counters = (self.iterations, self.newton_iterations, self.factorizations,
                    self.bordered_iterations)
        self.restore(snap["state"])
        (self.iterations, self.newton_iterations, self.factorizations,
         self.bordered_iterations) = counters
        self._set_extra_state(snap["extra"])

    def _step(self, dt: float) -> dict:
        """One time step of dt (no cut-off watching): see :meth:`step`."""
        p = self.params
        t0, t1 = self.t, self.t + dt
        i_mean = self._protocol_current(t0, t1)
        restart = (p.restart_at_switches and self._i_prev is not None
                   and abs(i_mean - self._i_prev) > 1e-12 * max(abs(i_mean),
                                                                abs(self._i_prev)))
        a0, a1, a2 = self._coefficients(dt, restart)
        ia, ic, aj = self._currents(i_mean)
        self._ia.value, self._ic.value, self._aj.value = ia, ic, aj
        self.t_ufl.value = t1
        before = (self.iterations, self.newton_iterations)
        if not hasattr(self, "_undo_nm1"):
            self._undo_nm1 = self.c_nm1.x.petsc_vec.copy()
            self._undo_phi = self.phi.x.petsc_vec.copy()
            if self.q_li is not None:
                self._undo_q = self.q_li.x.petsc_vec.copy()
        self.c_nm1.x.petsc_vec.copy(self._undo_nm1)
        self.phi.x.petsc_vec.copy(self._undo_phi)
        if self.q_li is not None:
            self.q_li.x.petsc_vec.copy(self._undo_q)
        extra = self._extra_state()
        self._undo = (self.t, self.steps, self._dt_prev, self._i_prev, self._salt_injected,
                      list(self._c_range), self._c_min_last, self._c_max_last,
                      self.depletion_time, self.saturation_time, self.current_density, extra)
        self._undo_snapshot = None
        self.c.x.petsc_vec.copy(self.c_n.x.petsc_vec)
        self.c_n.x.scatter_forward()
        charge = self.charge_passed + i_mean * self.reference_area * dt
        uc_before = float(self._uc.value)
        self._uc.value = self._ocv_counter(charge / self.reference_area
                                           if self.reference_area else 0.0)
        # the counter metal's initial guess follows its OCV (the overpotential barely moves)
        self._phis_c.value = float(self._phis_c.value) + float(self._uc.value) - uc_before
        self._dt.value = dt
        try:
            if self.linear:
                self._linear_step(dt, a0, a1, a2)
            else:
                self._newton_step(dt, a0, a1, a2)
            self._check(t0, t1, dt)
        except (SolverDiverged, PhysicsViolation):
            self.c_n.x.petsc_vec.copy(self.c.x.petsc_vec)
            self._undo_phi.copy(self.phi.x.petsc_vec)
            for f in (self.c, self.phi):
                f.x.scatter_forward()
            (_, _, _, _, _, self._c_range, self._c_min_last, self._c_max_last,
             _, _, _, _) = self._undo
            self._set_extra_state(extra)
            self._undo = None
            raise
        if self.q_li is not None:
            self._update_inventory(dt)
        self.c_n.x.petsc_vec.copy(self.c_nm1.x.petsc_vec)
        self.c_nm1.x.scatter_forward()
        # Li+ put in by both electrodes and the reaction (zero when the currents balance)
        self._salt_injected += dt / FARADAY * (ia * self.anode_area + ic * self.counter_area
                                               + aj * self.porous_volume)
        self.charge_passed = charge
        self._dt_prev, self._i_prev = dt, i_mean
        self.current_density = i_mean
        self.t, self.steps = t1, self.steps + 1
        return {"converged": True, "iterations": self.iterations - before[0],
                "newton_iterations": self.newton_iterations - before[1]}

    def _update_inventory(self, dt: float) -> None:
        """q_li -= dt i_n at the anode vertices: i_n lumped (int i_n w_k ds / int w_k ds),
        so int q_li ds falls by exactly dt int i_n ds = I dt; clipped at 0."""
        nodal = self.anode_current_nodal(implicit=True)
        on = self._lump > 0
        q = self.q_li.x.array
        q[on] = np.maximum(q[on] - dt * nodal[on], 0.0)
        self.q_li.x.scatter_forward()

    def undo(self) -> None:
        """Take back the last step: c, phi, the BDF2 history, t and the bookkeeping as before
        it (the solver counters keep the work done)."""
        if self._undo_snapshot is not None:
            snap, self._undo_snapshot = self._undo_snapshot, None
            self._restore_snapshot(snap)
            self._undo = None
            return
        if self._undo is None:
            raise RuntimeError("undo(): no step to take back")
        self.c_nm1.x.petsc_vec.copy(self.c.x.petsc_vec)
        self._undo_nm1.copy(self.c_nm1.x.petsc_vec)
        self._undo_phi.copy(self.phi.x.petsc_vec)
        if self.q_li is not None:
            self._undo_q.copy(self.q_li.x.petsc_vec)
            self.q_li.x.scatter_forward()
        for f in (self.c, self.c_nm1, self.phi):
            f.x.scatter_forward()
        (self.t, self.steps, self._dt_prev, self._i_prev, self._salt_injected, self._c_range,
         self._c_min_last, self._c_max_last, self.depletion_time, self.saturation_time,
         self.current_density, extra) = self._undo
        self._set_extra_state(extra)
        self._undo = None

    def error_estimate(self) -> float | None:
        """No local time-error estimate (None): use fixed or growing steps."""
        return None

    def _linear_step(self, dt, a0, a1, a2) -> None:
        key = a0 / dt
        if self._assembled != key:
            self._alpha.value = key
            self.A.zeroEntries()
            fem_petsc.assemble_matrix(self.A, self._a_form)
            self.A.assemble()
            self.ksp.setOperators(self.A)
            self._assembled = key
            self.factorizations += 1
        b, w, x = self._b, self._w, self.c.x.petsc_vec
        w.set(0.0)
        w.axpy(a1 / dt, self.c_n.x.petsc_vec)
        if a2:
            w.axpy(-a2 / dt, self.c_nm1.x.petsc_vec)
        self.M.mult(w, b)
        load = self._load
        with load.localForm() as loc:
            loc.set(0.0)
        fem_petsc.assemble_vector(load, self._load_form)
        load.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        b.axpy((1.0 - self.t_plus_constant) / FARADAY, load)
        self._solve(self.ksp, b, x, "salt")
        self.c.x.scatter_forward()
        # potential at t_n+1
        bp = self._bphi
        with bp.localForm() as loc:
            loc.set(0.0)
        fem_petsc.assemble_vector(bp, self._phi_rhs_form)
        bp.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        bp.axpy(1.0, load)
        bp.array[self._gauge_rows] = 0.0
        self._solve(self.ksp_phi, bp, self.phi.x.petsc_vec, "potential")
        self.phi.x.scatter_forward()

    def _solve(self, ksp, b, x, what: str) -> None:
        ksp.solve(b, x)
        self.iterations += max(ksp.getIterationNumber(), 1)
        reason = ksp.getConvergedReason()
        if reason < 0:
            raise SolverDiverged(
                f"electrolyte {what} solver did not converge at t = {self.t:.6g} s (PETSc "
                f"reason {reason}); try solver = 'direct'")

    def _newton_step(self, dt, a0, a1, a2) -> None:
        self._alpha.value, self._a1.value, self._a2.value = a0 / dt, a1 / dt, a2 / dt
        # initial guess: the current state
        self.w.x.array[self._map_c] = self.c.x.array
        self.w.x.array[self._map_phi] = self.phi.x.array
        if self.kinetic:
            self._kinetic_newton(dt)
            self.c.x.array[:] = self.w.x.array[self._map_c]
            self.phi.x.array[:] = self.w.x.array[self._map_phi]
            return
        snes = self.snes_problem.solver
        if "snes_atol" not in self.user_options:
            # 1e-12 of the larger of the salt content over the step and the Li+ the largest
            # protocol current carries (both mol/s): near a steady state the residual of the
            # first iterate is round-off of the flux terms, which a purely relative tolerance
            # (or one on the content alone, ~1e-19 mol/s for a 25 um cell over 17 s) cannot
            # reach (the line search then fails)
            i_max = max((abs(i) for _, _, i in self.params.protocol), default=0.0)
            snes.setTolerances(atol=1e-12 * (self.c_scale * self.volume / dt
                                             + i_max * self.reference_area / FARADAY))
        self.snes_problem.solve()
        reason = snes.getConvergedReason()
        its = snes.getIterationNumber()
        self.newton_iterations += its
        self.iterations += snes.getLinearSolveIterations()
        self.factorizations += its
        if reason <= 0:
            raise SolverDiverged(
                f"electrolyte Newton solve did not converge at t = {self.t + dt:.6g} s, dt = "
                f"{dt:.3g} s (SNES reason {reason}, {its} iterations); try a smaller dt or a "
                "smaller current (near depletion ln c is steep)")
        self.c.x.array[:] = self.w.x.array[self._map_c]
        self.phi.x.array[:] = self.w.x.array[self._map_phi]

    def _check(self, t0: float, t1: float, dt: float) -> None:
        comm = self.mesh.comm
        arr = self.c.x.array[: self.V.dofmap.index_map.size_local]
        if not comm.allreduce(bool(np.isfinite(arr).all()), op=MPI.LAND):
            raise PhysicsViolation(f"electrolyte concentration not finite at t = {t1:.6g} s "
                                   f"(dt = {dt:.3g} s): reduce dt or the current")
        lo, hi = self._extremes()
        self._c_range = [min(self._c_range[0], lo), max(self._c_range[1], hi)]
        p = self.params
        lo0, hi0 = self._c_min_last, self._c_max_last
        self._c_min_last, self._c_max_last = lo, hi
        if lo <= p.c_depleted and self.depletion_time is None:
            frac = (lo0 - p.c_depleted) / (lo0 - lo) if lo0 > lo else 1.0
            self.depletion_time = t0 + min(max(frac, 0.0), 1.0) * dt
            if p.on_depletion == "raise":
                raise PhysicsViolation(
                    f"electrolyte depleted at t = {self.depletion_time:.6g} s (min c = "
                    f"{lo:.4g} mol/m^3 <= {p.c_depleted:.4g}): the current "
                    f"{self.params.current(t0, t1):.4g} A/m^2 exceeds what diffusion "
                    "supplies (Sand's time / limiting current); reduce the current or end "
                    "the protocol earlier")
        if p.c_saturation is not None and hi >= p.c_saturation \
                and self.saturation_time is None:
            frac = (p.c_saturation - hi0) / (hi - hi0) if hi > hi0 else 1.0
            self.saturation_time = t0 + min(max(frac, 0.0), 1.0) * dt
            if p.on_saturation == "raise":
                raise PhysicsViolation(
                    f"electrolyte saturated at t = {self.saturation_time:.6g} s (max c = "
                    f"{hi:.4g} mol/m^3 >= c_saturation {p.c_saturation:.4g}): salt would "
                    "precipitate; reduce the current")

    # ------------------------------------------------------------------ outputs
    def salt_content(self) -> float:
        """int eps c dx (mol; per m^2 in 1D, per m in 2D)."""
        return self._scalar("salt", self.eps * self.c * self.dx)

    def surface_concentration(self, marker) -> float:
        """Mean c over the facets of ``marker`` (tag or tags; mol/m^3)."""
        return self._surface_mean(self.c, _tags(marker), "c")

    def surface_potential(self, marker) -> float:
        """Mean phi over the facets of ``marker`` (V, relative to the gauge vertex)."""
        return self._surface_mean(self.phi, _tags(marker), "phi")

    def _surface_mean(self, f, tags, name) -> float:
        key = f"area{tags}"
        if key not in self._forms:
            self._forms[key] = fem.form(fem.Constant(self.mesh, PETSc.ScalarType(1.0))
                                        * self.ds(tags))
        area = self.mesh.comm.allreduce(fem.assemble_scalar(self._forms[key]), op=MPI.SUM)
        return self._scalar(f"{name}{tags}", f * self.ds(tags)) / area

    def _electrode_means(self) -> tuple[float, float, float, float]:
        """(c_a, c_c, phi_a, phi_c): surface means on the anode and counter facets, or the
        volume means over the porous electrode regions for the counter."""
        ca = self.surface_concentration(self.anode_tags)
        pa = self.surface_potential(self.anode_tags)
        if self.counter_tags:
            return ca, self.surface_concentration(self.counter_tags), pa, \
                self.surface_potential(self.counter_tags)
        vol = self.porous_volume
        return (ca, self._scalar("c_porous", self.chi * self.c * self.dx) / vol, pa,
                self._scalar("phi_porous", self.chi * self.phi * self.dx) / vol)

    def _law_values(self, law: Law, c: np.ndarray) -> np.ndarray:
        """A law at the float concentrations ``c`` (numpy)."""
        if isinstance(law, Table):
            return law(c)
        if not callable(law):
            return np.full_like(c, float(law))
        out = []
        for ci in c:
            try:
                out.append(float(law(float(ci))))
            except (TypeError, ValueError, ArithmeticError):  # UFL that needs a form
                cc = fem.Constant(self.mesh, PETSc.ScalarType(float(ci)))
                out.append(self._assemble(law(cc) * self.dx) / self.volume)
        return np.array(out)

    def diffusion_potential(self, c_a: float, c_c: float) -> float:
        """int_{c_c}^{c_a} (2 R T / F)(1 - t+)(1 + dlnf/dlnc) d ln c (V), Gauss-Legendre in
        ln c (16 points; exact for constant laws); NaN for c <= 0."""
        if not (c_a > 0 and c_c > 0):
            return float("nan")
        el = self.params.electrolyte
        if el.constant:
            return 2 * self.rt_f * (1 - float(el.transference)) \
                * float(el.thermodynamic_factor) * float(np.log(c_a / c_c))
        xg, wg = np.polynomial.legendre.leggauss(16)
        la, lc = np.log(c_a), np.log(c_c)
        u = 0.5 * (la + lc) + 0.5 * (la - lc) * xg
        c = np.exp(u)
        k = 2 * self.rt_f * (1 - self._law_values(el.transference, c)) \
            * self._law_values(el.thermodynamic_factor, c)
        return float(0.5 * (la - lc) * np.dot(wg, k))

    def electrode_overpotentials(self, means=None) -> tuple[float | None, float | None]:
        """Signed kinetic overpotentials eta = phi_s - phi - U (V) of the Li electrode and
        of a planar counter electrode (None: not modelled). With kinetics: from the metal
        potentials and the surface means of phi; "uniform" with an exchange current
        density: the Butler-Volmer inverse of the imposed current densities at i0 of the
        surface-mean concentrations (reported only)."""
        p = self.params
        if not self.anode_tags or not (self.kinetic or p.exchange_current_density):
            return None, None
        ca, cc, pa, pc = self._electrode_means() if means is None else means
        if self.kinetic:
            eta_a = float(self._phis_a.value) - pa - float(self._ua.value)
            eta_c = (float(self._phis_c.value) - pc - float(self._uc.value)
                     if self.counter_tags else None)
            return eta_a, eta_c
        ia, ic, _ = self._currents(self.current_density)
        out = []
        for i_n, c_s, i0_ref in ((ia, ca, p.exchange_current_density),
                                 (ic, cc, p.counter_exchange_current_density
                                  or p.exchange_current_density)):
            if not (c_s > 0):
                out.append(float("nan"))
                continue
            i0 = i0_ref * (c_s / p.c_ref) ** p.i0_exponent
            out.append(bv_overpotential(i_n, i0, p.alpha_anodic, p.alpha_cathodic,
                                        self.rt_f))
        return out[0], (out[1] if self.counter_tags else None)

    def cell_voltage(self, means=None) -> float:
        """V = phi_s,counter - phi_s,Li (V): with kinetics the metal potentials (the Li one
        the gauge 0); otherwise (U_c + phi_c + eta_c) - (U_a + phi_a + eta_a) from the
        surface means and the reported overpotentials (0 without i0). A porous counter
        electrode: U_c + the mean phi over its regions (its kinetics and solid phase are not
        modelled). Collective."""
        if not self.anode_tags or not (self.counter_tags or self.porous_volume > 0):
            return float("nan")
        means = self._electrode_means() if means is None else means
        _, _, pa, pc = means
        ua, uc = float(self._ua.value), float(self._uc.value)
        if self.kinetic and self.counter_tags:
            return float(self._phis_c.value - self._phis_a.value)
        eta_a, eta_c = self.electrode_overpotentials(means)
        if self.kinetic:
            return uc + pc - float(self._phis_a.value)
        return (uc + pc + (eta_c or 0.0)) - (ua + pa + (eta_a or 0.0))

    def _peak_current(self) -> float | None:
        """Largest lumped i_n on the anode (A/m^2; kinetics), else the uniform value."""
        if not self.anode_tags:
            return None
        if not self.kinetic:
            return self._currents(self.current_density)[0]
        nodal = self.anode_current_nodal()
        n_own = self.V.dofmap.index_map.size_local
        on = self._lump[:n_own] > 0
        local = float(nodal[:n_own][on].max()) if on.any() else -np.inf
        return self.mesh.comm.allreduce(local, op=MPI.MAX)

    def li_inventory(self) -> float | None:
        """Li left on the stripping electrode (C; per m^2 in 1D, per m in 2D), None when
        unlimited."""
        if self.params.anode_capacity is None:
            return None
        if self.q_li is not None:
            return self._scalar("q_li", self.q_li * self.ds(self.anode_tags))
        return self.inventory_initial - self.charge_passed

    def quantities(self) -> dict[str, float | None]:
        """Scalar results (collective; the same on every rank), units in the key names:

        * ``anode_concentration_mol_m3``: mean c over the active Li facets;
          ``counter_concentration_mol_m3``: over the counter facets (or the volume mean over
          the porous electrode regions);
        * ``min_/max_concentration_mol_m3``: nodal extremes now; ``*_over_run``: over the run;
        * ``concentration_overpotential_V``: eta_c = int_{c_c}^{c_a} (2RT/F)(1 - t+)
          (1 + dlnf/dlnc) d ln c between those two means (dilute: (2RT/F)(1 - t+)
          ln(c_a / c_c)); positive when c_a > c_c (stripping);
        * ``potential_difference_V``: phi_a - phi_c (means as above);
        * ``ohmic_drop_V``: (phi_a - phi_c) - eta_c, in 1D exactly int i / kappa_eff dx;
        * ``current_density_A_m2``: nominal protocol current of the last step;
          ``anode_current_density_A_m2``: on the active facets;
        * ``salt_content_mol``: int eps c dx; ``salt_initial_mol``; ``salt_injected_mol``
          (Li+ in through the electrodes, 0 for balanced currents); ``salt_drift_rel``:
          |content - initial - injected| / initial;
        * ``depletion_time_s``, ``saturation_time_s``: when min c reached c_depleted /
          max c reached c_saturation (None: not reached);
        * ``cell_voltage_V``: :meth:`cell_voltage`; ``open_circuit_voltage_V``: U_c - U_a;
          ``anode_/counter_kinetic_overpotential_V``: :meth:`electrode_overpotentials`
          (None: not modelled); ``counter_metal_potential_V``: phi_s of a planar counter
          electrode with kinetics (vs the Li metal);
        * ``anode_current_density_peak_A_m2``: the largest (lumped) i_n on the Li electrode;
        * ``charge_passed_C``: int I dt (stripping / discharge positive); ``li_inventory_C``:
          Li left (None: unlimited); ``cutoff_time_s`` (|V| crossed cutoff_voltage),
          ``inventory_time_s`` (the Li ran out, uniform kinetics), ``charge_at_cutoff_C``
          (the charge passed then; None: not reached)."""
        has = self.anode_tags and (self.counter_tags or self.porous_volume > 0)
        ca, cc, pa, pc = self._electrode_means() if has else (np.nan,) * 4
        eta = self.diffusion_potential(ca, cc) if np.isfinite(ca) else float("nan")
        lo, hi = self._extremes()
        content = self.salt_content()
        ia = self._currents(self.current_density)[0]
        return {"time_s": self.t,
                "anode_concentration_mol_m3": ca, "counter_concentration_mol_m3": cc,
                "min_concentration_mol_m3": lo, "max_concentration_mol_m3": hi,
                "min_concentration_over_run_mol_m3": self._c_range[0],
                "max_concentration_over_run_mol_m3": self._c_range[1],
                "concentration_overpotential_V": eta,
                "potential_difference_V": pa - pc, "ohmic_drop_V": pa - pc - eta,
                "current_density_A_m2": self.current_density,
                "anode_current_density_A_m2": ia,
                "salt_content_mol": content, "salt_initial_mol": self.salt_initial,
                "salt_injected_mol": self._salt_injected,
                "salt_drift_rel": abs(content - self.salt_initial - self._salt_injected)
                / max(abs(self.salt_initial), 1e-300),
                "depletion_time_s": self.depletion_time,
                "saturation_time_s": self.saturation_time,
                **self._cell_quantities((ca, cc, pa, pc) if has else None)}

    def _cell_quantities(self, means) -> dict:
        eta_a, eta_c = self.electrode_overpotentials(means) if means else (None, None)
        return {
            "cell_voltage_V": self.cell_voltage(means) if means else float("nan"),
            "open_circuit_voltage_V": float(self._uc.value - self._ua.value),
            "anode_kinetic_overpotential_V": eta_a,
            "counter_kinetic_overpotential_V": eta_c,
            "counter_metal_potential_V": float(self._phis_c.value)
            if self.kinetic and self.counter_tags else None,
            "anode_current_density_peak_A_m2": self._peak_current(),
            "charge_passed_C": self.charge_passed, "li_inventory_C": self.li_inventory(),
            "cutoff_time_s": self.cutoff_time, "inventory_time_s": self.inventory_time,
            "charge_at_cutoff_C": self.charge_at_cutoff}

    @property
    def fields(self) -> dict[str, tuple[fem.Function, str]]:
        """{name: (Function, unit)}: concentration (mol/m^3), potential (V)."""
        return {"concentration": (self.c, "mol/m^3"), "potential": (self.phi, "V")}

    def checkpoint_functions(self) -> dict[str, fem.Function]:
        """Functions a checkpoint must store besides :meth:`state` (BDF2 needs c^{n-1})."""
        out = {"concentration": self.c, "concentration_previous": self.c_nm1,
               "potential": self.phi}
        if self.q_li is not None:
            out["li_inventory"] = self.q_li
        return out

    def probe_integrands(self) -> dict:
        """UFL integrands: ``concentration`` (mol/m^3), ``potential`` (V), ``salt`` (eps c,
        mol/m^3 of cell volume)."""
        return {"concentration": self.c, "potential": self.phi, "salt": self.eps * self.c}

    def summary(self) -> dict:
        return {"dofs": self.num_dofs, "time_steps": self.steps, "linear": self.linear,
                "iterations": self.iterations, "newton_iterations": self.newton_iterations,
                "factorizations": self.factorizations, **self.quantities()}

    # ------------------------------------------------------------------ restart
    def state(self) -> dict:
        """JSON-serialisable state besides :meth:`checkpoint_functions` (put back by the
        caller first, then :meth:`restore`)."""
        return {"t": self.t, "steps": self.steps, "dt_prev": self._dt_prev,
                "i_prev": self._i_prev, "salt_injected_mol": self._salt_injected,
                "salt_initial_mol": self.salt_initial, "c_range": list(self._c_range),
                "c_last": [self._c_min_last, self._c_max_last],
                "depletion_time": self.depletion_time, "saturation_time": self.saturation_time,
                "current_density": self.current_density,
                "counters": [self.iterations, self.newton_iterations, self.factorizations,
                             self.bordered_iterations],
                **self._extra_state()}

    def restore(self, state: dict) -> None:
        self.t, self.steps = float(state["t"]), int(state["steps"])
        self._dt_prev = None if state["dt_prev"] is None else float(state["dt_prev"])
        self._i_prev = None if state["i_prev"] is None else float(state["i_prev"])
        self._salt_injected = float(state["salt_injected_mol"])
        self.salt_initial = float(state["salt_initial_mol"])
        self._c_range = [float(v) for v in state["c_range"]]
        self._c_min_last, self._c_max_last = (float(v) for v in state["c_last"])
        self.depletion_time = state["depletion_time"]
        self.saturation_time = state["saturation_time"]
        self.current_density = float(state["current_density"])
        counters = [int(v) for v in state["counters"]] + [0]
        (self.iterations, self.newton_iterations, self.factorizations,
         self.bordered_iterations) = counters[:4]
        if "charge_passed" in state:
            self._set_extra_state(state)
        self._undo = None
        self._undo_snapshot = None
        for f in (self.c, self.c_nm1, self.phi) + ((self.q_li,) if self.q_li is not None
                                                   else ()):
            f.x.scatter_forward()

    def destroy(self) -> None:
        objs = [getattr(self, "_undo_nm1", None), getattr(self, "_undo_phi", None)]
        if self.linear:
            objs += [self.ksp, self.ksp_phi, self.A, self.M, self.K_phi, self._b, self._w,
                     self._load, self._bphi]
        else:
            self.snes_problem = None
            objs += [getattr(self, "_undo_q", None)]
            if self.kinetic:
                objs += [self.ksp, self._J, self._R, self._y, self._dw, self._x0]
                if self.counter_tags:
                    objs += [self._bvec, self._z, self._gw]
                objs += [self._ia_nodal]
        for obj in objs:
            if obj is not None:
                obj.destroy()
        _unset_defaults(self._options)
        self._options = []


__all__ = [
    "ELYTE_PHI_PREFIX",
    "ELYTE_PREFIX",
    "FARADAY",
    "GAS_CONSTANT",
    "Electrolyte",
    "ElectrolyteParams",
    "ElectrolyteProblem",
    "Region",
    "Table",
]
