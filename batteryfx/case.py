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
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from batteryfx.errors import CaseError
from batteryfx.physics import REGISTRY
from batteryfx.physics.heat import (  # noqa: F401  (re-exported: the heat section's names)
    ConvectionBC,
    HeatFluxBC,
    HeatSection,
    InsulatedBC,
    InternalShortSource,
    PowerSource,
    RadiationBC,
    TemperatureBC,
    TotalPowerSource,
)
from batteryfx.schema import (  # noqa: F401  (re-exported: the case schema's names)
    _LENGTH_BOUNDS,
    MAX_CASE_BYTES,
    MAX_CELLS,
    MAX_DEPTH,
    MAX_HEAT_FLUX,
    MAX_HEAT_TRANSFER_COEFFICIENT,
    MAX_LENGTH,
    MAX_POWER_DENSITY,
    MAX_STEPS,
    MAX_TEMPERATURE,
    MAX_TIME,
    MIN_DT,
    MIN_LENGTH,
    MIN_TEMPERATURE,
    NAME_PATTERN,
    Coordinate,
    Duration,
    Name,
    PositiveLength,
    Section,
    Temperature,
    _bounded,
    _num,
    _Section,
)
from batteryfx.units import (
    ArealCharge,
    ContactResistance,
    Length,
    MassPerCharge,
    Time,
    Voltage,
    to_si,
)


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
    #: mirror-symmetry planes through the centre of the separator footprint: "x" keeps the
    #: half x >= its centre, "y" the half y >= its centre, both a quarter; the stack, its
    #: regions and tabs must be mirror-symmetric (checked). Faces on the planes: the facet
    #: marker "symmetry" (zero heat flux); sources in watts are for the whole cell
    symmetry: Annotated[list[Literal["x", "y"]], Field(max_length=2)] = []


class _ParticleMesh(_Section):
    """Mesh keys shared by the particle kinds (geometry/particles.py): tetrahedra of size
    ``mesh_size`` inside, ``surface_mesh_size`` at the surface (and at a core-shell
    interface), growing over ``surface_refinement_width``; ``order`` 1 or 2 (curved)."""

    mesh_size: PositiveLength
    surface_mesh_size: PositiveLength | None = None
    surface_refinement_width: PositiveLength | None = None
    order: Literal[1, 2] = 1


class SphereGeometry(_ParticleMesh):
    """A sphere centred on the origin; ``octant``: only x, y, z >= 0 (faces symmetry_x/y/z)."""

    kind: Literal["sphere"]
    radius: PositiveLength
    octant: bool = False


class EllipsoidGeometry(_ParticleMesh):
    """An ellipsoid with semi-axes along x, y, z, centred on the origin."""

    kind: Literal["ellipsoid"]
    semi_axes: tuple[PositiveLength, PositiveLength, PositiveLength]
    octant: bool = False


class CoreShellGeometry(_ParticleMesh):
    """A spherical core with a shell (coating / reconstructed surface layer): volumes
    ``core``, ``shell``, ``particle``; facets ``interface``, ``surface``."""

    kind: Literal["core_shell"]
    core_radius: PositiveLength
    shell_thickness: PositiveLength
    octant: bool = False


class PolycrystalGeometry(_ParticleMesh):
    """A secondary particle of ``grains`` Voronoi grains in a sphere, each with a random
    crystal orientation (uniform on SO(3)); ``seed`` fixes grains and orientations. Volumes
    ``grain1`` ...; facets ``grain_boundaries`` (interior), ``surface``."""

    kind: Literal["polycrystal"]
    radius: PositiveLength
    grains: Annotated[int, Field(ge=1, le=2000)]
    seed: Annotated[int, Field(ge=0)] = 0
    min_seed_spacing: Annotated[float, Field(ge=0, lt=1)] = 0.5


class ParticleInMatrixGeometry(_ParticleMesh):
    """A sphere (or core-shell with ``shell_thickness`` > 0) bonded in a cube
    (``matrix_shape = "box"``, edge 2 x ``matrix_extent``) or sphere (radius
    ``matrix_extent``) of matrix (solid electrolyte): volumes ``particle``, ``matrix``;
    facets ``surface`` (the bonded interface), ``outer``."""

    kind: Literal["particle_in_matrix"]
    radius: PositiveLength
    matrix_extent: PositiveLength
    matrix_shape: Literal["box", "sphere"] = "box"
    shell_thickness: Annotated[Length, Field(ge=0)] = 0.0
    matrix_mesh_size: PositiveLength | None = None
    octant: bool = False


class MeshFileGeometry(_Section):
    """A mesh file: Gmsh .msh (physical groups become markers) or any volume mesh meshio
    reads; ``scale`` multiplies the coordinates (1e-6 for micrometres)."""

    kind: Literal["mesh_file"]
    path: Annotated[str, Field(min_length=1)]
    scale: Annotated[float, Field(gt=0)] = 1.0
    cell_data: str | None = None


class SectionLayerCase(_Section):
    """One layer of a cell section along x (anode at x = 0): ``thickness``, ``cells`` across."""

    name: Annotated[str, Field(min_length=1)]
    thickness: PositiveLength
    cells: Annotated[int, Field(ge=1, le=100000)] = 20


class SectionPattern(_Section):
    """The anode surface: an ``active_fraction`` of every ``period`` carries current (Li
    piles), the rest is blocked (exposed Cu): stripes (2D) or squares (3D)."""

    period: PositiveLength
    active_fraction: Annotated[float, Field(gt=0, le=1)]


class CellSectionGeometry(_Section):
    """A section through a cell for the electrolyte (geometry/cell_section.py): ``layers``
    along x from the anode (x = 0) to the cathode; ``dimension`` 1, 2 (``width`` in y) or 3
    (``width``, ``depth``); ``cells_across`` per in-plane direction; an optional anode
    ``pattern``. Volumes: the layers by name, ``cell``; facets ``anode`` (``anode_active`` /
    ``anode_blocked`` with a pattern), ``counter`` (x = L), ``sides``, ``outer``."""

    kind: Literal["cell_section"]
    layers: Annotated[list[SectionLayerCase], Field(min_length=1)]
    dimension: Literal[1, 2, 3] = 1
    width: PositiveLength | None = None
    depth: PositiveLength | None = None
    cells_across: Annotated[int, Field(ge=1, le=10000)] = 8
    pattern: SectionPattern | None = None


PARTICLE_GEOMETRIES = (SphereGeometry, EllipsoidGeometry, CoreShellGeometry,
                       PolycrystalGeometry, ParticleInMatrixGeometry, MeshFileGeometry)
GeometrySection = Annotated[
    CouponGeometry | PouchGeometry | SphereGeometry | EllipsoidGeometry | CoreShellGeometry
    | PolycrystalGeometry | ParticleInMatrixGeometry | MeshFileGeometry | CellSectionGeometry,
    Field(discriminator="kind")]


# --------------------------------------------------------------------------- physics
# The [physics] section, boundary conditions and sources come from the physics registry
# (batteryfx/physics): each physics brings its own types; the case accepts any registered
# one, and check_case lets the case's physics refuse the others.
def _union(types_: tuple[type, ...], tag: str):
    members = tuple(dict.fromkeys(types_))
    if len(members) == 1:
        return members[0]
    return Annotated[typing.Union[members], Field(discriminator=tag)]  # noqa: UP007


PhysicsSection = _union(tuple(m.section for m in REGISTRY.values()), "model")
BoundaryCondition = _union(tuple(c for m in REGISTRY.values() for c in m.conditions), "type")
Source = _union(tuple(c for m in REGISTRY.values() for c in m.sources), "type")


class CellSection(_Section):
    """Electrochemical data of a stacked cell for its budget (summary.json ``cell_budget``):
    capacity = ``areal_capacity`` x cathode coating area x coated faces; energy = capacity x
    ``nominal_voltage``; electrolyte mass = ``electrolyte_per_capacity`` x capacity."""

    areal_capacity: Annotated[ArealCharge, Field(gt=0), _bounded(
        None, 3600.0 * 1e-3 * 1e4 * 100, "C/m^2", "100 mAh/cm^2 is far above any electrode")]
    nominal_voltage: Annotated[Voltage, Field(gt=0), _bounded(
        None, 10.0, "V", "a single lithium cell is below about 5 V")]
    electrolyte_per_capacity: Annotated[MassPerCharge, Field(ge=0), _bounded(
        None, 0.1 / 3600.0, "kg/C", "100 g/Ah is far above any cell's electrolyte, about "
        "1-3 g/Ah")] = 1.5e-3 / 3600.0


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
    #: what the probe reports: one of the physics' probe quantities (physics.model = "heat":
    #: ``temperature`` (K, the default), the stored ``heat`` rho c_p (T - T0) integrated over
    #: a volume marker (J), or the mean heat-flux magnitude along the layers
    #: (``flux_in_plane``) or across them (``flux_through``) (W/m^2)); None: the physics'
    #: primary field
    quantity: Name | None = None

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


class SweepSection(_Section):
    """One run per value of ``key`` (a ``--set`` path, e.g. ``physics.current_density``):
    ``batteryfx run CASE --out OUT`` runs member ``label`` into ``OUT_<label>`` (an ordinary
    output folder) and writes the sweep report (sweep.json, sweep.md, figures) into OUT.
    ``labels`` default to the values made into names; ``member`` is set by batteryfx in a
    member's case (not by hand)."""

    key: Annotated[str, Field(pattern=r"[A-Za-z0-9_-]+(\[\d+\])*(\.[A-Za-z0-9_-]+(\[\d+\])*)*",
                              max_length=200)]
    values: Annotated[list[str | float | int | bool], Field(min_length=1, max_length=100)]
    labels: list[Name] | None = None
    member: str | None = None

    @model_validator(mode="after")
    def _labels(self):
        if self.key.split(".")[0].split("[")[0] in ("sweep", "title", "description"):
            raise ValueError(f"key {self.key!r}: sweep a case value (physics..., geometry..., "
                             "boundary_conditions[...]...), not the sweep itself or the title")
        if self.labels is not None:
            if len(self.labels) != len(self.values):
                raise ValueError(f"{len(self.labels)} labels for {len(self.values)} values")
            if len(set(self.labels)) != len(self.labels):
                raise ValueError(f"labels must differ: {self.labels}")
        elif len(set(self.member_labels())) != len(self.values):
            raise ValueError("values give the same label twice; give labels")
        return self

    def member_labels(self) -> list[str]:
        """The members' labels: given, or each value made into a name (``1 mA/cm^2`` ->
        ``1_mA_cm2``)."""
        if self.labels is not None:
            return list(self.labels)
        stem = re.sub(r"\[\d+\]", "", self.key.split(".")[-1])
        out = []
        for v in self.values:
            text = str(v).replace(" ", "").replace("^", "").replace("/", "_per_")
            text = re.sub(r"[^A-Za-z0-9_-]+", "_", text.replace(".", "p")).strip("_")
            out.append(f"{stem}_{text}"[:64])
        return out


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
    sweep: SweepSection | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_model(cls, data: Any) -> Any:
        """``physics.model`` defaults to "heat" (case files from before other physics)."""
        if isinstance(data, dict) and isinstance(data.get("physics"), dict) \
                and "model" not in data["physics"]:
            data = {**data, "physics": {"model": "heat", **data["physics"]}}
        return data

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
        if isinstance(node, dict) and item in (node.get("type"), node.get("model"),
                                               node.get("kind")):
            continue  # the tag of a discriminated union (conditions, physics, geometry)
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
        for key in ("type", "model", "kind"):  # the union's tag
            if isinstance(node, dict) and key in node:
                for m in members:
                    tag = m.model_fields.get(key)
                    if tag is not None and node[key] in typing.get_args(tag.annotation):
                        return m
        return members[0] if len(members) == 1 else None
    return None


def _field_model_at(model: type[BaseModel], loc: tuple, data: Any) -> type[BaseModel] | None:
    node = data
    current: type[BaseModel] | None = model
    for item in loc:
        if isinstance(item, int):
            node = node[item] if isinstance(node, list) and item < len(node) else None
            if isinstance(node, dict) and current is not None and (
                    {"type", "model", "kind"} & set(node)):
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

    physics = REGISTRY[case.physics.model]
    for key, items, allowed in (("boundary_conditions", case.boundary_conditions,
                                 physics.conditions),
                                ("sources", case.sources, physics.sources)):
        for i, item in enumerate(items):
            if type(item) not in allowed:
                names = ", ".join(typing.get_args(c.model_fields["type"].annotation)[0]
                                  for c in allowed) or "none"
                raise CaseError(f"{key}[{i}].type", item.type,
                                f"not a {key[:-1].replace('_', ' ')} of physics.model = "
                                f"{physics.name!r}; allowed: {names}")
    markers = {n: m.dim for n, m in plan.markers.items()}
    t = case.time
    if t.dt_initial > t.end:
        raise CaseError("time.dt_initial", t.dt_initial, f"must be <= time.end = {t.end} s")
    if t.dt_max is not None and t.dt_max < t.dt_initial:
        raise CaseError("time.dt_max", t.dt_max, f"must be >= time.dt_initial = {t.dt_initial} s")
    from batteryfx.solvers.timestepping import TimeStepper

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
        if probe.quantity is not None and probe.quantity not in physics.quantities:
            raise CaseError(f"{key}.quantity", probe.quantity,
                            f"not a probe quantity of physics.model = {physics.name!r}; "
                            f"allowed: {', '.join(physics.quantities)}")
    physics.check(case, plan)
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
