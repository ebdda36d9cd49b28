"""Field output (one transient VTKHDF file: the mesh once, one array per output time) and
restart checkpoints, both independent of the number of MPI ranks.

P1 temperature dofs coincide with the mesh nodes, so a field is stored per node. Checkpoints key
each nodal value by the node's index in the Gmsh model (``geometry.input_global_indices``),
which the deterministic mesh builders reproduce on any number of ranks: a run interrupted on 2
ranks restarts on 1 or 4.

Why not adios4dolfinx/io4dolfinx: their ADIOS2 and h5py back-ends need MPI-enabled ``adios2`` /
``h5py`` builds, and the PyPI wheels of both are serial, so they refuse to run under
``mpiexec -n 2`` on the machines this project targets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mpi4py import MPI

import numpy as np
from dolfinx import fem

from batteryfx.errors import BatteryfxError
from batteryfx.parallel import on_rank0
from batteryfx.series import FIELDS_FILE, read_series  # noqa: F401  (re-exported)


class NodeMap:
    """Maps between P1 dofs of ``V`` and the local geometry nodes of its mesh."""

    def __init__(self, V: fem.FunctionSpace):
        mesh = V.mesh
        gdofs = mesh.geometry.dofmaps[0]
        vdofs = V.dofmap.list
        if gdofs.shape != vdofs.shape or V.dofmap.index_map_bs != 1:
            raise ValueError("NodeMap needs a scalar P1 space on a P1 mesh")
        self.mesh = mesh
        self.dof_of_node = np.empty(mesh.geometry.x.shape[0], dtype=np.int32)
        self.dof_of_node[gdofs.ravel()] = vdofs.ravel()
        self.num_owned = mesh.geometry.index_map().size_local
        self.input_index = np.asarray(mesh.geometry.input_global_indices, dtype=np.int64)

    def owned_node_values(self, u: fem.Function) -> np.ndarray:
        """Values of ``u`` at the owned nodes, in the order of the mesh geometry."""
        return u.x.array[self.dof_of_node[: self.num_owned]].copy()

    def gather(self, u: fem.Function) -> np.ndarray | None:
        """All nodal values ordered by Gmsh node index, on rank 0 (None elsewhere)."""
        comm = self.mesh.comm
        idx = comm.gather(self.input_index[: self.num_owned], root=0)
        val = comm.gather(self.owned_node_values(u), root=0)
        if comm.rank != 0:
            return None
        idx, val = np.concatenate(idx), np.concatenate(val)
        out = np.full(idx.max() + 1, np.nan)
        out[idx] = val
        return out

    def scatter(self, values: np.ndarray, u: fem.Function) -> None:
        """Set ``u`` from values ordered by Gmsh node index (given on every rank)."""
        u.x.array[self.dof_of_node] = values[self.input_index]
        u.x.scatter_forward()


# ----------------------------------------------------------------------------- fields
#: VTK cell type of the P1 cells batteryfx meshes (Lagrange cells of degree 1, as DOLFINx
#: writes them; nodes in ``perm_vtk`` order)
_VTK_CELL = {"hexahedron": 72, "tetrahedron": 71}


def gather_mesh(node_map: NodeMap) -> tuple[np.ndarray, np.ndarray, int] | None:
    """The mesh on rank 0 (None elsewhere), independent of the rank count: node coordinates
    by Gmsh node index and each cell's nodes (Gmsh node indices, VTK order) by original cell
    index, and the VTK cell type. Collective."""
    from dolfinx.cpp.io import perm_vtk

    mesh = node_map.mesh
    comm = mesh.comm
    tdim = mesh.topology.dim
    cell_type = mesh.topology.cell_type
    if cell_type.name not in _VTK_CELL or mesh.geometry.cmaps[0].degree != 1:
        raise BatteryfxError(f"field output supports P1 {sorted(_VTK_CELL)} meshes, "
                             f"not {cell_type.name} of degree {mesh.geometry.cmaps[0].degree}")
    gdofs = mesh.geometry.dofmaps[0]
    num_cells = mesh.topology.index_map(tdim).size_local
    perm = np.asarray(perm_vtk(cell_type, gdofs.shape[1]))
    cells = node_map.input_index[gdofs[:num_cells][:, perm]]
    cell_index = np.asarray(mesh.topology.original_cell_index[:num_cells], dtype=np.int64)
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
    and return the file name. Step 0 (re)creates the file with the mesh; later steps add one
    array per field (named after the dict keys, e.g. ``temperature``), nothing else.

    The file is a transient VTKHDF 2.x UnstructuredGrid (ParaView, VTK's vtkHDFReader and
    PyVista read its ``Steps``), written by rank 0 with the points in Gmsh node order and the
    cells in input order, so it is the same file on any number of ranks and across a
    restart on another rank count."""
    comm = node_map.mesh.comm
    mesh = gather_mesh(node_map) if index == 0 else None
    values = {key: node_map.gather(u) for key, u in fields.items()}
    path = folder / FIELDS_FILE

    def write():
        if index == 0:
            _create_fields_file(path, *mesh, names=list(values))
        _append_step(path, index, t, values)

    on_rank0(comm, write, what=f"writing {path}")
    return FIELDS_FILE


def _create_fields_file(path: Path, points: np.ndarray, cells: np.ndarray, cell_type: int,
                        names: list[str]) -> None:
    import h5py

    n_points, (n_cells, per_cell) = points.shape[0], cells.shape
    chunk = (min(n_points, 1 << 20),)  # one chunk per step up to 8 MB: no padding per step
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
        pd = g.create_group("PointData")
        s = g.create_group("Steps")
        s.attrs["NSteps"] = np.int32(0)
        small = {"maxshape": (None,), "chunks": (16,)}
        s.create_dataset("Values", (0,), dtype=np.float64, **small)
        for key in ("PartOffsets", "NumberOfParts", "PointOffsets", "CellOffsets",
                    "ConnectivityIdOffsets"):
            s.create_dataset(key, (0,), dtype=np.int64, **small)
        offsets = s.create_group("PointDataOffsets")
        for name in names:
            pd.create_dataset(name, (0,), dtype=np.float64, maxshape=(None,), chunks=chunk)
            offsets.create_dataset(name, (0,), dtype=np.int64, **small)
    os.replace(tmp, path)


def _append_step(path: Path, index: int, t: float, values: dict[str, np.ndarray]) -> None:
    import h5py

    with h5py.File(path, "a") as f:
        g, s = f["VTKHDF"], f["VTKHDF/Steps"]
        n_points = int(g["NumberOfPoints"][0])
        if int(s.attrs["NSteps"]) != index:
            raise BatteryfxError(f"{path} holds {int(s.attrs['NSteps'])} steps, expected "
                                 f"{index}")
        step = {"Values": t, "PartOffsets": 0, "NumberOfParts": 1, "PointOffsets": 0,
                "CellOffsets": 0, "ConnectivityIdOffsets": 0}
        for key, v in step.items():
            s[key].resize((index + 1,))
            s[key][index] = v
        for name, val in values.items():
            if val.shape != (n_points,):
                raise BatteryfxError(f"{path}: {name} has {val.shape[0]} nodes, the mesh "
                                     f"{n_points}")
            d = g["PointData"][name]
            d.resize(((index + 1) * n_points,))
            d[index * n_points:] = val
            o = s["PointDataOffsets"][name]
            o.resize((index + 1,))
            o[index] = index * n_points
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
        n_points = int(g["NumberOfPoints"][0])
        for key in ("Values", "PartOffsets", "NumberOfParts", "PointOffsets", "CellOffsets",
                    "ConnectivityIdOffsets"):
            s[key].resize((steps,))
        for name in g["PointData"]:
            g["PointData"][name].resize((steps * n_points,))
            s["PointDataOffsets"][name].resize((steps,))
        s.attrs["NSteps"] = np.int32(steps)


# ----------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, node_map: NodeMap, fields: dict[str, fem.Function],
                    state: dict) -> None:
    """Save the ``fields`` (by Gmsh node index, one array per name) and the JSON-able
    ``state`` (collective; rank 0 writes, then renames the file into place atomically)."""
    values = {name: node_map.gather(u) for name, u in fields.items()}

    def write():
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, state=json.dumps(state), **{f"field_{k}": v for k, v in values.items()})
        os.replace(tmp, path)

    on_rank0(node_map.mesh.comm, write, what=f"writing checkpoint {path}")


def load_checkpoint(path: Path, node_map: NodeMap, fields: dict[str, fem.Function]) -> dict:
    """Restore the ``fields`` from a checkpoint and return the saved state (collective)."""
    comm = node_map.mesh.comm

    def read():
        with np.load(path) as data:
            saved = {k.removeprefix("field_"): data[k] for k in data.files
                     if k.startswith("field_")}
            return saved, json.loads(str(data["state"]))

    saved, state = on_rank0(comm, read, what=f"reading checkpoint {path}")
    missing = sorted(set(fields) - set(saved))
    if missing:
        raise BatteryfxError(f"checkpoint {path} has no {', '.join(missing)} (fields: "
                             f"{', '.join(sorted(saved)) or 'none'}); restart with the same "
                             "case")
    for name, u in fields.items():
        values = saved[name]
        fits = values.shape[0] > node_map.input_index.max(initial=0) and bool(
            np.all(np.isfinite(values[node_map.input_index])))
        if not comm.allreduce(fits, op=MPI.LAND):
            raise BatteryfxError(f"checkpoint {path} does not match this mesh; restart with "
                                 "the same case and --set values")
        node_map.scatter(values, u)
    return state
