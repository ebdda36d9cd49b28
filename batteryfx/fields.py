"""Field output (one transient VTKHDF file: the mesh once, one array per field and output
time) and restart checkpoints, both independent of the number of MPI ranks.

Two kinds of fields are supported, each scalar or blocked (vector, tensor, symmetric tensor):

* **P1** (continuous Lagrange of degree 1 on a degree-1 mesh): the dofs coincide with the mesh
  nodes, so a field is stored per node, keyed by the node's index in the Gmsh model
  (``mesh.geometry.input_global_indices``): VTK ``PointData``.
* **DG0** (one value per cell): stored per cell, keyed by the cell's index in the mesh input
  (``mesh.topology.original_cell_index``): VTK ``CellData``.

The deterministic mesh builders reproduce both indices on any number of ranks, so the file is
the same whatever the rank count, and a run interrupted on 2 ranks restarts on 1 or 4.

Why not adios4dolfinx/io4dolfinx: their ADIOS2 and h5py back-ends need MPI-enabled ``adios2`` /
``h5py`` builds, and the PyPI wheels of both are serial, so they refuse to run under
``mpiexec -n 2`` on the machines this project targets.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from mpi4py import MPI

import numpy as np
from dolfinx import fem

from batteryfx.errors import BatteryfxError
from batteryfx.parallel import on_rank0
from batteryfx.series import FIELDS_FILE, read_series  # noqa: F401  (re-exported)

#: what the field output and the checkpoints take, for the error messages
SUPPORTED = ("P1 Lagrange (scalar, vector or tensor) on a degree-1 mesh, or DG0 (scalar, "
             "vector or tensor)")

#: the components of a symmetric 3x3 tensor in VTK's order (XX, YY, ZZ, XY, YZ, XZ), as
#: positions in DOLFINx's (lower triangle by rows: XX, YX, YY, ZX, ZY, ZZ)
VTK_SYMMETRIC = np.array([0, 2, 5, 1, 4, 3])


@dataclass(frozen=True)
class Layout:
    """How the dofs of one function space map to the rows of the file and checkpoint."""

    entity: str          # "node" (P1: PointData) or "cell" (DG0: CellData)
    bs: int              # components per node or cell (1: a scalar)
    dofs: np.ndarray     # the dof block of each local node / cell (owned first, then ghosts)
    symmetric: bool      # a symmetric tensor stored as its 6 (3) independent components

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one row: () for a scalar, (bs,) otherwise."""
        return () if self.bs == 1 else (self.bs,)

    def describe(self) -> str:
        kind = "P1 (per node)" if self.entity == "node" else "DG0 (per cell)"
        return kind + ("" if self.bs == 1 else f" with {self.bs} components")


def describe_element(V: fem.FunctionSpace) -> str:
    """A short description of ``V``'s element for the error messages."""
    e = V.ufl_element()
    try:
        text = (f"{e.family_name}{e.degree}{' discontinuous' if e.discontinuous else ''}"
                f" with value shape {tuple(e.reference_value_shape)}")
    except Exception:  # noqa: BLE001 - mixed, quadrature or real elements: their own text
        text = str(e)
    return text + f" on a mesh of geometry degree {V.mesh.geometry.cmaps[0].degree}"


class NodeMap:
    """Maps the dofs of P1 and DG0 functions on one mesh to Gmsh node indices and original
    cell indices (the rank-count independent order of the file and checkpoints).

    ``NodeMap(V)`` takes any supported space ``V`` (or a mesh); the map of each function space
    it meets is cached. For a scalar P1 ``V`` it is what it always was: ``dof_of_node``,
    ``owned_node_values``, ``gather`` and ``scatter`` per node."""

    def __init__(self, V):
        mesh = V.mesh if isinstance(V, fem.FunctionSpace) else V
        self.mesh = mesh
        tdim = mesh.topology.dim
        self.num_owned = mesh.geometry.index_map().size_local
        self.input_index = np.asarray(mesh.geometry.input_global_indices, dtype=np.int64)
        cells = mesh.topology.index_map(tdim)
        self.num_cells = cells.size_local
        self.num_cells_global = cells.size_global
        self.cell_index = np.asarray(mesh.topology.original_cell_index, dtype=np.int64)
        self._layouts: dict[int, tuple[fem.FunctionSpace, Layout]] = {}
        if isinstance(V, fem.FunctionSpace):
            layout = self.layout(V)
            if layout.entity == "node" and layout.bs == 1:
                self.dof_of_node = layout.dofs

    def layout(self, V: fem.FunctionSpace, name: str | None = None) -> Layout:
        """The (cached) layout of ``V``; a BatteryfxError naming field ``name`` and its
        element when the space is not supported."""
        cached = self._layouts.get(id(V))
        if cached is not None and cached[0] is V:
            return cached[1]
        what = f"field {name!r}" if name else "a field"
        if V.mesh is not self.mesh and V.mesh._cpp_object is not self.mesh._cpp_object:
            raise BatteryfxError(f"{what} lives on another mesh than the field output's; "
                                 "all written and checkpointed fields share one mesh")
        e = V.ufl_element()
        try:
            family, degree, disc = e.family_name, e.degree, e.discontinuous
            symmetric = bool(getattr(e, "is_symmetric", False))
        except Exception:  # noqa: BLE001 - e.g. mixed elements
            family, degree, disc, symmetric = None, None, None, False
        vdofs = V.dofmap.list
        bs = V.dofmap.index_map_bs
        layout = None
        if family == "P" and degree == 1 and not disc:
            gdofs = self.mesh.geometry.dofmaps[0]
            if self.mesh.geometry.cmaps[0].degree == 1 and gdofs.shape == vdofs.shape:
                dofs = np.empty(self.mesh.geometry.x.shape[0], dtype=np.int32)
                dofs[gdofs.ravel()] = vdofs.ravel()
                layout = Layout("node", bs, dofs, symmetric)
        elif family in ("P", "Q", "DG", "DQ", "DPC") and degree == 0 and vdofs.shape[1] == 1:
            layout = Layout("cell", bs, np.ascontiguousarray(vdofs[:, 0]), symmetric)
        if layout is None:
            raise BatteryfxError(f"{what}: {describe_element(V)} is not supported by the field "
                                 f"output and checkpoints (they take {SUPPORTED}); interpolate "
                                 "it into such a space first")
        self._layouts[id(V)] = (V, layout)
        return layout

    def owned_node_values(self, u: fem.Function) -> np.ndarray:
        """Values of a P1 ``u`` at the owned nodes, in the order of the mesh geometry
        (shape (n,) for a scalar, (n, bs) otherwise)."""
        layout = self.layout(u.function_space, u.name)
        if layout.entity != "node":
            raise BatteryfxError(f"field {u.name!r} is {layout.describe()}, not per node")
        return self._owned(u, layout)[1]

    def _owned(self, u: fem.Function, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
        """(file row index, values) of the entities this rank owns."""
        n, index = ((self.num_owned, self.input_index) if layout.entity == "node"
                    else (self.num_cells, self.cell_index))
        values = u.x.array.reshape(-1, layout.bs)[layout.dofs[:n]]
        return index[:n], values.reshape((n, *layout.shape)).copy()

    def gather(self, u: fem.Function, name: str | None = None) -> np.ndarray | None:
        """All values of ``u`` on rank 0 (None elsewhere), by Gmsh node index (P1) or original
        cell index (DG0): shape (N,) for a scalar, (N, bs) otherwise. Collective."""
        layout = self.layout(u.function_space, name or u.name)
        comm = self.mesh.comm
        idx, val = self._owned(u, layout)
        idx, val = comm.gather(idx, root=0), comm.gather(val, root=0)
        if comm.rank != 0:
            return None
        idx, val = np.concatenate(idx), np.concatenate(val)
        if layout.entity == "node":
            out = np.full((idx.max(initial=-1) + 1, *layout.shape), np.nan)
        else:
            out = np.full((self.num_cells_global, *layout.shape), np.nan)
        out[idx] = val
        return out

    def scatter(self, values: np.ndarray, u: fem.Function, name: str | None = None) -> None:
        """Set ``u`` from values ordered as :meth:`gather` returns them (on every rank)."""
        layout = self.layout(u.function_space, name or u.name)
        index = self.input_index if layout.entity == "node" else self.cell_index
        n = layout.dofs.shape[0]
        values = np.asarray(values).reshape(values.shape[0], layout.bs)
        u.x.array.reshape(-1, layout.bs)[layout.dofs] = values[index[:n]]
        u.x.scatter_forward()

    def fits(self, values: np.ndarray, layout: Layout) -> bool:
        """Whether saved ``values`` cover every node / cell of this rank (local check)."""
        if values.shape[1:] != layout.shape:
            return False
        if layout.entity == "node":
            index = self.input_index
            if values.shape[0] <= index.max(initial=0):
                return False
        else:
            index = self.cell_index[: layout.dofs.shape[0]]
            if values.shape[0] != self.num_cells_global:
                return False
        return bool(np.all(np.isfinite(values[index])))


# ----------------------------------------------------------------------------- fields
#: VTK cell type of the P1 cells batteryfx meshes (Lagrange cells of degree 1, as DOLFINx
#: writes them; nodes in ``perm_vtk`` order)
_VTK_CELL = {"hexahedron": 72, "tetrahedron": 71, "quadrilateral": 70, "triangle": 69,
             "interval": 68}

#: VTKHDF group of each kind of field, and the Steps group of its per-step offsets
_GROUP = {"node": "PointData", "cell": "CellData"}
_OFFSETS = {"PointData": "PointDataOffsets", "CellData": "CellDataOffsets"}
_STEP_KEYS = ("Values", "PartOffsets", "NumberOfParts", "PointOffsets", "CellOffsets",
              "ConnectivityIdOffsets")


def gather_mesh(node_map: NodeMap) -> tuple[np.ndarray, np.ndarray, int] | None:
    """The mesh on rank 0 (None elsewhere), independent of the rank count: node coordinates
    by Gmsh node index and each cell's nodes (Gmsh node indices, VTK order) by original cell
    index, and the VTK cell type. Collective."""
    from dolfinx.cpp.io import perm_vtk

    mesh = node_map.mesh
    comm = mesh.comm
    cell_type = mesh.topology.cell_type
    if cell_type.name not in _VTK_CELL or mesh.geometry.cmaps[0].degree != 1:
        raise BatteryfxError(f"field output supports P1 {sorted(_VTK_CELL)} meshes, "
                             f"not {cell_type.name} of degree {mesh.geometry.cmaps[0].degree}")
    gdofs = mesh.geometry.dofmaps[0]
    num_cells = node_map.num_cells
    perm = np.asarray(perm_vtk(cell_type, gdofs.shape[1]))
    cells = node_map.input_index[gdofs[:num_cells][:, perm]]
    cell_index = node_map.cell_index[:num_cells]
    idx = comm.gather(node_map.input_index[: node_map.num_owned], root=0)
    x = comm.gather(mesh.geometry.x[: node_map.num_owned], root=0)
    cells = comm.gather(cells, root=0)
    cell_index = comm.gather(cell_index, root=0)
    if comm.rank != 0:
        return None
    idx, x = np.concatenate(idx), np.concatenate(x)
    points = np.full((idx.max() + 1, 3), np.nan)
    points[idx] = x
    order = np.argsort(np.concatenate(cell_index), kind="stable")
    cells = np.concatenate(cells)[order]
    return points, cells, _VTK_CELL[cell_type.name]


def write_snapshot(folder: Path, index: int, t: float, node_map: NodeMap,
                   fields: dict[str, fem.Function]) -> str:
    """Append ``fields`` at time t as step ``index`` of ``folder/fields.vtkhdf`` (collective)
    and return the file name. Step 0 (re)creates the file with the mesh and fixes the set of
    arrays (named after the dict keys, e.g. ``temperature``); later steps add one block per
    array, nothing else.

    P1 fields are ``PointData`` (by Gmsh node index), DG0 fields ``CellData`` (by original
    cell index); a blocked field is a 2D array (rows, components); a symmetric 3x3 tensor
    has its 6 components in VTK's order XX, YY, ZZ, XY, YZ, XZ.

    The file is a transient VTKHDF 2.x UnstructuredGrid (ParaView, VTK's vtkHDFReader and
    PyVista read its ``Steps``), written by rank 0 with the points in Gmsh node order and the
    cells in input order, so it is the same file on any number of ranks and across a
    restart on another rank count."""
    comm = node_map.mesh.comm
    layouts = {name: node_map.layout(u.function_space, name) for name, u in fields.items()}
    mesh = gather_mesh(node_map) if index == 0 else None
    values = {}
    for name, u in fields.items():
        v = node_map.gather(u, name)
        if v is not None and layouts[name].symmetric and layouts[name].bs == 6:
            v = v[:, VTK_SYMMETRIC]
        values[name] = v
    path = folder / FIELDS_FILE

    def write():
        if index == 0:
            arrays = {name: (_GROUP[lay.entity], lay.bs) for name, lay in layouts.items()}
            _create_fields_file(path, *mesh, arrays=arrays)
        _append_step(path, index, t, values)

    on_rank0(comm, write, what=f"writing {path}")
    return FIELDS_FILE


def _create_fields_file(path: Path, points: np.ndarray, cells: np.ndarray, cell_type: int,
                        arrays: dict[str, tuple[str, int]]) -> None:
    """A transient VTKHDF file with the mesh and no step; ``arrays``: name -> (``PointData``
    or ``CellData``, number of components)."""
    import h5py

    n_points, (n_cells, per_cell) = points.shape[0], cells.shape
    rows = {"PointData": n_points, "CellData": n_cells}
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w", libver=("v110", "v110")) as f:
        g = f.create_group("VTKHDF")
        g.attrs["Version"] = np.array([2, 2], dtype=np.int32)
        g.attrs.create("Type", np.bytes_("UnstructuredGrid"))
        g["NumberOfPoints"] = np.array([n_points], dtype=np.int64)
        g["NumberOfCells"] = np.array([n_cells], dtype=np.int64)
        g["NumberOfConnectivityIds"] = np.array([cells.size], dtype=np.int64)
        g["Points"] = points
        g["Connectivity"] = cells.ravel().astype(np.int64)
        g["Offsets"] = np.arange(n_cells + 1, dtype=np.int64) * per_cell
        g["Types"] = np.full(n_cells, cell_type, dtype=np.uint8)
        data = {key: g.create_group(key) for key in ("PointData", "CellData")}
        s = g.create_group("Steps")
        s.attrs["NSteps"] = np.int32(0)
        small = {"maxshape": (None,), "chunks": (16,)}
        s.create_dataset("Values", (0,), dtype=np.float64, **small)
        for key in _STEP_KEYS[1:]:
            s.create_dataset(key, (0,), dtype=np.int64, **small)
        offsets = {key: s.create_group(_OFFSETS[key]) for key in data}
        for name, (group, bs) in arrays.items():
            if group not in data:
                raise BatteryfxError(f"{path}: {name} goes to {group}, not PointData or "
                                     "CellData")
            # one chunk per step up to 8 MB: no padding per step
            n = max(1, min(rows[group], (1 << 20) // bs))
            shape, chunks = ((0,), (n,)) if bs == 1 else ((0, bs), (n, bs))
            data[group].create_dataset(name, shape, dtype=np.float64,
                                       maxshape=(None, *shape[1:]), chunks=chunks)
            offsets[group].create_dataset(name, (0,), dtype=np.int64, **small)
    os.replace(tmp, path)


def _append_step(path: Path, index: int, t: float, values: dict[str, np.ndarray]) -> None:
    import h5py

    with h5py.File(path, "a") as f:
        g, s = f["VTKHDF"], f["VTKHDF/Steps"]
        rows = {"PointData": int(g["NumberOfPoints"][0]),
                "CellData": int(g["NumberOfCells"][0])}
        if int(s.attrs["NSteps"]) != index:
            raise BatteryfxError(f"{path} holds {int(s.attrs['NSteps'])} steps, expected "
                                 f"{index}")
        group_of = {name: key for key in rows if key in g for name in g[key]}
        if set(values) != set(group_of):
            raise BatteryfxError(f"{path} holds the fields {sorted(group_of)}, this step "
                                 f"{sorted(values)}; the fields are fixed at the first step")
        for name, val in values.items():
            group = group_of[name]
            d, n = g[group][name], rows[group]
            if val.shape != (n, *d.shape[1:]):
                raise BatteryfxError(f"{path}: {name} has shape {val.shape}, the file's "
                                     f"{group} {(n, *d.shape[1:])}")
        step = {"Values": t, "PartOffsets": 0, "NumberOfParts": 1, "PointOffsets": 0,
                "CellOffsets": 0, "ConnectivityIdOffsets": 0}
        for key, v in step.items():
            s[key].resize((index + 1,))
            s[key][index] = v
        for name, val in values.items():
            group = group_of[name]
            d, n = g[group][name], rows[group]
            d.resize(((index + 1) * n, *d.shape[1:]))
            d[index * n:] = val
            o = s[_OFFSETS[group]][name]
            o.resize((index + 1,))
            o[index] = index * n
        s.attrs["NSteps"] = np.int32(index + 1)


def truncate_fields(folder: Path, steps: int) -> None:
    """Keep the first ``steps`` steps of ``folder/fields.vtkhdf`` (rank 0; on restart, the
    steps the checkpoint recorded: later ones were written after it)."""
    import h5py

    path = folder / FIELDS_FILE
    if steps == 0:
        path.unlink(missing_ok=True)
        return
    if not path.exists():
        raise BatteryfxError(f"{path} is missing (or this run was written by an older "
                             "batteryfx with one file per output time): cannot restart")
    with h5py.File(path, "a") as f:
        g, s = f["VTKHDF"], f["VTKHDF/Steps"]
        have = int(s.attrs["NSteps"])
        if have < steps:
            raise BatteryfxError(f"{path} holds {have} steps, the checkpoint {steps}")
        rows = {"PointData": int(g["NumberOfPoints"][0]),
                "CellData": int(g["NumberOfCells"][0])}
        for key in _STEP_KEYS:
            s[key].resize((steps,))
        for group, n in rows.items():
            if group not in g:
                continue
            for name, d in g[group].items():
                d.resize((steps * n, *d.shape[1:]))
                s[_OFFSETS[group]][name].resize((steps,))
        s.attrs["NSteps"] = np.int32(steps)


# ----------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, node_map: NodeMap, fields: dict[str, fem.Function],
                    state: dict) -> None:
    """Save the ``fields`` and the JSON-able ``state`` (collective; rank 0 writes, then
    renames the file into place atomically). Each field is one array ``field_<name>``: P1 by
    Gmsh node index, DG0 by original cell index, shape (N,) or (N, bs) with the components in
    DOLFINx's order; ``layout`` records (entity, components) per field."""
    layouts = {name: node_map.layout(u.function_space, name) for name, u in fields.items()}
    values = {name: node_map.gather(u, name) for name, u in fields.items()}
    meta = {name: {"entity": lay.entity, "components": lay.bs} for name, lay in layouts.items()}

    def write():
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, state=json.dumps(state), layout=json.dumps(meta),
                 **{f"field_{k}": v for k, v in values.items()})
        os.replace(tmp, path)

    on_rank0(node_map.mesh.comm, write, what=f"writing checkpoint {path}")


def load_checkpoint(path: Path, node_map: NodeMap, fields: dict[str, fem.Function]) -> dict:
    """Restore the ``fields`` from a checkpoint and return the saved state (collective)."""
    comm = node_map.mesh.comm
    layouts = {name: node_map.layout(u.function_space, name) for name, u in fields.items()}

    def read():
        with np.load(path) as data:
            saved = {k.removeprefix("field_"): data[k] for k in data.files
                     if k.startswith("field_")}
            meta = json.loads(str(data["layout"])) if "layout" in data.files else {}
            return saved, meta, json.loads(str(data["state"]))

    saved, meta, state = on_rank0(comm, read, what=f"reading checkpoint {path}")
    missing = sorted(set(fields) - set(saved))
    if missing:
        raise BatteryfxError(f"checkpoint {path} has no {', '.join(missing)} (fields: "
                             f"{', '.join(sorted(saved)) or 'none'}); restart with the same "
                             "case")
    for name, u in fields.items():
        layout, values = layouts[name], saved[name]
        kind = meta.get(name, {"entity": "node", "components": 1})  # older: scalar P1
        if (kind["entity"], kind["components"]) != (layout.entity, layout.bs):
            was = Layout(kind["entity"], kind["components"], layout.dofs, False).describe()
            raise BatteryfxError(f"checkpoint {path}: field {name!r} was saved {was}, this "
                                 f"run's is {layout.describe()}; restart with the same case")
        if not comm.allreduce(node_map.fits(values, layout), op=MPI.LAND):
            raise BatteryfxError(f"checkpoint {path} does not match this mesh (field "
                                 f"{name!r}); restart with the same case and --set values")
        node_map.scatter(values, u, name)
    return state
