"""Layered micro coupons side by side: e.g. PI-Ag (Ag 0.5 / PI 7 / Ag 0.5 um) next to Cu 8 um.

Each stack covers ``size`` in-plane and is placed at x offset ``i * (size_x + gap)``. The
in-plane mesh is a structured quad grid (tile edges at the footprint and at the hot-spot patch
edges, so the patch is meshed exactly), extruded through the layer table with recombined
hexahedra: micrometre layers never get isotropic tetrahedra.

Markers (see :func:`marker_names`): cells ``STACK/LAYER`` and ``STACK``; facets ``STACK/bottom``
(z = 0), ``STACK/top`` (top face without the hot-spot patch), ``STACK/hot_spot``,
``STACK/sides`` (the four side faces), and ``bottom``, ``top``, ``hot_spot``, ``sides`` over
all stacks.
"""

from __future__ import annotations

import math

from batteryfx.errors import CaseError

FACET_KINDS = {"bottom": 1, "top": 2, "sides": 3, "hot_spot": 4}
_REL = 1e-9  # relative tolerance on z contiguity


def _stack_tag(i: int) -> int:
    return 100 * (i + 1)


def layer_table(stack, key: str = "stack") -> list[tuple[str, str, float, float, int | None]]:
    """(name, material, z0, z1, cells) of each layer, bottom (z = 0) upward.

    Raises CaseError on overlapping layers, gaps, or a stack not starting at z = 0.
    """
    rows = []
    top = 0.0
    for j, layer in enumerate(stack.layers):
        if layer.z is not None:
            z0, z1 = layer.z
            scale = max(abs(z1), abs(top), 1e-300)
            if z0 < top - _REL * scale:
                prev = rows[-1][0] if rows else "z = 0"
                raise CaseError(
                    f"{key}.layers[{j}].z", [z0, z1],
                    f"overlaps layer {prev!r} below (which ends at z = {top:g} m); "
                    "layers must be contiguous and listed bottom-up",
                )
            if z0 > top + _REL * scale:
                raise CaseError(
                    f"{key}.layers[{j}].z", [z0, z1],
                    f"leaves a gap above z = {top:g} m; layers must be contiguous",
                )
        else:
            z0, z1 = top, top + layer.thickness
        rows.append((layer.name, layer.material, z0, z1, layer.cells))
        top = z1
    return rows


def gap(spec) -> float:
    """Distance between neighbouring coupons in x (m); default 40 % of the coupon width."""
    return spec.gap if spec.gap is not None else 0.4 * spec.size[0]


def bounding_boxes(spec) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    """Axis-aligned box of each stack (m), without building a mesh."""
    boxes = {}
    for i, stack in enumerate(spec.stacks):
        x0 = i * (spec.size[0] + gap(spec))
        height = layer_table(stack)[-1][3]
        boxes[stack.name] = ((x0, 0.0, 0.0), (x0 + spec.size[0], spec.size[1], height))
    return boxes


def marker_names(spec) -> dict[str, int]:
    """Every marker name the builder will create, with its dimension (3 cells, 2 facets)."""
    names: dict[str, int] = {}
    kinds = [k for k in FACET_KINDS if k != "hot_spot" or spec.hot_spot is not None]
    for stack in spec.stacks:
        names[stack.name] = 3
        for layer in stack.layers:
            names[f"{stack.name}/{layer.name}"] = 3
        for kind in kinds:
            names[f"{stack.name}/{kind}"] = 2
    for kind in kinds:
        names[kind] = 2
    return names


def _breaks(length: float, lo: float | None, hi: float | None) -> list[float]:
    pts = [0.0, length] + ([lo, hi] if lo is not None else [])
    return sorted(set(pts))


def graded_division(length: float, h_near: float, h_far: float, ratio: float):
    """(n, r): the fewest elements over ``length`` whose sizes grow geometrically by r <= ratio
    from about h_near, the largest staying <= max(h_far, h_near). Uniform (r = 1) when
    h_near >= h_far."""
    if h_near >= h_far or ratio <= 1.0:
        return max(1, math.ceil(length / h_far - 1e-9)), 1.0
    n_max = max(1, math.ceil(length / h_near - 1e-9))
    for n in range(1, n_max + 1):
        if n * h_near >= length:  # uniform cells of at most h_near fit
            return n, 1.0
        lo, hi = 1.0, 10.0  # solve h_near (r^n - 1) / (r - 1) = length for r
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            total = h_near * (mid**n - 1.0) / (mid - 1.0)
            lo, hi = (mid, hi) if total < length else (lo, mid)
        r = 0.5 * (lo + hi)
        first = length * (r - 1.0) / (r**n - 1.0)
        if r <= ratio and first * r ** (n - 1) <= h_far * (1 + 1e-9):
            return n, r
    return n_max, 1.0


def _cells_through(spec, z0: float, z1: float, cells: int | None) -> int:
    if cells is not None:
        return cells
    n = spec.min_cells_per_layer
    if spec.max_cell_thickness is not None:
        n = max(n, math.ceil((z1 - z0) / spec.max_cell_thickness - 1e-9))
    return n


def build(spec, comm):
    """Build the coupon mesh with Gmsh on rank 0 and distribute it over ``comm``."""
    import gmsh
    from dolfinx.io import gmsh as gmshio

    from batteryfx.geometry.base import Geometry, Layer, Marker

    lx, ly = spec.size
    h = spec.mesh_size
    h_hot = h
    if spec.hot_spot is not None:
        h_hot = min(h, spec.hot_spot.mesh_size or h)
        cx, cy = spec.hot_spot.center or (lx / 2, ly / 2)
        hx, hy = spec.hot_spot.size
        xb = _breaks(lx, cx - hx / 2, cx + hx / 2)
        yb = _breaks(ly, cy - hy / 2, cy + hy / 2)
        hot_tile = (xb.index(cx - hx / 2), yb.index(cy - hy / 2))
    else:
        xb, yb, hot_tile = _breaks(lx, None, None), _breaks(ly, None, None), None

    layers: list[Layer] = []
    for i, stack in enumerate(spec.stacks):
        for j, (name, material, z0, z1, cells) in enumerate(layer_table(stack)):
            n = _cells_through(spec, z0, z1, cells)
            layers.append(Layer(stack.name, name, material, z0, z1, n, _stack_tag(i) + j + 1))

    initialized_here = not gmsh.isInitialized()
    if initialized_here:
        gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    model = None
    if comm.rank == 0:
        gmsh.model.add("coupon")
        geo = gmsh.model.geo
        xdiv = _divisions(xb, hot_tile[0] if hot_tile else None, h_hot, h, spec.grading)
        ydiv = _divisions(yb, hot_tile[1] if hot_tile else None, h_hot, h, spec.grading)
        pending = []  # (dim, entities, tag, name) added after synchronize
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
            tag0 = _stack_tag(i)
            pending.append((2, [t for _, t in tiles], tag0 + FACET_KINDS["bottom"],
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
            pending.append((2, tops, tag0 + FACET_KINDS["top"], f"{stack.name}/top"))
            if hot_index is not None:
                pending.append((2, [current[hot_index][1]], tag0 + FACET_KINDS["hot_spot"],
                                f"{stack.name}/hot_spot"))
            pending.append(("sides", (x0, laterals), tag0 + FACET_KINDS["sides"],
                            f"{stack.name}/sides"))
        geo.synchronize()
        for dim, ents, tag, name in pending:
            if dim == "sides":
                x0, laterals = ents
                ents = sorted({t for _, t in laterals if _on_side(gmsh, t, x0, lx, ly)})
                dim = 2
            gmsh.model.addPhysicalGroup(dim, ents, tag, name=name)
        gmsh.model.mesh.generate(3)
        types = gmsh.model.mesh.getElementTypes(3)
        if list(types) != [5]:
            raise RuntimeError(f"coupon mesh is not purely hexahedral (gmsh types {types})")
        model = gmsh.model
    try:
        data = gmshio.model_to_mesh(model, comm, 0, gdim=3)
    finally:
        if comm.rank == 0:
            gmsh.model.remove()
        if initialized_here:
            gmsh.finalize()

    markers: dict[str, Marker] = {}
    for i, stack in enumerate(spec.stacks):
        own = [r.tag for r in layers if r.stack == stack.name]
        markers[stack.name] = Marker(tuple(own), 3)
        for r in layers:
            if r.stack == stack.name:
                markers[f"{stack.name}/{r.name}"] = Marker((r.tag,), 3)
        for kind, offset in FACET_KINDS.items():
            if kind == "hot_spot" and spec.hot_spot is None:
                continue
            markers[f"{stack.name}/{kind}"] = Marker((_stack_tag(i) + offset,), 2)
    for kind, offset in FACET_KINDS.items():
        if kind == "hot_spot" and spec.hot_spot is None:
            continue
        markers[kind] = Marker(tuple(_stack_tag(i) + offset for i in range(len(spec.stacks))), 2)
    assert set(markers) == set(marker_names(spec))

    num_cells = data.mesh.topology.index_map(3).size_global
    info = {
        "kind": "coupon",
        "cells": int(num_cells),
        "in_plane_breaks_m": {"x": xb, "y": yb},
        "cells_per_layer": {f"{r.stack}/{r.name}": r.cells for r in layers},
        "origin_x_m": {s.name: i * (lx + gap(spec)) for i, s in enumerate(spec.stacks)},
    }
    return Geometry(data.mesh, data.cell_tags, data.facet_tags, markers, layers, info)


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
