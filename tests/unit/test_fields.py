"""Node map, checkpoints and probes on a small layered column (also on 2 ranks)."""

from __future__ import annotations

from mpi4py import MPI

import numpy as np
import pytest
from dolfinx import fem

from batteryfx.case import ProbeSpec
from batteryfx.errors import BatteryfxError
from batteryfx.fields import NodeMap, load_checkpoint, save_checkpoint
from batteryfx.physics import Quantity
from batteryfx.probes import Probes
from tests.helpers import column

pytestmark = pytest.mark.mpi


def _linear(x):
    return 1.0 + 2.0 * x[0] + 3.0 * x[1] + 5.0 * x[2]


def test_node_map_and_checkpoint_roundtrip(shared_tmp):
    geometry = column([("Cu", 1.0, 4), ("Ag", 0.5, 3)], width=1.0)
    V = fem.functionspace(geometry.mesh, ("Lagrange", 1))
    u = fem.Function(V)
    u.interpolate(_linear)
    nm = NodeMap(V)
    x = geometry.mesh.geometry.x[: nm.num_owned]
    np.testing.assert_allclose(nm.owned_node_values(u), _linear(x.T), rtol=1e-14)
    path = shared_tmp / "state.npz"
    v = fem.Function(V)
    v.interpolate(lambda x: 7.0 - x[2])
    save_checkpoint(path, nm, {"u": u, "v": v}, {"t": 0.25})
    w, z = fem.Function(V), fem.Function(V)
    state = load_checkpoint(path, nm, {"u": w, "v": z})
    assert state == {"t": 0.25}
    np.testing.assert_allclose(w.x.array, u.x.array, rtol=1e-14)  # ghosts: owner values
    np.testing.assert_allclose(z.x.array, v.x.array, rtol=1e-14)
    with pytest.raises(BatteryfxError, match="has no c"):
        load_checkpoint(path, nm, {"c": w})
    # a checkpoint written on all ranks loads on one rank (rank-count independent)
    if MPI.COMM_WORLD.rank == 0:
        g1 = column([("Cu", 1.0, 4), ("Ag", 0.5, 3)], width=1.0, comm=MPI.COMM_SELF)
        V1 = fem.functionspace(g1.mesh, ("Lagrange", 1))
        w1 = fem.Function(V1)
        load_checkpoint(path, NodeMap(V1), {"u": w1})
        xx = V1.tabulate_dof_coordinates()
        np.testing.assert_allclose(w1.x.array, _linear(xx.T), rtol=1e-14)
    MPI.COMM_WORLD.Barrier()


def test_probes_point_mean_max():
    geometry = column([("Cu", 1.0, 4), ("Ag", 0.5, 3)], width=1.0)
    V = fem.functionspace(geometry.mesh, ("Lagrange", 1))
    u = fem.Function(V)
    u.interpolate(_linear)
    specs = [
        ProbeSpec(name="p", point=[0.3, 0.7, 1.2]),
        ProbeSpec(name="bottom_mean", marker="bottom"),
        ProbeSpec(name="top_max", marker="top", reduce="max"),
        ProbeSpec(name="layer_mean", marker="s/l1"),
        ProbeSpec(name="all_min", marker="s", reduce="min"),
    ]
    values = Probes(specs, geometry, {"f": u}, {"f": Quantity("K")}, "f").values()
    expected = [_linear(np.array([0.3, 0.7, 1.2])),
                1.0 + 1.0 + 1.5,             # mean over z = 0 of 1 + 2x + 3y
                1.0 + 2.0 + 3.0 + 5.0 * 1.5,  # max on z = 1.5
                1.0 + 1.0 + 1.5 + 5.0 * 1.25,  # mean over the Ag layer (z 1..1.5)
                1.0]
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def _box(comm):
    from dolfinx import mesh

    return mesh.create_box(comm, [[0.0, 0.0, 0.0], [2.0, 1.0, 0.5]], [16, 12, 8],
                           mesh.CellType.hexahedron)


def test_fields_file_mesh_once_values_and_ranks(shared_tmp):
    """fields.vtkhdf: the mesh once, one array per snapshot; each step holds the nodal
    values at the file's points (VTK and PyVista read them); the same file on 1 rank."""
    import h5py
    import pyvista as pv
    import vtk

    from batteryfx.fields import FIELDS_FILE, _create_fields_file, gather_mesh, write_snapshot

    def snapshots(comm, folder):
        V = fem.functionspace(_box(comm), ("Lagrange", 1))
        nm, u = NodeMap(V), fem.Function(V)
        for i in range(5):
            u.interpolate(lambda x, i=i: _linear(x) * (1.0 + i))
            assert write_snapshot(folder, i, 0.1 * i, nm, {"temperature": u}) == FIELDS_FILE
        mesh = gather_mesh(nm)
        if comm.rank == 0:  # the mesh alone, for the size budget
            _create_fields_file(folder / "mesh_only.vtkhdf", *mesh, names=["temperature"])

    comm = MPI.COMM_WORLD
    folder = shared_tmp / "fields_all"
    if comm.rank == 0:
        folder.mkdir()
    comm.Barrier()
    snapshots(comm, folder)
    if comm.rank == 0:
        path = folder / FIELDS_FILE
        with h5py.File(path, "r") as f:
            n = int(f["VTKHDF/NumberOfPoints"][0])
            points = f["VTKHDF/Points"][:]
            values = f["VTKHDF/PointData/temperature"][:].reshape(5, n)
            np.testing.assert_array_equal(f["VTKHDF/Steps/Values"][:], 0.1 * np.arange(5))
            assert int(f["VTKHDF/Steps"].attrs["NSteps"]) == 5
        assert n == 17 * 13 * 9
        for i in range(5):
            np.testing.assert_allclose(values[i], _linear(points.T) * (1.0 + i), rtol=1e-14)
        size, mesh_size = path.stat().st_size, (folder / "mesh_only.vtkhdf").stat().st_size
        assert size < mesh_size + 5.5 * 8 * n, (size, mesh_size, 8 * n)
        reader = vtk.vtkHDFReader()
        reader.SetFileName(str(path))
        reader.UpdateInformation()
        assert reader.GetNumberOfSteps() == 5
        for i in range(5):
            reader.SetStep(i)
            reader.Update()
            grid = pv.wrap(reader.GetOutput())
            assert grid.n_points == n and grid.n_cells == 16 * 12 * 8
            np.testing.assert_array_equal(grid["temperature"], values[i])
            assert grid.volume == pytest.approx(1.0, rel=1e-12)
        reader.UpdateTimeStep(0.1 * 3)  # the stored time (0.3 would select step 2)
        np.testing.assert_array_equal(pv.wrap(reader.GetOutput())["temperature"], values[3])
        np.testing.assert_array_equal(pv.read(path)["temperature"], values[0])
        # the same file from a serial run
        serial = shared_tmp / "fields_one"
        serial.mkdir()
        snapshots(MPI.COMM_SELF, serial)
        from tests.cases.test_fields_file import assert_same_file

        assert_same_file(path, serial / FIELDS_FILE, rtol=1e-13)  # interpolation round-off
    comm.Barrier()
