"""Field output (VTKHDF, one file per output time + a ParaView ``.series`` index) and restart
checkpoints, both independent of the number of MPI ranks.

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
from dolfinx.io import vtkhdf

from batteryfx.errors import BatteryfxError
from batteryfx.parallel import on_rank0


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
def write_snapshot(folder: Path, index: int, t: float, node_map: NodeMap,
                   fields: dict[str, fem.Function]) -> str:
    """Write ``fields`` at time t to ``folder/fields_{index:04d}.vtkhdf`` (collective) and
    return the file name. Arrays are named after the dict keys (e.g. ``temperature``)."""
    mesh = node_map.mesh
    name = f"fields_{index:04d}.vtkhdf"
    path = folder / name
    on_rank0(mesh.comm, path.unlink, missing_ok=True, what=f"removing {path}")
    vtkhdf.write_mesh(path, mesh)
    for key, u in fields.items():
        vtkhdf.write_point_data(path, mesh, node_map.owned_node_values(u), t)
        mesh.comm.Barrier()
        on_rank0(mesh.comm, _rename_point_array, path, "u", key, what=f"writing {path}")
    return name


def _rename_point_array(path: Path, old: str, new: str) -> None:
    """DOLFINx names every VTKHDF point array 'u'; give it its physical name."""
    import h5py

    with h5py.File(path, "a") as f:
        f.move(f"VTKHDF/PointData/{old}", f"VTKHDF/PointData/{new}")
        f.move(f"VTKHDF/Steps/PointDataOffsets/{old}", f"VTKHDF/Steps/PointDataOffsets/{new}")


def write_series(folder: Path, entries: list[tuple[str, float]]) -> None:
    """ParaView file-series index ``fields.vtkhdf.series`` (rank 0 only)."""
    data = {"file-series-version": "1.0",
            "files": [{"name": n, "time": t} for n, t in entries]}
    _atomic_write(folder / "fields.vtkhdf.series", json.dumps(data, indent=1))


def read_series(folder: Path) -> list[tuple[str, float]]:
    path = folder / "fields.vtkhdf.series"
    if not path.exists():
        return []
    return [(e["name"], float(e["time"])) for e in json.loads(path.read_text())["files"]]


# ----------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, node_map: NodeMap, u: fem.Function, state: dict) -> None:
    """Save u (by Gmsh node index) and the stepper ``state`` (collective; rank 0 writes the
    state it holds, then renames the file into place atomically)."""
    values = node_map.gather(u)

    def write():
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, values=values, state=json.dumps(state))
        os.replace(tmp, path)

    on_rank0(node_map.mesh.comm, write, what=f"writing checkpoint {path}")


def load_checkpoint(path: Path, node_map: NodeMap, u: fem.Function) -> dict:
    """Restore u from a checkpoint and return the saved stepper state (collective)."""
    comm = node_map.mesh.comm

    def read():
        with np.load(path) as data:
            return data["values"], json.loads(str(data["state"]))

    values, state = on_rank0(comm, read, what=f"reading checkpoint {path}")
    fits = values.shape[0] > node_map.input_index.max(initial=0) and bool(
        np.all(np.isfinite(values[node_map.input_index])))
    if not comm.allreduce(fits, op=MPI.LAND):
        raise BatteryfxError(f"checkpoint {path} does not match this mesh; restart with the "
                             "same case and --set values")
    node_map.scatter(values, u)
    return state


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
