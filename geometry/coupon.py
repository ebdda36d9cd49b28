"""Layered micro coupons side by side: e.g. PI-Ag (Ag 0.5 / PI 7 / Ag 0.5 um) next to Cu 8 um.

Each stack covers ``size`` in-plane and is placed at x offset ``i * (size_x + gap)``. The
in-plane mesh is a structured quad grid (tile edges at the footprint and at the hot-spot patch
edges, so the patch is meshed exactly), extruded through the layer table with recombined
hexahedra: micrometre layers never get isotropic tetrahedra.

Markers (see :func:`marker_table`): cells ``STACK/LAYER`` and ``STACK``; facets ``STACK/bottom``
(z = 0), ``STACK/top`` (top face without the hot-spot patch), ``STACK/hot_spot``,
``STACK/sides`` (the four side faces), and ``bottom``, ``top``, ``hot_spot``, ``sides`` over
all stacks. Cell tags number the layers 1, 2, ... over all stacks; facet tags follow after the
last cell tag (4 per stack), so any number of layers works and no tag means two markers.

Arguments: :class:`CouponSpec` (typed, SI); :func:`plan` (markers, boxes, layer table, cell
count: no mesh) and :func:`build` raise :class:`GeometryError` naming the spec field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from batteryfx.geometry.base import Box, Geometry, GeometryError, Layer, Marker, Plan

FACET_KINDS = {"bottom": 1, "top": 2, "sides": 3, "hot_spot": 4}
RESERVED = set(FACET_KINDS)  # marker names a stack or layer may not take
_REL = 1e-9  # relative tolerance on z contiguity
MAX_ESTIMATE = 10**18  # estimate_cells saturates here (far above any mesh that can be built)
REL_FEATURE = 1e-9  # smallest feature / model extent (Gmsh merges points within 1e-10 of it)


# --------------------------------------------------------------------------- arguments
@dataclass(frozen=True)
class CouponLayer:
    """One layer: ``material`` over ``z0 <= z <= z1`` (m); ``cells`` hexahedra through it
    (None: from ``min_cells_per_layer`` and ``max_cell_thickness`` of the spec)."""

    name: str
    material: str
    z0: float
    z1: float
    cells: int | None = None


@dataclass(frozen=True)
class CouponStack:
    """A column of contiguous layers listed bottom (z = 0) up."""

    name: str
    layers: tuple[CouponLayer, ...]


@dataclass(frozen=True)
class HotSpot:
    """A rectangular patch on the top face (size in x, y; centre default: the face centre),
    meshed exactly and refined to ``mesh_size`` (default: the spec's mesh_size)."""

    size: tuple[float, float]
    center: tuple[float, float] | None = None
    mesh_size: float | None = None


@dataclass(frozen=True)
class CouponSpec:
    """Arguments of the coupon builder (SI units). Field paths of :class:`GeometryError`
    (``stacks[0].layers[1].z``, ``hot_spot.size``, ``gap``) name these fields."""

    kind: ClassVar[str] = "coupon"
    size: tuple[float, float]
    mesh_size: float
    stacks: tuple[CouponStack, ...]
    max_cell_thickness: float | None = None
    min_cells_per_layer: int = 2
    gap: float | None = None  # None: 40 % of size[0]
    grading: float = 1.25
    hot_spot: HotSpot | None = None


# --------------------------------------------------------------------------- plan
def check(spec: CouponSpec) -> None:
    """GeometryError for arguments the builder cannot mesh: repeated or reserved names,
    layers that overlap, leave gaps or do not start at z = 0, a hot spot off the face, and
    features the mesher cannot resolve next to the model size."""
    if not spec.stacks:
        raise GeometryError("at least one stack is needed", "stacks", [])
    stack_names: set[str] = set()
    for i, stack in enumerate(spec.stacks):
        _check_name(f"stacks[{i}].name", stack.name, stack_names)
        if not stack.layers:
            raise GeometryError("at least one layer is needed", f"stacks[{i}].layers", [])
        layer_names: set[str] = set()
        top, prev = 0.0, None
        for j, layer in enumerate(stack.layers):
            key = f"stacks[{i}].layers[{j}]"
            _check_name(f"{key}.name", layer.name, layer_names)
            z0, z1 = layer.z0, layer.z1
            if not z1 > z0:
                raise GeometryError("needs z1 > z0", f"{key}.z", [z0, z1])
            scale = max(abs(z1), abs(top), 1e-300)
            if z0 < top - _REL * scale:
                raise GeometryError(
                    f"overlaps layer {prev or 'z = 0'!r} below (which ends at z = {top:g} m); "
                    "layers must be contiguous and listed bottom-up", f"{key}.z", [z0, z1])
            if z0 > top + _REL * scale:
                raise GeometryError(f"leaves a gap above z = {top:g} m; layers must be "
                                    "contiguous", f"{key}.z", [z0, z1])
            top, prev = z1, layer.name
    if spec.hot_spot is not None:
        (lx, ly), (hx, hy) = spec.size, spec.hot_spot.size
        cx, cy = spec.hot_spot.center or (lx / 2, ly / 2)
        mx, my = 1e-3 * lx, 1e-3 * ly  # no sliver tiles at the edges
        if not (cx - hx / 2 >= mx and cx + hx / 2 <= lx - mx
                and cy - hy / 2 >= my and cy + hy / 2 <= ly - my):
            raise GeometryError(
                f"the patch must lie inside the {lx:g} x {ly:g} m face, at least 0.1 % of its "
                "size from the edges", "hot_spot", {"center": [cx, cy], "size": [hx, hy]})
    check_features(spec)


def _check_name(field: str, name: str, seen: set[str]) -> None:
    """Stack and layer names: unique among their siblings, not a reserved marker name."""
    if name in seen:
        raise GeometryError("names must be unique (among stacks / layers of a stack)", field,
                            name)
    if name in RESERVED:
        raise GeometryError(f"reserved marker name; not one of {', '.join(sorted(RESERVED))}",
                            field, name)
    seen.add(name)


def plan(spec: CouponSpec) -> Plan:
    """Markers, stack boxes, layer table and cell count of the coupon, without meshing
    (raises GeometryError as :func:`check`)."""
    check(spec)
    markers = {name: Marker(tags, dim) for name, (tags, dim) in marker_table(spec).items()}
    return Plan(markers=markers, boxes=bounding_boxes(spec), layers=tuple(layer_rows(spec)),
                cells=estimate_cells(spec))


def layer_rows(spec: CouponSpec) -> list[Layer]:
    """The layer table of all stacks (stack order, bottom up) with cells and cell tags."""
    tags = layer_tags(spec)
    return [Layer(stack.name, layer.name, layer.material, layer.z0, layer.z1,
                  _cells_through(spec, layer.z0, layer.z1, layer.cells), tags[i][j])
            for i, stack in enumerate(spec.stacks) for j, layer in enumerate(stack.layers)]


def layer_tags(spec: CouponSpec) -> list[list[int]]:
    """Cell tag of every layer: 1, 2, ... over all layers of all stacks in order (any number
    of layers per stack)."""
    tags, n = [], 0
    for stack in spec.stacks:
        tags.append(list(range(n + 1, n + len(stack.layers) + 1)))
        n += len(stack.layers)
    return tags


def facet_tag(spec: CouponSpec, i: int, kind: str) -> int:
    """Facet tag of a face kind (:data:`FACET_KINDS`) of stack i: numbered after every cell
    tag, so that a tag names one marker whatever its dimension."""
    num_layers = sum(len(s.layers) for s in spec.stacks)
    return num_layers + len(FACET_KINDS) * i + FACET_KINDS[kind]


def gap(spec: CouponSpec) -> float:
    """Distance between neighbouring coupons in x (m); default 40 % of the coupon width."""
    return spec.gap if spec.gap is not None else 0.4 * spec.size[0]


def bounding_boxes(spec: CouponSpec) -> dict[str, Box]:
    """Axis-aligned box of each stack (m), without building a mesh."""
    boxes = {}
    for i, stack in enumerate(spec.stacks):
        x0 = i * (spec.size[0] + gap(spec))
        boxes[stack.name] = ((x0, 0.0, 0.0), (x0 + spec.size[0], spec.size[1],
                                               stack.layers[-1].z1))
    return boxes


def marker_table(spec: CouponSpec) -> dict[str, tuple[tuple[int, ...], int]]:
    """Every marker the builder creates: name -> (mesh tags, dimension 3 cells / 2 facets)."""
    table: dict[str, tuple[tuple[int, ...], int]] = {}
    kinds = [k for k in FACET_KINDS if k != "hot_spot" or spec.hot_spot is not None]
    for i, (stack, tags) in enumerate(zip(spec.stacks, layer_tags(spec), strict=True)):
        table[stack.name] = (tuple(tags), 3)
        for layer, tag in zip(stack.layers, tags, strict=True):
            table[f"{stack.name}/{layer.name}"] = ((tag,), 3)
        for kind in kinds:
            table[f"{stack.name}/{kind}"] = ((facet_tag(spec, i, kind),), 2)
    for kind in kinds:
        table[kind] = (tuple(facet_tag(spec, i, kind) for i in range(len(spec.stacks))), 2)
    return table


def estimate_cells(spec: CouponSpec) -> int:
    """Number of hexahedra the builder will make (without meshing), at most MAX_ESTIMATE.

    Fast for any sizes: the graded divisions are counted by bisection over the cell count."""
    xb, yb, hot, h_hot = _plan(spec)
    nx = _count(xb, hot[0] if hot else None, h_hot, spec.mesh_size, spec.grading)
    ny = _count(yb, hot[1] if hot else None, h_hot, spec.mesh_size, spec.grading)
    through = sum(_cells_through(spec, la.z0, la.z1, la.cells)
                  for st in spec.stacks for la in st.layers)
    return min(nx * ny * through, MAX_ESTIMATE)


def model_extent(spec: CouponSpec) -> float:
    """The length scale of the model as :func:`build` sets Gmsh's tolerance from it (m)."""
    height = max(st.layers[-1].z1 for st in spec.stacks)
    return len(spec.stacks) * (spec.size[0] + gap(spec)) + spec.size[1] + height


def check_features(spec: CouponSpec) -> None:
    """GeometryError for a feature (coupon size, gap, layer, hot spot and its distance to the
    edges) smaller than REL_FEATURE of the model extent: Gmsh would merge its points (or
    crash)."""
    extent = model_extent(spec)
    least = REL_FEATURE * extent
    features = [("size", spec.size[0]), ("size", spec.size[1]), ("gap", gap(spec))]
    for i, stack in enumerate(spec.stacks):
        for j, layer in enumerate(stack.layers):
            features.append((f"stacks[{i}].layers[{j}]", layer.z1 - layer.z0))
    if spec.hot_spot is not None:
        (lx, ly), (hx, hy) = spec.size, spec.hot_spot.size
        cx, cy = spec.hot_spot.center or (lx / 2, ly / 2)
        features += [("hot_spot.size", h) for h in (hx, hy)]
        features += [("hot_spot", d) for d in (cx - hx / 2, lx - cx - hx / 2,
                                               cy - hy / 2, ly - cy - hy / 2)]
    for key, size in features:
        if size < least:
            raise GeometryError(f"a feature of {size:.3g} m is too small next to the "
                                f"model extent of {extent:.3g} m: the mesher needs features of "
                                f"at least {REL_FEATURE:.0e} of it ({least:.3g} m)", key, size)


def _count(breaks: list[float], hot: int | None, h_hot: float, h: float, ratio: float) -> int:
    """Total elements of :func:`_divisions` (the same counts, found by bisection)."""
    total = 0
    for k in range(len(breaks) - 1):
        length = breaks[k + 1] - breaks[k]
        if hot is None or k == hot or h_hot >= h:
            total += max(1, math.ceil(length / (h_hot if k == hot else h) - 1e-9))
            continue
        lo, hi = 1, max(1, math.ceil(length / h_hot - 1e-9))  # graded_division tries lo..hi
        while lo < hi:  # the first n that fits; fitting is monotone in n
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if _graded_fits(length, h_hot, h, ratio, mid) else (mid + 1, hi)
        total += lo
    return total


def _graded_fits(length: float, h_near: float, h_far: float, ratio: float, n: int) -> bool:
    """Whether :func:`graded_division` stops at n elements."""
    if n * h_near >= length:
        return True
    if h_near * _geometric_sum(ratio, n) < length:
        return False
    lo, hi = 1.0, ratio
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if h_near * _geometric_sum(mid, n) < length else (lo, mid)
    r = 0.5 * (lo + hi)
    first = length * (r - 1.0) / (r**n - 1.0) if r > 1.0 else length / n
    return first * r ** (n - 1) <= h_far * (1 + 1e-9)


def _plan(spec: CouponSpec):
    """In-plane tile breaks, the hot-spot tile (column, row) and the hot-spot cell size."""
    lx, ly = spec.size
    if spec.hot_spot is None:
        return _breaks(lx, None, None), _breaks(ly, None, None), None, spec.mesh_size
    cx, cy = spec.hot_spot.center or (lx / 2, ly / 2)
    hx, hy = spec.hot_spot.size
    xb = _breaks(lx, cx - hx / 2, cx + hx / 2)
    yb = _breaks(ly, cy - hy / 2, cy + hy / 2)
    h_hot = min(spec.mesh_size, spec.hot_spot.mesh_size or spec.mesh_size)
    return xb, yb, (xb.index(cx - hx / 2), yb.index(cy - hy / 2)), h_hot


def _breaks(length: float, lo: float | None, hi: float | None) -> list[float]:
    pts = [0.0, length] + ([lo, hi] if lo is not None else [])
    return sorted(set(pts))


def graded_division(length: float, h_near: float, h_far: float, ratio: float):
    """(n, r): the fewest elements over ``length`` whose sizes grow geometrically by r <= ratio
    from about h_near, the largest staying <= max(h_far, h_near). Uniform (r = 1) when
    h_near >= h_far."""
    if h_near >= h_far:
        return max(1, math.ceil(length / h_far - 1e-9)), 1.0
    n_max = max(1, math.ceil(length / h_near - 1e-9))
    for n in range(1, n_max + 1):
        if n * h_near >= length:  # uniform cells of at most h_near fit
            return n, 1.0
        lo, hi = 1.0, ratio  # solve h_near (r^n - 1) / (r - 1) = length for r <= ratio
        if h_near * _geometric_sum(hi, n) < length:
            continue  # n cells cannot span the length with growth <= ratio
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if h_near * _geometric_sum(mid, n) < length else (lo, mid)
        r = 0.5 * (lo + hi)
        first = length * (r - 1.0) / (r**n - 1.0)
        if first * r ** (n - 1) <= h_far * (1 + 1e-9):
            return n, r
    return n_max, 1.0


def _geometric_sum(r: float, n: int) -> float:
    """1 + r + ... + r^(n-1), without overflow."""
    if r == 1.0:
        return float(n)
    if n * math.log(r) > 700:
        return math.inf
    return (r**n - 1.0) / (r - 1.0)


def _cells_through(spec: CouponSpec, z0: float, z1: float, cells: int | None) -> int:
    if cells is not None:
        return cells
    n = spec.min_cells_per_layer
    if spec.max_cell_thickness is not None:
        n = max(n, math.ceil((z1 - z0) / spec.max_cell_thickness - 1e-9))
    return n


def build(spec: CouponSpec, comm) -> Geometry:
    """Build the coupon mesh with Gmsh on rank 0 and distribute it over ``comm``."""
    import gmsh
    from dolfinx.io import gmsh as gmshio

    p = plan(spec)
    layers = list(p.layers)
    lx, ly = spec.size
    xb, yb, hot_tile, h_hot = _plan(spec)

    initialized_here = not gmsh.isInitialized()
    if initialized_here:
        gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    extent = model_extent(spec)
    # Gmsh merges points closer than an absolute tolerance (1e-8 by default): in metres that
    # would swallow nanometre features, so make it relative to the model
    gmsh.option.setNumber("Geometry.Tolerance", 1e-10 * extent)
    model, error = None, None
    if comm.rank == 0:
        try:
            _gmsh_model(gmsh, spec, layers, p.markers, xb, yb, hot_tile, h_hot)
            model = gmsh.model
        except Exception as exc:  # reported on every rank below, not only on rank 0
            error = f"Gmsh could not mesh the coupon: {exc}"
            gmsh.model.remove()
    error = comm.bcast(error, root=0)
    if error:
        if initialized_here:
            gmsh.finalize()
        raise GeometryError(error + "; check very thin layers, a tiny gap or hot spot, or a "
                            "mesh_size much larger than the coupon")
    try:
        data = gmshio.model_to_mesh(model, comm, 0, gdim=3)
    finally:
        if comm.rank == 0:
            gmsh.model.remove()
        if initialized_here:
            gmsh.finalize()

    num_cells = data.mesh.topology.index_map(3).size_global
    info = {
        "kind": "coupon",
        "cells": int(num_cells),
        "in_plane_breaks_m": {"x": xb, "y": yb},
        "cells_per_layer": {f"{r.stack}/{r.name}": r.cells for r in layers},
        "origin_x_m": {s.name: i * (lx + gap(spec)) for i, s in enumerate(spec.stacks)},
    }
    return Geometry(data.mesh, data.cell_tags, data.facet_tags, dict(p.markers), layers, info,
                    boxes=dict(p.boxes))


def _gmsh_model(gmsh, spec, layers, markers, xb, yb, hot_tile, h_hot) -> None:
    """The coupon as a Gmsh geo model on this rank: tiles, transfinite quads, layer extrusions
    and named physical groups (tags as in :func:`marker_table`)."""
    lx, ly = spec.size
    h = spec.mesh_size
    gmsh.model.add("coupon")
    geo = gmsh.model.geo
    xdiv = _divisions(xb, hot_tile[0] if hot_tile else None, h_hot, h, spec.grading)
    ydiv = _divisions(yb, hot_tile[1] if hot_tile else None, h_hot, h, spec.grading)
    pending = []  # (dim, entities, tag, name) added after synchronize

    def tag(name: str) -> int:
        return markers[name].tags[0]

    for i, stack in enumerate(spec.stacks):
        x0 = i * (lx + gap(spec))
        pts = [[geo.addPoint(x0 + x, y, 0.0) for y in yb] for x in xb]
        hl = [[geo.addLine(pts[a][b], pts[a + 1][b]) for b in range(len(yb))]
              for a in range(len(xb) - 1)]
        vl = [[geo.addLine(pts[a][b], pts[a][b + 1]) for b in range(len(yb) - 1)]
              for a in range(len(xb))]
        for a, (n, coef) in enumerate(xdiv):
            for b in range(len(yb)):
                geo.mesh.setTransfiniteCurve(hl[a][b], n + 1, "Progression", coef)
        for b, (n, coef) in enumerate(ydiv):
            for a in range(len(xb)):
                geo.mesh.setTransfiniteCurve(vl[a][b], n + 1, "Progression", coef)
        tiles, hot_index = [], None
        for a in range(len(xb) - 1):
            for b in range(len(yb) - 1):
                loop = geo.addCurveLoop([hl[a][b], vl[a + 1][b], -hl[a][b + 1], -vl[a][b]])
                s = geo.addPlaneSurface([loop])
                geo.mesh.setTransfiniteSurface(s)
                geo.mesh.setRecombine(2, s)
                if hot_tile == (a, b):
                    hot_index = len(tiles)
                tiles.append((2, s))
        pending.append((2, [t for _, t in tiles], tag(f"{stack.name}/bottom"),
                        f"{stack.name}/bottom"))
        current, laterals = tiles, []
        for layer in (r for r in layers if r.stack == stack.name):
            out = geo.extrude(current, 0, 0, layer.thickness, numElements=[layer.cells],
                              recombine=True)
            vols = [k for k, dt in enumerate(out) if dt[0] == 3]
            current = [out[k - 1] for k in vols]
            laterals += [dt for dt in out if dt[0] == 2 and dt not in current]
            pending.append((3, [out[k][1] for k in vols], layer.tag,
                            f"{stack.name}/{layer.name}"))
        tops = [t for k, (_, t) in enumerate(current) if k != hot_index]
        pending.append((2, tops, tag(f"{stack.name}/top"), f"{stack.name}/top"))
        if hot_index is not None:
            pending.append((2, [current[hot_index][1]], tag(f"{stack.name}/hot_spot"),
                            f"{stack.name}/hot_spot"))
        pending.append(("sides", (x0, laterals), tag(f"{stack.name}/sides"),
                        f"{stack.name}/sides"))
    geo.synchronize()
    for dim, ents, ptag, name in pending:
        if dim == "sides":
            x0, laterals = ents
            ents = sorted({t for _, t in laterals if _on_side(gmsh, t, x0, lx, ly)})
            dim = 2
        gmsh.model.addPhysicalGroup(dim, ents, ptag, name=name)
    gmsh.model.mesh.generate(3)
    types = gmsh.model.mesh.getElementTypes(3)
    if list(types) != [5]:
        raise RuntimeError(f"coupon mesh is not purely hexahedral (gmsh types {types})")


def _divisions(breaks: list[float], hot: int | None, h_hot: float, h: float, ratio: float):
    """(elements, Gmsh progression coefficient) of each interval between ``breaks``: the hot
    interval uniform at h_hot, its neighbours graded from h_hot (at the hot spot) to h."""
    out = []
    for k in range(len(breaks) - 1):
        length = breaks[k + 1] - breaks[k]
        if hot is None or k == hot or h_hot >= h:
            size = h_hot if k == hot else h
            out.append((max(1, math.ceil(length / size - 1e-9)), 1.0))
            continue
        n, r = graded_division(length, h_hot, h, ratio)
        # Gmsh multiplies sizes by coef along the curve (increasing x or y)
        out.append((n, r if k > hot else 1.0 / r))
    return out


def _on_side(gmsh, tag: int, x0: float, lx: float, ly: float) -> bool:
    """Whether a lateral surface lies on one of the four outer side planes of a coupon."""
    xmin, ymin, _, xmax, ymax, _ = gmsh.model.getBoundingBox(2, tag)
    tol = 1e-6 * max(lx, ly)
    return ((abs(xmin - xmax) < tol and (abs(xmin - x0) < tol or abs(xmin - x0 - lx) < tol))
            or (abs(ymin - ymax) < tol and (abs(ymin) < tol or abs(ymin - ly) < tol)))
