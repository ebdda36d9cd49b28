"""Case files: TOML validated by pydantic v2 (unknown keys rejected), quantities with units.

``load_case(path, overrides)`` returns a validated :class:`Case` or raises :class:`CaseError`
whose one-line message names the key path (``geometry.stacks[0].layers[1].thickness``), the value
and what is allowed. Checks that need more than one key (contiguous layers, known materials and
markers, probes inside the domain, output times within the run) are in :func:`check_case`, so
``batteryfx validate`` catches them without building a mesh.
"""

from __future__ import annotations

import math
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from batteryfx.errors import CaseError
from batteryfx.units import (
    ArealCharge,
    Charge,
    ContactResistance,
    Energy,
    HeatFlux,
    HeatTransferCoefficient,
    Length,
    MassPerCharge,
    Power,
    PowerDensity,
    Resistance,
    Time,
    Voltage,
    to_si,
)
from batteryfx.units import Temperature as _AnyTemperature

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]*$"
MAX_CELLS = 2e7  # a case larger than this is almost certainly a unit slip
MAX_STEPS = 10**6
MAX_CASE_BYTES = 4 * 2**20  # a case file is a few kB of TOML
MAX_DEPTH = 32  # nesting of tables and arrays in a case file

# Physical bounds: values outside are unit slips or outside what the models describe.
MIN_LENGTH, MAX_LENGTH = 1e-9, 10.0  # m
MIN_TEMPERATURE, MAX_TEMPERATURE = 1.0, 1e4  # K
MIN_DT, MAX_TIME = 1e-12, 1e9  # s
MAX_HEAT_TRANSFER_COEFFICIENT = 1e7  # W/(m^2 K)
MAX_HEAT_FLUX = 1e10  # W/m^2
MAX_POWER_DENSITY = 1e15  # W/m^3


def _num(x: float) -> str:
    """A bound as short text: 1e-09 -> 1e-9, 10000.0 -> 1e4."""
    text = f"{x:.3g}"
    return text.replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def _bounded(lo: float | None, hi: float | None, unit: str, reason: str | tuple[str, str], *,
             magnitude: bool = False) -> AfterValidator:
    """A validator for lo <= value <= hi (of abs(value) with ``magnitude``), saying why
    (``reason``, or a reason for the lower and one for the upper bound)."""
    what = "the magnitude " if magnitude else ""
    why_lo, why_hi = (reason, reason) if isinstance(reason, str) else reason

    def check(value: float) -> float:
        x = abs(value) if magnitude else value
        if lo is not None and x < lo:
            raise ValueError(f"{what}must be at least {_num(lo)} {unit} ({why_lo})")
        if hi is not None and x > hi:
            raise ValueError(f"{what}must be at most {_num(hi)} {unit} ({why_hi})")
        return value

    return AfterValidator(check)


_LENGTH_BOUNDS = _bounded(MIN_LENGTH, MAX_LENGTH, "m", (
    "below 1 nm continuum heat conduction does not hold and the mesher cannot resolve it",
    "batteryfx meshes cells and coupons, not objects larger than 10 m"))
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
PositiveLength = Annotated[Length, Field(gt=0), _LENGTH_BOUNDS]
Coordinate = Annotated[Length, Field(ge=0), _bounded(
    None, MAX_LENGTH, "m", "batteryfx meshes cells and coupons, not objects larger than 10 m")]
Temperature = Annotated[_AnyTemperature, _bounded(
    MIN_TEMPERATURE, MAX_TEMPERATURE, "K",
    "batteryfx models solid and liquid battery materials; the library data are for about "
    "200-1500 K",
)]
Duration = Annotated[Time, Field(gt=0), _bounded(MIN_DT, MAX_TIME, "s", (
    "below 1 ps continuum heat conduction does not hold", "that is about 30 years"))]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- geometry
class LayerSpec(_Section):
    """One layer of a stack: a material over a z range. Give ``thickness`` (layers are stacked
    from z = 0 upward in the order listed) or an explicit ``z = [z0, z1]``."""

    name: Name
    material: str
    thickness: PositiveLength | None = None
    z: tuple[Coordinate, Coordinate] | None = None
    cells: Annotated[int, Field(ge=1, le=1000)] | None = None


class StackSpec(_Section):
    """A column of layers over the coupon footprint (e.g. a current collector)."""

    name: Name
    layers: Annotated[list[LayerSpec], Field(min_length=1)]


class HotSpotSpec(_Section):
    """A rectangular patch on the top face, meshed exactly (its edges are mesh lines).

    ``mesh_size`` refines the in-plane mesh on the patch; the cells grow geometrically (ratio
    at most ``geometry.grading``) to ``geometry.mesh_size`` away from it."""

    size: tuple[PositiveLength, PositiveLength]
    center: tuple[Length, Length] | None = None
    mesh_size: PositiveLength | None = None


class CouponGeometry(_Section):
    """Layered coupons side by side in x (each ``size`` in-plane), hexahedral mesh extruded
    through the layer table; the stacks are thermally separate (gap between them)."""

    kind: Literal["coupon"]
    size: tuple[PositiveLength, PositiveLength]
    mesh_size: PositiveLength
    max_cell_thickness: PositiveLength | None = None
    min_cells_per_layer: Annotated[int, Field(ge=1, le=100)] = 2
    gap: Annotated[Length, Field(gt=0)] | None = None
    grading: Annotated[float, Field(gt=1.0, le=2.0)] = 1.25
    hot_spot: HotSpotSpec | None = None
    stacks: Annotated[list[StackSpec], Field(min_length=1)]


class PouchLayerSpec(_Section):
    """One layer of a hand-written pouch stack (instead of ``unit``), listed bottom-up."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_./-]+$")]
    material: str
    thickness: PositiveLength
    footprint: Literal["anode", "cathode", "separator"] = "separator"
    component: Literal["anode_collector", "anode_active", "separator", "cathode_active",
                       "cathode_collector", "packaging", "other"] = "other"
    part: str = ""
    unit: Annotated[int, Field(ge=0, le=10000)] = 0
    cells: Annotated[int, Field(ge=1, le=1000)] | None = None


class TabSpec(_Section):
    """A tab: the collector layers of one electrode kind continued ``length`` beyond the
    stack on side ``side``, over ``x = [x0, x1]`` (or ``y`` for the x sides) in the stack's
    coordinates (origin at the separator footprint's corner)."""

    name: Name
    electrode: Literal["anode", "cathode"]
    span: tuple[Length, Length]
    length: PositiveLength
    side: Literal["y+", "y-", "x+", "x-"] = "y+"


class ContactSpec(_Section):
    """A thermal contact resistance R_c on the interface above layer ``above``, modelled as a
    thin equivalent layer (``thickness``, default 1 um, taken from the layer below's material
    for its heat capacity) of conductivity thickness / R_c: its through-plane resistance is
    exactly R_c; its heat capacity and in-plane conduction are negligible for thin layers."""

    above: str
    resistance: Annotated[ContactResistance, Field(gt=0), _bounded(
        None, 1.0, "m^2 K/W", "interfaces are about 1e-6 to 1e-3 m^2 K/W")]
    thickness: PositiveLength = 1e-6


class RegionSpec(_Section):
    """An in-plane rectangle through chosen layers (a hot spot, a nail, a short), meshed
    exactly and graded toward; a volume marker named ``name``. ``layers``: layer names or
    electrode parts (``a1``, ``c0``, ``unit3``); empty: every layer."""

    name: Name
    size: tuple[PositiveLength, PositiveLength]
    center: tuple[Length, Length] | None = None
    layers: list[str] = []
    mesh_size: PositiveLength | None = None


class PouchGeometry(_Section):
    """A stacked pouch cell (geometry/pouch.py): N double-sided cathodes between N + 1 anodes
    from a ``unit`` preset (or a hand-written ``layers`` list), real footprints, optional tabs
    and refined regions; extruded hexahedra, or one homogenised orthotropic block."""

    kind: Literal["pouch"]
    unit: str | None = "piag_20li_ncm811"
    cathodes: Annotated[int, Field(ge=1, le=200)] = 2
    outer_anodes: Literal["single_sided", "double_sided"] = "single_sided"
    anode_size: tuple[PositiveLength, PositiveLength] = (58e-3, 45e-3)
    cathode_size: tuple[PositiveLength, PositiveLength] = (56e-3, 43e-3)
    separator_size: tuple[PositiveLength, PositiveLength] | None = None
    separator_thickness: PositiveLength = 16e-6
    laminate: bool = True
    layers: list[PouchLayerSpec] | None = None
    filler: str = "electrolyte_LiPF6_EC_DMC"
    tabs: list[TabSpec] = []
    regions: list[RegionSpec] = []
    contacts: list[ContactSpec] = []
    mesh_size: PositiveLength = 2e-3
    grading: Annotated[float, Field(gt=1.0, le=2.0)] = 1.3
    min_cells_per_layer: Annotated[int, Field(ge=1, le=100)] = 1
    max_cell_thickness: PositiveLength | None = None
    mode: Literal["resolved", "homogenised"] = "resolved"
    homogenised_cells: Annotated[int, Field(ge=1, le=10000)] | None = None


GeometrySection = Annotated[CouponGeometry | PouchGeometry, Field(discriminator="kind")]


# --------------------------------------------------------------------------- physics
class PhysicsSection(_Section):
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


class TemperatureBC(_Section):  # on faces, or on a volume marker (a region held at T)
    """Fixed temperature on a facet marker (e.g. a hot spot held at 473 K)."""

    type: Literal["temperature"]
    marker: str
    value: Temperature


class ConvectionBC(_Section):
    """Newton cooling -k dT/dn = h (T - ambient)."""

    type: Literal["convection"]
    marker: str
    h: Annotated[HeatTransferCoefficient, Field(ge=0), _bounded(
        None, MAX_HEAT_TRANSFER_COEFFICIENT, "W/(m^2 K)",
        "boiling and jet impingement reach about 1e5, contact conductances 1e7 W/(m^2 K)")]
    ambient: Temperature


class RadiationBC(_Section):
    """Grey-body radiation to surroundings at ``ambient``: -k dT/dn = emissivity sigma
    (T^4 - ambient^4); may share a face with one convection condition (the fluxes add)."""

    type: Literal["radiation"]
    marker: str
    emissivity: Annotated[float, Field(gt=0, le=1)]
    ambient: Temperature


class HeatFluxBC(_Section):
    """Prescribed heat flux into the body (W/m^2)."""

    type: Literal["heat_flux"]
    marker: str
    value: Annotated[HeatFlux, _bounded(
        None, MAX_HEAT_FLUX, "W/m^2", "focused lasers and arcs reach about 1e9 W/m^2",
        magnitude=True)]


class InsulatedBC(_Section):
    """Zero flux (also what every face without a condition gets; symmetry planes)."""

    type: Literal["insulated"]
    marker: str


BoundaryCondition = Annotated[
    TemperatureBC | ConvectionBC | RadiationBC | HeatFluxBC | InsulatedBC,
    Field(discriminator="type"),
]


class PowerSource(_Section):
    """Uniform volumetric heat source on a cell marker, switched on over [start, end)."""

    type: Literal["power_density"]
    marker: str
    value: Annotated[PowerDensity, _bounded(
        None, MAX_POWER_DENSITY, "W/m^3", "internal short-circuit spots reach about 1e13 W/m^3",
        magnitude=True)]
    start: Annotated[Time, Field(ge=0)] = 0.0
    end: Time = math.inf


class TotalPowerSource(_Section):
    """A heat source of ``value`` watts spread uniformly over a cell marker (e.g. a hot spot
    of given power), switched on over [start, end)."""

    type: Literal["power"]
    marker: str
    value: Annotated[Power, _bounded(None, 1e9, "W", "a shorted large cell delivers about "
                                     "1e4 W; 1e9 W is a unit slip", magnitude=True)]
    start: Annotated[Time, Field(ge=0)] = 0.0
    end: Time = math.inf


class InternalShortSource(_Section):
    """An internal short / nail (shared/PHYSICS.md B): the cell discharges through the short,
    I = V_oc / (R_int + R_short), with I^2 R_short deposited uniformly in ``marker`` (the
    short region, e.g. the nail column) and I^2 R_int spread over ``spread_marker`` (the
    electrode coatings), from ``start`` until the stored ``energy`` (or ``capacity`` x V_oc)
    is spent. V_oc is held constant (no state-of-charge dependence): the power is constant
    and stops at t_end = start + E (R_int + R_short) / V_oc^2."""

    type: Literal["internal_short"]
    marker: str
    spread_marker: str = "electrodes"
    open_circuit_voltage: Annotated[Voltage, Field(gt=0), _bounded(
        None, 1e3, "V", "a single cell is below about 5 V; 1 kV is a unit slip")]
    internal_resistance: Annotated[Resistance, Field(ge=0), _bounded(
        None, 1e6, "ohm", "a unit slip")]
    short_resistance: Annotated[Resistance, Field(gt=0), _bounded(
        1e-9, 1e6, "ohm", "a unit slip")]
    energy: Annotated[Energy, Field(gt=0)] | None = None
    capacity: Annotated[Charge, Field(gt=0)] | None = None
    start: Annotated[Time, Field(ge=0)] = 0.0

    @model_validator(mode="after")
    def _one_budget(self):
        if (self.energy is None) == (self.capacity is None):
            raise ValueError("give exactly one of energy (e.g. '1.3 W*h') or capacity "
                             "(e.g. '0.36 A*h', times open_circuit_voltage)")
        return self

    def stored_energy(self) -> float:
        """Energy the short can deliver (J)."""
        return self.energy if self.energy is not None else self.capacity \
            * self.open_circuit_voltage

    def current(self) -> float:
        """Short-circuit current (A)."""
        return self.open_circuit_voltage / (self.internal_resistance + self.short_resistance)

    def end(self) -> float:
        """When the stored energy is spent (s)."""
        i = self.current()
        return self.start + self.stored_energy() / (i * i * (self.internal_resistance
                                                             + self.short_resistance))


Source = Annotated[PowerSource | TotalPowerSource | InternalShortSource,
                   Field(discriminator="type")]


class CellSection(_Section):
    """Electrochemical data of a stacked cell for its budget (summary.json ``cell_budget``):
    capacity = ``areal_capacity`` x cathode coating area x coated faces; energy = capacity x
    ``nominal_voltage``; electrolyte mass = ``electrolyte_per_capacity`` x capacity."""

    areal_capacity: Annotated[ArealCharge, Field(gt=0), _bounded(
        None, 3600.0 * 1e-3 * 1e4 * 100, "C/m^2", "100 mAh/cm^2 is far above any electrode")]
    nominal_voltage: Annotated[Voltage, Field(gt=0), _bounded(
        None, 10.0, "V", "a single lithium cell is below about 5 V")]
    electrolyte_per_capacity: Annotated[MassPerCharge, Field(ge=0)] = 1.5e-3 / 3600.0


# --------------------------------------------------------------------------- time, probes, out
class TimeSection(_Section):
    """Time stepping: dt starts at ``dt_initial`` and grows by ``growth`` per step up to
    ``dt_max`` (in jumps of growth**hold_steps every ``hold_steps`` steps, so that a factorized
    operator is reused; without ``dt_max`` the steps grow without a cap); steps are shortened
    to land exactly on output times and ``end``."""

    end: Duration
    dt_initial: Duration
    dt_max: Duration | None = None
    growth: Annotated[float, Field(ge=1.0, le=10.0)] = 1.0
    hold_steps: Annotated[int, Field(ge=1, le=1000)] = 1
    #: error-controlled steps (TR-BDF2's embedded estimate): each step's local error <=
    #: tolerance (K); dt_initial is the first try, dt_max the cap; growth/hold_steps unused
    adaptive: bool = False
    tolerance: Annotated[float, Field(gt=0, le=1000), BeforeValidator(
        lambda v: to_si(v, "temperature") if isinstance(v, str) else v)] = 0.1


class ProbeSpec(_Section):
    """A named time series in probes.csv: the temperature at a ``point``, or the mean / max /
    min over a ``marker`` (facets or cells; ``reduce``, default mean, only with a marker).
    ``rise_fractions`` report in summary.json the time at which the probe first reaches
    T0 + f (T_ref - T0), T_ref the highest fixed temperature of the boundary conditions;
    ``thresholds`` the time at which it first reaches each temperature (rising)."""

    name: Name
    point: tuple[Length, Length, Length] | None = None
    marker: str | None = None
    reduce: Literal["mean", "max", "min"] | None = None  # "mean" for a marker probe
    rise_fractions: list[Annotated[float, Field(gt=0, lt=1)]] = []
    #: temperatures whose first crossing time is reported (summary.json ``time_to_<T>C_s``)
    thresholds: list[Temperature] = []
    #: what a marker probe reports: temperature (K), the stored ``heat`` rho c_p (T - T0)
    #: integrated over the marker (J), or the mean heat-flux magnitude along the layers
    #: (``flux_in_plane``) or across them (``flux_through``) (W/m^2)
    quantity: Literal["temperature", "heat", "flux_in_plane", "flux_through"] = "temperature"

    @model_validator(mode="after")
    def _default_reduce(self) -> ProbeSpec:
        if self.marker is not None and self.point is None and self.reduce is None:
            self.reduce = "mean"
        return self


class OutputsSection(_Section):
    """What goes to OUT/: fields at t = 0, at ``field_times`` and at the end (one transient
    VTKHDF file, fields/fields.vtkhdf: the mesh once, one array per time); a checkpoint every
    N steps."""

    fields: bool = True
    field_times: list[Annotated[Time, Field(ge=0)]] = []
    checkpoint_every: Annotated[int, Field(ge=1)] = 50


class FiguresSection(_Section):
    """PyVista cut-plane figure of the saved fields and a matplotlib probe plot."""

    enabled: bool = True
    cut_normal: Literal["x", "y", "z"] = "y"
    cut_origin: tuple[Length, Length, Length] | None = None
    #: width of the cut shown around cut_origin (None: all of it)
    cut_window: PositiveLength | None = None
    #: vertical stretch of the cut (None: 1, or what makes a flat cut 1:6)
    z_scale: Annotated[float, Field(gt=0, le=1e5)] | None = None
    times: list[Annotated[Time, Field(ge=0)]] | None = None
    probe_plot: bool = True
    log_time_axis: bool = True


class Case(_Section):
    """A batteryfx case."""

    title: str
    description: str = ""
    geometry: GeometrySection
    materials: dict[str, dict[str, Any]] = {}
    physics: PhysicsSection
    boundary_conditions: list[BoundaryCondition] = []
    sources: list[Source] = []
    cell: CellSection | None = None
    time: TimeSection
    probes: list[ProbeSpec] = []
    outputs: OutputsSection = OutputsSection()
    figures: FiguresSection = FiguresSection()

    @field_validator("materials", mode="before")
    @classmethod
    def _materials_are_tables(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ValueError("expected tables [materials.NAME] with property = value")
        return value


# --------------------------------------------------------------------------- loading
def read_toml(path: Path) -> dict:
    """Read a TOML case file (UTF-8, at most MAX_CASE_BYTES); every problem is a CaseError."""
    where = str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CASE_BYTES + 1)
    except FileNotFoundError:
        raise CaseError("", where, "case file not found") from None
    except IsADirectoryError:
        raise CaseError("", where, "is a folder, not a case file") from None
    except OSError as exc:
        raise CaseError("", where, f"cannot read the case file ({exc.strerror or exc})") from None
    if len(raw) > MAX_CASE_BYTES:
        raise CaseError("", where, f"larger than {MAX_CASE_BYTES // 2**20} MB; a case file is "
                        "a few kB of TOML")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaseError("", where, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                        f"{exc.start}); save the case file as UTF-8") from None
    return _loads(text, "", where)


def _loads(text: str, key: str, where: str) -> dict:
    """tomllib.loads with its errors (also too deep nesting) as CaseError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(key, where, f"not valid TOML ({exc})") from None
    except RecursionError:
        raise CaseError(key, where, f"arrays or tables nested more than {MAX_DEPTH} "
                        "levels deep") from None
    _check_depth(data, key)
    return data


def _check_depth(data: Any, key: str) -> None:
    """Refuse tables and arrays nested more than MAX_DEPTH levels (no recursion here)."""
    stack = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise CaseError(key, "[[[...]]]", f"arrays or tables nested more than {MAX_DEPTH} "
                            "levels deep")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


_SET_PATH = re.compile(r"[A-Za-z0-9_-]+(\[\d+\])*(\.[A-Za-z0-9_-]+(\[\d+\])*)*")
_KEY = re.compile(r"([A-Za-z0-9_-]+)|\[(\d+)\]")


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``key.path=value`` overrides (value parsed as a TOML value, else a string).

    The path is names, dots and ``[index]`` (e.g. ``geometry.stacks[0].layers[1].thickness``);
    missing tables are created, list entries must exist.
    """
    for item in overrides:
        if "=" not in item:
            raise CaseError("--set", item, "expected key.path=value")
        path, raw = item.split("=", 1)
        path = path.strip()
        if not _SET_PATH.fullmatch(path):
            raise CaseError("--set", item, "expected key.path=value with a path of names, dots "
                            "and [index], e.g. geometry.stacks[0].layers[1].thickness")
        value = _set_value(path, raw)
        keys = [m.group(1) if m.group(1) is not None else int(m.group(2))
                for m in _KEY.finditer(path)]
        node: Any = data
        walked = ""
        for key, next_key in zip(keys, keys[1:] + [None], strict=True):
            if isinstance(key, int):
                if not isinstance(node, list):
                    raise CaseError(path, raw, f"--set: {walked or 'the case'} is not a list")
                if key >= len(node):
                    raise CaseError(path, raw, f"--set: {walked} has {len(node)} entries "
                                    "(indices from 0)")
            elif not isinstance(node, dict):
                raise CaseError(path, raw, f"--set: {walked or 'the case'} is not a table")
            walked += f"[{key}]" if isinstance(key, int) else (f".{key}" if walked else key)
            if next_key is None:
                node[key] = value
            else:
                node = node[key] if isinstance(key, int) else node.setdefault(key, {})
    _check_depth(data, "--set")
    return data


def _set_value(path: str, raw: str) -> Any:
    """The TOML value of a --set (one value, nothing after it), else the text itself."""
    try:
        doc = tomllib.loads(f"v = {raw}")
    except tomllib.TOMLDecodeError:
        return raw
    except RecursionError:
        raise CaseError(path, "[[[...]]]", f"arrays or tables nested more than {MAX_DEPTH} "
                        "levels deep") from None
    return doc["v"] if len(doc) == 1 else raw


def load_case(path: str | Path, overrides: list[str] | None = None) -> Case:
    """Load, override, validate and cross-check a case file."""
    data = apply_overrides(read_toml(Path(path)), overrides or [])
    return parse_case(data)


def parse_case(data: dict) -> Case:
    """Validate a case dictionary (as read from TOML)."""
    _check_depth(data, "")
    try:
        case = Case.model_validate(data)
    except ValidationError as exc:
        raise _case_error(exc, data) from None
    check_case(case)
    return case


def dump_case(case: Case) -> str:
    """The resolved case (defaults filled, SI numbers) as TOML; it loads back as the same case."""
    data = case.model_dump(mode="json", exclude_none=True)
    _drop_inf(data)
    return tomli_w.dumps(data)


def _drop_inf(node: Any) -> None:
    if isinstance(node, dict):
        for key in [k for k, v in node.items() if isinstance(v, float) and math.isinf(v)]:
            del node[key]
        for v in node.values():
            _drop_inf(v)
    elif isinstance(node, list):
        for v in node:
            _drop_inf(v)


def _case_error(exc: ValidationError, data: dict) -> CaseError:
    """One line from the first pydantic error: key path, value, what is allowed."""
    err = exc.errors(include_url=False)[0]
    keys, node = [], data
    for item in err["loc"]:
        if isinstance(item, int):
            keys.append(f"[{item}]")
            node = node[item] if isinstance(node, list) and item < len(node) else None
            continue
        if isinstance(node, dict) and item not in node and err["type"] != "missing":
            continue  # the tag of a discriminated union
        if isinstance(node, dict) and "type" in node and item == node.get("type"):
            continue
        keys.append(("." if keys else "") + str(item))
        node = node.get(item) if isinstance(node, dict) else None
    key = "".join(keys)
    msg = err["msg"].removeprefix("Value error, ")
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = _field_model_at(Case, err["loc"][:-1], data)
        allowed = ", ".join(parent.model_fields) if parent else "see the documentation"
        return CaseError(key, err.get("input"), f"unknown key; allowed here: {allowed}")
    if kind == "missing" and err["loc"] and isinstance(err["loc"][-1], int):
        return CaseError(key, "<missing>", "too few items in this list")
    if kind == "missing":
        return CaseError(key, "<missing>", "required key is missing")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return CaseError(key, err.get("input"), f"not allowed; expected one of {expected}")
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return CaseError(f"{key}.type", ctx.get("tag"),
                         f"not allowed; expected one of {ctx.get('expected_tags', '')}")
    if kind == "union_tag_not_found":
        return CaseError(key, node, "needs a 'type' key")
    return CaseError(key, err.get("input"), msg[:1].lower() + msg[1:])


def _unwrap(annotation: Any, node: Any) -> type[BaseModel] | None:
    """The BaseModel inside an annotation (Optional, list, Annotated, tagged union)."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0], node)
    if origin in (list, tuple):
        args = typing.get_args(annotation)
        return _unwrap(args[0], node) if args else None
    if origin in (typing.Union, types.UnionType):
        members = [m for a in typing.get_args(annotation) if (m := _unwrap(a, node))]
        if isinstance(node, dict) and "type" in node:
            for m in members:
                tag = m.model_fields.get("type")
                if tag is not None and node["type"] in typing.get_args(tag.annotation):
                    return m
        return members[0] if len(members) == 1 else None
    return None


def _field_model_at(model: type[BaseModel], loc: tuple, data: Any) -> type[BaseModel] | None:
    node = data
    current: type[BaseModel] | None = model
    for item in loc:
        if isinstance(item, int):
            node = node[item] if isinstance(node, list) and item < len(node) else None
            if isinstance(node, dict) and current is not None and "type" in node:
                current = _unwrap(current, node) or current
            continue
        if isinstance(node, dict) and item not in node:
            continue  # union tag
        if current is None or item not in current.model_fields:
            return None
        sub = node.get(item) if isinstance(node, dict) else None
        first = sub[0] if isinstance(sub, list) and sub else sub
        current = _unwrap(current.model_fields[item].annotation, first)
        node = sub
    return current


# --------------------------------------------------------------------------- cross checks
def check_case(case: Case) -> None:
    """Checks across keys; each failure is one CaseError naming the key."""
    from batteryfx.geometry_args import plan_case_geometry, used_materials
    from batteryfx.materials import library

    lib = library()
    geo = case.geometry
    # materials, names, layer table, hot spot, resolvable features: the builder's plan
    _, plan = plan_case_geometry(geo)
    cells = plan.cells
    if cells > MAX_CELLS:
        raise CaseError("geometry.mesh_size", geo.mesh_size,
                        f"would make about {cells:.3g} cells (limit {MAX_CELLS:.0e}); use "
                        "larger cells (mesh_size, hot_spot.mesh_size, max_cell_thickness)")

    used = used_materials(plan)
    for name, props in case.materials.items():
        if name not in lib:
            raise CaseError(
                f"materials.{name}", props,
                f"unknown material to override; the library has: {', '.join(sorted(lib))}",
            )
        if name not in used:
            raise CaseError(f"materials.{name}", props,
                            f"not used by any layer; used: {', '.join(used)}")
        for prop, value in props.items():
            _check_property(f"materials.{name}.{prop}", prop, value)

    table = {n: (m.tags, m.dim) for n, m in plan.markers.items()}
    markers = {n: d for n, (_, d) in table.items()}
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
        for tag in table[bc.marker][0]:
            for j in bc_tags.get(tag, []):  # one condition per face, or convection + radiation
                if {bc.type, case.boundary_conditions[j].type} != {"convection", "radiation"}:
                    raise CaseError(
                        f"boundary_conditions[{i}].marker", bc.marker,
                        f"overlaps boundary_conditions[{j}] (marker "
                        f"{case.boundary_conditions[j].marker!r}); one condition per face "
                        "(only a convection and a radiation condition may share one)",
                    )
            bc_tags.setdefault(tag, []).append(i)
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
        elif not src.end > src.start:
            raise CaseError(f"sources[{i}].end", src.end, "must be later than start")

    t = case.time
    for i, src in enumerate(case.sources):
        if src.start >= t.end:
            raise CaseError(f"sources[{i}].start", src.start, f"must be before time.end = "
                            f"{t.end:g} s (the source would never be on)")
    if t.dt_initial > t.end:
        raise CaseError("time.dt_initial", t.dt_initial, f"must be <= time.end = {t.end} s")
    if t.dt_max is not None and t.dt_max < t.dt_initial:
        raise CaseError("time.dt_max", t.dt_max, f"must be >= time.dt_initial = {t.dt_initial} s")
    from batteryfx.solvers.timestepping import TimeStepper

    if t.adaptive and case.physics.scheme != "tr_bdf2":
        raise CaseError("time.adaptive", True, "needs physics.scheme = 'tr_bdf2' (its "
                        "embedded error estimate)")
    steps = 0 if t.adaptive else TimeStepper(t.end, t.dt_initial, t.dt_max, t.growth,
                                              hold_steps=t.hold_steps).estimate_steps(
                                                  MAX_STEPS + 1)
    if steps > MAX_STEPS:
        raise CaseError("time.dt_initial", t.dt_initial,
                        f"would take more than {MAX_STEPS:.0e} steps to time.end = {t.end:g} s; "
                        "use larger steps (dt_initial, dt_max, growth)")
    for i, ft in enumerate(case.outputs.field_times):
        if ft > t.end * (1 + 1e-12):
            raise CaseError(f"outputs.field_times[{i}]", ft, f"must be <= time.end = {t.end} s")

    boxes = plan.boxes
    names: set[str] = set()
    has_reference = any(isinstance(bc, TemperatureBC) for bc in case.boundary_conditions)
    for i, probe in enumerate(case.probes):
        key = f"probes[{i}]"
        if probe.name in names:
            raise CaseError(f"{key}.name", probe.name, "probe names must be unique")
        names.add(probe.name)
        if (probe.point is None) == (probe.marker is None):
            raise CaseError(key, probe.name, "give exactly one of point = [x, y, z] or marker")
        if probe.point is not None and probe.reduce is not None:
            raise CaseError(f"{key}.reduce", probe.reduce, "only for a marker probe (mean, max "
                            "or min over the marker); a point probe has one value")
        if probe.point is not None and not any(_inside(probe.point, b) for b in boxes.values()):
            raise CaseError(
                f"{key}.point", list(probe.point),
                "outside the domain; inside one of: "
                + "; ".join(f"{n} {_fmt_box(b)}" for n, b in boxes.items()),
            )
        if probe.marker is not None and probe.marker not in markers:
            raise CaseError(
                f"{key}.marker", probe.marker, f"unknown marker; allowed: {', '.join(markers)}"
            )
        if probe.quantity != "temperature":
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
    if case.cell is not None:
        from batteryfx.geometry_args import case_cell_budget

        case_cell_budget(case)  # CaseError when the geometry is not a stacked cell
    fig = case.figures
    if fig.cut_origin is not None and not any(_inside(fig.cut_origin, b) for b in boxes.values()):
        raise CaseError("figures.cut_origin", list(fig.cut_origin), "outside the domain")


def _check_property(key: str, prop: str, value: Any) -> None:
    """A material property override: a known property, its dimension, its physical range."""
    from batteryfx.materials.library import PROPERTY_BOUNDS, PROPERTY_DIMENSIONS

    if prop not in PROPERTY_DIMENSIONS:
        raise CaseError(key, value, f"unknown property; allowed: {', '.join(PROPERTY_DIMENSIONS)}")
    try:
        si = to_si(value, PROPERTY_DIMENSIONS[prop])
    except ValueError as exc:
        raise CaseError(key, value, str(exc)) from None
    lo, hi, unit, reason, strict = PROPERTY_BOUNDS[prop]
    unit = f" {unit}" if unit else ""
    if strict and not lo < si < hi:
        raise CaseError(key, value, f"must be between {_num(lo)} and {_num(hi)}{unit} "
                        f"(exclusive; {reason})")
    if not lo <= si <= hi:
        raise CaseError(key, value, f"must be within {_num(lo)} .. {_num(hi)}{unit} ({reason})")


def _inside(p, box, tol: float = 1e-12) -> bool:
    lo, hi = box
    scale = max(max(abs(v) for v in hi), 1e-300)
    return all(lo[k] - tol * scale <= p[k] <= hi[k] + tol * scale for k in range(3))


def _fmt_box(box) -> str:
    lo, hi = box
    return "[" + ", ".join(f"{a:.3g}..{b:.3g}" for a, b in zip(lo, hi, strict=True)) + "] m"
