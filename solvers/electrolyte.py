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

Gauge: the potential of a galvanostatic cell is defined up to a constant (pure Neumann). It
is fixed by phi = 0 at ONE vertex of the Li electrode (of the ``anode`` facets' vertices the
lexicographically smallest point (x, y, z), so the same on any number of ranks; with no anode
of all vertices): a Dirichlet condition on the whole
electrode would replace the imposed current distribution by an equipotential one. The
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
Not done: Butler-Volmer kinetics and the solid phase of porous electrodes (reaction
distribution), temperature dependence, convection, a local time-error estimate
(``error_estimate()`` returns None), potentiostatic control.
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

#: PETSc option sets (without prefix)
SOLVERS = {
    "direct": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
    "cg_gamg": {"ksp_type": "cg", "pc_type": "gamg", "ksp_rtol": 1e-12, "ksp_atol": 0.0},
}
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


def _law_ufl(law: Law, c, mesh):
    if isinstance(law, Table):
        return law.ufl(c)
    if callable(law):
        return law(c)
    return fem.Constant(mesh, PETSc.ScalarType(float(law)))


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
        self.linear = (params.path == "linear" or (params.path == "auto" and el.constant
                                                   and sources is None))
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
        if self.linear:
            self._build_linear()
        else:
            self._build_newton(sources)

    # ------------------------------------------------------------------ helpers
    def _assemble(self, expr) -> float:
        return self.mesh.comm.allreduce(fem.assemble_scalar(fem.form(expr)), op=MPI.SUM)

    def _scalar(self, key: str, expr) -> float:
        """A kept compiled scalar form, assembled (collective)."""
        if key not in self._forms:
            self._forms[key] = fem.form(expr)
        return self.mesh.comm.allreduce(fem.assemble_scalar(self._forms[key]), op=MPI.SUM)

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
        if self.anode_tags:
            terms.append(self._ia * w * self.ds(self.anode_tags))
        if self.counter_tags:
            terms.append(self._ic * w * self.ds(self.counter_tags))
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

    def _build_newton(self, sources) -> None:
        p, W = self.params, self.W
        self.w = fem.Function(W, name="c_phi")
        c, phi = ufl.split(self.w)
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
        self._gauge = self._map_phi[self._gauge_dofs()]
        self.bcs_w = [fem.dirichletbc(PETSc.ScalarType(0.0), self._gauge, W.sub(1))]
        self.snes_problem = fem_petsc.NonlinearProblem(F, self.w, bcs=self.bcs_w,
                                                       petsc_options_prefix=ELYTE_PREFIX)
        self.user_options = self._set_solver_options(
            ELYTE_PREFIX, {**SNES_DEFAULTS, **SOLVERS["direct"]}, self.snes_problem.solver)
        self.ksp = None

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

    def step(self, dt: float) -> dict:
        """Advance from t to t + dt. Returns {"converged": True, "iterations": linear
        iterations of the step, "newton_iterations"}; raises SolverDiverged / PhysicsViolation
        (the state before the step kept)."""
        if not dt > 0:
            raise ValueError(f"dt = {dt}: allowed > 0 s")
        p = self.params
        t0, t1 = self.t, self.t + dt
        i_mean = p.current(t0, t1)
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
        self.c_nm1.x.petsc_vec.copy(self._undo_nm1)
        self.phi.x.petsc_vec.copy(self._undo_phi)
        self._undo = (self.t, self.steps, self._dt_prev, self._i_prev, self._salt_injected,
                      list(self._c_range), self._c_min_last, self._c_max_last,
                      self.depletion_time, self.saturation_time, self.current_density)
        self.c.x.petsc_vec.copy(self.c_n.x.petsc_vec)
        self.c_n.x.scatter_forward()
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
             _, _, _) = self._undo
            self._undo = None
            raise
        self.c_n.x.petsc_vec.copy(self.c_nm1.x.petsc_vec)
        self.c_nm1.x.scatter_forward()
        # Li+ put in by both electrodes and the reaction (zero when the currents balance)
        self._salt_injected += dt / FARADAY * (ia * self.anode_area + ic * self.counter_area
                                               + aj * self.porous_volume)
        self._dt_prev, self._i_prev = dt, i_mean
        self.current_density = i_mean
        self.t, self.steps = t1, self.steps + 1
        return {"converged": True, "iterations": self.iterations - before[0],
                "newton_iterations": self.newton_iterations - before[1]}

    def undo(self) -> None:
        """Take back the last step: c, phi, the BDF2 history, t and the bookkeeping as before
        it (the solver counters keep the work done)."""
        if self._undo is None:
            raise RuntimeError("undo(): no step to take back")
        self.c_nm1.x.petsc_vec.copy(self.c.x.petsc_vec)
        self._undo_nm1.copy(self.c_nm1.x.petsc_vec)
        self._undo_phi.copy(self.phi.x.petsc_vec)
        for f in (self.c, self.c_nm1, self.phi):
            f.x.scatter_forward()
        (self.t, self.steps, self._dt_prev, self._i_prev, self._salt_injected, self._c_range,
         self._c_min_last, self._c_max_last, self.depletion_time, self.saturation_time,
         self.current_density) = self._undo
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
          max c reached c_saturation (None: not reached)."""
        ca, cc, pa, pc = self._electrode_means() if self.anode_tags and (
            self.counter_tags or self.porous_volume > 0) else (np.nan,) * 4
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
                "saturation_time_s": self.saturation_time}

    @property
    def fields(self) -> dict[str, tuple[fem.Function, str]]:
        """{name: (Function, unit)}: concentration (mol/m^3), potential (V)."""
        return {"concentration": (self.c, "mol/m^3"), "potential": (self.phi, "V")}

    def checkpoint_functions(self) -> dict[str, fem.Function]:
        """Functions a checkpoint must store besides :meth:`state` (BDF2 needs c^{n-1})."""
        return {"concentration": self.c, "concentration_previous": self.c_nm1,
                "potential": self.phi}

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
                "counters": [self.iterations, self.newton_iterations, self.factorizations]}

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
        self.iterations, self.newton_iterations, self.factorizations = (
            int(v) for v in state["counters"])
        self._undo = None
        for f in (self.c, self.c_nm1, self.phi):
            f.x.scatter_forward()

    def destroy(self) -> None:
        objs = [getattr(self, "_undo_nm1", None), getattr(self, "_undo_phi", None)]
        if self.linear:
            objs += [self.ksp, self.ksp_phi, self.A, self.M, self.K_phi, self._b, self._w,
                     self._load, self._bphi]
        else:
            self.snes_problem = None
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
