"""Li+ salt transport in the liquid electrolyte (physics.model = "electrolyte"):
concentration polarization of a cell section under a current protocol (shared/PHYSICS.md D).

The case brings the electrolyte (a library material with D, kappa, t+ and optionally the
concentration tables, or values of the user's own set in ``properties``), the porous regions
(porosity with Bruggeman or a tortuosity; a porous cathode takes the counter current as a
uniform reaction), the electrodes (facet markers) and the current protocol (constant, steps,
or a current-interrupt pattern; stripping at the Li electrode positive). The solver is
:mod:`batteryfx.solvers.electrolyte` (its docstring has the equations, boundary fluxes, gauge
and time scheme). A run stops early, with complete outputs, when the salt at an electrode is
used up (``depletion``: Sand's time / the limiting current passed: the cell could not carry
the current any longer) unless ``on_depletion = "continue"``.

Electrode kinetics (``kinetics``): "uniform" (default) imposes a uniform current density on
the active Li facets; "butler_volmer" / "linear" let the (linearised) Butler-Volmer law
with i0 = ``exchange_current_density`` x sqrt(c_s / c0) shape the current over the Li and a
planar counter electrode (the Li metal potential is the reference, the counter's follows
from the current). The cell voltage V = phi_s(counter) - phi_s(Li) (OCV: 0 for Li | Li and
Li | Cu, or a cathode's ``counter_ocv`` curve over its state of charge) is a probe quantity
(``cell_voltage``) and in summary.json. A finite Li inventory on the stripping electrode
(``anode_capacity``, areal) and ``cutoff_voltage`` end the run at the cut-off (stripping Li
from Cu to 1 V): summary.json headline ``cutoff_time_s``, ``capacity_at_cutoff_mAh_cm2``,
``stripped_fraction`` (stripped / available).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from batteryfx.errors import CaseError
from batteryfx.log import LOGGER
from batteryfx.physics.base import PhysicsModel, WrappedProblem, register
from batteryfx.physics.heat import OcvCurve
from batteryfx.quantities import QUANTITIES
from batteryfx.schema import Section, Temperature
from batteryfx.units import ArealCharge, Concentration, CurrentDensity, Diffusivity, Time, Voltage
from batteryfx.units import ElectricalConductivity as Conductivity

#: electrolyte transport entries of a material / ``properties`` (case key -> library name)
PROPERTY_KEYS = {"diffusivity": "diffusivity", "ionic_conductivity": "ionic_conductivity",
                 "transference_number": "transference_number",
                 "thermodynamic_factor": "thermodynamic_factor"}


# --------------------------------------------------------------------------- case section
class PorousRegion(Section):
    """A volume marker filled with electrolyte at ``porosity``; effective transport D eps^b
    (``bruggeman`` b) or D eps / ``tortuosity``; ``porous_electrode``: the region takes the
    counter current as a uniform volumetric reaction (no kinetics)."""

    porosity: Annotated[float, Field(gt=0, le=1)] = 1.0
    bruggeman: Annotated[float, Field(ge=0, le=10)] = 1.5
    tortuosity: Annotated[float, Field(ge=1, le=1e4)] | None = None
    porous_electrode: bool = False


class ElectrolyteProperties(Section):
    """The user's own values (replacing the material's): constants in SI units."""

    diffusivity: Annotated[Diffusivity, Field(gt=0)] | None = None
    ionic_conductivity: Annotated[Conductivity, Field(gt=0)] | None = None
    transference_number: Annotated[float, Field(gt=-1, lt=1)] | None = None
    thermodynamic_factor: Annotated[float, Field(gt=0, le=50)] | None = None


class ProtocolStep(Section):
    """One step of a current protocol: ``current_density`` (0: rest) for ``duration``."""

    current_density: CurrentDensity
    duration: Annotated[Time, Field(gt=0)]


class Protocol(Section):
    """The current at the Li electrode (A/m^2 of the nominal anode area; stripping positive):
    ``current_density`` from ``start`` (to the end of the run, or ``end``), optionally
    interrupted for ``interrupt_duration`` every ``interrupt_every`` (current-interrupt
    protocol: e.g. 10 s every 10 min); or ``steps`` run one after the other ``repeat`` times.
    """

    current_density: CurrentDensity | None = None
    start: Annotated[Time, Field(ge=0)] = 0.0
    end: Time = math.inf
    interrupt_every: Annotated[Time, Field(gt=0)] | None = None
    interrupt_duration: Annotated[Time, Field(gt=0)] | None = None
    steps: list[ProtocolStep] | None = None
    repeat: Annotated[int, Field(ge=1, le=100000)] = 1

    @model_validator(mode="after")
    def _one_form(self):
        if (self.current_density is None) == (self.steps is None):
            raise ValueError("give current_density (constant, optionally interrupted) or "
                             "steps = [{current_density, duration}, ...]")
        if (self.interrupt_every is None) != (self.interrupt_duration is None):
            raise ValueError("an interrupt needs both interrupt_every and interrupt_duration")
        if self.steps is not None and self.interrupt_every is not None:
            raise ValueError("interrupts go with current_density; with steps write the rest "
                             "steps (current_density = 0) yourself")
        if not self.end > self.start:
            raise ValueError(f"end = {self.end:g} s must be after start = {self.start:g} s")
        return self

    def segments(self, t_end: float) -> tuple[tuple[float, float, float], ...]:
        """((start, end, i A/m^2), ...) up to ``t_end`` (s); rests are left out."""
        out = []
        if self.steps is not None:
            t = self.start
            for _ in range(self.repeat):
                for step in self.steps:
                    if t >= t_end:
                        break
                    if step.current_density != 0:
                        out.append((t, min(t + step.duration, t_end), step.current_density))
                    t += step.duration
            return tuple(out)
        end = min(self.end, t_end)
        if self.interrupt_every is None:
            return ((self.start, end, self.current_density),) if end > self.start else ()
        t = self.start
        while t < end:
            on_end = min(t + self.interrupt_every, end)
            out.append((t, on_end, self.current_density))
            t = on_end + self.interrupt_duration
            if len(out) > 100000:
                raise ValueError("more than 100000 current segments")
        return tuple(out)


class ElectrolyteSection(Section):
    """Binary-electrolyte salt transport (module docstring). ``electrolyte``: a library
    material (``batteryfx materials``) with diffusivity, ionic_conductivity,
    transference_number (and optionally thermodynamic_factor and a ``transport`` table of
    D(c), kappa(c), used when ``concentration_dependent``); ``properties`` replace its values.
    ``regions``: volume marker -> porous region (unlisted: free electrolyte, porosity 1).
    ``anode``: the facet marker of the active Li surface; ``anode_reference``: the facet
    marker whose area the current density refers to (default: the whole anode face,
    ``anode``'s part of the geometry's ``anode`` marker); ``counter``: the facet marker of a
    planar counter electrode (``false``: the ``porous_electrode`` regions take the current).
    """

    model: Literal["electrolyte"]
    electrolyte: str
    properties: ElectrolyteProperties = ElectrolyteProperties()
    concentration_dependent: bool = True
    initial_concentration: Annotated[Concentration, Field(gt=0)] | None = None
    temperature: Temperature = 298.15
    regions: dict[str, PorousRegion] = {}
    anode: str = "anode"
    anode_reference: str | None = None
    counter: str | Literal[False] | None = "counter"
    protocol: Protocol
    saturation_concentration: Annotated[Concentration, Field(gt=0)] | None = None
    #: how the electrode current is distributed: "uniform" (imposed uniform normal
    #: current density over the active facets), "butler_volmer" (Butler-Volmer kinetics at
    #: the Li and a planar counter electrode shape it; the counter metal potential follows
    #: from the total current) or "linear" (linearised Butler-Volmer)
    kinetics: Literal["uniform", "butler_volmer", "linear"] = "uniform"
    #: i0 of the Li metal electrode at the initial concentration (A/m^2), i0(c) = i0
    #: (c_s / c0)^(1/2). With "uniform" the kinetic overpotential (2RT/F) asinh(i_n /
    #: (2 i0(c_s))) (symmetric Butler-Volmer) is only reported; with kinetics it is needed
    exchange_current_density: Annotated[CurrentDensity, Field(gt=0)] | None = None
    #: i0 of a planar counter electrode (default: the Li electrode's)
    counter_exchange_current_density: Annotated[CurrentDensity, Field(gt=0)] | None = None
    #: (alpha_a, alpha_c) of both electrodes
    charge_transfer_coefficients: tuple[Annotated[float, Field(gt=0, lt=1)],
                                        Annotated[float, Field(gt=0, lt=1)]] = (0.5, 0.5)
    #: Li on the stripping electrode (areal capacity of its active facets, e.g.
    #: "3 mA*h/cm^2"; none: unlimited). With Butler-Volmer it runs out locally (the current
    #: moves to where Li is left, the voltage rises to cutoff_voltage); "uniform": the run
    #: stops when it is used up
    anode_capacity: Annotated[ArealCharge, Field(gt=0)] | None = None
    #: fraction of anode_capacity over which the stripping activity falls to 0
    inventory_reserve: Annotated[float, Field(gt=0, lt=0.5)] = 1e-3
    #: the run stops when |cell voltage| crosses this (e.g. "1 V": Li stripped from Cu to
    #: 1 V; "3 V": a full cell's discharge)
    cutoff_voltage: Annotated[Voltage, Field(gt=0, le=10)] | None = None
    #: open-circuit potential of the counter electrode vs Li: an ocv curve (a library
    #: material's ``ocv`` table over a stoichiometry window, or soc / voltage), with
    #: counter_capacity (areal) and counter_initial_soc (1: charged); none: 0 V (Li)
    counter_ocv: OcvCurve | None = None
    counter_capacity: Annotated[ArealCharge, Field(gt=0)] | None = None
    counter_initial_soc: Annotated[float, Field(ge=0, le=1)] = 1.0
    on_depletion: Literal["stop", "continue"] = "stop"
    scheme: Literal["bdf2", "euler"] = "bdf2"
    solver: Literal["direct", "cg_gamg"] = "direct"

    @model_validator(mode="after")
    def _no_counter(self):
        if self.counter is False:  # (TOML has no null: counter = false)
            self.counter = None
        return self


# --------------------------------------------------------------------------- the problem
def transport_laws(ph) -> dict:
    """{diffusivity, conductivity, transference, thermodynamic_factor}: each a constant or
    (concentration-dependent, from the material's ``transport`` table) a piecewise-linear
    table of c; the case's ``properties`` win. No DOLFINx."""
    from batteryfx.materials import catalog

    mats = catalog()
    if ph.electrolyte not in mats:
        raise CaseError("physics.electrolyte", ph.electrolyte,
                        "unknown material; electrolytes of the library: "
                        + ", ".join(sorted(k for k, m in mats.items()
                                           if "transference_number" in m.properties)))
    m = mats[ph.electrolyte]
    given = ph.properties
    out = {}
    for key, lib in (("diffusivity", "diffusivity"), ("conductivity", "ionic_conductivity"),
                     ("transference", "transference_number"),
                     ("thermodynamic_factor", "thermodynamic_factor")):
        own = getattr(given, lib)
        if own is not None:
            out[key] = float(own)
        elif lib in m.properties:
            out[key] = float(m[lib])
        elif lib == "thermodynamic_factor":
            out[key] = 1.0
        else:
            raise CaseError("physics.electrolyte", ph.electrolyte,
                            f"this material has no {lib}; give physics.properties.{lib}")
    if ph.concentration_dependent and "transport" in m.tables:
        t = m.table("transport")
        for key, col in (("diffusivity", "D"), ("conductivity", "kappa")):
            own = getattr(given, "diffusivity" if key == "diffusivity" else "ionic_conductivity")
            if own is None and col in t.columns:
                out[key] = ("table", tuple(float(v) for v in t[t.key]),
                            tuple(float(v) for v in t[col]))
    return out


def initial_concentration(ph) -> float:
    if ph.initial_concentration is not None:
        return ph.initial_concentration
    from batteryfx.materials import catalog

    m = catalog()[ph.electrolyte]
    if "salt_concentration" not in m.properties:
        raise CaseError("physics.initial_concentration", None,
                        f"needed: {ph.electrolyte} has no salt_concentration")
    return float(m["salt_concentration"])


class ElectrolyteRun(WrappedProblem):
    """The run loop's view of an :class:`~batteryfx.solvers.electrolyte.ElectrolyteProblem`:
    stops the run (``stop_reason``) when the salt is used up at an electrode."""

    def __init__(self, inner, geometry, on_depletion: str, segments=(), i0=None, c0=1.0):
        super().__init__(inner, geometry)
        self.on_depletion = on_depletion
        self.segments = tuple(segments)
        self.i0, self.c0 = i0, c0
        #: current interrupts seen so far: the overpotentials when the current stops and
        #: when it starts again (the fast ohmic part is gone at once, the concentration
        #: part relaxes over L^2 / (pi^2 D_eff))
        self.interrupts: list[dict] = []

    def quantities(self) -> dict:
        """The solver's scalar results of the current state, computed once per state (every
        value probe of a probe row asks for them; each evaluation assembles several forms)."""
        key = (self.inner.t, self.inner.steps)
        if getattr(self, "_quantities", (None,))[0] != key:
            self._quantities = (key, self.inner.quantities())
        return self._quantities[1]

    def kinetic_overpotential(self) -> float | None:
        """Charge-transfer overpotential of the Li electrode plus that of a planar counter
        electrode (V, magnitudes): with kinetics |phi_s - phi - U| (surface means) of each;
        "uniform": the symmetric Butler-Volmer overpotential at i0 ~ sqrt(c_s / c0) of each
        surface's mean concentration, reported only; None without
        ``exchange_current_density``. A porous counter electrode's kinetics are not
        modelled (its share is left out)."""
        inner = self.inner
        if inner.kinetic:  # from the metal potentials: |eta_a| + |eta_c|
            eta_a, eta_c = inner.electrode_overpotentials()
            return abs(eta_a) + abs(eta_c or 0.0)
        if self.i0 is None:
            return None
        q = self.quantities()
        rt_f = inner.rt_f
        out = 0.0
        sides = [(q["anode_current_density_A_m2"], q["anode_concentration_mol_m3"])]
        if inner.counter_tags:
            total = q["current_density_A_m2"] * inner.reference_area
            sides.append((total / inner.counter_area, q["counter_concentration_mol_m3"]))
        for i_n, c_s in sides:
            if not (c_s > 0):
                return float("nan")
            i0 = self.i0 * math.sqrt(c_s / self.c0)
            out += 2 * rt_f * math.asinh(abs(i_n) / (2 * i0))
        return out

    @property
    def stop_reason(self) -> str | None:
        """Why the run ends before time.end (None: it does not)."""
        inner = self.inner
        if inner.cutoff_time is not None:
            return (f"the cell voltage reached the cut-off {inner.params.cutoff_voltage:g} V "
                    f"at t = {inner.cutoff_time:.6g} s (then at open circuit)")
        if inner.inventory_time is not None:
            return (f"the Li of the stripping electrode was used up at t = "
                    f"{inner.inventory_time:.6g} s")
        t = self.inner.depletion_time
        if t is None or self.on_depletion != "stop":
            return None
        return (f"the salt at an electrode was used up at t = {t:.6g} s (Sand's time / the "
                "limiting current passed: the cell cannot carry this current any longer)")

    def step(self, dt: float) -> None:
        self.inner.step(dt)
        self._watch_interrupts()

    def _watch_interrupts(self) -> None:
        """Record the overpotentials at the end of every current segment that is followed
        by a rest, and at the end of that rest (collective)."""
        t = self.inner.t
        tol = 1e-9 * max(abs(t), 1.0)
        for k, (_start, end, _) in enumerate(self.segments):
            nxt = self.segments[k + 1][0] if k + 1 < len(self.segments) else None
            if nxt is None or nxt - end <= tol:
                continue  # no rest after this segment
            if abs(t - end) <= tol and not any(abs(e["off_s"] - end) <= tol
                                               for e in self.interrupts):
                q = self.quantities()
                self.interrupts.append({
                    "off_s": end, "on_s": nxt,
                    "concentration_overpotential_off_V": q["concentration_overpotential_V"],
                    "ohmic_drop_off_V": q["ohmic_drop_V"],
                    "kinetic_overpotential_off_V": self.kinetic_overpotential()})
            if abs(t - nxt) <= tol:
                for e in self.interrupts:
                    if abs(e["off_s"] - end) <= tol and "concentration_overpotential_on_V" \
                            not in e:
                        q = self.quantities()
                        eta0 = e["concentration_overpotential_off_V"]
                        eta1 = q["concentration_overpotential_V"]
                        e["concentration_overpotential_on_V"] = eta1
                        e["relaxed_fraction"] = (1 - eta1 / eta0) if eta0 else None

    def state(self) -> dict:
        return {**self.inner.state(), "interrupts": self.interrupts}

    def restore(self, state: dict) -> None:
        self.interrupts = [dict(e) for e in state.get("interrupts", [])]
        self.inner.restore(state)


def counter_ocv(ph):
    """The counter electrode's U(q) (V) of the charge q passed (C per m^2 of the anode's
    reference area; discharge positive): the ocv curve at s = s0 - q / counter_capacity
    (piecewise linear, held constant outside), or 0 V."""
    if ph.counter_ocv is None:
        return 0.0
    import numpy as np

    soc, volts = ph.counter_ocv.table()
    soc, volts = np.asarray(soc, float), np.asarray(volts, float)
    s0, cap = ph.counter_initial_soc, ph.counter_capacity

    def ocv(q: float) -> float:
        return float(np.interp(s0 - q / cap, soc, volts))

    return ocv


def kinetics_params(ph, tdim: int) -> dict:
    """The kinetics, inventory, cut-off and OCV arguments of ElectrolyteParams (SI)."""
    aa, ac = ph.charge_transfer_coefficients
    return {"kinetics": ph.kinetics, "exchange_current_density": ph.exchange_current_density,
            "counter_exchange_current_density": ph.counter_exchange_current_density,
            "alpha_anodic": aa, "alpha_cathodic": ac, "anode_capacity": ph.anode_capacity,
            "inventory_reserve": ph.inventory_reserve, "cutoff_voltage": ph.cutoff_voltage,
            "ocv_counter": counter_ocv(ph)}


def build_problem(case, geometry) -> ElectrolyteRun:
    from batteryfx.solvers import electrolyte as el
    from batteryfx.solvers.chemomech import Table

    ph = case.physics
    laws = {k: (Table(v[1], v[2]) if isinstance(v, tuple) else v)
            for k, v in transport_laws(ph).items()}
    markers = geometry.markers
    regions = {}
    for tag in sorted({int(t) for m in markers.values() if m.dim == geometry.mesh.topology.dim
                       for t in m.tags}):
        regions[tag] = el.Region()
    for name, reg in ph.regions.items():
        for tag in markers[name].tags:
            regions[int(tag)] = el.Region(porosity=reg.porosity, bruggeman=reg.bruggeman,
                                          tortuosity=reg.tortuosity,
                                          porous_electrode=reg.porous_electrode)
    reference = ph.anode_reference or ("anode" if "anode" in markers else ph.anode)
    params = el.ElectrolyteParams(
        electrolyte=el.Electrolyte(**laws), regions=regions,
        anode=markers[ph.anode].tags,
        counter=None if ph.counter is None else markers[ph.counter].tags,
        anode_reference=markers[reference].tags,
        protocol=ph.protocol.segments(case.time.end),
        c_initial=initial_concentration(ph), temperature=ph.temperature,
        c_saturation=ph.saturation_concentration, on_depletion="flag",
        on_saturation="flag", scheme=ph.scheme, solver=ph.solver,
        **kinetics_params(ph, geometry.mesh.topology.dim))
    inner = el.ElectrolyteProblem(geometry.mesh, geometry.cell_tags, geometry.facet_tags,
                                  params)
    return ElectrolyteRun(inner, geometry, ph.on_depletion, params.protocol,
                          ph.exchange_current_density, params.c_initial)


def relaxation_time(case, geometry) -> float | None:
    """tau = L^2 / (pi^2 D_eff) of the slowest concentration mode of a one-layer section
    (D at the initial concentration; None for several layers, where it has no one formula)."""
    layers = [r for r in geometry.layers]
    if len(layers) != 1:
        return None
    laws = transport_laws(case.physics)
    d = laws["diffusivity"]
    if isinstance(d, tuple):
        import numpy as np

        d = float(np.interp(initial_concentration(case.physics), d[1], d[2]))
    reg = case.physics.regions.get(layers[0].name)
    factor = 1.0 if reg is None else (reg.porosity / reg.tortuosity if reg.tortuosity
                                      else reg.porosity**reg.bruggeman)
    eps = 1.0 if reg is None else reg.porosity
    # eps dc/dt = D_eff c'': the mode decays with D_eff / eps
    return layers[0].thickness**2 * eps / (math.pi**2 * d * factor)


def _nan(value):
    """A probe value: None (not modelled) as NaN."""
    return float("nan") if value is None else value


class ElectrolyteModel(PhysicsModel):
    name = "electrolyte"
    section = ElectrolyteSection
    conditions = ()
    sources = ()
    quantities = QUANTITIES["electrolyte"]
    primary = "concentration"

    def check(self, case, plan) -> None:
        ph = case.physics
        transport_laws(ph)
        initial_concentration(ph)
        dims = {m.dim for m in plan.markers.values()}
        tdim = max(dims)
        cells = sorted(n for n, m in plan.markers.items() if m.dim == tdim)
        facets = sorted(n for n, m in plan.markers.items() if m.dim == tdim - 1)
        for key in ("anode", "anode_reference", "counter"):
            name = getattr(ph, key)
            if name is not None and name not in facets:
                raise CaseError(f"physics.{key}", name, f"a facet marker of the geometry: "
                                f"{', '.join(facets)}")
        for name in ph.regions:
            if name not in cells:
                raise CaseError(f"physics.regions.{name}", name, f"a volume marker of the "
                                f"geometry: {', '.join(cells)}")
        porous = [n for n, r in ph.regions.items() if r.porous_electrode]
        if ph.counter is None and not porous:
            raise CaseError("physics.counter", None, "no counter electrode: give a facet "
                            "marker (e.g. 'counter') or a region with porous_electrode = true")
        if ph.counter is not None and porous:
            raise CaseError(f"physics.regions.{porous[0]}.porous_electrode", True,
                            "the counter current goes either to the counter facets or to "
                            "porous-electrode regions: set physics.counter = false, or drop "
                            "porous_electrode")
        if ph.kinetics != "uniform" and ph.exchange_current_density is None:
            raise CaseError("physics.exchange_current_density", None,
                            f"needed with kinetics = {ph.kinetics!r} (e.g. '1 mA/cm^2')")
        if ph.anode_capacity is not None and ph.kinetics == "linear":
            raise CaseError("physics.anode_capacity", "...", "needs kinetics = "
                            "'butler_volmer' or 'uniform' (the linearised law has no "
                            "stripping branch to limit)")
        if ph.anode_capacity is not None and ph.kinetics == "butler_volmer" \
                and ph.cutoff_voltage is None:
            raise CaseError("physics.cutoff_voltage", None, "needed with anode_capacity "
                            "and Butler-Volmer kinetics (e.g. '1 V': the voltage rises "
                            "without bound when the Li is used up)")
        if ph.counter_ocv is not None:
            if ph.counter_capacity is None:
                raise CaseError("physics.counter_capacity", None, "needed with counter_ocv "
                                "(the areal capacity of the counter electrode)")
            try:
                ph.counter_ocv.table()
            except CaseError as exc:
                raise CaseError(f"physics.counter_{exc.key}", exc.value,
                                exc.allowed) from None
        elif ph.counter_capacity is not None:
            raise CaseError("physics.counter_capacity", "...", "goes with counter_ocv")
        if case.boundary_conditions or case.sources:
            raise CaseError("boundary_conditions" if case.boundary_conditions else "sources",
                            "...", "the electrolyte takes its electrodes and current from "
                            "[physics] (anode, counter, protocol); other walls are blocking")
        try:
            segs = ph.protocol.segments(case.time.end)
        except ValueError as exc:
            raise CaseError("physics.protocol", "...", str(exc)) from None
        if not segs:
            raise CaseError("physics.protocol", "...", f"no current before time.end = "
                            f"{case.time.end:g} s")
        for i, probe in enumerate(case.probes):
            q = probe.quantity or self.primary
            if q not in self.quantities:
                raise CaseError(f"probes[{i}].quantity", q,
                                f"allowed: {', '.join(self.quantities)}")

    def build(self, case, geometry):
        return build_problem(case, geometry)

    def fields(self, problem) -> dict:
        return {name: f for name, (f, _) in problem.inner.fields.items()}

    def checkpoint_fields(self, problem) -> dict:
        return problem.inner.checkpoint_functions()

    def probe_sources(self, problem) -> dict:
        inner = problem.inner
        integrands = inner.probe_integrands()

        def quantity(key):
            return lambda marker: _nan(problem.quantities()[key])

        return {"concentration": inner.c, "potential": inner.phi,
                "salt": integrands["salt"],
                "surface_concentration": lambda marker: inner.surface_concentration(
                    problem.geometry.markers[marker].tags),
                "concentration_overpotential": quantity("concentration_overpotential_V"),
                "ohmic_drop": quantity("ohmic_drop_V"),
                "potential_difference": quantity("potential_difference_V"),
                "current_density": quantity("current_density_A_m2"),
                "kinetic_overpotential": lambda marker: _nan(problem.kinetic_overpotential()),
                "cell_voltage": quantity("cell_voltage_V"),
                "anode_kinetic_overpotential": quantity("anode_kinetic_overpotential_V"),
                "counter_kinetic_overpotential": quantity("counter_kinetic_overpotential_V")}

    def probe_reference(self, case):
        return initial_concentration(case.physics), None

    def summary(self, case, problem) -> dict:
        inner = problem.inner
        s = inner.summary()
        out = {"linear_iterations": inner.iterations, "electrolyte": case.physics.electrolyte,
               "transport": {k: (v if not isinstance(v, tuple) else "table of c")
                             for k, v in transport_laws(case.physics).items()},
               "results": {k: v for k, v in s.items() if k not in ("dofs", "time_steps")}}
        out["headline"] = {
            "concentration_overpotential_end_V": s["concentration_overpotential_V"],
            "ohmic_drop_end_V": s["ohmic_drop_V"],
            "anode_concentration_end_mol_m3": s["anode_concentration_mol_m3"],
            "counter_concentration_end_mol_m3": s["counter_concentration_mol_m3"],
            "min_concentration_mol_m3": s["min_concentration_over_run_mol_m3"],
            "max_concentration_mol_m3": s["max_concentration_over_run_mol_m3"],
            "depletion_time_s": s["depletion_time_s"],
            "saturation_time_s": s["saturation_time_s"]}
        if problem.i0 is not None:
            out["headline"]["kinetic_overpotential_end_V"] = problem.kinetic_overpotential()
        ph = case.physics
        if ph.kinetics != "uniform" or ph.cutoff_voltage is not None \
                or ph.counter_ocv is not None or ph.anode_capacity is not None:
            area = inner.reference_area
            head = out["headline"]
            head.update({
                "cell_voltage_end_V": s["cell_voltage_V"],
                "anode_kinetic_overpotential_end_V": s["anode_kinetic_overpotential_V"],
                "counter_kinetic_overpotential_end_V": s["counter_kinetic_overpotential_V"],
                "cutoff_time_s": s["cutoff_time_s"],
                "inventory_time_s": s["inventory_time_s"],
                # C/m^2 -> mA h/cm^2: / 36000
                "charge_passed_mAh_cm2": s["charge_passed_C"] / area / 36000.0})
            if s["charge_at_cutoff_C"] is not None:
                head["capacity_at_cutoff_mAh_cm2"] = s["charge_at_cutoff_C"] / area / 36000.0
            if ph.anode_capacity is not None:
                # stripped / available: the Coulombic efficiency of a Li|Cu strip
                head["stripped_fraction"] = (s["charge_at_cutoff_C"] if s["charge_at_cutoff_C"]
                                             is not None else s["charge_passed_C"]) \
                    / inner.inventory_initial
            if inner.kinetic:
                out["kinetic_newton_iterations"] = inner.bordered_iterations
        out["relaxation_time_s"] = relaxation_time(case, problem.geometry)
        if problem.interrupts:
            out["interrupts"] = problem.interrupts
            done = [e for e in problem.interrupts if e.get("relaxed_fraction") is not None]
            if done:
                last = done[-1]
                fast = last["ohmic_drop_off_V"] + (last["kinetic_overpotential_off_V"] or 0.0)
                out["headline"].update({
                    "interrupt_fast_V": fast,
                    "interrupt_ohmic_drop_V": last["ohmic_drop_off_V"],
                    "interrupt_concentration_overpotential_V":
                        last["concentration_overpotential_off_V"],
                    "interrupt_relaxed_fraction": last["relaxed_fraction"]})
        return out

    def report(self, problem) -> None:
        s = problem.quantities()
        if s["salt_drift_rel"] > 1e-8:
            LOGGER.warning(f"warning: the salt balance drifted by {s['salt_drift_rel']:.3g} "
                           "of the initial content (expected ~1e-12): check the electrode "
                           "currents")
        if s["depletion_time_s"] is not None:
            LOGGER.warning(f"warning: salt depleted at an electrode at t = "
                           f"{s['depletion_time_s']:.6g} s")
        if s["saturation_time_s"] is not None:
            LOGGER.warning(f"warning: salt saturation reached at t = "
                           f"{s['saturation_time_s']:.6g} s (precipitation)")


ELECTROLYTE = register(ElectrolyteModel())
