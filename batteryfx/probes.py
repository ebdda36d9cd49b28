"""Probes evaluated during a run: a field's value at points, its mean/max/min over markers,
and integrals / means over markers of quantities the physics provides (e.g. the stored heat
and heat-flux magnitudes of the heat physics). Physics-agnostic: the quantities, their units
and what each evaluates come from the physics (batteryfx/physics).

Set up once (point location, forms compiled) and evaluated every step; every evaluation is
collective and returns the same values on all ranks.
"""

from __future__ import annotations

from mpi4py import MPI

import numpy as np
import ufl
from dolfinx import fem
from dolfinx import geometry as dgeom

from batteryfx.errors import CaseError
from batteryfx.geometry import Geometry


class Probes:
    """The probes of a case."""

    def __init__(self, specs, geometry: Geometry, sources: dict, quantities: dict,
                 primary: str):
        """``sources``: quantity name -> a scalar ``fem.Function`` (kind ``field``: point
        values, mean / max / min over a marker) or a UFL expression (kind ``integral``:
        integrated over the marker; ``mean``: averaged); ``quantities``: name ->
        :class:`~batteryfx.physics.base.Quantity` (unit, kind); ``primary``: the quantity of
        a probe that names none."""
        self.names = [p.name for p in specs]
        which = [p.quantity or primary for p in specs]
        self.units = [quantities[q].unit for q in which]
        mesh = geometry.mesh
        comm = mesh.comm
        tdim = mesh.topology.dim
        self._points: dict[str, tuple[list, list, list]] = {}  # field -> (xyz, cells, slots)
        self._reducers = []  # (slot, kind, form or (function, dofs), measure size)
        self._values = []  # (slot, callable(marker) -> float, marker)
        points = [(i, p) for i, p in enumerate(specs) if p.point is not None]
        if points:
            tree = _tree(mesh)
            xyz = np.array([p.point for _, p in points], dtype=mesh.geometry.x.dtype)
            cand = dgeom.compute_collisions_points(tree, xyz)
            hits = dgeom.compute_colliding_cells(mesh, cand, xyz)
            num_owned_cells = mesh.topology.index_map(tdim).size_local
            for k, (i, spec) in enumerate(points):
                # compute_colliding_cells uses absolute tolerances (GJK): at micrometre scale
                # it also returns neighbours of the cell that holds the point. Keep the owned
                # candidate the point is least outside of in reference coordinates (0: inside;
                # scale-free), and the rank with the best one (ties: the lowest rank)
                cells = np.array([c for c in hits.links(k) if c < num_owned_cells],
                                 dtype=np.int32)
                dist = np.inf
                if len(cells):
                    out = np.array([_outside(mesh, c, xyz[k]) for c in cells])
                    cells = cells[np.argsort(out, kind="stable")]
                    dist = float(out.min())
                best = comm.allreduce(dist, op=MPI.MIN)
                found = comm.rank if len(cells) and dist <= best + 1e-12 else comm.size
                owner = comm.allreduce(found, op=MPI.MIN)
                if owner == comm.size or best > 1e-6:  # (of the reference cell's size)
                    raise CaseError(f"probes[{i}].point", list(spec.point),
                                    "not inside any mesh cell")
                if quantities[which[i]].kind != "field":
                    raise CaseError(f"probes[{i}].quantity", which[i], "is integrated over a "
                                    "marker: give marker = ... instead of a point")
                if owner == comm.rank:
                    got = self._points.setdefault(which[i], ([], [], []))
                    got[0].append(xyz[k])
                    got[1].append(cells[0])
                    got[2].append(i)
        dx = ufl.Measure("dx", domain=mesh, subdomain_data=geometry.cell_tags)
        ds = ufl.Measure("ds", domain=mesh, subdomain_data=geometry.facet_tags)
        for i, spec in enumerate(specs):
            if spec.marker is None:
                continue
            marker = geometry.markers[spec.marker]
            measure = (dx if marker.dim == tdim else ds)(tuple(marker.tags))
            kind = quantities[which[i]].kind
            source = sources[which[i]]
            if kind == "value":  # the problem computes it (collective, same on all ranks)
                self._values.append((i, source, spec.marker))
            elif kind != "field":
                # an integral is for the whole object: the mesh may be 1/copies of it
                size = 1.0 / geometry.copies if kind == "integral" \
                    else geometry.measure(spec.marker)
                self._reducers.append((i, "mean", fem.form(source * measure), size))
            elif spec.reduce == "mean":
                self._reducers.append((i, "mean", fem.form(source * measure),
                                       geometry.measure(spec.marker)))
            else:
                ents = geometry.entities(spec.marker)
                mesh.topology.create_connectivity(marker.dim, tdim)
                space = source.function_space
                dofs = fem.locate_dofs_topological(space, marker.dim, ents)
                owned = space.dofmap.index_map.size_local
                self._reducers.append((i, spec.reduce, (source, dofs[dofs < owned]), None))
        # max/min probes are reduced with MAX/MIN, the others (point values, integrals) summed
        self._extreme = np.zeros(len(self.names), dtype=bool)
        for slot, kind, _, _ in self._reducers:
            self._extreme[slot] = kind != "mean"
        self._evals = [(sources[q], np.array(x).reshape(-1, 3), np.array(c, dtype=np.int32),
                        slots) for q, (x, c, slots) in self._points.items()]
        self.comm = comm

    def values(self) -> np.ndarray:
        """Current probe values, in the order of the case (collective)."""
        out = np.zeros(len(self.names))
        for u, xyz, cells, slots in self._evals:
            out[slots] = u.eval(xyz, cells).ravel()
        for slot, kind, obj, size in self._reducers:
            if kind == "mean":
                out[slot] = fem.assemble_scalar(obj) / size
            else:
                u, dofs = obj
                local = u.x.array[dofs]
                big = np.inf if kind == "min" else -np.inf
                out[slot] = (local.min() if kind == "min" else local.max()) if len(local) else big
        summed = self.comm.allreduce(np.where(self._extreme, 0.0, out), op=MPI.SUM)
        for slot, fn, marker in self._values:
            summed[slot] = fn(marker)
        for slot, kind, _, _ in self._reducers:
            if kind != "mean":
                op = MPI.MIN if kind == "min" else MPI.MAX
                summed[slot] = self.comm.allreduce(out[slot], op=op)
        return summed


def _tree(mesh):
    return dgeom.bb_tree(mesh, mesh.topology.dim)


def _outside(mesh, cell: int, point: np.ndarray) -> float:
    """How far ``point`` lies outside ``cell`` in reference coordinates (0 inside; the
    pull-back is exact for simplices, Newton for hexahedra)."""
    x = mesh.geometry.x[mesh.geometry.dofmaps[0][cell]]
    gdim = mesh.geometry.dim
    X = mesh.geometry.cmaps[0].pull_back(point[None, :gdim], x[:, :gdim])[0]
    if mesh.topology.cell_type.name in ("tetrahedron", "triangle", "interval"):
        lam = np.concatenate([[1.0 - X.sum()], X])
        return float(max(0.0, -lam.min()))
    return float(max(0.0, -X.min(), X.max() - 1.0))
