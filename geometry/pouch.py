"""Layered pouch cells: every collector, electrode coating, separator and laminate layer of a
stack of unit cells, on an extruded hexahedral mesh (or the same stack as one homogenised
orthotropic block).

Geometry (SI, metres). The stack is a list of layers bottom (z = 0) up; each layer has an
in-plane *footprint* (a rectangle: anodes 58 x 45 mm and cathodes 56 x 43 mm differ, so edges and
overhangs are real). Inside the *envelope* (the box around all footprints) a layer's cells outside
its footprint are *filler* (electrolyte-filled gaps at the electrode edges). *Tabs* extend
chosen layers (the collectors of one electrode kind) beyond the envelope; elsewhere outside the
envelope there are no cells. *Regions* (a hot spot, a nail) are in-plane rectangles through
chosen layers, meshed exactly and graded toward: cells there get their own tags so that
sources or fixed temperatures can act on them.

Mesh: built directly (no Gmsh: extruding hundreds of layers is slow there), a structured
in-plane grid (breaks at every footprint, tab and region edge; cell size ``mesh_size``, graded
geometrically by at most ``grading`` per cell from a region's ``mesh_size``) times the layer
table through z (``cells`` per layer, or from ``min_cells_per_layer`` and
``max_cell_thickness``). Node and cell numbering are fixed by the spec (rank-independent input
indices for checkpoints and fields); cell tags are computed from each cell's centre after
distribution, so nothing is broadcast.

Homogenised mode (``mode = "homogenised"``): the envelope as one block whose cells carry the
layer table as a mixture (:attr:`Layer.mix`); the physics turns it into effective properties
(series / parallel rules, shared/PHYSICS.md B). Tabs and footprints are not represented (the
envelope is filled with the mixture of the full stack): state it when comparing.

Markers (cells): every layer by name, ``filler``, component groups (``anode_collectors``,
``anode_active``, ``separators``, ``cathode_active``, ``cathode_collectors``, ``packaging``,
``electrodes`` = active coatings), electrode parts (``a0``, ``c0`` ...: all layers of an anode
or cathode), unit cells ``unit1`` ... (the anode coating, separator and cathode coating of one
anode-cathode face pair), the regions by name and ``cell`` (everything). Facets: ``bottom``
(z = 0), ``top`` (z = H), ``tabs`` (the outer faces of tab cells outside the envelope),
``sides`` (the rest) and ``outer`` (all); ``bottom`` and ``top`` are the envelope's faces.

Symmetry (``symmetry`` planes x = p and / or y = q through a mirror-symmetric stack): only the
part at x >= p (y >= q) is meshed, a half or a quarter of the cell (:func:`reduce_by_symmetry`);
its faces on the planes are the facet marker ``symmetry`` (not part of ``outer``).
:attr:`Geometry.copies` (2 or 4) tells the physics that totals given for the whole cell are
shared by that many mirror images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from batteryfx.geometry.base import Box, Geometry, GeometryError, Layer, Marker, Plan

#: layer components (for the groups and the cell budget)
COMPONENTS = ("anode_collector", "anode_active", "separator", "cathode_active",
              "cathode_collector", "packaging", "other")
GROUPS = {"anode_collector": "anode_collectors", "anode_active": "anode_active",
          "separator": "separators", "cathode_active": "cathode_active",
          "cathode_collector": "cathode_collectors", "packaging": "packaging"}
FACETS = ("bottom", "top", "sides", "tabs")
MODES = ("resolved", "homogenised")
MAX_ESTIMATE = 10**18
#: fine samples per in-plane interval when placing graded nodes
_SAMPLES = 4001


# --------------------------------------------------------------------------- arguments
@dataclass(frozen=True)
class Rect:
    """An in-plane rectangle [x0, x1] x [y0, y1] (m)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def contains(self, x, y, tol: float = 0.0):
        return (x >= self.x0 - tol) & (x <= self.x1 + tol) & (y >= self.y0 - tol) \
            & (y <= self.y1 + tol)

    def inside(self, other: Rect, tol: float = 0.0) -> bool:
        return (self.x0 >= other.x0 - tol and self.x1 <= other.x1 + tol
                and self.y0 >= other.y0 - tol and self.y1 <= other.y1 + tol)

    def overlap(self, other: Rect) -> Rect | None:
        """The common rectangle of positive area, or None."""
        x0, y0 = max(self.x0, other.x0), max(self.y0, other.y0)
        x1, y1 = min(self.x1, other.x1), min(self.y1, other.y1)
        return Rect(x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)


@dataclass(frozen=True)
class PouchLayer:
    """One layer: ``material`` ``thickness`` m thick over ``footprint``; ``component`` (one
    of :data:`COMPONENTS`), ``part`` (the electrode it belongs to, e.g. ``a1``, ``c0``, or
    "") and ``unit`` (the unit cell 1.. of an active coating or separator, else 0)."""

    name: str
    material: str
    thickness: float
    footprint: Rect
    component: str = "other"
    part: str = ""
    unit: int = 0
    cells: int | None = None
    #: a thermal contact as a thin equivalent layer: its conductance (W/(m^2 K)) = 1 / R_c,
    #: so k = conductance x thickness (through and in plane); None: the material's k
    conductance: float | None = None

    def props(self) -> tuple[tuple[str, float], ...]:
        if self.conductance is None:
            return ()
        k = self.conductance * self.thickness
        return (("thermal_conductivity", k), ("thermal_conductivity_in_plane", k))


@dataclass(frozen=True)
class Tab:
    """Layers ``layers`` (names) continued over ``rect`` (which reaches outside the
    envelope)."""

    name: str
    rect: Rect
    layers: tuple[str, ...]


@dataclass(frozen=True)
class Region:
    """An in-plane rectangle through ``layers`` (names; empty: every layer) with its own cell
    tags, meshed exactly with cells of about ``mesh_size`` (None: the spec's)."""

    name: str
    rect: Rect
    layers: tuple[str, ...] = ()
    mesh_size: float | None = None


@dataclass(frozen=True)
class PouchSpec:
    """Arguments of the pouch builder (SI). GeometryError fields name these (``layers[3]``,
    ``regions[0].rect``, ``mesh_size``)."""

    kind: ClassVar[str] = "pouch"
    layers: tuple[PouchLayer, ...]
    mesh_size: float
    filler: str = "electrolyte_LiPF6_EC_DMC"
    tabs: tuple[Tab, ...] = ()
    regions: tuple[Region, ...] = ()
    grading: float = 1.3
    min_cells_per_layer: int = 1
    max_cell_thickness: float | None = None
    mode: str = "resolved"
    homogenised_cells: int | None = None  # cells through the block (None: one per 5 layers)
    #: mirror-symmetry planes (axis "x" or "y", position m): the model keeps the part of the
    #: cell at coordinates >= each plane (half or quarter of it); the stack must be mirror-
    #: symmetric about each plane (footprints and regions centred on it, each tab centred on
    #: it or with a mirror-image tab on the same layers). See :func:`reduce_by_symmetry`.
    symmetry: tuple[tuple[str, float], ...] = ()
    #: set by :func:`reduce_by_symmetry` on the reduced spec: the planes the cell was cut at
    #: (its faces there are the ``symmetry`` facets)
    mirror: tuple[tuple[str, float], ...] = ()
    info: dict = field(default_factory=dict, compare=False, hash=False)


# --------------------------------------------------------------------------- plan
def envelope(spec: PouchSpec) -> Rect:
    """The box around all layer footprints."""
    fps = [la.footprint for la in spec.layers]
    return Rect(min(f.x0 for f in fps), min(f.y0 for f in fps), max(f.x1 for f in fps),
                max(f.y1 for f in fps))


def height(spec: PouchSpec) -> float:
    return float(sum(la.thickness for la in spec.layers))


def check(spec: PouchSpec) -> None:
    """GeometryError for a stack the builder cannot mesh."""
    if spec.mode not in MODES:
        raise GeometryError(f"allowed: {', '.join(MODES)}", "mode", spec.mode)
    if spec.mode == "homogenised" and any(la.conductance is not None for la in spec.layers):
        raise GeometryError("contact resistances need mode = 'resolved' (not yet in the "
                            "homogenised block's series rule)", "contacts", "homogenised")
    if not spec.layers:
        raise GeometryError("at least one layer is needed", "layers", [])
    reserved = set(FACETS) | {"outer", "cell", "filler", "stack"} | set(GROUPS.values()) \
        | {"electrodes"}
    names: set[str] = set()
    env = envelope(spec)
    size = max(env.x1 - env.x0, env.y1 - env.y0)
    for i, la in enumerate(spec.layers):
        if la.name in names or la.name in reserved:
            raise GeometryError("layer names must be unique and not a reserved marker name "
                                f"({', '.join(sorted(reserved))})", f"layers[{i}].name", la.name)
        names.add(la.name)
        if not la.thickness > 0:
            raise GeometryError("needs a thickness > 0", f"layers[{i}].thickness", la.thickness)
        fp = la.footprint
        if not (fp.x1 > fp.x0 and fp.y1 > fp.y0):
            raise GeometryError("needs x1 > x0 and y1 > y0", f"layers[{i}].footprint",
                                [fp.x0, fp.y0, fp.x1, fp.y1])
        if la.component not in COMPONENTS:
            raise GeometryError(f"allowed: {', '.join(COMPONENTS)}", f"layers[{i}].component",
                                la.component)
        if la.thickness < 1e-9 * size:
            raise GeometryError(f"a layer of {la.thickness:.3g} m is too thin next to the "
                                f"{size:.3g} m footprint (at least 1e-9 of it)",
                                f"layers[{i}].thickness", la.thickness)
    parts = {la.part for la in spec.layers if la.part} | {f"unit{la.unit}"
                                                           for la in spec.layers if la.unit}
    clash = parts & (names | reserved)
    if clash:
        raise GeometryError(f"part / unit names clash with layer or marker names: "
                            f"{sorted(clash)}", "layers", sorted(clash))
    names |= parts

    def new_name(field: str, name: str, what: str) -> None:
        if name in names or name in reserved:
            raise GeometryError(f"{what} names must be unique and not a layer or marker name",
                                field, name)
        names.add(name)

    by_name = {la.name: la for la in spec.layers}
    for i, tab in enumerate(spec.tabs):
        key = f"tabs[{i}]"
        new_name(f"{key}.name", tab.name, "tab")
        if spec.mode != "resolved":
            raise GeometryError("tabs need mode = 'resolved' (the homogenised block has no "
                                "tabs)", key, tab.name)
        r = tab.rect
        if not (r.x1 > r.x0 and r.y1 > r.y0):
            raise GeometryError("needs a positive width and length", f"{key}.rect",
                                [r.x0, r.y0, r.x1, r.y1])
        if r.inside(env):
            raise GeometryError("a tab must reach outside the envelope of the layers",
                                f"{key}.rect", [r.x0, r.y0, r.x1, r.y1])
        unknown = [n for n in tab.layers if n not in by_name]
        if not tab.layers or unknown:
            raise GeometryError(f"needs layer names of the stack (unknown: {unknown})",
                                f"{key}.layers", list(tab.layers))
        for other in spec.tabs[:i]:
            common = r.overlap(other.rect)
            if common is not None and not common.inside(env):
                raise GeometryError(f"overlaps tab {other.name!r} outside the envelope",
                                    f"{key}.rect", [r.x0, r.y0, r.x1, r.y1])
    for i, reg in enumerate(spec.regions):
        key = f"regions[{i}]"
        new_name(f"{key}.name", reg.name, "region")
        r = reg.rect
        if not (r.x1 > r.x0 and r.y1 > r.y0):
            raise GeometryError("needs a positive size", f"{key}.size",
                                [r.x1 - r.x0, r.y1 - r.y0])
        unknown = [n for n in reg.layers if n not in by_name]
        if unknown:
            raise GeometryError(f"unknown layers {unknown}; the stack has: "
                                + ", ".join(by_name), f"{key}.layers", list(reg.layers))
        for name in reg.layers or tuple(by_name):
            if spec.mode == "resolved" and not r.inside(by_name[name].footprint, 1e-12 * size):
                raise GeometryError(f"must lie inside the footprint of layer {name!r}",
                                    f"{key}.center", [(r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2])
        for j, other in enumerate(spec.regions[:i]):
            shared = set(reg.layers or by_name) & set(other.layers or by_name)
            if shared and r.overlap(other.rect) is not None:
                raise GeometryError(f"overlaps regions[{j}] ({other.name!r}) in layers "
                                    f"{sorted(shared)[:3]}", key, reg.name)
        if reg.mesh_size is not None and not reg.mesh_size > 0:
            raise GeometryError("must be > 0", f"{key}.mesh_size", reg.mesh_size)
    if not spec.mesh_size > 0:
        raise GeometryError("must be > 0", "mesh_size", spec.mesh_size)
    _check_symmetry(spec, size)


# --------------------------------------------------------------------------- symmetry
def _mirror(rect: Rect, axis: str, p: float) -> Rect:
    """The mirror image of a rectangle in the plane ``axis`` = p."""
    if axis == "x":
        return Rect(2 * p - rect.x1, rect.y0, 2 * p - rect.x0, rect.y1)
    return Rect(rect.x0, 2 * p - rect.y1, rect.x1, 2 * p - rect.y0)


def _same(a: Rect, b: Rect, tol: float) -> bool:
    return all(abs(u - v) <= tol for u, v in ((a.x0, b.x0), (a.y0, b.y0), (a.x1, b.x1),
                                               (a.y1, b.y1)))


def _check_symmetry(spec: PouchSpec, size: float) -> None:
    """GeometryError unless the stack is mirror-symmetric about every plane of
    ``spec.symmetry`` (then the half / quarter model with zero-flux faces on the planes
    represents the whole cell exactly)."""
    if not spec.symmetry:
        return
    if spec.mirror:
        raise GeometryError("a reduced spec cannot be reduced again", "symmetry",
                            list(spec.symmetry))
    env, tol = envelope(spec), 1e-9 * size
    axes = [a for a, _ in spec.symmetry]
    if any(a not in ("x", "y") for a in axes) or len(set(axes)) != len(axes):
        raise GeometryError("allowed: the axes 'x' and / or 'y', each once", "symmetry", axes)
    for axis, p in spec.symmetry:
        lo, hi = (env.x0, env.x1) if axis == "x" else (env.y0, env.y1)
        if not lo < p < hi:
            raise GeometryError(f"the plane {axis} = {p:g} m does not cut the stack "
                                f"({lo:g} .. {hi:g} m)", "symmetry", axes)
        for i, la in enumerate(spec.layers):
            if not _same(_mirror(la.footprint, axis, p), la.footprint, tol):
                raise GeometryError(f"the footprint is not mirror-symmetric about {axis} = "
                                    f"{p:g} m (a symmetry plane needs a symmetric stack)",
                                    f"layers[{i}].footprint", la.name)
        for i, reg in enumerate(spec.regions):
            if not _same(_mirror(reg.rect, axis, p), reg.rect, tol):
                raise GeometryError(f"must be centred on the symmetry plane {axis} = {p:g} m "
                                    "(its mirror image would be a second region)",
                                    f"regions[{i}].center",
                                    [(reg.rect.x0 + reg.rect.x1) / 2,
                                     (reg.rect.y0 + reg.rect.y1) / 2])
        for i, tab in enumerate(spec.tabs):
            image = _mirror(tab.rect, axis, p)
            if not any(_same(image, other.rect, tol) and set(other.layers) == set(tab.layers)
                       for other in spec.tabs):
                raise GeometryError(f"is not mirror-symmetric about {axis} = {p:g} m and has "
                                    "no mirror-image tab on the same layers: remove the "
                                    "symmetry plane (or the tab)", f"tabs[{i}].rect", tab.name)


def reduce_by_symmetry(spec: PouchSpec) -> PouchSpec:
    """The part of a mirror-symmetric stack at coordinates >= every plane of
    ``spec.symmetry`` (footprints, tabs and regions clipped there; tabs wholly on the other
    side dropped, their mirror images stay), with ``mirror`` = those planes. The faces on the
    planes are the ``symmetry`` facets: zero normal heat flux, the exact condition of a
    symmetric temperature field. A spec without planes is returned as is. The spec must have
    passed :func:`check` (which checks the mirror symmetry; :func:`plan` does)."""
    if not spec.symmetry:
        return spec

    def clip(r: Rect) -> Rect | None:
        for axis, p in spec.symmetry:
            r = Rect(max(r.x0, p), r.y0, r.x1, r.y1) if axis == "x" \
                else Rect(r.x0, max(r.y0, p), r.x1, r.y1)
            if r.x1 <= r.x0 or r.y1 <= r.y0:
                return None
        return r

    layers = tuple(PouchLayer(la.name, la.material, la.thickness, clip(la.footprint),
                              la.component, la.part, la.unit, la.cells, la.conductance)
                   for la in spec.layers)
    tabs = tuple(Tab(t.name, clip(t.rect), t.layers) for t in spec.tabs
                 if clip(t.rect) is not None)
    regions = tuple(Region(r.name, clip(r.rect), r.layers, r.mesh_size) for r in spec.regions)
    return PouchSpec(layers=layers, mesh_size=spec.mesh_size, filler=spec.filler, tabs=tabs,
                     regions=regions, grading=spec.grading,
                     min_cells_per_layer=spec.min_cells_per_layer,
                     max_cell_thickness=spec.max_cell_thickness, mode=spec.mode,
                     homogenised_cells=spec.homogenised_cells, symmetry=(),
                     mirror=spec.symmetry, info=spec.info)


def copies(spec: PouchSpec) -> int:
    """How many mirror images of the model make the whole cell (1, 2 or 4)."""
    return 2 ** len(spec.symmetry or spec.mirror)


def plan(spec: PouchSpec) -> Plan:
    """Markers, boxes, layer table and cell count without meshing (of the reduced model when
    the spec has symmetry planes)."""
    check(spec)
    spec = reduce_by_symmetry(spec)
    rows, markers = _tables(spec)
    return Plan(markers=markers, boxes=bounding_boxes(spec), layers=tuple(rows),
                cells=estimate_cells(spec), copies=copies(spec))


def bounding_boxes(spec: PouchSpec) -> dict[str, Box]:
    """The envelope box (``pouch``) and each tab's box outside it (m)."""
    env, h = envelope(spec), height(spec)
    boxes = {"pouch": ((env.x0, env.y0, 0.0), (env.x1, env.y1, h))}
    z = _layer_z(spec)
    for tab in spec.tabs:
        ks = [k for k, la in enumerate(spec.layers) if la.name in tab.layers]
        r = tab.rect
        boxes[tab.name] = ((r.x0, r.y0, z[min(ks)]), (r.x1, r.y1, z[max(ks) + 1]))
    return boxes


def _layer_z(spec: PouchSpec) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum([la.thickness for la in spec.layers])])


def _cells_through(spec: PouchSpec, la: PouchLayer) -> int:
    if la.cells is not None:
        return la.cells
    n = spec.min_cells_per_layer
    if spec.max_cell_thickness is not None:
        n = max(n, math.ceil(la.thickness / spec.max_cell_thickness - 1e-9))
    return n


def homogenised_mix(spec: PouchSpec) -> tuple[tuple[str, float], ...]:
    """(material, thickness m) of every layer, for effective properties of the block."""
    return tuple((la.material, la.thickness) for la in spec.layers)


def _z_segments(spec: PouchSpec) -> list[tuple[float, float, int, int]]:
    """(z0, z1, cells, layer index or -1 for the homogenised block) through the thickness."""
    z = _layer_z(spec)
    if spec.mode == "resolved":
        return [(z[k], z[k + 1], _cells_through(spec, la), k)
                for k, la in enumerate(spec.layers)]
    # homogenised: breaks at the z-range of every region, cells spread by thickness
    h = z[-1]
    breaks = {0.0, h}
    for reg in spec.regions:
        ks = [k for k, la in enumerate(spec.layers) if not reg.layers or la.name in reg.layers]
        breaks |= {z[min(ks)], z[max(ks) + 1]}
    breaks = sorted(breaks)
    total = spec.homogenised_cells or max(1, math.ceil(len(spec.layers) / 5))
    total = max(total, len(breaks) - 1)
    return [(a, b, max(1, round(total * (b - a) / h)), -1)
            for a, b in zip(breaks[:-1], breaks[1:], strict=True)]


def _tables(spec: PouchSpec) -> tuple[list[Layer], dict[str, Marker]]:
    """Layer rows (one tag each) and markers. Tags: resolved layers 1..L, filler L+1, region
    parts (region r, layer k) L+2+r*L+k; homogenised: block 1, region r 2+r. Facets follow."""
    L = len(spec.layers)
    rows: list[Layer] = []
    groups: dict[str, list[int]] = {}

    def add(name, tag):
        groups.setdefault(name, []).append(tag)

    segs = _z_segments(spec)
    h = height(spec)
    if spec.mode == "homogenised":
        mix = homogenised_mix(spec)
        cells = sum(s[2] for s in segs)
        rows.append(Layer("pouch", "stack", "homogenised", 0.0, h, cells, 1, mix))
        add("stack", 1)
        for r, reg in enumerate(spec.regions):
            tag = 2 + r
            rows.append(Layer(reg.name, "stack", "homogenised", 0.0, h, cells, tag, mix))
            add("stack", tag)
            add(reg.name, tag)
        last = 1 + len(spec.regions)
    else:
        z = _layer_z(spec)
        for k, la in enumerate(spec.layers):
            rows.append(Layer("pouch", la.name, la.material, z[k], z[k + 1], segs[k][2], k + 1,
                              props=la.props()))
        rows.append(Layer("pouch", "filler", spec.filler, 0.0, h, 0, L + 1))
        for r, reg in enumerate(spec.regions):
            for k, la in enumerate(spec.layers):
                if not reg.layers or la.name in reg.layers:
                    rows.append(Layer(reg.name, la.name, la.material, z[k], z[k + 1],
                                      segs[k][2], L + 2 + r * L + k, props=la.props()))
        for row in rows:
            if row.name == "filler":
                add("filler", row.tag)
                continue
            la = spec.layers[row.tag - 1] if row.stack == "pouch" else next(
                x for x in spec.layers if x.name == row.name)
            add(la.name, row.tag)
            if row.stack != "pouch":
                add(row.stack, row.tag)
            if la.component in GROUPS:
                add(GROUPS[la.component], row.tag)
            if la.component in ("anode_active", "cathode_active"):
                add("electrodes", row.tag)
            if la.part:
                add(la.part, row.tag)
            if la.unit:
                add(f"unit{la.unit}", row.tag)
        last = L + 1 + len(spec.regions) * L
    add_all = [row.tag for row in rows]
    markers = {name: Marker(tuple(sorted(tags)), 3) for name, tags in groups.items()}
    markers["cell"] = Marker(tuple(sorted(add_all)), 3)
    kinds = [k for k in FACETS if k != "tabs" or spec.tabs]
    for i, kind in enumerate(kinds):
        markers[kind] = Marker((last + 1 + i,), 2)
    markers["outer"] = Marker(tuple(last + 1 + i for i in range(len(kinds))), 2)
    if spec.mirror:  # the cut faces: not outer (no convection there), zero flux by default
        markers["symmetry"] = Marker((last + 1 + len(kinds),), 2)
    return rows, markers


def facet_tag(spec: PouchSpec, kind: str) -> int:
    return _tables(spec)[1][kind].tags[0]


# --------------------------------------------------------------------------- in-plane grid
def _regions_1d(spec: PouchSpec, axis: int) -> list[tuple[float, float, float]]:
    out = []
    for reg in spec.regions:
        lo, hi = (reg.rect.x0, reg.rect.x1) if axis == 0 else (reg.rect.y0, reg.rect.y1)
        out.append((lo, hi, min(spec.mesh_size, reg.mesh_size or spec.mesh_size)))
    return out


def _breaks(spec: PouchSpec, axis: int) -> list[float]:
    """Grid lines along the axis: every footprint, tab and region edge, except a tab's inner
    end inside the envelope (it lies inside its layers' footprints, where those layers have
    cells anyway: a line there only adds a thin strip of stretched cells across the pouch)."""
    pts = set()
    rects = [la.footprint for la in spec.layers] + [r.rect for r in spec.regions]
    for r in rects:
        pts |= {r.x0, r.x1} if axis == 0 else {r.y0, r.y1}
    env = envelope(spec)
    lo, hi = (env.x0, env.x1) if axis == 0 else (env.y0, env.y1)
    for t in spec.tabs:
        a, b = (t.rect.x0, t.rect.x1) if axis == 0 else (t.rect.y0, t.rect.y1)
        along = a < lo or b > hi  # the tab leaves the envelope along this axis
        pts |= {e for e in (a, b) if not (along and lo < e < hi)}
    pts = sorted(pts)
    # merge breaks closer than round-off
    out = [pts[0]]
    scale = max(abs(pts[0]), abs(pts[-1]), pts[-1] - pts[0])
    for p in pts[1:]:
        if p - out[-1] > 1e-12 * scale:
            out.append(p)
    return out


def _size_function(spec: PouchSpec, axis: int):
    """Target cell size (m) along the axis: a region's size inside it, growing by the grading
    ratio per cell away from it (slope grading - 1), capped at mesh_size; intervals between
    footprint edges shorter than mesh_size count as regions of their own length."""
    regs = _regions_1d(spec, axis)
    h, g = spec.mesh_size, spec.grading
    # an interval between breaks shorter than mesh_size (e.g. the 1 mm between an anode's and
    # a cathode's edges) is one small cell: grade its neighbours from it too
    breaks = _breaks(spec, axis)
    regs += [(a, b, b - a) for a, b in zip(breaks[:-1], breaks[1:], strict=True) if b - a < h]

    def size(p: np.ndarray) -> np.ndarray:
        s = np.full(p.shape, h)
        for lo, hi, hr in regs:
            d = np.maximum(np.maximum(lo - p, p - hi), 0.0)
            s = np.minimum(s, hr + (g - 1.0) * d)
        return s

    return size


def _interval_counts(spec: PouchSpec, axis: int) -> tuple[list[float], list[int]]:
    breaks = _breaks(spec, axis)
    size = _size_function(spec, axis)
    counts = []
    for a, b in zip(breaks[:-1], breaks[1:], strict=True):
        p = np.linspace(a, b, _SAMPLES)
        phi = np.trapezoid(1.0 / size(p), p)
        counts.append(max(1, math.ceil(min(phi, 1e15) - 1e-6)))
    return breaks, counts


def axis_nodes(spec: PouchSpec, axis: int) -> np.ndarray:
    """Node coordinates along x (axis 0) or y (1): every break, graded cells between."""
    breaks, counts = _interval_counts(spec, axis)
    size = _size_function(spec, axis)
    nodes = [breaks[0]]
    for (a, b), n in zip(zip(breaks[:-1], breaks[1:], strict=True), counts, strict=True):
        p = np.linspace(a, b, _SAMPLES)
        inv = 1.0 / size(p)
        phi = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(p))])
        levels = np.linspace(0.0, phi[-1], n + 1)[1:-1]
        nodes += list(np.interp(levels, phi, p)) + [b]
    return np.asarray(nodes)


def estimate_cells(spec: PouchSpec) -> int:
    """Number of hexahedra (upper bound: every column with every layer), at most
    MAX_ESTIMATE."""
    nx = sum(_interval_counts(spec, 0)[1])
    ny = sum(_interval_counts(spec, 1)[1])
    nz = sum(s[2] for s in _z_segments(spec))
    return min(nx * ny * nz, MAX_ESTIMATE)


# --------------------------------------------------------------------------- build
def _present_columns(spec: PouchSpec, xc: np.ndarray, yc: np.ndarray) -> np.ndarray:
    """(nx, ny) mask of in-plane tiles with cells: inside the envelope or a tab."""
    env = envelope(spec)
    X, Y = np.meshgrid(xc, yc, indexing="ij")
    mask = env.contains(X, Y)
    for tab in spec.tabs:
        mask |= tab.rect.contains(X, Y)
    return mask


def _cell_layers(spec: PouchSpec) -> tuple[np.ndarray, np.ndarray]:
    """z nodes and, per z-cell, the layer index (-1: homogenised block)."""
    zn, zl = [0.0], []
    for z0, z1, n, k in _z_segments(spec):
        zn += list(np.linspace(z0, z1, n + 1)[1:])
        zl += [k] * n
    zn[-1] = height(spec)
    return np.asarray(zn), np.asarray(zl, dtype=np.int64)


def mesh_arrays(spec: PouchSpec) -> tuple[np.ndarray, np.ndarray]:
    """(nodes (N, 3) m, cells (C, 8) DOLFINx hexahedron order) of the pouch, numbered by the
    spec alone (the input indices of checkpoints and fields)."""
    xn, yn = axis_nodes(spec, 0), axis_nodes(spec, 1)
    zn, zl = _cell_layers(spec)
    xc, yc = 0.5 * (xn[1:] + xn[:-1]), 0.5 * (yn[1:] + yn[:-1])
    env = envelope(spec)
    cols = _present_columns(spec, xc, yc)
    X, Y = np.meshgrid(xc, yc, indexing="ij")
    inside_env = env.contains(X, Y)
    nx, ny, nz = len(xc), len(yc), len(zl)
    present = np.zeros((nx, ny, nz), dtype=bool)
    present[inside_env] = True
    names = [la.name for la in spec.layers]
    for tab in spec.tabs:
        in_tab = tab.rect.contains(X, Y) & ~inside_env
        ks = np.isin(zl, [names.index(n) for n in tab.layers])
        sub = present[in_tab]  # (m, nz)
        sub[:, ks] = True
        present[in_tab] = sub
    present &= cols[:, :, None]
    i, j, k = np.nonzero(present)
    # node (a, b, c) -> global lexicographic id (c, b, a); keep only the used ones
    corners = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0),
               (0, 0, 1), (1, 0, 1), (0, 1, 1), (1, 1, 1)]
    nxn, nyn = nx + 1, ny + 1
    lex = np.stack([((k + dc) * nyn + (j + db)) * nxn + (i + da) for da, db, dc in corners],
                   axis=1)
    used, cells = np.unique(lex, return_inverse=True)
    cells = cells.reshape(lex.shape).astype(np.int64)
    a = used % nxn
    b = (used // nxn) % nyn
    c = used // (nxn * nyn)
    nodes = np.stack([xn[a], yn[b], zn[c]], axis=1)
    return nodes, cells


def build(spec: PouchSpec, comm) -> Geometry:
    """Build the pouch mesh on rank 0 from :func:`mesh_arrays`, distribute it and tag cells
    and facets from their centres on every rank."""
    import basix.ufl
    import ufl
    from dolfinx import mesh as dmesh

    p = plan(spec)
    spec = reduce_by_symmetry(spec)
    if comm.rank == 0:
        nodes, cells = mesh_arrays(spec)
    else:
        nodes, cells = np.zeros((0, 3)), np.zeros((0, 8), dtype=np.int64)
    element = ufl.Mesh(basix.ufl.element("Lagrange", "hexahedron", 1, shape=(3,)))
    partitioner = dmesh.create_cell_partitioner(dmesh.GhostMode.none, 2) \
        if comm.size > 1 else None
    msh = dmesh.create_mesh(comm, cells, element, nodes, partitioner)
    tdim = 3
    msh.topology.create_connectivity(tdim - 1, tdim)
    num_cells = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
    centres = dmesh.compute_midpoints(msh, tdim, np.arange(num_cells, dtype=np.int32))
    values = cell_tags_at(spec, centres)
    cell_tags = dmesh.meshtags(msh, tdim, np.arange(num_cells, dtype=np.int32),
                               values.astype(np.int32))
    facets = dmesh.exterior_facet_indices(msh.topology)
    mids = dmesh.compute_midpoints(msh, tdim - 1, facets)
    ftags = facet_tags_at(spec, mids, p.markers)
    order = np.argsort(facets)
    facet_tags = dmesh.meshtags(msh, tdim - 1, facets[order].astype(np.int32),
                                ftags[order].astype(np.int32))
    xn, yn = axis_nodes(spec, 0), axis_nodes(spec, 1)
    info = {
        "kind": "pouch",
        "mode": spec.mode,
        "cells": int(msh.topology.index_map(tdim).size_global),
        "in_plane_cells": [len(xn) - 1, len(yn) - 1],
        "cells_per_layer": {r.name: r.cells for r in p.layers
                            if r.stack == "pouch" and r.name != "filler"},
        "height_m": height(spec),
    }
    if spec.mirror:
        info["symmetry"] = {"planes_m": {axis: pos for axis, pos in spec.mirror},
                            "copies": copies(spec),
                            "note": "the mesh is 1/copies of the cell (the part at coordinates "
                                    ">= each plane); totals are for the whole cell"}
    return Geometry(msh, cell_tags, facet_tags, dict(p.markers), list(p.layers), info,
                    boxes=dict(p.boxes), copies=copies(spec))


def cell_tags_at(spec: PouchSpec, centres: np.ndarray) -> np.ndarray:
    """Cell tag of cells with these centres (m), as :func:`_tables` numbers them."""
    zn, zl = _cell_layers(spec)
    x, y, z = centres[:, 0], centres[:, 1], centres[:, 2]
    zc = np.clip(np.searchsorted(zn, z) - 1, 0, len(zl) - 1)
    k = zl[zc]
    L = len(spec.layers)
    scale = max(envelope(spec).x1 - envelope(spec).x0, 1e-300)
    tol = 1e-9 * scale
    if spec.mode == "homogenised":
        tags = np.ones(len(z), dtype=np.int64)
        zlay = _layer_z(spec)
        for r, reg in enumerate(spec.regions):
            ks = [q for q, la in enumerate(spec.layers) if not reg.layers or la.name in reg.layers]
            inside = reg.rect.contains(x, y, tol) & (z > zlay[min(ks)]) & (z < zlay[max(ks) + 1])
            tags[inside] = 2 + r
        return tags
    tags = np.full(len(z), L + 1, dtype=np.int64)  # filler unless inside the footprint
    for q, la in enumerate(spec.layers):
        sel = k == q
        inside = la.footprint.contains(x[sel], y[sel], tol)
        for tab in spec.tabs:
            if la.name in tab.layers:
                inside |= tab.rect.contains(x[sel], y[sel], tol)
        sub = tags[sel]
        sub[inside] = q + 1
        tags[sel] = sub
    for r, reg in enumerate(spec.regions):
        for q, la in enumerate(spec.layers):
            if reg.layers and la.name not in reg.layers:
                continue
            sel = (k == q) & reg.rect.contains(x, y, tol)
            tags[sel] = L + 2 + r * L + q
    return tags


def facet_tags_at(spec: PouchSpec, mids: np.ndarray, markers: dict[str, Marker]) -> np.ndarray:
    """Tag of exterior facets with these midpoints: bottom, top, tabs (outside the envelope),
    sides."""
    h = height(spec)
    env = envelope(spec)
    tol = 1e-9 * max(env.x1 - env.x0, env.y1 - env.y0, h)
    x, y, z = mids[:, 0], mids[:, 1], mids[:, 2]
    tags = np.full(len(z), markers["sides"].tags[0], dtype=np.int64)
    tags[np.abs(z) < tol] = markers["bottom"].tags[0]
    tags[np.abs(z - h) < tol] = markers["top"].tags[0]
    if spec.tabs:  # strictly outside the envelope: a tab's faces
        tags[~env.contains(x, y, tol)] = markers["tabs"].tags[0]
    for axis, p in spec.mirror:  # the faces on a symmetry plane (envelope and tabs)
        tags[np.abs((x if axis == "x" else y) - p) < tol] = markers["symmetry"].tags[0]
    return tags


def budget_rows(spec: PouchSpec) -> list[tuple[str, str, str, float, float]]:
    """(name, component, material, thickness m, area m^2) of every sheet of the cell: the
    layers over their footprints and each tab's part outside the footprint (component
    ``tab``), for the cell budget (mass per component)."""
    rows = []
    for la in spec.layers:
        if la.conductance is not None:
            continue  # a contact stands for an interface: no mass of its own
        rows.append((la.name, la.component, la.material, la.thickness, la.footprint.area))
    by_name = {la.name: la for la in spec.layers}
    for tab in spec.tabs:
        for name in tab.layers:
            la = by_name[name]
            common = tab.rect.overlap(la.footprint)
            area = tab.rect.area - (common.area if common is not None else 0.0)
            rows.append((f"{tab.name}/{name}", "tab", la.material, la.thickness, area))
    return rows
