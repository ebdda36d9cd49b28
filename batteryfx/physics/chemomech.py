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

Voltage protocols (``type = "voltage_protocol"``): cc / cv / rest segments through the
particle's open-circuit voltage (``physics.ocv`` or the material's ``ocv`` table), the
surface voltage being U of the mean surface stoichiometry (V); probes ``surface_voltage``
(V), ``protocol_current_density`` (A/m^2, insertion positive), ``charge_passed`` (C);
summary.json ``protocol`` lists each segment's end time, reason, voltage and charge. Case-level
``physics.lattice`` / ``physics.ocv`` tables replace the library's (their ``source`` is
logged and written to summary.json ``case_tables``).

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
    Voltage,
)

FARADAY = 96485.33212  # C/mol (exact SI: N_A e)
AXES = {"x": 0, "y": 1, "z": 2}


# --------------------------------------------------------------------------- case section
class OcvTable(Section):
    """A case-level open-circuit-voltage table of the particle material (replaces the
    library's ``ocv`` table): ``voltage`` (V vs Li/Li+) at ``x`` (Li per formula unit, with the
    material's molar_volume) or at ``sto`` (c / c_max), strictly monotonic; ``source`` says
    where the numbers come from (printed in the log and summary.json)."""

    x: list[float] | None = None
    sto: list[float] | None = None
    voltage: list[Voltage]
    source: str

    @model_validator(mode="after")
    def _shape(self):
        keys = [k for k in ("x", "sto") if getattr(self, k) is not None]
        if len(keys) != 1:
            raise ValueError("give x (Li per formula unit) or sto (c / c_max), not both")
        key = getattr(self, keys[0])
        if len(key) != len(self.voltage) or len(key) < 2:
            raise ValueError(f"{keys[0]} and voltage need the same length (>= 2)")
        if any(b <= a for a, b in zip(key, key[1:], strict=False)):
            raise ValueError(f"{keys[0]} must increase strictly")
        d = [b - a for a, b in zip(self.voltage, self.voltage[1:], strict=False)]
        if not (all(v > 0 for v in d) or all(v < 0 for v in d)):
            raise ValueError("voltage must be strictly monotonic (one concentration per "
                             "voltage)")
        return self


class LatticeTable(Section):
    """A case-level lattice table (replaces the library's ``lattice`` table, for
    ``expansion = "lattice"``): lattice parameters ``a`` and ``c`` (one length unit for both:
    only ratios enter) at ``x`` Li per formula unit (strictly increasing). The strains are
    relative to the lattice at the initial Li content (stress-free at the start);
    ``source`` says where the numbers come from."""

    x: list[float]
    a: list[Annotated[float, Field(gt=0)]]
    c: list[Annotated[float, Field(gt=0)]]
    source: str

    @model_validator(mode="after")
    def _shape(self):
        if not len(self.x) == len(self.a) == len(self.c) or len(self.x) < 2:
            raise ValueError("x, a and c need the same length (>= 2)")
        if any(b <= a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("x must increase strictly")
        return self


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
    chem_solver: Literal["auto", "direct", "cg_icc", "cg_gamg", "gmres_ilu"] = "auto"
    mech_solver: Literal["auto", "direct", "cg_gamg"] = "auto"
    tensile_strength: Annotated[Pressure, Field(gt=0)] | None = None
    grain_boundary_strength: Annotated[Pressure, Field(gt=0)] | None = None
    ocv: OcvTable | None = None
    lattice: LatticeTable | None = None

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


class Until(Section):
    """When a protocol segment ends: the surface voltage reaches ``voltage`` (cc), the
    current falls to ``c_rate`` or ``current_density`` (magnitudes; cv), and / or ``time``
    (the segment's duration) has passed; the first that happens."""

    voltage: Voltage | None = None
    c_rate: Annotated[CRate, Field(gt=0)] | None = None
    current_density: Annotated[CurrentDensity, Field(gt=0)] | None = None
    time: Annotated[Time, Field(ge=0)] | None = None


class Segment(Section):
    """One protocol segment (see :class:`VoltageProtocolBC`)."""

    mode: Literal["cc", "cv", "rest"]
    c_rate: CRate | None = None
    current_density: CurrentDensity | None = None
    value: MolarFlux | None = None
    delta: Annotated[Concentration, Field(gt=0)] | None = None
    voltage: Voltage | None = None
    until: Until


class VoltageProtocolBC(Section):
    """Cycling through the open-circuit voltage U(x) of the particle: ``segments`` run in
    order on a facet marker (solvers/chemomech.py ``VoltageProtocol``).

    * ``{mode = "cc", c_rate | current_density | value, until = {voltage, time}}``: constant
      Li flux (insertion positive, like ``li_flux``: charging a cathode is negative; c_rate
      relative to ``delta``, default c_max) until the surface voltage reaches
      ``until.voltage`` and / or for ``until.time``;
    * ``{mode = "cv", voltage, until = {c_rate | current_density, time}}``: the surface held
      at c = c_max U^-1(voltage) (``voltage`` omitted: the voltage reached) until the current
      falls to the cut-off and / or for ``until.time``;
    * ``{mode = "rest", until = {time}}``: zero flux.

    Surface voltage = U of the MEAN surface stoichiometry over the marker (no kinetic or
    ohmic drop). The OCV is ``physics.ocv`` or the material's ``ocv`` table. After the last
    segment the run ends (summary.json ``stopped_early``)."""

    type: Literal["voltage_protocol"]
    marker: str
    segments: Annotated[list[Segment], Field(min_length=1, max_length=100)]


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
    if ph.lattice is not None and ph.expansion != "lattice":
        raise CaseError("physics.lattice", "{...}", "a lattice table is for expansion = "
                        f"'lattice' (here {ph.expansion!r})")
    try:  # what the solver's materials need, read from the library (no DOLFINx here)
        particle_state(case)
        for name, expansion in _expansions(case):
            mat = cat[name]
            mat.tensor("elastic_stiffness")
            if expansion == "isotropic":
                mat["partial_molar_volume"]
            elif expansion != "none":
                mat["molar_volume"]
                if not (name == ph.material and ph.lattice is not None):
                    mat.strain_points(expansion)
    except (KeyError, ValueError) as exc:
        raise CaseError("physics.material", ph.material, str(exc).strip("'\"")) from None
    _check_protocols(case)
    for i, probe in enumerate(case.probes):
        if probe.quantity == "surface_voltage":
            _ocv_or_error(case, f"probes[{i}].quantity", "surface_voltage")


def _ocv_or_error(case, key: str, value):
    """(sto, U, source) of the case's OCV, or a CaseError at ``key`` saying how to give one."""
    try:
        return ocv_points(case)
    except (KeyError, ValueError) as exc:
        raise CaseError(key, value, "needs an open-circuit voltage: give physics.ocv = {x | "
                        "sto = [...], voltage = [...], source = '...'} or a material with an "
                        f"ocv table ({str(exc).strip(chr(39) + chr(34))})") from None


def _check_protocols(case) -> None:
    """The voltage_protocol conditions: one per case; every segment has what its mode needs
    and nothing else; voltages inside the OCV table; a cc limit that the flux direction
    reaches from the known start voltage (the initial state, or the previous segment's
    limit)."""
    import numpy as np

    found = [(i, bc) for i, bc in enumerate(case.boundary_conditions)
             if bc.type == "voltage_protocol"]
    if not found:
        return
    if len(found) > 1:
        raise CaseError(f"boundary_conditions[{found[1][0]}].type", "voltage_protocol",
                        "one voltage protocol per case")
    i, bc = found[0]
    sto, u, _ = _ocv_or_error(case, f"boundary_conditions[{i}].type", "voltage_protocol")
    lo, hi = float(min(u)), float(max(u))
    slope = 1.0 if u[-1] > u[0] else -1.0
    c0, c_max = particle_state(case)
    v_known = float(np.interp(c0 / c_max, sto, u))
    for k, seg in enumerate(bc.segments):
        key = f"boundary_conditions[{i}].segments[{k}]"
        rates = [n for n in ("c_rate", "current_density", "value") if getattr(seg, n) is not None]
        cut = [n for n in ("c_rate", "current_density") if getattr(seg.until, n) is not None]
        until = seg.until
        for name, v in (("voltage", seg.voltage), ("until.voltage", until.voltage)):
            if v is not None and not lo < v < hi:
                raise CaseError(f"{key}.{name}", v, f"outside the OCV table's range "
                                f"{lo:.4g} .. {hi:.4g} V (no surface concentration gives it)")
        if seg.mode == "cc":
            if len(rates) != 1 or not getattr(seg, rates[0]):
                raise CaseError(f"{key}.c_rate", seg.c_rate, "a cc segment needs exactly one "
                                "nonzero c_rate, current_density or value (insertion "
                                "positive)")
            for name in ("voltage",):
                if getattr(seg, name) is not None:
                    raise CaseError(f"{key}.{name}", getattr(seg, name), "not for mode = "
                                    "'cc' (its limit is until.voltage)")
            if cut:
                raise CaseError(f"{key}.until.{cut[0]}", getattr(until, cut[0]), "a current "
                                "cut-off is for mode = 'cv'; a cc segment ends at "
                                "until.voltage or until.time")
            if until.voltage is None and until.time is None:
                raise CaseError(f"{key}.until", "{}", "a cc segment needs until.voltage "
                                "and / or until.time")
            if until.voltage is not None:
                direction = float(np.sign(getattr(seg, rates[0]))) * slope
                if v_known is not None and direction * (until.voltage - v_known) <= 0:
                    moves = "raises" if direction > 0 else "lowers"
                    raise CaseError(f"{key}.until.voltage", until.voltage,
                                    f"never reached: the surface voltage is {v_known:.4g} V "
                                    f"when the segment starts and this flux {moves} it "
                                    "(insertion is positive: charging a cathode is a "
                                    "negative c_rate)")
            v_known = until.voltage if until.time is None else None
        elif seg.mode == "cv":
            if rates:
                raise CaseError(f"{key}.{rates[0]}", getattr(seg, rates[0]), "not for mode = "
                                "'cv' (the voltage is held; the current follows)")
            if until.voltage is not None:
                raise CaseError(f"{key}.until.voltage", until.voltage, "a cv segment ends at "
                                "a current cut-off (until.c_rate or until.current_density) "
                                "or until.time")
            if len(cut) > 1 or (not cut and until.time is None):
                raise CaseError(f"{key}.until", "{...}", "a cv segment needs one current "
                                "cut-off (until.c_rate or until.current_density) and / or "
                                "until.time")
            v_known = seg.voltage if seg.voltage is not None else v_known
        else:
            extra = rates + (["voltage"] if seg.voltage is not None else []) \
                + [f"until.{n}" for n in cut] \
                + (["until.voltage"] if until.voltage is not None else [])
            if extra:
                raise CaseError(f"{key}.{extra[0]}", "...", "a rest segment takes until.time "
                                "only")
            if until.time is None:
                raise CaseError(f"{key}.until.time", None, "a rest segment needs until.time")
            v_known = None


def ocv_points(case):
    """(sto, U, source) of the particle's open-circuit voltage U(c / c_max) (V): the case's
    ``physics.ocv`` or the material's ``ocv`` table (key sto = c / c_max, or x Li per formula
    unit over molar_volume and c_max). KeyError / ValueError when there is none."""
    import numpy as np

    from batteryfx.materials import resolve

    ph = case.physics
    mat = resolve(ph.material)
    _, c_max = particle_state(case)
    if ph.ocv is not None:
        if ph.ocv.sto is not None:
            key = np.asarray(ph.ocv.sto, float)
        else:
            key = np.asarray(ph.ocv.x, float) / (mat["molar_volume"] * c_max)
        return key, np.asarray(ph.ocv.voltage, float), f"case file: {ph.ocv.source}"
    tab = mat.table("ocv")
    key = np.asarray(tab[tab.key], float)
    u = np.asarray(tab[list(tab.columns)[1]], float)
    if tab.key == "x":
        key = key / (mat["molar_volume"] * c_max)
    d = np.diff(u)
    if not (np.all(d > 0) or np.all(d < 0)):
        raise ValueError(f"the ocv table of {ph.material!r} is not strictly monotonic")
    return key, u, f"library {ph.material}: {tab.source}"


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
        elif ph.expansion == "lattice" and ph.lattice is not None and vm:
            c_max = max(ph.lattice.x) / vm
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
    import numpy as np

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
                d = math.nan
            if not math.isfinite(d):  # a law of the state (a table): at the initial state
                d = float(law(c0 / c_max, ph.temperature))
        d = 0.0 if d is None else d  # (a matrix or coating: no Li transport)
        if expansion == "isotropic":
            exp = cm.IsotropicExpansion(mat["partial_molar_volume"], c_ref=c0)
        elif expansion == "lattice" and name == ph.material and ph.lattice is not None:
            # the case's table, strains relative to the lattice at the initial Li content
            mvol = mat["molar_volume"]
            lt = ph.lattice
            x = np.asarray(lt.x, float)
            x_ref = c0 * mvol
            ea = np.asarray(lt.a) / np.interp(x_ref, x, lt.a) - 1.0
            ec = np.asarray(lt.c) / np.interp(x_ref, x, lt.c) - 1.0
            s = x / (mvol * c_max)
            exp = cm.LatticeExpansion(cm.Table(tuple(s), tuple(ea)), cm.Table(tuple(s), tuple(ec)))
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


def _segment(cm, seg):
    """The solver's ProtocolSegment of a case segment (SI)."""
    u = seg.until
    flux = seg.value if seg.value is not None else (
        seg.current_density / FARADAY if seg.current_density is not None else None)
    return cm.ProtocolSegment(
        mode=seg.mode, flux=flux, c_rate=seg.c_rate, delta_c=seg.delta, voltage=seg.voltage,
        until_voltage=u.voltage, until_time=u.time, until_c_rate=u.c_rate,
        until_flux=None if u.current_density is None else u.current_density / FARADAY)


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

    @property
    def stop_reason(self) -> str | None:
        """The run ends when the voltage protocol's last segment has ended."""
        inner = self.inner
        if inner.protocol is not None and inner.protocol_finished:
            ev = inner.protocol_events()[-1]
            return (f"the voltage protocol's last segment ({ev['mode']}) ended at t = "
                    f"{ev['end_s']:.6g} s ({ev['reason']})")
        return None

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
    try:  # the OCV of voltage protocols and surface_voltage probes (None: the case has none)
        sto, u, ocv_source = ocv_points(case)
        ocv = cm.Table(tuple(sto), tuple(u))
    except (KeyError, ValueError):
        ocv = ocv_source = None
    conditions = []
    for bc in case.boundary_conditions:
        if bc.type == "li_flux":
            flux = bc.value if bc.value is not None else (
                bc.current_density / FARADAY if bc.current_density is not None else None)
            conditions.append(cm.SurfaceFlux(bc.marker, flux=flux, c_rate=bc.c_rate,
                                             delta_c=bc.delta, start=bc.start, end=bc.end))
        elif bc.type == "surface_concentration":
            conditions.append(cm.SurfaceConcentration(bc.marker, bc.value))
        elif bc.type == "voltage_protocol":  # (check() made sure the OCV exists)
            conditions.append(cm.VoltageProtocol(bc.marker, tuple(
                _segment(cm, seg) for seg in bc.segments), ocv))
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
    out = ParticleProblem(inner, geometry)
    out.ocv, out.ocv_source = ocv, ocv_source
    for what, table in (("ocv", ph.ocv), ("lattice", ph.lattice)):
        if table is not None:
            LOGGER.warning(f"physics.{what}: the case's own table is used (source: "
                           f"{table.source})")
    return out


# --------------------------------------------------------------------------- the physics
class ChemoMechModel(PhysicsModel):
    """Particle chemo-mechanics (solvers/chemomech.py ChemoMechProblem)."""

    name = "chemomech"
    section = ChemoMechSection
    conditions = (LiFluxBC, SurfaceConcentrationBC, VoltageProtocolBC, FixedDisplacementBC,
                  SymmetryBC)
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
                "surface_voltage": lambda m: inner.surface_voltage(m, problem.ocv),
                "protocol_current_density": lambda m: (
                    inner.protocol_current * FARADAY / inner._proto_area
                    if inner.protocol is not None else 0.0),
                "charge_passed": lambda m: (inner.li_content() - inner.c_initial_mean
                                            * inner.volume) * FARADAY,
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
        tables = {w: t.source for w, t in (("ocv", ph.ocv), ("lattice", ph.lattice)) if t}
        if tables:
            out["case_tables"] = tables
        return out

    def report(self, problem) -> None:
        balance = problem.inner.mass_balance()
        if balance["drift_rel"] > 1e-8:
            LOGGER.warning(f"warning: Li balance drift {balance['drift_rel']:.3g} (content "
                           f"{balance['content_mol']:.6g} mol, expected "
                           f"{balance['expected_mol']:.6g} mol); try a smaller rtol or "
                           "chem_solver = 'direct'")


CHEMOMECH = register(ChemoMechModel())
