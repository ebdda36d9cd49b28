"""Particle chemo-mechanics as a batteryfx physics (``physics.model = "chemomech"``): Li
diffusion in a particle and the stress its lattice expansion causes (shared/PHYSICS.md C),
solved by solvers/chemomech.py on the particle geometries (geometry/particles.py).

Units: concentration c in mol/m^3, fluxes in mol/(m^2 s) (insertion positive), stresses in
Pa, lengths in m. The particle material comes from the library (``batteryfx materials``):
``expansion = "isotropic"`` uses its ``partial_molar_volume`` Omega (eps* = Omega (c - c0) / 3
I); ``"lattice"`` its ``lattice`` table a(x), c(x) vs Li per formula unit x (c = x /
molar_volume), diag(eps_a, eps_a, eps_c) in each grain's crystal frame, rotated by the grain's
orientation; ``"two_phase"`` its ``two_phase`` table (phase-fraction weighted, the lever rule);
``"none"``: no chemical strain.

Crack-risk indicator (stated criterion, summary.json ``crack_risk``): the largest tensile
principal stress over the tensile strength, and the largest grain-boundary normal traction
(tension) over the grain-boundary strength, when the case gives them (``tensile_strength``,
``grain_boundary_strength``); >= 1 means a crack is predicted. The strengths are inputs: the
library has no measured fracture strengths of these oxides.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from batteryfx.errors import CaseError
from batteryfx.log import LOGGER
from batteryfx.physics.base import PhysicsModel, WrappedProblem, register
from batteryfx.quantities import QUANTITIES
from batteryfx.schema import Section, Temperature, _bounded
from batteryfx.units import (
    Concentration,
    CRate,
    CurrentDensity,
    Diffusivity,
    Length,
    MolarFlux,
    Pressure,
    Time,
)

FARADAY = 96485.33212  # C/mol (exact SI: N_A e)
AXES = {"x": 0, "y": 1, "z": 2}


# --------------------------------------------------------------------------- case section
class ChemoMechSection(Section):
    """Li diffusion + small-strain elasticity in particles (module docstring). ``material``
    fills every cell unless ``region_materials`` names another for a volume marker (e.g.
    ``{matrix = "Li6PS5Cl", shell = "..."}``). The initial state: ``initial_concentration``
    or ``initial_li`` (Li per formula unit, with the material's molar_volume); ``c_max``
    (default: the material's max_concentration, or the top of its lattice table)."""

    model: Literal["chemomech"]
    material: str
    region_materials: dict[str, str] = {}
    expansion: Literal["isotropic", "lattice", "two_phase", "none"] = "isotropic"
    initial_concentration: Annotated[Concentration, Field(ge=0)] | None = None
    initial_li: Annotated[float, Field(ge=0, le=10)] | None = None
    c_max: Annotated[Concentration, Field(gt=0)] | None = None
    diffusivity: Annotated[Diffusivity, Field(gt=0)] | None = None
    temperature: Temperature = 298.15
    scheme: Literal["bdf2", "theta"] = "bdf2"
    theta: Annotated[float, Field(ge=0.5, le=1.0)] = 1.0
    displacement_degree: Literal[1, 2] = 2
    mass_lumping: bool = False
    stress_assisted: bool = False
    chem_solver: Literal["direct", "cg_icc", "cg_gamg"] = "direct"
    mech_solver: Literal["direct", "cg_gamg"] = "direct"
    tensile_strength: Annotated[Pressure, Field(gt=0)] | None = None
    grain_boundary_strength: Annotated[Pressure, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _one_initial_state(self):
        if self.initial_concentration is not None and self.initial_li is not None:
            raise ValueError("give initial_concentration or initial_li, not both")
        return self


class LiFluxBC(Section):
    """Galvanostatic Li flux into the particle through a facet marker (insertion positive,
    extraction negative) over [start, end): ``value`` (mol/(m^2 s)), ``current_density``
    (A/m^2: J = i / F) or ``c_rate`` (1/h: J = delta V / (A t_full), t_full = 3600 s / C, the
    mean concentration changes by ``delta`` (default c_max) over t_full)."""

    type: Literal["li_flux"]
    marker: str
    value: MolarFlux | None = None
    current_density: CurrentDensity | None = None
    c_rate: CRate | None = None
    delta: Annotated[Concentration, Field(gt=0)] | None = None
    start: Annotated[Time, Field(ge=0)] = 0.0
    end: Time = math.inf

    @model_validator(mode="after")
    def _one_rate(self):
        given = [k for k in ("value", "current_density", "c_rate") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of value (mol/(m^2*s)), current_density "
                             "(A/m^2) or c_rate")
        return self


class SurfaceConcentrationBC(Section):
    """Fixed concentration on a facet marker (potentiostatic, fast surface kinetics)."""

    type: Literal["surface_concentration"]
    marker: str
    value: Annotated[Concentration, Field(ge=0)]


class FixedDisplacementBC(Section):
    """u_component = value on a facet marker (``component`` omitted: all three)."""

    type: Literal["fixed_displacement"]
    marker: str
    component: Literal["x", "y", "z"] | None = None
    value: Annotated[Length, _bounded(None, 1.0, "m", "a unit slip", magnitude=True)] = 0.0


class SymmetryBC(Section):
    """A symmetry plane: zero normal displacement (and zero Li flux, the default)."""

    type: Literal["symmetry"]
    marker: str
    normal: Literal["x", "y", "z"]


# --------------------------------------------------------------------------- checks
def check_chemomech_case(case, plan) -> None:
    from batteryfx.materials import catalog

    ph = case.physics
    markers = {n: m.dim for n, m in plan.markers.items()}
    cat = catalog()
    for key, name in [("physics.material", ph.material),
                      *((f"physics.region_materials.{m}", n)
                        for m, n in ph.region_materials.items())]:
        if name not in cat:
            raise CaseError(key, name, f"unknown material; the library has: "
                            f"{', '.join(sorted(cat))}")
    for m in ph.region_materials:
        if markers.get(m) != 3:
            raise CaseError(f"physics.region_materials.{m}", ph.region_materials[m],
                            "not a volume marker of the geometry; volume markers: "
                            + ", ".join(n for n, d in markers.items() if d == 3))
    for i, bc in enumerate(case.boundary_conditions):
        if markers.get(bc.marker) != 2:
            raise CaseError(f"boundary_conditions[{i}].marker", bc.marker,
                            "not a facet marker of the geometry; facet markers: "
                            + ", ".join(n for n, d in markers.items() if d == 2))
    if getattr(case.geometry, "order", 1) != 1 and case.outputs.fields:
        raise CaseError("geometry.order", case.geometry.order, "the field output takes "
                        "straight-sided (order 1) meshes: use order = 1 or outputs.fields = "
                        "false")
    if case.time.adaptive:
        raise CaseError("time.adaptive", True, "physics.model = 'chemomech' has no error "
                        "estimate yet: use dt_initial, growth and dt_max")
    for i, probe in enumerate(case.probes):
        if probe.rise_fractions or probe.thresholds:
            raise CaseError(f"probes[{i}].thresholds", probe.thresholds or probe.rise_fractions,
                            "temperature thresholds are for physics.model = 'heat'")
        q = probe.quantity or CHEMOMECH.primary
        if CHEMOMECH.quantities[q].kind == "value" and (probe.marker is None
                                                        or markers.get(probe.marker) != 2):
            raise CaseError(f"probes[{i}].marker", probe.marker, f"quantity {q!r} needs a facet "
                            "marker (e.g. grain_boundaries or surface)")
    try:  # what the solver's materials need, read from the library (no DOLFINx here)
        particle_state(case)
        for name, expansion in _expansions(case):
            mat = cat[name]
            mat.tensor("elastic_stiffness")
            if expansion == "isotropic":
                mat["partial_molar_volume"]
            elif expansion != "none":
                mat["molar_volume"]
                mat.strain_points(expansion)
    except (KeyError, ValueError) as exc:
        raise CaseError("physics.material", ph.material, str(exc).strip("'\"")) from None


# --------------------------------------------------------------------------- building
def particle_state(case) -> tuple[float, float]:
    """(initial concentration c0, c_max) of the particle (mol/m^3): ``c_max`` from the case, the
    material's max_concentration, or the top of its lattice table over its molar volume;
    ``initial_li`` (Li per formula unit) over the molar volume. ValueError when the material
    lacks what that needs."""
    from batteryfx.materials import resolve

    ph = case.physics
    particle = resolve(ph.material)
    vm = particle["molar_volume"] if particle.has("molar_volume") else None
    c_max = ph.c_max
    if c_max is None:
        if particle.has("max_concentration"):
            c_max = particle["max_concentration"]
        elif ph.expansion in ("lattice", "two_phase") and vm:
            key = particle.table(ph.expansion)
            c_max = float(key[key.key].max()) / vm
        else:
            raise ValueError(f"material {ph.material!r} has no max_concentration: give "
                             "physics.c_max")
    if ph.initial_li is not None:
        if not vm:
            raise ValueError(f"material {ph.material!r} has no molar_volume for initial_li: "
                             "give physics.initial_concentration")
        return ph.initial_li / vm, c_max
    return ph.initial_concentration or 0.0, c_max


def _expansions(case) -> list[tuple[str, str]]:
    """(material, expansion) of every material of the case: the particle's as chosen, the
    other regions' (matrix, coating) without chemical strain."""
    ph = case.physics
    out = {ph.material: ph.expansion}
    for name in ph.region_materials.values():
        out.setdefault(name, "none")
    return list(out.items())


def materials(case) -> dict:
    """{"materials": {name: solver Material}, "c_max", "c0"} of a case (mol/m^3)."""
    from batteryfx.materials import resolve
    from batteryfx.solvers import chemomech as cm

    ph = case.physics
    c0, c_max = particle_state(case)

    def solver_material(name: str, expansion: str) -> cm.Material:
        mat = resolve(name)
        stiff = mat.tensor("elastic_stiffness")
        elasticity = cm.AnisotropicElasticity(tuple(map(tuple, stiff)))
        d = ph.diffusivity if name == ph.material and ph.diffusivity else None
        if d is None and mat.has("diffusivity"):
            # the library's value, law (Arrhenius at physics.temperature) or table, taken at
            # the initial state: a constant D (a D(c) law is a later option)
            law = mat.law("diffusivity")
            try:
                d = float(law(None, ph.temperature))
            except (TypeError, ValueError, KeyError):
                d = float(law(c0 / c_max, ph.temperature))
        d = 0.0 if d is None else d  # (a matrix or coating: no Li transport)
        if expansion == "isotropic":
            exp = cm.IsotropicExpansion(mat["partial_molar_volume"], c_ref=c0)
        elif expansion in ("lattice", "two_phase"):
            mvol = mat["molar_volume"]
            x, ea, ec = mat.strain_points(expansion)
            s = x / (mvol * c_max)  # Li per formula unit -> c / c_max
            exp = cm.LatticeExpansion(cm.Table(tuple(s), tuple(ea)), cm.Table(tuple(s), tuple(ec)))
        else:
            exp = None
        return cm.Material(elasticity=elasticity, expansion=exp, diffusivity=float(d))

    mats = {name: solver_material(name, expansion) for name, expansion in _expansions(case)}
    return {"materials": mats, "c_max": c_max, "c0": c0}


class ParticleProblem(WrappedProblem):
    """The run loop's view of a :class:`~batteryfx.solvers.chemomech.ChemoMechProblem`: one
    number of dofs and iterations, the derived stress fields refreshed after each step."""

    def __init__(self, inner, geometry):
        from dolfinx import fem

        super().__init__(inner, geometry)
        self._iterations = 0
        # the displacement as written (vector P1 at the nodes, also for P2 displacement)
        self.displacement = fem.Function(
            fem.functionspace(geometry.mesh, ("Lagrange", 1, (3,))), name="displacement")

    @property
    def num_dofs(self) -> int:
        return sum(self.inner.num_dofs.values())

    @property
    def iterations(self) -> int:
        return self._iterations

    def step(self, dt: float) -> None:
        info = self.inner.step(dt)
        self._iterations += info["iterations"]
        self.inner.update_derived()

    def breakpoints(self) -> list[float]:
        out = []
        for start, end in self.inner.flux_windows():
            out += [t for t in (start, end) if 0 < t < math.inf]
        return sorted(set(out))

    def state(self) -> dict:
        return {**self.inner.state(), "iterations_run": self._iterations}

    def restore(self, state: dict) -> None:
        self._iterations = int(state.get("iterations_run", 0))
        self.inner.restore(state)
        self.inner.update_derived()


def build_problem(case, geometry) -> ParticleProblem:
    from batteryfx.solvers import chemomech as cm

    ph = case.physics
    built = materials(case)
    mats = built["materials"]
    by_tag = {}
    region_tags = {t: n for m, n in ph.region_materials.items()
                   for t in geometry.markers[m].tags}
    cell_tags = sorted({int(t) for m in geometry.markers.values() if m.dim == 3
                        for t in m.tags})
    for tag in cell_tags:
        by_tag[tag] = mats[region_tags.get(tag, ph.material)]
    conditions = []
    for bc in case.boundary_conditions:
        if bc.type == "li_flux":
            flux = bc.value if bc.value is not None else (
                bc.current_density / FARADAY if bc.current_density is not None else None)
            conditions.append(cm.SurfaceFlux(bc.marker, flux=flux, c_rate=bc.c_rate,
                                             delta_c=bc.delta, start=bc.start, end=bc.end))
        elif bc.type == "surface_concentration":
            conditions.append(cm.SurfaceConcentration(bc.marker, bc.value))
        elif bc.type == "fixed_displacement":
            conditions.append(cm.FixedDisplacement(
                bc.marker, None if bc.component is None else AXES[bc.component], bc.value))
        elif bc.type == "symmetry":
            conditions.append(cm.FixedDisplacement(bc.marker, AXES[bc.normal], 0.0))
    grains = getattr(geometry, "grains", {}) or {}
    params = cm.ChemoMechParams(
        materials=by_tag, c_max=built["c_max"], c_initial=built["c0"],
        temperature=ph.temperature, stress_assisted=ph.stress_assisted,
        orientations={tag: g.rotation for tag, g in grains.items()},
        scheme=ph.scheme, theta=ph.theta, degree_u=ph.displacement_degree,
        mass_lumping=ph.mass_lumping, chem_solver=ph.chem_solver, mech_solver=ph.mech_solver,
        centre=(0.0, 0.0, 0.0))
    markers = {name: m.tags for name, m in geometry.markers.items()}
    inner = cm.ChemoMechProblem(geometry.mesh, geometry.cell_tags, geometry.facet_tags, params,
                                conditions, markers=markers)
    inner.solve_mechanics()
    inner.update_derived()
    return ParticleProblem(inner, geometry)


# --------------------------------------------------------------------------- the physics
class ChemoMechModel(PhysicsModel):
    """Particle chemo-mechanics (solvers/chemomech.py ChemoMechProblem)."""

    name = "chemomech"
    section = ChemoMechSection
    conditions = (LiFluxBC, SurfaceConcentrationBC, FixedDisplacementBC, SymmetryBC)
    sources = ()
    quantities = QUANTITIES["chemomech"]
    primary = "concentration"

    def check(self, case, plan) -> None:
        check_chemomech_case(case, plan)

    def build(self, case, geometry):
        return build_problem(case, geometry)

    def fields(self, problem) -> dict:
        inner = problem.inner
        d = inner.update_derived()
        problem.displacement.interpolate(inner.u)
        out = {"concentration": inner.c, "displacement": problem.displacement}
        for name in ("von_mises", "hydrostatic_stress", "radial_stress", "hoop_stress"):
            if name in d:
                out[name] = d[name]
        return out

    def checkpoint_fields(self, problem) -> dict:
        return {"concentration": problem.inner.c,
                "concentration_previous": problem.inner.c_nm1}

    def probe_sources(self, problem) -> dict:
        inner = problem.inner
        integrands = inner.probe_integrands()
        d = inner.update_derived()
        return {"concentration": inner.c,
                "state_of_charge": integrands["state_of_charge"],
                "li_content": inner.c,
                "von_mises": d["von_mises"], "hydrostatic_stress": d["hydrostatic_stress"],
                "radial_stress": d["radial_stress"], "hoop_stress": d["hoop_stress"],
                "strain_energy": integrands["strain_energy_density"],
                "normal_traction_max": lambda m: inner.facet_traction(m)["normal_max_Pa"],
                "shear_traction_max": lambda m: inner.facet_traction(m)["shear_max_Pa"]}

    def write_outputs(self, case, problem, folder) -> list:
        """fields/grain_boundaries.npz: every grain-boundary facet (triangle nodes, m) with
        its normal and shear traction (Pa) at the end (for the traction map figure)."""
        from pathlib import Path

        import numpy as np

        from batteryfx.parallel import on_rank0

        markers = problem.geometry.markers
        if "grain_boundaries" not in markers or markers["grain_boundaries"].dim != 2:
            return []
        inner = problem.inner
        v = inner.facet_traction_values("grain_boundaries")
        comm = problem.geometry.mesh.comm
        parts = {k: comm.gather(v[k], root=0) for k in ("triangles", "normal_Pa", "shear_Pa")}
        path = Path(folder) / "fields" / "grain_boundaries.npz"

        def write():
            np.savez(path, time_s=inner.t,
                     **{k: np.concatenate(p) for k, p in parts.items()})

        on_rank0(comm, write, what="writing fields/grain_boundaries.npz")
        return [path]

    def summary(self, case, problem) -> dict:
        inner = problem.inner
        out = {"linear_iterations": problem.iterations, **{
            k: v for k, v in inner.summary().items() if k not in ("dofs", "time_steps")},
            "mass_balance": inner.mass_balance()}
        markers = problem.geometry.markers
        tractions = {m: inner.facet_traction(m) for m in ("grain_boundaries", "surface",
                                                           "interface")
                     if m in markers and markers[m].dim == 2}
        out["facet_tractions"] = tractions
        ph = case.physics
        risk = {"criterion": "max tensile principal stress / tensile_strength; max "
                             "grain-boundary normal traction / grain_boundary_strength; >= 1: "
                             "crack predicted"}
        if ph.tensile_strength:
            risk["bulk"] = out["max_principal_stress_Pa"] / ph.tensile_strength
        if ph.grain_boundary_strength and "grain_boundaries" in tractions:
            risk["grain_boundaries"] = (tractions["grain_boundaries"]["normal_max_Pa"]
                                        / ph.grain_boundary_strength)
        out["crack_risk"] = risk
        return out

    def report(self, problem) -> None:
        balance = problem.inner.mass_balance()
        if balance["drift_rel"] > 1e-8:
            LOGGER.warning(f"warning: Li balance drift {balance['drift_rel']:.3g} (content "
                           f"{balance['content_mol']:.6g} mol, expected "
                           f"{balance['expected_mol']:.6g} mol); try a smaller rtol or "
                           "chem_solver = 'direct'")


CHEMOMECH = register(ChemoMechModel())
