"""The one place where a case's ``[geometry]`` section becomes builder arguments, and where a
builder's :class:`~batteryfx.geometry.GeometryError` becomes a :class:`CaseError` naming the
case key; also what the case's materials and ``[cell]`` section make of the layer table
(:func:`materials_for`, :func:`case_cell_budget`).

:data:`SPEC_FROM_CASE` maps ``geometry.kind`` to the function that translates that section into
the builder's spec; :data:`batteryfx.geometry.BUILDERS` picks the builder for the same kind. A
spec's field paths mirror the section's keys (``stacks[0].layers[1].z`` is
``geometry.stacks[0].layers[1].z``), so an error on a field names the case key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from batteryfx.errors import CaseError

if TYPE_CHECKING:
    from batteryfx.case import CouponGeometry, PouchGeometry
    from batteryfx.geometry import Geometry, GeometryError, Plan
    from batteryfx.geometry.coupon import CouponSpec
    from batteryfx.geometry.pouch import PouchSpec

SECTION = "geometry"  # the case key of the geometry section


def coupon_spec_from_case(section: CouponGeometry, key: str = SECTION) -> CouponSpec:
    """The coupon builder's arguments from a ``kind = "coupon"`` section: layers given by
    ``thickness`` are stacked on the layer below, layers given by ``z`` keep their range."""
    from batteryfx.geometry.coupon import CouponLayer, CouponSpec, CouponStack, HotSpot
    from batteryfx.materials import library

    stacks = []
    for i, stack in enumerate(section.stacks):
        layers, top = [], 0.0
        for j, layer in enumerate(stack.layers):
            where = f"{key}.stacks[{i}].layers[{j}]"
            if (layer.thickness is None) == (layer.z is None):
                raise CaseError(where, layer.name, "give exactly one of thickness or z = [z0, z1]")
            if layer.material not in library():
                raise CaseError(f"{where}.material", layer.material, "unknown material; the "
                                f"library has: {', '.join(sorted(library()))}")
            z0, z1 = layer.z if layer.z is not None else (top, top + layer.thickness)
            layers.append(CouponLayer(layer.name, layer.material, float(z0), float(z1),
                                      layer.cells))
            top = z1
        stacks.append(CouponStack(stack.name, tuple(layers)))
    hot = section.hot_spot
    hot_spot = None if hot is None else HotSpot(
        size=tuple(hot.size), center=None if hot.center is None else tuple(hot.center),
        mesh_size=hot.mesh_size)
    return CouponSpec(size=tuple(section.size), mesh_size=section.mesh_size,
                      stacks=tuple(stacks), max_cell_thickness=section.max_cell_thickness,
                      min_cells_per_layer=section.min_cells_per_layer, gap=section.gap,
                      grading=section.grading, hot_spot=hot_spot)


def pouch_spec_from_case(section: PouchGeometry, key: str = SECTION) -> PouchSpec:
    """The pouch builder's arguments from a ``kind = "pouch"`` section: the layer table from
    the ``unit`` preset (or ``layers``), footprints centred on the separator's (origin at its
    corner), tabs on the collector layers of their electrode, regions with layer names,
    electrode parts (``a1``) or unit cells (``unit3``) expanded to layer names."""
    from batteryfx.geometry import GeometryError
    from batteryfx.geometry.pouch import PouchLayer, PouchSpec, Rect, Region, Tab
    from batteryfx.geometry.pouch_presets import stack_layers

    ax, ay = section.anode_size
    cx, cy = section.cathode_size
    sx, sy = section.separator_size or (max(ax, cx) + 2e-3, max(ay, cy) + 2e-3)
    if sx < max(ax, cx) or sy < max(ay, cy):
        raise CaseError(f"{key}.separator_size", [sx, sy], "must cover the anode and cathode "
                        f"footprints ({max(ax, cx):g} x {max(ay, cy):g} m)")

    def centred(w, h):
        return Rect((sx - w) / 2, (sy - h) / 2, (sx + w) / 2, (sy + h) / 2)

    feet = {"anode": centred(ax, ay), "cathode": centred(cx, cy),
            "separator": Rect(0.0, 0.0, sx, sy)}
    if section.layers is not None:
        if section.unit is not None and "unit" in section.model_fields_set:
            raise CaseError(f"{key}.layers", len(section.layers),
                            "give either unit (a preset) or layers, not both")
        layers = tuple(PouchLayer(la.name, la.material, la.thickness, feet[la.footprint],
                                  la.component, la.part, la.unit, la.cells)
                       for la in section.layers)
    else:
        if section.unit is None:
            raise CaseError(f"{key}.unit", None, "give a unit preset or a layers list")
        try:
            layers = stack_layers(section.unit, section.cathodes, feet["anode"], feet["cathode"],
                                  feet["separator"], outer_anodes=section.outer_anodes,
                                  separator_thickness=section.separator_thickness,
                                  laminate=section.laminate)
        except GeometryError as exc:
            raise case_error(exc, key) from None
    _check_materials(layers, section, key)
    layers = _with_contacts(layers, section.contacts, key)
    tabs = []
    for i, tab in enumerate(section.tabs):
        names = tuple(la.name for la in layers if la.component == f"{tab.electrode}_collector")
        if not names:
            raise CaseError(f"{key}.tabs[{i}].electrode", tab.electrode,
                            "the stack has no collector layers of this electrode")
        foot = feet[tab.electrode]
        lo, hi = tab.span
        if tab.side == "y+":
            rect = Rect(lo, foot.y1 - 1e-3 * (foot.y1 - foot.y0), hi, sy + tab.length)
        elif tab.side == "y-":
            rect = Rect(lo, -tab.length, hi, foot.y0 + 1e-3 * (foot.y1 - foot.y0))
        elif tab.side == "x+":
            rect = Rect(foot.x1 - 1e-3 * (foot.x1 - foot.x0), lo, sx + tab.length, hi)
        else:
            rect = Rect(-tab.length, lo, foot.x0 + 1e-3 * (foot.x1 - foot.x0), hi)
        tabs.append(Tab(tab.name, rect, names))
    regions = []
    for i, reg in enumerate(section.regions):
        wanted = []
        for j, name in enumerate(reg.layers):
            match = [la.name for la in layers if name in (la.name, la.part, f"unit{la.unit}")
                     and (name != "unit0")]
            if not match:
                raise CaseError(f"{key}.regions[{i}].layers[{j}]", name,
                                "not a layer, electrode part (a0, c0, ...) or unit cell "
                                "(unit1, ...) of the stack; layers: "
                                + ", ".join(la.name for la in layers))
            wanted += [m for m in match if m not in wanted]
        x, y = reg.center if reg.center is not None else (sx / 2, sy / 2)
        w, h = reg.size
        regions.append(Region(reg.name, Rect(x - w / 2, y - h / 2, x + w / 2, y + h / 2),
                              tuple(wanted), reg.mesh_size))
    return PouchSpec(layers=layers, mesh_size=section.mesh_size, filler=section.filler,
                     tabs=tuple(tabs), regions=tuple(regions), grading=section.grading,
                     min_cells_per_layer=section.min_cells_per_layer,
                     max_cell_thickness=section.max_cell_thickness, mode=section.mode,
                     homogenised_cells=section.homogenised_cells,
                     symmetry=tuple((a, (sx if a == "x" else sy) / 2)
                                    for a in section.symmetry))


def _with_contacts(layers, contacts, key: str):
    """The layer table with a thin equivalent layer (conductance 1 / R_c) above each contact's
    layer (its material and footprint: for the heat capacity of a layer of thickness t)."""
    from dataclasses import replace

    layers = list(layers)
    for i, contact in enumerate(contacts):
        names = [la.name for la in layers]
        if contact.above not in names:
            raise CaseError(f"{key}.contacts[{i}].above", contact.above,
                            "not a layer of the stack; layers: " + ", ".join(names))
        j = names.index(contact.above)
        below = layers[j]
        layers.insert(j + 1, replace(below, name=f"{below.name}/contact", component="other",
                                     thickness=contact.thickness, unit=0, cells=1,
                                     conductance=1.0 / contact.resistance))
    return tuple(layers)


def _check_materials(layers, section, key: str) -> None:
    """Every layer material and the filler in the library (CaseError naming the key)."""
    from batteryfx.materials import library

    lib = library()
    allowed = ", ".join(sorted(lib))
    for i, la in enumerate(layers):
        if la.material not in lib:
            where = f"{key}.layers[{i}].material" if section.layers is not None \
                else f"{key}.unit"
            raise CaseError(where, la.material if section.layers is not None else section.unit,
                            f"layer {la.name!r}: unknown material {la.material!r}; the library "
                            f"has: {allowed}")
    if section.filler not in lib:
        raise CaseError(f"{key}.filler", section.filler, f"unknown material; the library has: "
                        f"{allowed}")


def used_materials(plan: Plan) -> list[str]:
    """Library materials of a plan's layer table (homogenised blocks by their mixture)."""
    return _used(plan.layers)


def _used(rows) -> list[str]:
    used = set()
    for row in rows:
        if row.mix:
            used |= {m for m, _ in row.mix}
        else:
            used.add(row.material)
    return sorted(used)


def materials_for(case, rows) -> dict:
    """The library materials of a layer table (a plan's or a geometry's rows), with the
    case's ``[materials.NAME]`` overrides applied (SI)."""
    from batteryfx.materials import resolve
    from batteryfx.materials.library import PROPERTY_DIMENSIONS
    from batteryfx.units import to_si

    return {name: resolve(name, {k: to_si(v, PROPERTY_DIMENSIONS[k])
                                 for k, v in case.materials.get(name, {}).items()})
            for name in _used(rows)}


def particle_spec_from_case(section, key: str = SECTION):
    """A particle builder's arguments (geometry/particles.py): the section's keys are the
    spec's fields (SI), so this is a copy; the builder checks the values against each other
    (GeometryError on a field -> CaseError on the same key)."""
    from batteryfx.geometry import particles

    specs = {cls.kind: cls for cls in (particles.SphereSpec, particles.EllipsoidSpec,
                                       particles.CoreShellSpec, particles.PolycrystalSpec,
                                       particles.ParticleInMatrixSpec, particles.MeshFileSpec)}
    values = section.model_dump(exclude={"kind"})
    return specs[section.kind](**{k: tuple(v) if isinstance(v, list) else v
                                  for k, v in values.items()})


def cell_section_spec_from_case(section, key: str = SECTION):
    """The cell-section builder's arguments (geometry/cell_section.py): the same keys, SI."""
    from batteryfx.geometry.cell_section import CellSectionSpec, Pattern, SectionLayer

    p = section.pattern
    return CellSectionSpec(
        layers=tuple(SectionLayer(la.name, la.thickness, la.cells) for la in section.layers),
        dimension=section.dimension, width=section.width, depth=section.depth,
        cells_across=section.cells_across,
        pattern=None if p is None else Pattern(p.period, p.active_fraction))


#: geometry kind -> translation of its case section into the builder's spec
SPEC_FROM_CASE: dict[str, Callable[[Any, str], Any]] = {
    "coupon": coupon_spec_from_case, "pouch": pouch_spec_from_case,
    "cell_section": cell_section_spec_from_case,
    **{kind: particle_spec_from_case for kind in ("sphere", "ellipsoid", "core_shell",
                                                  "polycrystal", "particle_in_matrix",
                                                  "mesh_file")}}


def geometry_spec(section, key: str = SECTION):
    """The builder arguments of a case's geometry section (CaseError naming the key)."""
    return SPEC_FROM_CASE[section.kind](section, key)


def case_error(exc: GeometryError, key: str = SECTION) -> CaseError | GeometryError:
    """A GeometryError on a spec field as the CaseError naming the case key; one not on a field
    (a mesher failure) is returned as it is."""
    if not exc.field:
        return exc
    return CaseError(f"{key}.{exc.field}", exc.value, exc.reason)


def plan_case_geometry(section, key: str = SECTION) -> tuple[Any, Plan]:
    """(spec, plan) of a case's geometry section without meshing; errors as CaseError."""
    from batteryfx.geometry import GeometryError, plan_geometry

    spec = geometry_spec(section, key)
    try:
        return spec, plan_geometry(spec)
    except GeometryError as exc:
        raise case_error(exc, key) from None


def build_case_geometry(section, comm, key: str = SECTION) -> Geometry:
    """Build the geometry of a case's geometry section; errors name the case key."""
    from batteryfx.geometry import GeometryError, build_geometry

    spec = geometry_spec(section, key)
    try:
        return build_geometry(spec, comm)
    except GeometryError as exc:
        raise case_error(exc, key) from None


def case_cell_budget(case, key: str = "cell") -> dict | None:
    """The cell budget (batteryfx.budget.cell_budget) of a case with a ``[cell]`` section:
    sheets from the geometry builder's ``budget``, densities from the materials (with the
    case's overrides), capacity = areal capacity x cathode coating areas, electrolyte = its
    mass per capacity; None without a ``[cell]`` section."""
    from batteryfx.budget import BudgetLayer, cell_budget
    from batteryfx.geometry import BUILDERS

    cell = case.cell
    if cell is None:
        return None
    spec, plan = plan_case_geometry(case.geometry)
    rows = BUILDERS[spec.kind].budget
    if rows is None:
        raise CaseError(key, "[cell]", f"a cell budget needs a stacked cell (geometry.kind = "
                        f"'pouch'), not geometry.kind = {spec.kind!r}")
    sheets = rows(spec)
    coated = [area for _, comp, _, _, area in sheets if comp == "cathode_active"]
    if not coated:
        raise CaseError(key, "[cell]", "the stack has no cathode_active layer to give a "
                        "capacity")

    mats = materials_for(case, plan.layers)

    def density(name):
        mat = mats[name]
        # porous sheets without their electrolyte: it is weighed once, per capacity
        return mat["dry_density"] if "dry_density" in mat.properties else mat["density"]

    layers = [BudgetLayer(n, comp, mat, t, area, density(mat)) for n, comp, mat, t, area
              in sheets]
    capacity = cell.areal_capacity * sum(coated) / 3600.0  # C -> Ah
    electrolyte = cell.electrolyte_per_capacity * capacity * 3600.0  # kg
    if getattr(spec, "symmetry", ()):  # the whole cell's envelope, not the modelled part
        from dataclasses import replace

        from batteryfx.geometry import plan_geometry
        plan = plan_geometry(replace(spec, symmetry=()))
    env = plan.boxes["pouch"]
    dims = tuple(hi - lo for lo, hi in zip(*env, strict=True))
    out = cell_budget(layers, capacity_Ah=capacity, nominal_voltage_V=cell.nominal_voltage,
                      extra_mass_kg={"electrolyte": electrolyte} if electrolyte else None,
                      outer_dimensions_m=dims)
    out["assumptions"] += [
        f"capacity = {cell.areal_capacity / 36000.0:.4g} mAh/cm^2 x {len(coated)} cathode "
        f"coating faces of {sum(coated) / len(coated) * 1e4:.4g} cm^2",
        f"electrolyte = {cell.electrolyte_per_capacity * 3.6e6:.4g} g/Ah x capacity (the "
        "filler cells of the thermal model are not weighed again)",
        "volume = the layer envelope (no seal margins, tabs outside)",
        "porous sheets weighed at their dry_density where the library has one (electrode "
        "coatings, separator), the electrolyte once via electrolyte_per_capacity"]
    return out
