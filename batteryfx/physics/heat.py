"""Heat conduction as a batteryfx physics (``physics.model = "heat"``): its case section,
boundary conditions and sources, probe quantities, cross-checks, and the HeatProblem of a
case (solvers/heat.py) with per-layer or homogenised orthotropic properties.

rho c_p dT/dt = div(k grad T) + q (shared/PHYSICS.md B): T in K, k in W/(m K) (in-plane and
through-plane for a homogenised stack), rho c_p in J/(m^3 K), q in W/m^3.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from batteryfx.errors import CaseError
from batteryfx.log import LOGGER
from batteryfx.physics.base import PhysicsModel, register
from batteryfx.quantities import QUANTITIES
from batteryfx.schema import (
    MAX_HEAT_FLUX,
    MAX_HEAT_TRANSFER_COEFFICIENT,
    MAX_POWER_DENSITY,
    Section,
    Temperature,
    _bounded,
)
from batteryfx.units import (
    Charge,
    Energy,
    HeatFlux,
    HeatTransferCoefficient,
    Power,
    PowerDensity,
    Resistance,
    Time,
    Voltage,
)


# --------------------------------------------------------------------------- case section
class HeatSection(Section):
    """Transient heat conduction rho cp dT/dt = div(k grad T) + q. ``scheme``: "tr_bdf2"
    (default; second order and L-stable, one factorization per dt; steps that would leave the
    range of the data temperatures are redone with a positive first-order scheme) or "theta"
    (``theta`` = 1 backward Euler, 0.5 Crank-Nicolson with a backward-Euler start-up; theta is
    used by scheme = "theta" only)."""

    model: Literal["heat"] = "heat"
    initial_temperature: Temperature
    scheme: Literal["tr_bdf2", "theta"] = "tr_bdf2"
    theta: Annotated[float, Field(ge=0.5, le=1.0)] = 1.0
    mass_lumping: bool = True
    solver: Literal["auto", "direct", "cg_icc", "cg_gamg", "cg_column_mg"] = "auto"
    rtol: Annotated[float, Field(gt=0, lt=1e-2)] = 1e-10


PhysicsSection = HeatSection  # (the name before there were several physics)


class TemperatureBC(Section):  # on faces, or on a volume marker (a region held at T)
    """Fixed temperature on a facet marker (e.g. a hot spot held at 473 K)."""

    type: Literal["temperature"]
    marker: str
    value: Temperature


class ConvectionBC(Section):
    """Newton cooling -k dT/dn = h (T - ambient)."""

    type: Literal["convection"]
    marker: str
    h: Annotated[HeatTransferCoefficient, Field(ge=0), _bounded(
        None, MAX_HEAT_TRANSFER_COEFFICIENT, "W/(m^2 K)",
        "boiling and jet impingement reach about 1e5, contact conductances 1e7 W/(m^2 K)")]
    ambient: Temperature


class RadiationBC(Section):
    """Grey-body radiation to surroundings at ``ambient``: -k dT/dn = emissivity sigma
    (T^4 - ambient^4); may share a face with one convection condition (the fluxes add)."""

    type: Literal["radiation"]
    marker: str
    emissivity: Annotated[float, Field(gt=0, le=1)]
    ambient: Temperature


class HeatFluxBC(Section):
    """Prescribed heat flux into the body (W/m^2)."""

    type: Literal["heat_flux"]
    marker: str
    value: Annotated[HeatFlux, _bounded(
        None, MAX_HEAT_FLUX, "W/m^2", "focused lasers and arcs reach about 1e9 W/m^2",
        magnitude=True)]


class InsulatedBC(Section):
    """Zero flux (also what every face without a condition gets; symmetry planes)."""

    type: Literal["insulated"]
    marker: str


class PowerSource(Section):
    """Uniform volumetric heat source on a cell marker, switched on over [start, end)."""

    type: Literal["power_density"]
    marker: str
    value: Annotated[PowerDensity, _bounded(
        None, MAX_POWER_DENSITY, "W/m^3", "internal short-circuit spots reach about 1e13 W/m^3",
        magnitude=True)]
    start: Annotated[Time, Field(ge=0)] = 0.0
    end: Time = math.inf


class TotalPowerSource(Section):
    """A heat source of ``value`` watts spread uniformly over a cell marker (e.g. a hot spot
    of given power), switched on over [start, end)."""

    type: Literal["power"]
    marker: str
    value: Annotated[Power, _bounded(None, 1e9, "W", "a shorted large cell delivers about "
                                     "1e4 W; 1e9 W is a unit slip", magnitude=True)]
    start: Annotated[Time, Field(ge=0)] = 0.0
    end: Time = math.inf


class OcvCurve(Section):
    """The cell's open-circuit voltage vs state of charge s (1 full, 0 empty), for an
    internal short: either a table (``soc`` increasing in [0, 1], ``voltage`` at them) or a
    library material's ``ocv`` table U(sto) vs Li metal (``material``, e.g. "NCM811") over the
    stoichiometry window ``stoichiometry`` = [sto at s = 1, sto at s = 0] (linear in between;
    a Li-metal anode at 0 V, so V = U). Piecewise linear in s; held constant outside."""

    material: str | None = None
    stoichiometry: tuple[Annotated[float, Field(ge=0, le=2)],
                         Annotated[float, Field(ge=0, le=2)]] | None = None
    soc: list[Annotated[float, Field(ge=0, le=1)]] | None = None
    voltage: list[Annotated[Voltage, Field(gt=0), _bounded(
        None, 1e3, "V", "a single cell is below about 5 V; 1 kV is a unit slip")]] | None = None

    @model_validator(mode="after")
    def _one_form(self):
        table = self.soc is not None or self.voltage is not None
        lib = self.material is not None or self.stoichiometry is not None
        if table == lib:
            raise ValueError("give either soc and voltage (a table) or material and "
                             "stoichiometry (a library ocv table over a window)")
        if table:
            if self.soc is None or self.voltage is None or len(self.soc) != len(self.voltage) \
                    or len(self.soc) < 2:
                raise ValueError("soc and voltage need the same number of values, at least 2")
            if any(b <= a for a, b in zip(self.soc, self.soc[1:], strict=False)):
                raise ValueError(f"soc = {self.soc} must increase strictly")
        elif self.material is None or self.stoichiometry is None:
            raise ValueError("a library curve needs both material and stoichiometry")
        elif self.stoichiometry[0] == self.stoichiometry[1]:
            raise ValueError("the stoichiometry window needs two different ends")
        return self

    def table(self) -> tuple[list[float], list[float]]:
        """(soc knots increasing, V at them)."""
        if self.soc is not None:
            return list(self.soc), list(self.voltage)
        from batteryfx.materials import catalog

        mats = catalog()
        if self.material not in mats:
            raise CaseError("ocv.material", self.material, "a material of the library "
                            "(batteryfx materials) with an 'ocv' table")
        m = mats[self.material]
        if "ocv" not in m.tables:
            raise CaseError("ocv.material", self.material, "this material has no 'ocv' table; "
                            "give soc and voltage instead")
        t = m.table("ocv")
        key, col = t.key, [c for c in t.columns if c != t.key][0]
        full, empty = self.stoichiometry
        lo, hi = t.domain
        if min(full, empty) < lo - 1e-12 or max(full, empty) > hi + 1e-12:
            raise CaseError("ocv.stoichiometry", [full, empty], f"inside the {self.material} "
                            f"ocv table's range {key} = {lo:g} .. {hi:g}")
        keys = t[key]
        inner = keys[(keys > min(full, empty)) & (keys < max(full, empty))]
        sto = np.unique(np.concatenate([[full, empty], inner]))
        soc = (sto - empty) / (full - empty)
        order = np.argsort(soc)
        return [float(x) for x in soc[order]], [float(v) for v in t(col, sto[order])]


class InternalShortSource(Section):
    """An internal short / nail (shared/PHYSICS.md B): the cell discharges through the short,
    I = V_oc(s) / (R_int + R_short), with I^2 R_short deposited uniformly in ``marker`` (the
    short region, e.g. the nail column) and I^2 R_int spread over ``spread_marker`` (the
    electrode coatings), from ``start`` until the cell is empty. V_oc is a constant
    (``open_circuit_voltage``: the power is constant and stops when the stored ``energy``,
    or ``capacity`` x V_oc, is spent) or falls with the state of charge s (``ocv``, a curve;
    then ``capacity`` is needed and s runs from ``initial_soc`` to 0: see
    :mod:`batteryfx.physics.circuit`)."""

    type: Literal["internal_short"]
    marker: str
    spread_marker: str = "electrodes"
    open_circuit_voltage: Annotated[Voltage, Field(gt=0), _bounded(
        None, 1e3, "V", "a single cell is below about 5 V; 1 kV is a unit slip")] | None = None
    ocv: OcvCurve | None = None
    initial_soc: Annotated[float, Field(gt=0, le=1)] = 1.0
    internal_resistance: Annotated[Resistance, Field(ge=0), _bounded(
        None, 1e6, "ohm", "a unit slip")]
    short_resistance: Annotated[Resistance, Field(gt=0), _bounded(
        1e-9, 1e6, "ohm", "a unit slip")]
    energy: Annotated[Energy, Field(gt=0)] | None = None
    capacity: Annotated[Charge, Field(gt=0)] | None = None
    start: Annotated[Time, Field(ge=0)] = 0.0

    @model_validator(mode="after")
    def _one_budget(self):
        if (self.open_circuit_voltage is None) == (self.ocv is None):
            raise ValueError("give exactly one of open_circuit_voltage (a constant, e.g. "
                             "'4.2 V') or ocv (a curve vs state of charge)")
        if self.ocv is not None:
            if self.capacity is None or self.energy is not None:
                raise ValueError("with an ocv curve give capacity (e.g. '0.36 A*h'), not "
                                 "energy")
            return self
        if (self.energy is None) == (self.capacity is None):
            raise ValueError("give exactly one of energy (e.g. '1.3 W*h') or capacity "
                             "(e.g. '0.36 A*h', times open_circuit_voltage)")
        if self.initial_soc != 1.0:
            raise ValueError("initial_soc needs an ocv curve (with a constant "
                             "open_circuit_voltage the budget is energy or capacity)")
        return self

    def circuit(self):
        """The short's circuit (:class:`~batteryfx.physics.circuit.ShortCircuit`)."""
        from batteryfx.physics.circuit import ShortCircuit

        if self.ocv is None:
            v = self.open_circuit_voltage
            charge = self.capacity if self.capacity is not None else self.energy / v
            return ShortCircuit([1.0], [v], self.internal_resistance, self.short_resistance,
                                charge, self.start)
        soc, volts = self.ocv.table()
        return ShortCircuit(soc, volts, self.internal_resistance, self.short_resistance,
                            self.capacity, self.start, self.initial_soc)

    def stored_energy(self) -> float:
        """Energy the short can deliver (J)."""
        return self.circuit().energy

    def current(self) -> float:
        """Short-circuit current at the start (A)."""
        return self.circuit().current(self.start)

    def end(self) -> float:
        """When the cell is empty (s)."""
        return self.circuit().end


def short_summary(case, t: float) -> list[dict]:
    """Per internal short: its circuit at the start and at time t (s) of the run's end."""
    out = []
    for i, s in enumerate(case.sources):
        if s.type != "internal_short":
            continue
        c = s.circuit()
        out.append({"source": i, "marker": s.marker, "current_start_A": c.current(s.start),
                    "current_end_A": c.current(t), "state_of_charge_end": c.soc(t),
                    "energy_delivered_J": c.delivered(t), "energy_stored_J": c.energy,
                    "empty_at_s": c.end})
    return out


# --------------------------------------------------------------------------- problem
def layer_properties(rows, mats: dict) -> dict[int, tuple[float, float, float]]:
    """(k in-plane, k through-plane (W/(m K)), rho c_p (J/(m^3 K))) per cell tag of a layer
    table; a homogenised row (``mix``) gets the thickness-weighted parallel / series rules:
    k_in = sum(k_i t_i) / sum(t_i), k_through = sum(t_i) / sum(t_i / k_i),
    rho c_p = sum(rho_i c_i t_i) / sum(t_i) (shared/PHYSICS.md B)."""

    def own(name):
        m = mats[name]
        k = m["thermal_conductivity"]
        k_in = m["thermal_conductivity_in_plane"] if "thermal_conductivity_in_plane" in \
            m.properties else k
        return k_in, k, m["density"] * m["specific_heat"]

    out = {}
    for row in rows:
        if not row.mix:
            k_in, k, rc = own(row.material)
            props = dict(row.props)
            out[row.tag] = (props.get("thermal_conductivity_in_plane", k_in),
                            props.get("thermal_conductivity", k), rc)
            continue
        total = sum(t for _, t in row.mix)
        parts = [(own(name), t) for name, t in row.mix]
        out[row.tag] = (sum(p[0] * t for p, t in parts) / total,
                        total / sum(t / p[1] for p, t in parts),
                        sum(p[2] * t for p, t in parts) / total)
    return out



def heat_sources(case, geometry) -> list:
    """The case's sources as volumetric sources (W/m^3 over [start, end)): a total power over
    its marker's volume; an internal short as I^2 R_short in its region and I^2 R_int over the
    spread marker until the stored energy is spent."""
    from batteryfx.solvers import heat

    def whole(marker: str) -> float:
        """Volume of a marker in the whole cell (m^3): the mesh may be 1/copies of it."""
        return geometry.measure(marker) * geometry.copies

    out = []
    for s in case.sources:
        if s.type == "power_density":
            out.append(heat.VolumeSource(s.marker, s.value, s.start, s.end))
        elif s.type == "power":
            out.append(heat.VolumeSource(s.marker, s.value / whole(s.marker), s.start, s.end))
        elif s.type == "internal_short":
            circuit = s.circuit()
            i2 = circuit.current(s.start) ** 2
            # a constant V: constant power (no profile); else the power follows V(s(t))^2
            profile = None if s.ocv is None else circuit
            out.append(heat.VolumeSource(
                s.marker, i2 * s.short_resistance / whole(s.marker),
                s.start, circuit.end, profile))
            if s.internal_resistance > 0:
                out.append(heat.VolumeSource(
                    s.spread_marker, i2 * s.internal_resistance / whole(s.spread_marker),
                    s.start, circuit.end, profile))
    return out



def build_problem(case, geometry):
    """The heat problem of a case: per-layer (or homogenised orthotropic) k and rho c_p,
    conditions and sources."""
    from batteryfx.geometry_args import materials_for
    from batteryfx.solvers import heat

    mats = materials_for(case, geometry.layers)
    props = layer_properties(geometry.layers, mats)
    k_in = {tag: p[0] for tag, p in props.items()}
    k_z = {tag: p[1] for tag, p in props.items()}
    if k_in == k_z:
        k = heat.cellwise(geometry, k_z, "conductivity")
    else:
        k = (heat.cellwise(geometry, k_in, "conductivity_in_plane"),
             heat.cellwise(geometry, k_z, "conductivity_through_plane"))
    rc = heat.cellwise(geometry, {tag: p[2] for tag, p in props.items()}, "heat_capacity")
    conditions = []
    for bc in case.boundary_conditions:
        if bc.type == "temperature":
            conditions.append(heat.FixedTemperature(bc.marker, bc.value))
        elif bc.type == "convection":
            conditions.append(heat.Convection(bc.marker, bc.h, bc.ambient))
        elif bc.type == "radiation":
            conditions.append(heat.Radiation(bc.marker, bc.emissivity, bc.ambient))
        elif bc.type == "heat_flux":
            conditions.append(heat.HeatFlux(bc.marker, bc.value))
    sources = heat_sources(case, geometry)
    ph = case.physics
    return heat.HeatProblem(
        geometry, k, rc, initial_temperature=ph.initial_temperature, conditions=conditions,
        sources=sources, scheme=ph.scheme, theta=ph.theta, solver=ph.solver, rtol=ph.rtol,
        mass_lumping=ph.mass_lumping,
    )



def reference_temperature(case) -> float | None:
    """The highest fixed temperature of the case (reference of the rise fractions)."""
    temps = [bc.value for bc in case.boundary_conditions if isinstance(bc, TemperatureBC)]
    return max(temps) if temps else None



#: summary.json's energy_balance.drift_rel above this is reported as a warning (a direct
#: solver gives ~1e-14; an iterative one about its rtol)
ENERGY_DRIFT_WARN = 1e-8


def sanity_report(problem) -> None:
    """Warn when the energy balance drifts or the maximum principle is violated (collective
    numbers; rank 0 logs)."""
    balance = problem.energy_balance()
    if balance["drift_rel"] > ENERGY_DRIFT_WARN:
        LOGGER.warning(f"warning: energy balance drift {balance['drift_rel']:.3g} of the heat "
                       f"(stored {balance['stored_J']:.6g} J, put in {balance['net_input_J']:.6g}"
                       " J); the solve may be inaccurate: try physics.solver = 'direct' or a "
                       "smaller physics.rtol")
    excess = problem.max_principle_excess()
    if excess is not None and excess > problem.max_principle_tolerance():
        lo, hi = problem.bounds
        LOGGER.warning(f"warning: the temperature left [{lo:.6g}, {hi:.6g}] K (initial, fixed "
                       f"and ambient temperatures; no sources) by {excess:.3g} K: a maximum-"
                       "principle violation from the mesh (elongated hexahedra at a sudden hot "
                       "spot) or physics.mass_lumping = false; refine in-plane near the hot spot")



def energy_summary(balance: dict, copies: int = 1) -> dict:
    """summary.json's energy balance: stored heat, what was put in, their drift (J, for the
    whole object: the mesh's values times ``copies``, its mirror images)."""
    keys = ("stored_J", "net_input_J", "loads_J", "fixed_temperature_J", "drift_J")
    return {**{k: balance[k] * copies for k in keys}, "drift_rel": balance["drift_rel"]}



def max_principle_summary(problem) -> dict | str:
    excess = problem.max_principle_excess()
    if excess is None:
        return "not applicable (sources or heat fluxes)"
    lo, hi = problem.bounds
    return {"bounds_K": [lo, hi], "excess_K": excess,
            "tolerance_K": problem.max_principle_tolerance(),
            "violated": bool(excess > problem.max_principle_tolerance())}


# --------------------------------------------------------------------------- cross-checks
def check_heat_case(case, plan) -> None:
    """The heat rules of a case: condition and source markers exist and fit (a fixed
    temperature may hold a volume), one condition per face (convection + radiation may
    share one), sources on within the run, adaptive steps with TR-BDF2, and what marker
    probes of heat quantities allow."""
    markers = {n: m.dim for n, m in plan.markers.items()}
    tags = {n: m.tags for n, m in plan.markers.items()}
    facet_markers = {n for n, d in markers.items() if d == 2}
    cell_markers = {n for n, d in markers.items() if d == 3}
    bc_tags: dict[int, list[int]] = {}  # facet tag -> indices of the conditions on it
    for i, bc in enumerate(case.boundary_conditions):
        if isinstance(bc, TemperatureBC) and bc.marker in cell_markers:
            pass  # a volume held at a temperature (e.g. a hot spot region)
        elif bc.marker not in facet_markers:
            also = " (type = 'temperature' also takes a volume marker)" \
                if isinstance(bc, TemperatureBC) else ""
            raise CaseError(
                f"boundary_conditions[{i}].marker", bc.marker,
                f"unknown boundary marker{also}; allowed: {', '.join(sorted(facet_markers))}",
            )
        for tag in tags[bc.marker]:
            for j in bc_tags.get(tag, []):  # one condition per face, or convection + radiation
                if {bc.type, case.boundary_conditions[j].type} != {"convection", "radiation"}:
                    raise CaseError(
                        f"boundary_conditions[{i}].marker", bc.marker,
                        f"overlaps boundary_conditions[{j}] (marker "
                        f"{case.boundary_conditions[j].marker!r}); one condition per face "
                        "(only a convection and a radiation condition may share one)",
                    )
            bc_tags.setdefault(tag, []).append(i)
    t_end = case.time.end
    for i, src in enumerate(case.sources):
        if src.marker not in cell_markers:
            raise CaseError(
                f"sources[{i}].marker", src.marker,
                f"unknown volume marker; allowed: {', '.join(sorted(cell_markers))}",
            )
        if isinstance(src, InternalShortSource):
            if src.spread_marker not in cell_markers:
                raise CaseError(f"sources[{i}].spread_marker", src.spread_marker,
                                f"unknown volume marker; allowed: "
                                f"{', '.join(sorted(cell_markers))}")
            try:
                src.circuit()
            except CaseError as err:
                raise CaseError(f"sources[{i}].{err.key}", err.value, err.allowed) from None
            except ValueError as err:
                raise CaseError(f"sources[{i}].ocv", "...", str(err)) from None
        elif not src.end > src.start:
            raise CaseError(f"sources[{i}].end", src.end, "must be later than start")
    for i, src in enumerate(case.sources):
        if src.start >= t_end:
            raise CaseError(f"sources[{i}].start", src.start, f"must be before time.end = "
                            f"{t_end:g} s (the source would never be on)")
    if case.time.adaptive and case.physics.scheme != "tr_bdf2":
        raise CaseError("time.adaptive", True, "needs physics.scheme = 'tr_bdf2' (its "
                        "embedded error estimate)")
    has_reference = reference_temperature(case) is not None
    for i, probe in enumerate(case.probes):
        key = f"probes[{i}]"
        quantity = probe.quantity or HEAT.primary
        if quantity != HEAT.primary:
            if probe.marker is None or markers.get(probe.marker) != 3:
                raise CaseError(f"{key}.quantity", probe.quantity, "needs a volume marker "
                                "(marker = ...)")
            if probe.reduce not in (None, "mean") or probe.rise_fractions or probe.thresholds:
                raise CaseError(f"{key}.quantity", probe.quantity, "is integrated / averaged "
                                "over its marker: no reduce, rise_fractions or thresholds")
        if probe.rise_fractions and not has_reference:
            raise CaseError(
                f"{key}.rise_fractions", probe.rise_fractions,
                "needs a fixed-temperature boundary condition as the reference temperature",
            )


# --------------------------------------------------------------------------- the physics
class HeatModel(PhysicsModel):
    """Transient heat conduction (solvers/heat.py HeatProblem)."""

    name = "heat"
    section = HeatSection
    conditions = (TemperatureBC, ConvectionBC, RadiationBC, HeatFluxBC, InsulatedBC)
    sources = (PowerSource, TotalPowerSource, InternalShortSource)
    quantities = QUANTITIES["heat"]
    primary = "temperature"

    def check(self, case, plan) -> None:
        check_heat_case(case, plan)

    def build(self, case, geometry):
        return build_problem(case, geometry)

    def fields(self, problem) -> dict:
        return {"temperature": problem.T}

    def probe_sources(self, problem) -> dict:
        return {"temperature": problem.T, **problem.probe_integrands()}

    def probe_reference(self, case) -> tuple[float | None, float | None]:
        return case.physics.initial_temperature, reference_temperature(case)

    def summary(self, case, problem) -> dict:
        from mpi4py import MPI

        comm = problem.V.mesh.comm
        return {
            "factorizations": problem.factorizations,
            "linear_iterations": comm.allreduce(problem.iterations, op=MPI.MAX),
            "solver": problem.solver,
            "direct_fallback_solves": problem.direct_fallback_solves,
            "scheme": case.physics.scheme,
            "positivity_fallback_steps": problem.fallback_steps,
            # redos that could not remove the excursion (the mesh causes it) and the steps
            # not redone for that reason (solvers/heat.py, positivity safeguard)
            "positivity_fallback_futile": problem.fallback_futile,
            "positivity_fallback_skipped": problem.fallback_skipped,
            "energy_balance": energy_summary(problem.energy_balance(),
                                             problem.geometry.copies),
            "max_principle": max_principle_summary(problem),
            "initial_temperature_K": case.physics.initial_temperature,
            "reference_temperature_K": reference_temperature(case),
            "internal_shorts": short_summary(case, problem.t),
        }

    def report(self, problem) -> None:
        sanity_report(problem)


HEAT = register(HeatModel())
