r"""Transient heat conduction on layered geometries.

    rho c_p dT/dt = div(k grad T) + q            in Omega (SI units: K, s, W/m^3)
    T = T_D                                      on Gamma_D  (e.g. a hot spot held at 473 K)
    -k dT/dn = h (T - T_amb)                     on Gamma_R  (convection)
    -k dT/dn = -q_n                              on Gamma_N  (heat flux q_n into the body)
    -k dT/dn = 0                                 elsewhere   (insulated / symmetry)

with k and rho c_p cellwise constant (one value per material layer). P1 Lagrange in space and the
theta scheme in time (theta = 1 backward Euler, 1/2 Crank-Nicolson), consistent or lumped mass:

    (M/dt + theta K) T^{n+1} = (M/dt - (1 - theta) K) T^n + F^{n+1/2}

(F^{n+1/2} the mean load over the step: sources switched on/off inside a step put in exactly
their energy).

M (mass, rho c_p), K (conduction + convection) and the load vectors F_i are assembled once; each
step builds the right-hand side from two SpMVs and a few AXPYs (no form assembly), and the
system matrix is re-assembled and re-factorized only when dt changes. Dirichlet rows are handled
by lifting with the unconstrained operator (b -= (M/dt + theta K) g; b[D] = g[D]).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc

from batteryfx.errors import SolverDiverged
from batteryfx.geometry import Geometry

_ids = itertools.count()

#: PETSc option sets by name; see :func:`solver_options`.
SOLVERS = {
    "direct": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
    "cg_icc": {"ksp_type": "cg", "pc_type": "bjacobi", "sub_pc_type": "icc"},
    "cg_gamg": {"ksp_type": "cg", "pc_type": "gamg", "mg_levels_pc_type": "sor"},
}


def solver_options(kind: str, rtol: float) -> dict[str, str | float]:
    """A fresh copy of the PETSc options of a solver kind."""
    opts: dict[str, str | float] = dict(SOLVERS[kind])
    if opts["ksp_type"] != "preonly":
        opts.update({"ksp_rtol": rtol, "ksp_atol": 0.0, "ksp_max_it": 10000})
    return opts


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
class HeatFlux:
    marker: str
    value: float  # W/m^2 into the body


@dataclass(frozen=True)
class VolumeSource:
    marker: str
    value: float  # W/m^3
    start: float = 0.0  # s
    end: float = np.inf  # s

    def amplitude(self, t0: float, t1: float | None = None) -> float:
        """On/off at t0, or the fraction of [t0, t1] during which the source is on (so the
        energy put in over a step is exact whatever the step boundaries)."""
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
    """Theta-scheme heat conduction with operators assembled once (see the module docstring)."""

    def __init__(
        self,
        geometry: Geometry,
        conductivity: fem.Function | float,
        heat_capacity: fem.Function | float,
        *,
        initial_temperature: float,
        conditions: list = (),
        sources: list[VolumeSource] = (),
        theta: float = 1.0,
        solver: str = "direct",
        rtol: float = 1e-10,
        degree: int = 1,
        startup_steps: int = 2,
        mass_lumping: bool = False,
    ):
        self.geometry = geometry
        mesh = geometry.mesh
        self.theta = float(theta)
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
        k_form = k * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx
        loads = []  # (form, amplitude(t) or None for constant)
        self.bcs: list[fem.DirichletBC] = []
        for c in conditions:
            if isinstance(c, FixedTemperature):
                facets = geometry.entities(c.marker)
                dofs = fem.locate_dofs_topological(V, mesh.topology.dim - 1, facets)
                self.bcs.append(fem.dirichletbc(PETSc.ScalarType(c.value), dofs, V))
            elif isinstance(c, Convection):
                k_form += c.h * u * v * on(ds, c.marker)
                if c.h * c.ambient:  # (UFL drops a zero integrand; skip it here)
                    loads.append((c.h * c.ambient * v * on(ds, c.marker), None))
            elif isinstance(c, HeatFlux) and c.value:
                loads.append((c.value * v * on(ds, c.marker), None))
            else:  # insulated: natural condition, nothing to add
                pass
        for s in (s for s in sources if s.value):
            loads.append((s.value * v * on(dx, s.marker), s.amplitude))

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
        owned = V.dofmap.index_map.size_local * V.dofmap.index_map_bs
        self._bc_rows = np.unique(np.concatenate(
            [bc.dof_indices()[0] for bc in self.bcs] or [np.zeros(0, np.int32)]))
        self._bc_rows = self._bc_rows[self._bc_rows < owned].astype(PETSc.IntType)
        self._g_owned = self._g.array_r[self._bc_rows].copy()

        self.A = fem_petsc.create_matrix(self._a_form)
        self._b = self._new_vector()
        self._work = self._new_vector()
        self.prefix = f"batteryfx_heat_{next(_ids)}_"
        self.ksp = PETSc.KSP().create(mesh.comm)
        self.ksp.setOptionsPrefix(self.prefix)
        opts = PETSc.Options()
        self.options = solver_options(solver, rtol)
        for key, value in self.options.items():
            opts[self.prefix + key] = value
        self.ksp.setFromOptions()
        if self.options["ksp_type"] != "preonly":
            self.ksp.setInitialGuessNonzero(True)  # the last step's T is a good guess
        self._has_sink = bool(self.bcs) or any(isinstance(c, Convection) and c.h > 0
                                               for c in conditions)
        self._assembled: tuple[float, float] | None = None
        self._startup_left = startup_steps if self.theta < 1.0 else 0
        self.iterations = 0
        self.factorizations = 0

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

    def _set_operator(self, dt: float, theta: float) -> None:
        if self._assembled == (dt, theta):
            return
        self._dt.value = dt
        self._theta.value = theta
        self.A.zeroEntries()
        fem_petsc.assemble_matrix(self.A, self._a_form, bcs=self.bcs)
        self.A.assemble()
        self.ksp.setOperators(self.A)
        self._assembled = (dt, theta)
        self.factorizations += 1

    @property
    def num_dofs(self) -> int:
        imap = self.V.dofmap.index_map
        return imap.size_global * self.V.dofmap.index_map_bs

    # ------------------------------------------------------------------ stepping
    def step(self, dt: float) -> None:
        """Advance T from t to t + dt.

        With theta < 1 the first ``startup_steps`` steps are each taken as two backward-Euler
        half steps (Rannacher start-up), which damps the non-smooth modes that a sudden
        fixed temperature (a hot spot) excites and Crank-Nicolson would otherwise keep.
        """
        if self._startup_left > 0:
            self._startup_left -= 1
            self._advance(dt / 2, 1.0)
            self._advance(dt / 2, 1.0)
        else:
            self._advance(dt, self.theta)

    def _advance(self, dt: float, th: float) -> None:
        self._set_operator(dt, th)
        t = self.t
        x = self.T.x.petsc_vec
        b, w = self._b, self._work
        # b = M T / dt - (1 - theta) K T + F_step, F_step = the mean of F over [t, t + dt]
        # (= theta F(t+dt) + (1 - theta) F(t) for the constant loads; exact energy input for
        # sources switched on or off inside a step)
        self.M.mult(x, b)
        b.scale(1.0 / dt)
        if th < 1.0:
            self.K.mult(x, w)
            b.axpy(-(1.0 - th), w)
        self._load(t, w, t + dt)
        b.axpy(1.0, w)
        if len(self.bcs):
            # lifting with the unconstrained operator, then the constrained rows = g
            self.M.mult(self._g, w)
            b.axpy(-1.0 / dt, w)
            self.K.mult(self._g, w)
            b.axpy(-th, w)
            b.array[self._bc_rows] = self._g_owned
        self.ksp.solve(b, x)
        self._check(f"time step t = {t + dt:.6g} s, dt = {dt:.3g} s")
        self.T.x.scatter_forward()
        self.t = t + dt

    def steady(self) -> None:
        """Solve the steady problem K T = F(t) (sources at the current time)."""
        if not self._has_sink:
            raise SolverDiverged("a steady heat problem needs a fixed temperature or a "
                                 "convection condition somewhere (insulated everywhere has no "
                                 "steady state)")
        Kc = fem_petsc.assemble_matrix(self._k_form, bcs=self.bcs)
        Kc.assemble()
        b, w = self._b, self._work
        self._load(self.t, b)
        if len(self.bcs):
            self.K.mult(self._g, w)
            b.axpy(-1.0, w)
            b.array[self._bc_rows] = self._g_owned
        self.ksp.setOperators(Kc)
        self._assembled = None
        self.ksp.solve(b, self.T.x.petsc_vec)
        self._check("steady solve")
        self.T.x.scatter_forward()
        Kc.destroy()

    def _check(self, what: str) -> None:
        reason = self.ksp.getConvergedReason()
        self.iterations += self.ksp.getIterationNumber()
        finite = np.isfinite(self.T.x.petsc_vec.array_r).all()
        if not self.V.mesh.comm.allreduce(bool(finite), op=MPI.LAND):
            reason = min(reason, -100)
        if reason < 0:
            raise SolverDiverged(
                f"heat solver did not converge at {what} (PETSc reason {reason}, "
                f"{self.ksp.getIterationNumber()} iterations); try physics.solver = 'direct', "
                "a smaller time.dt_initial / time.dt_max, or a finer mesh"
            )

    def energy(self, reference: float | None = None) -> float:
        """Stored heat int rho c_p (T - T_ref) dx (J) over the whole domain (collective)."""
        ref = self.initial_temperature if reference is None else reference
        one = fem.Function(self.V)
        one.x.array[:] = 1.0
        w = self._work
        self.M.mult(one.x.petsc_vec, w)
        return float(w.dot(self.T.x.petsc_vec) - ref * w.sum())

    def destroy(self) -> None:
        for obj in (self.ksp, self.A, self.M, self.K, self._b, self._work, self._g,
                    self._constant_load, *[v for v, _ in self._timed_loads]):
            obj.destroy()
        opts = PETSc.Options()
        for key in self.options:
            opts.delValue(self.prefix + key)


__all__ = [
    "Convection",
    "FixedTemperature",
    "HeatFlux",
    "HeatProblem",
    "VolumeSource",
    "cellwise",
]
