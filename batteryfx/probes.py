"""Probes evaluated during a run: temperature at points, mean/max/min over markers, and
integrals / means over markers of quantities the problem provides (stored heat, heat flux).

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
    """The probes of a case on a scalar field ``u``."""

    #: unit of each probe quantity (the probes.csv column suffix)
    UNITS = {"temperature": "K", "heat": "J", "flux_in_plane": "W_m2", "flux_through": "W_m2"}

    def __init__(self, specs, geometry: Geometry, u: fem.Function,
                 integrands: dict | None = None):
        """``integrands``: quantity name -> UFL expression for marker probes of other
        quantities than ``u`` (e.g. the heat problem's stored heat and heat-flux magnitudes):
        ``heat`` is integrated over the marker, the others averaged."""
        self.names = [p.name for p in specs]
        self.units = [self.UNITS.get(getattr(p, "quantity", "temperature"), "K")
                      for p in specs]
        self.u = u
        mesh = geometry.mesh
        comm = mesh.comm
        tdim = mesh.topology.dim
        self._points, self._cells, self._point_slots = [], [], []
        self._point_owner: list[tuple[int, int]] = []  # (slot in names, owner rank)
        self._reducers = []  # (slot, kind, form or dofs, measure form)
        points = [(i, p) for i, p in enumerate(specs) if p.point is not None]
        if points:
            tree = _tree(mesh)
            xyz = np.array([p.point for _, p in points], dtype=mesh.geometry.x.dtype)
            cand = dgeom.compute_collisions_points(tree, xyz)
            hits = dgeom.compute_colliding_cells(mesh, cand, xyz)
            num_owned_cells = mesh.topology.index_map(tdim).size_local
            for k, (i, spec) in enumerate(points):
                cells = [c for c in hits.links(k) if c < num_owned_cells]
                found = comm.rank if cells else comm.size
                owner = comm.allreduce(found, op=MPI.MIN)
                if owner == comm.size:
                    raise CaseError(f"probes[{i}].point", list(spec.point),
                                    "not inside any mesh cell")
                if owner == comm.rank:
                    self._points.append(xyz[k])
                    self._cells.append(cells[0])
                    self._point_slots.append(i)
        dx = ufl.Measure("dx", domain=mesh, subdomain_data=geometry.cell_tags)
        ds = ufl.Measure("ds", domain=mesh, subdomain_data=geometry.facet_tags)
        for i, spec in enumerate(specs):
            if spec.marker is None:
                continue
            marker = geometry.markers[spec.marker]
            measure = (dx if marker.dim == tdim else ds)(tuple(marker.tags))
            quantity = getattr(spec, "quantity", "temperature")
            if quantity != "temperature":
                size = 1.0 if quantity == "heat" else geometry.measure(spec.marker)
                self._reducers.append((i, "mean", fem.form(integrands[quantity] * measure),
                                       size))
            elif spec.reduce == "mean":
                self._reducers.append((i, "mean", fem.form(u * measure),
                                       geometry.measure(spec.marker)))
            else:
                ents = geometry.entities(spec.marker)
                mesh.topology.create_connectivity(marker.dim, tdim)
                dofs = fem.locate_dofs_topological(u.function_space, marker.dim, ents)
                owned = u.function_space.dofmap.index_map.size_local
                self._reducers.append((i, spec.reduce, dofs[dofs < owned], None))
        # max/min probes are reduced with MAX/MIN, the others (point values, integrals) summed
        self._extreme = np.zeros(len(self.names), dtype=bool)
        for slot, kind, _, _ in self._reducers:
            self._extreme[slot] = kind != "mean"
        self._xyz = np.array(self._points).reshape(-1, 3)
        self._cells_arr = np.array(self._cells, dtype=np.int32)
        self.comm = comm

    def values(self) -> np.ndarray:
        """Current probe values, in the order of the case (collective)."""
        out = np.zeros(len(self.names))
        if len(self._cells_arr):
            vals = self.u.eval(self._xyz, self._cells_arr).ravel()
            out[self._point_slots] = vals
        for slot, kind, obj, size in self._reducers:
            if kind == "mean":
                out[slot] = fem.assemble_scalar(obj) / size
            else:
                local = self.u.x.array[obj]
                big = np.inf if kind == "min" else -np.inf
                out[slot] = (local.min() if kind == "min" else local.max()) if len(local) else big
        summed = self.comm.allreduce(np.where(self._extreme, 0.0, out), op=MPI.SUM)
        for slot, kind, _, _ in self._reducers:
            if kind != "mean":
                op = MPI.MIN if kind == "min" else MPI.MAX
                summed[slot] = self.comm.allreduce(out[slot], op=op)
        return summed


def _tree(mesh):
    return dgeom.bb_tree(mesh, mesh.topology.dim)
