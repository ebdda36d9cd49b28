"""A section through a cell for electrolyte transport: layers along x from the anode (x = 0)
to the cathode (x = L) as a 1D interval, a 2D strip (x, y) or a 3D slab (x, y, z).

Layers (a separator, a porous cathode, ...) are ``thickness`` m thick with ``cells`` cells
across (uniform inside a layer; the layer interfaces are mesh nodes). In 2D / 3D the section is
``width`` (y) and ``depth`` (z, 3D) wide with ``cells_across`` cells per direction, and the anode
surface may carry a *pattern*: an active fraction ``active_fraction`` of every ``period``
(Li piles) and the rest blocked (exposed Cu): stripes along z in 2D (the active part of each
period centred), squares of side sqrt(f) x period centred in each period cell in 3D. Pattern
edges are mesh nodes (the cells across are spread over the pattern's pieces by length, at
least one per piece).

Mesh: DOLFINx interval / quadrilateral / hexahedral meshes on an integer grid, mapped piecewise
linearly onto the layer and pattern breaks (so node and cell numbering depend on the spec only:
rank-independent input indices for checkpoints). Coordinates in metres.

Markers: cells: every layer by name and ``cell``; facets: ``anode`` (x = 0), ``counter``
(x = L: the counter electrode of a symmetric or Li | Li cell, or the cathode's collector face
of a porous cathode), with a pattern ``anode_active`` and ``anode_blocked`` (``anode`` is
both), ``sides`` (y and z faces, 2D / 3D) and ``outer`` (all). Tags: layers 1..L, facets
1001.. .
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from batteryfx.geometry.base import Geometry, GeometryError, Layer, Marker, Plan

STACK = "section"
FACET_TAGS = {"anode_active": 1001, "anode_blocked": 1002, "counter": 1003, "sides": 1004}
MAX_CELLS = 20_000_000


@dataclass(frozen=True)
class SectionLayer:
    """One layer along x: ``thickness`` (m) with ``cells`` cells across it."""

    name: str
    thickness: float
    cells: int = 20


@dataclass(frozen=True)
class Pattern:
    """The anode surface pattern: an active (current-carrying) fraction of every period (m)."""

    period: float
    active_fraction: float


@dataclass(frozen=True)
class CellSectionSpec:
    """Arguments of the cell-section builder (SI); fields name the case keys."""

    kind: ClassVar[str] = "cell_section"
    layers: tuple[SectionLayer, ...]
    dimension: int = 1
    width: float | None = None
    depth: float | None = None
    cells_across: int = 8
    pattern: Pattern | None = None


def check(spec: CellSectionSpec) -> None:
    if spec.dimension not in (1, 2, 3):
        raise GeometryError("allowed: 1, 2 or 3", "dimension", spec.dimension)
    if not spec.layers:
        raise GeometryError("at least one layer is needed", "layers", [])
    names = set()
    reserved = {"cell", "outer", "sides", "anode", "counter", "anode_active", "anode_blocked"}
    for i, la in enumerate(spec.layers):
        if la.name in names or la.name in reserved:
            raise GeometryError(f"layer names must be unique and not one of "
                                f"{', '.join(sorted(reserved))}", f"layers[{i}].name", la.name)
        names.add(la.name)
        if not la.thickness > 0:
            raise GeometryError("needs a thickness > 0", f"layers[{i}].thickness",
                                la.thickness)
        if not 1 <= la.cells <= 100_000:
            raise GeometryError("allowed: 1 .. 100000", f"layers[{i}].cells", la.cells)
    if spec.dimension >= 2 and not (spec.width or 0) > 0:
        raise GeometryError(f"a {spec.dimension}D section needs a width > 0", "width",
                            spec.width)
    if spec.dimension == 3 and not (spec.depth or 0) > 0:
        raise GeometryError("a 3D section needs a depth > 0", "depth", spec.depth)
    if spec.dimension == 1 and (spec.width is not None or spec.depth is not None):
        raise GeometryError("a 1D section has no width or depth (dimension = 2 or 3 for "
                            "them)", "width" if spec.width is not None else "depth",
                            spec.width if spec.width is not None else spec.depth)
    if spec.dimension == 2 and spec.depth is not None:
        raise GeometryError("a 2D section has no depth (dimension = 3 for it)", "depth",
                            spec.depth)
    p = spec.pattern
    if p is not None:
        if spec.dimension == 1:
            raise GeometryError("a patterned anode needs dimension = 2 or 3", "pattern",
                                "1D")
        if not 0 < p.active_fraction <= 1:
            raise GeometryError("allowed: 0 < active_fraction <= 1",
                                "pattern.active_fraction", p.active_fraction)
        if not p.period > 0:
            raise GeometryError("needs a period > 0", "pattern.period", p.period)
        for key, extent in (("width", spec.width), ("depth", spec.depth)):
            if extent is None:
                continue
            n = extent / p.period
            if abs(n - round(n)) > 1e-6 * n or round(n) < 1:
                raise GeometryError(f"the {key} ({extent:g} m) must hold a whole number of "
                                    f"pattern periods ({p.period:g} m)", "pattern.period",
                                    p.period)
    if estimate_cells(spec) > MAX_CELLS:
        raise GeometryError(f"about {estimate_cells(spec)} cells; at most {MAX_CELLS}",
                            "cells_across", spec.cells_across)


def _across_breaks(spec: CellSectionSpec, extent: float) -> tuple[np.ndarray, np.ndarray]:
    """(physical breaks, cells per piece) across one in-plane direction."""
    p = spec.pattern
    if p is None or p.active_fraction >= 1:
        return np.array([0.0, extent]), np.array([spec.cells_across])
    periods = round(extent / p.period)
    f = p.active_fraction if spec.dimension == 2 else math.sqrt(p.active_fraction)
    a = f * p.period
    edges = []
    for k in range(periods):
        x0 = k * p.period
        edges += [x0, x0 + (p.period - a) / 2, x0 + (p.period + a) / 2]
    edges = np.array(edges + [extent])
    lengths = np.diff(edges)
    per = np.maximum(1, np.round(spec.cells_across * lengths / extent)).astype(int)
    return edges, per


def estimate_cells(spec: CellSectionSpec) -> int:
    nx = sum(la.cells for la in spec.layers)
    if spec.dimension == 1:
        return nx
    ny = int(_across_breaks(spec, spec.width)[1].sum())
    if spec.dimension == 2:
        return nx * ny
    return nx * ny * int(_across_breaks(spec, spec.depth)[1].sum())


def length(spec: CellSectionSpec) -> float:
    return float(sum(la.thickness for la in spec.layers))


def _x_breaks(spec: CellSectionSpec) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([[0.0], np.cumsum([la.thickness for la in spec.layers])]),
            np.array([la.cells for la in spec.layers]))


def plan(spec: CellSectionSpec) -> Plan:
    check(spec)
    xb, _ = _x_breaks(spec)
    rows = tuple(Layer(STACK, la.name, "electrolyte", float(xb[i]), float(xb[i + 1]),
                       la.cells, i + 1) for i, la in enumerate(spec.layers))
    markers = {la.name: Marker((i + 1,), spec.dimension) for i, la in enumerate(spec.layers)}
    markers["cell"] = Marker(tuple(range(1, len(spec.layers) + 1)), spec.dimension)
    fd = spec.dimension - 1
    if spec.pattern is not None and spec.pattern.active_fraction < 1:
        markers["anode_active"] = Marker((FACET_TAGS["anode_active"],), fd)
        markers["anode_blocked"] = Marker((FACET_TAGS["anode_blocked"],), fd)
        markers["anode"] = Marker((FACET_TAGS["anode_active"], FACET_TAGS["anode_blocked"]),
                                  fd)
    else:
        markers["anode"] = Marker((FACET_TAGS["anode_active"],), fd)
    markers["counter"] = Marker((FACET_TAGS["counter"],), fd)
    outer = [FACET_TAGS["anode_active"], FACET_TAGS["counter"]]
    if "anode_blocked" in markers:
        outer.append(FACET_TAGS["anode_blocked"])
    if spec.dimension >= 2:
        markers["sides"] = Marker((FACET_TAGS["sides"],), fd)
        outer.append(FACET_TAGS["sides"])
    markers["outer"] = Marker(tuple(sorted(outer)), fd)
    hi = (length(spec), spec.width or 0.0, spec.depth or 0.0)
    return Plan(markers=markers, boxes={STACK: ((0.0, 0.0, 0.0), hi)}, layers=rows,
                cells=estimate_cells(spec))


def _map(index_coord: np.ndarray, breaks: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Integer-grid coordinates -> physical, piecewise linear over the pieces."""
    idx = np.concatenate([[0], np.cumsum(cells)]).astype(float)
    return np.interp(index_coord, idx, breaks)


def build(spec: CellSectionSpec, comm) -> Geometry:
    """The mesh with cell tags (by layer) and facet tags (anode parts, cathode, sides)."""
    from dolfinx import mesh as dmesh

    p = plan(spec)
    xb, xc = _x_breaks(spec)
    nx = int(xc.sum())
    dim = spec.dimension
    if dim == 1:
        mesh = dmesh.create_interval(comm, nx, [0.0, float(nx)])
        across = []
    else:
        yb, yc = _across_breaks(spec, spec.width)
        across = [(yb, yc)]
        if dim == 2:
            mesh = dmesh.create_rectangle(comm, [[0.0, 0.0], [float(nx), float(yc.sum())]],
                                          [nx, int(yc.sum())],
                                          cell_type=dmesh.CellType.quadrilateral)
        else:
            zb, zc = _across_breaks(spec, spec.depth)
            across.append((zb, zc))
            mesh = dmesh.create_box(comm, [[0.0, 0.0, 0.0],
                                           [float(nx), float(yc.sum()), float(zc.sum())]],
                                    [nx, int(yc.sum()), int(zc.sum())],
                                    cell_type=dmesh.CellType.hexahedron)
    x = mesh.geometry.x
    index = np.round(x[:, :dim].copy())
    x[:, 0] = _map(index[:, 0], xb, xc)
    for d, (b, c) in enumerate(across, start=1):
        x[:, d] = _map(index[:, d], b, c)

    # cell tags: the layer of each cell's midpoint
    tdim = dim
    mesh.topology.create_entities(tdim)
    n_cells = mesh.topology.index_map(tdim).size_local + mesh.topology.index_map(tdim).num_ghosts
    cells = np.arange(n_cells, dtype=np.int32)
    mid = dmesh.compute_midpoints(mesh, tdim, cells)
    layer = np.clip(np.searchsorted(xb, mid[:, 0], side="right") - 1, 0, len(spec.layers) - 1)
    cell_tags = dmesh.meshtags(mesh, tdim, cells, (layer + 1).astype(np.int32))

    # facet tags
    fdim = tdim - 1
    mesh.topology.create_connectivity(fdim, tdim)
    L = float(xb[-1])
    tol = 1e-9 * L
    facets, values = [], []

    def add(found, tag):
        facets.append(found)
        values.append(np.full(found.size, tag, np.int32))

    boundary = dmesh.exterior_facet_indices(mesh.topology)
    fmid = dmesh.compute_midpoints(mesh, fdim, boundary)
    at_anode = np.abs(fmid[:, 0]) < tol
    at_cathode = np.abs(fmid[:, 0] - L) < tol
    active = at_anode.copy()
    if "anode_blocked" in p.markers:
        per = spec.pattern.period
        f = spec.pattern.active_fraction if dim == 2 else math.sqrt(
            spec.pattern.active_fraction)
        a = f * per
        for d in range(1, dim):
            phase = np.mod(fmid[:, d], per)
            active &= (phase > (per - a) / 2) & (phase < (per + a) / 2)
        add(boundary[at_anode & ~active], FACET_TAGS["anode_blocked"])
    add(boundary[active], FACET_TAGS["anode_active"])
    add(boundary[at_cathode], FACET_TAGS["counter"])
    if dim >= 2:
        add(boundary[~at_anode & ~at_cathode], FACET_TAGS["sides"])
    f_all = np.concatenate(facets)
    v_all = np.concatenate(values)
    order = np.argsort(f_all)
    facet_tags = dmesh.meshtags(mesh, fdim, f_all[order].astype(np.int32), v_all[order])
    info = {"length_m": L, "dimension": dim, "cells": p.cells}
    if spec.pattern is not None:
        info["active_fraction"] = spec.pattern.active_fraction
    return Geometry(mesh=mesh, cell_tags=cell_tags, facet_tags=facet_tags,
                    markers=dict(p.markers), layers=list(p.layers), info=info,
                    boxes=dict(p.boxes))
