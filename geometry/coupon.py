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

from batteryfx.errors import BatteryfxError, CaseError


class GeometryError(BatteryfxError):
    """The mesh generator failed on a case that passed validation."""

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


RESERVED = set(FACET_KINDS)


def marker_table(spec) -> dict[str, tuple[tuple[int, ...], int]]:
    """Every marker the builder creates: name -> (mesh tags, dimension 3 cells / 2 facets)."""
    table: dict[str, tuple[tuple[int, ...], int]] = {}
    kinds = {k: v for k, v in FACET_KINDS.items() if k != "hot_spot" or spec.hot_spot is not None}
    for i, stack in enumerate(spec.stacks):
        tags = tuple(_stack_tag(i) + j + 1 for j in range(len(stack.layers)))
        table[stack.name] = (tags, 3)
        for layer, tag in zip(stack.layers, tags, strict=True):
            table[f"{stack.name}/{layer.name}"] = ((tag,), 3)
        for kind, offset in kinds.items():
            table[f"{stack.name}/{kind}"] = ((_stack_tag(i) + offset,), 2)
    for kind, offset in kinds.items():
        table[kind] = (tuple(_stack_tag(i) + offset for i in range(len(spec.stacks))), 2)
    return table


MAX_ESTIMATE = 10**18  # estimate_cells saturates here (far above any mesh that can be built)
REL_FEATURE = 1e-9  # smallest feature / model extent (Gmsh merges points within 1e-10 of it)


def estimate_cells(spec) -> int:
    """Number of hexahedra the builder will make (without meshing), at most MAX_ESTIMATE.

    Fast for any sizes: the graded divisions are counted by bisection over the cell count."""
    xb, yb, hot, h_hot = _plan(spec)
    nx = _count(xb, hot[0] if hot else None, h_hot, spec.mesh_size, spec.grading)
    ny = _count(yb, hot[1] if hot else None, h_hot, spec.mesh_size, spec.grading)
    through = sum(_cells_through(spec, z0, z1, c)
                  for st in spec.stacks for _, _, z0, z1, c in layer_table(st))
    return min(nx * ny * through, MAX_ESTIMATE)


def model_extent(spec) -> float:
    """The length scale of the model as :func:`build` sets Gmsh's tolerance from it (m)."""
    height = max(layer_table(st)[-1][3] for st in spec.stacks)
    return len(spec.stacks) * (spec.size[0] + gap(spec)) + spec.size[1] + height


def check_features(spec) -> None:
    """CaseError for a feature (coupon size, gap, layer, hot spot and its distance to the edges)
    smaller than REL_FEATURE of the model extent: Gmsh would merge its points (or crash)."""
    extent = model_extent(spec)
    least = REL_FEATURE * extent
    features = [("geometry.size", spec.size[0]), ("geometry.size", spec.size[1]),
                ("geometry.gap", gap(spec))]
    for i, stack in enumerate(spec.stacks):
        for j, (_, _, z0, z1, _) in enumerate(layer_table(stack)):
            features.append((f"geometry.stacks[{i}].layers[{j}]", z1 - z0))
    if spec.hot_spot is not None:
        (lx, ly), (hx, hy) = spec.size, spec.hot_spot.size
        cx, cy = spec.hot_spot.center or (lx / 2, ly / 2)
        features += [("geometry.hot_spot.size", h) for h in (hx, hy)]
        features += [("geometry.hot_spot", d) for d in (cx - hx / 2, lx - cx - hx / 2,
                                                        cy - hy / 2, ly - cy - hy / 2)]
    for key, size in features:
        if size < least:
            raise CaseError(key, size, f"a feature of {size:.3g} m is too small next to the "
                            f"model extent of {extent:.3g} m: the mesher needs features of at "
                            f"least {REL_FEATURE:.0e} of it ({least:.3g} m)")


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


def _plan(spec):
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
    xb, yb, hot_tile, h_hot = _plan(spec)

    layers: list[Layer] = []
    for i, stack in enumerate(spec.stacks):
        for j, (name, material, z0, z1, cells) in enumerate(layer_table(stack)):
            n = _cells_through(spec, z0, z1, cells)
            layers.append(Layer(stack.name, name, material, z0, z1, n, _stack_tag(i) + j + 1))

    initialized_here = not gmsh.isInitialized()
    if initialized_here:
        gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    height = max(r.z1 for r in layers)
    extent = len(spec.stacks) * (lx + gap(spec)) + ly + height
    # Gmsh merges points closer than an absolute tolerance (1e-8 by default): in metres that
    # would swallow nanometre features, so make it relative to the model
    gmsh.option.setNumber("Geometry.Tolerance", 1e-10 * extent)
    model, error = None, None
    if comm.rank == 0:
        try:
            _gmsh_model(gmsh, spec, layers, xb, yb, hot_tile, h_hot)
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

    markers = {name: Marker(tags, dim) for name, (tags, dim) in marker_table(spec).items()}

    num_cells = data.mesh.topology.index_map(3).size_global
    info = {
        "kind": "coupon",
        "cells": int(num_cells),
        "in_plane_breaks_m": {"x": xb, "y": yb},
        "cells_per_layer": {f"{r.stack}/{r.name}": r.cells for r in layers},
        "origin_x_m": {s.name: i * (lx + gap(spec)) for i, s in enumerate(spec.stacks)},
    }
    return Geometry(data.mesh, data.cell_tags, data.facet_tags, markers, layers, info)


def _gmsh_model(gmsh, spec, layers, xb, yb, hot_tile, h_hot) -> None:
    """The coupon as a Gmsh geo model on this rank: tiles, transfinite quads, layer extrusions
    and named physical groups (tags as in :func:`marker_table`)."""
    lx, ly = spec.size
    h = spec.mesh_size
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
