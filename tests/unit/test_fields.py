"""Node map, checkpoints, the fields file and probes on small meshes (also on 2 ranks): scalar
and vector P1, DG0 scalars and tensors, written on all ranks and read on one."""

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


def _box(comm, n=(16, 12, 8)):
    from dolfinx import mesh

    return mesh.create_box(comm, [[0.0, 0.0, 0.0], [2.0, 1.0, 0.5]], list(n),
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
            _create_fields_file(folder / "mesh_only.vtkhdf", *mesh,
                                arrays={"temperature": ("PointData", 1)})

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


# ------------------------------------------------------------- vector P1 and DG0 (cell) fields
def _sym(comm_mesh, degree=0):
    import basix.ufl

    return basix.ufl.element("DG", comm_mesh.basix_cell(), degree, shape=(3, 3), symmetry=True)


def _scalar(x, i=0):
    return _linear(x) * (1.0 + i)


def _vector(x, i=0):
    return np.stack([1.0 + x[0] + i, 2.0 * x[1] - i, 3.0 * x[2] + x[0]])


def _cell(x, i=0):
    return x[0] + 10.0 * x[1] + 100.0 * x[2] + i


def _tensor(x, i=0):
    """A non-symmetric 3x3 tensor, row-major: component 3a + b is 10 (3a + b) + x + y + z + i."""
    return np.stack([10.0 * k + x[0] + x[1] + x[2] + i for k in range(9)])


def _fields(mesh, i=0):
    """The five kinds at once: scalar and vector P1, DG0 scalar, tensor, symmetric tensor."""
    spaces = {"temperature": ("Lagrange", 1), "displacement": ("Lagrange", 1, (3,)),
              "von_mises": ("DG", 0), "gradient": ("DG", 0, (3, 3)), "stress": _sym(mesh)}
    exprs = {"temperature": _scalar, "displacement": _vector, "von_mises": _cell,
             "gradient": _tensor, "stress": _tensor}
    out = {}
    for name, element in spaces.items():
        u = fem.Function(fem.functionspace(mesh, element), name=name)
        u.interpolate(lambda x, f=exprs[name]: f(x, i))
        u.x.scatter_forward()  # ghosts: the owner's round-off, as a checkpoint restores them
        out[name] = u
    return out


def _expected(name, points, centers, i=0):
    """What the file holds: at the points (P1) or cell centres (DG0), components per row;
    the symmetric tensor's lower triangle in VTK's order XX, YY, ZZ, XY, YZ, XZ."""
    if name == "temperature":
        return _scalar(points.T, i)
    if name == "displacement":
        return _vector(points.T, i).T
    if name == "von_mises":
        return _cell(centers.T, i)
    full = _tensor(centers.T, i).T
    return full if name == "gradient" else full[:, [0, 4, 8, 3, 7, 6]]


def _dof_expected(u, i=0):
    """Values of ``u`` (one of _fields) from its dof coordinates, in the dof layout."""
    x = u.function_space.tabulate_dof_coordinates().T
    f = {"temperature": lambda x: _scalar(x, i), "displacement": lambda x: _vector(x, i),
         "von_mises": lambda x: _cell(x, i), "gradient": lambda x: _tensor(x, i),
         "stress": lambda x: _tensor(x, i)[[0, 3, 4, 6, 7, 8]]}[u.name](x)
    return np.asarray(f).T.ravel()


def test_original_cell_index_independent_of_ranks():
    """The deterministic builders number the cells (original_cell_index) and nodes (Gmsh
    index) alike on any rank count: the cell centres and node coordinates gathered in that
    order are the same on all ranks as on one."""
    def gathered(comm):
        out = []
        for mesh in (column([("Cu", 1.0, 4), ("Ag", 0.5, 3)], width=1.0, comm=comm).mesh,
                     _box(comm, (4, 3, 2))):
            centre = fem.Function(fem.functionspace(mesh, ("DG", 0, (3,))))
            centre.interpolate(lambda x: x)
            node = fem.Function(fem.functionspace(mesh, ("Lagrange", 1, (3,))))
            node.interpolate(lambda x: x)
            nm = NodeMap(mesh)
            out.append((nm.gather(centre), nm.gather(node)))
        return out

    every = gathered(MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        one = gathered(MPI.COMM_SELF)
        for (c, n), (c1, n1) in zip(every, one, strict=True):
            assert c.shape == c1.shape and np.all(np.isfinite(c))
            # the same order (cells 0.1 apart); the centres themselves to round-off
            np.testing.assert_allclose(c, c1, rtol=0, atol=1e-14)
            np.testing.assert_allclose(n, n1, rtol=0, atol=1e-14)
    MPI.COMM_WORLD.Barrier()


def test_checkpoint_vector_and_cell_fields(shared_tmp):
    """Vector P1 by Gmsh node, DG0 scalar / tensor / symmetric tensor by original cell index:
    round trip on all ranks, and written on all ranks, loaded on one."""
    layers = [("Cu", 1.0, 4), ("Ag", 0.5, 3)]
    mesh = column(layers, width=1.0).mesh
    fields = _fields(mesh, 2)
    nm = NodeMap(fields["displacement"].function_space)  # any supported space will do
    path = shared_tmp / "mixed.npz"
    save_checkpoint(path, nm, fields, {"t": 1.5})
    back = {name: fem.Function(u.function_space, name=name) for name, u in fields.items()}
    assert load_checkpoint(path, nm, back) == {"t": 1.5}
    for name, u in fields.items():
        np.testing.assert_array_equal(back[name].x.array, u.x.array, err_msg=name)
        np.testing.assert_allclose(u.x.array, _dof_expected(u, 2), rtol=1e-13, atol=1e-12,
                                   err_msg=name)
    if MPI.COMM_WORLD.rank == 0:
        with np.load(path) as data:
            n_cells = mesh.topology.index_map(3).size_global
            assert data["field_displacement"].shape[1] == 3
            assert data["field_von_mises"].shape == (n_cells,)
            assert data["field_gradient"].shape == (n_cells, 9)
            assert data["field_stress"].shape == (n_cells, 6)  # DOLFINx order, not VTK's
    # the kinds must match: a vector saved is not a scalar restored
    scalar = fem.Function(fields["temperature"].function_space)
    with pytest.raises(BatteryfxError, match="'displacement' was saved P1 .per node. with 3"):
        load_checkpoint(path, nm, {"displacement": scalar})
    cell = fem.Function(fields["von_mises"].function_space)
    with pytest.raises(BatteryfxError, match="'temperature' was saved P1 .per node.,"):
        load_checkpoint(path, nm, {"temperature": cell})
    if MPI.COMM_WORLD.rank == 0:  # written on all ranks, read on one
        mesh1 = column(layers, width=1.0, comm=MPI.COMM_SELF).mesh
        ref = _fields(mesh1, 0)
        one = {name: fem.Function(u.function_space, name=name) for name, u in ref.items()}
        load_checkpoint(path, NodeMap(mesh1), one)
        for name, u in one.items():
            np.testing.assert_allclose(u.x.array, _dof_expected(u, 2), rtol=1e-13,
                                       atol=1e-12, err_msg=name)
    MPI.COMM_WORLD.Barrier()
    # and written on one rank, read on all
    path1 = shared_tmp / "mixed_one.npz"
    if MPI.COMM_WORLD.rank == 0:
        mesh1 = column(layers, width=1.0, comm=MPI.COMM_SELF).mesh
        save_checkpoint(path1, NodeMap(mesh1), _fields(mesh1, 3), {"t": 2.0})
    MPI.COMM_WORLD.Barrier()
    assert load_checkpoint(path1, nm, back) == {"t": 2.0}
    for name, u in back.items():
        np.testing.assert_allclose(u.x.array, _dof_expected(u, 3), rtol=1e-13, atol=1e-12,
                                   err_msg=name)


def _p2_mesh(comm):
    """One straight tetrahedron with a degree-2 geometry (10 nodes)."""
    import basix.ufl
    from dolfinx import mesh

    v = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    edges = [(2, 3), (1, 3), (1, 2), (0, 3), (0, 2), (0, 1)]  # basix's edge order
    x = np.vstack([v, [(v[a] + v[b]) / 2 for a, b in edges]])
    cells = np.arange(10, dtype=np.int64).reshape(1, 10)
    if comm.rank != 0:
        x, cells = np.empty((0, 3)), np.empty((0, 10), dtype=np.int64)
    element = basix.ufl.element("Lagrange", "tetrahedron", 2, shape=(3,))
    return mesh.create_mesh(comm, cells, element, x)


def test_unsupported_fields_refused(shared_tmp):
    """P2, DG1, a P1 space on a degree-2 mesh or a field on another mesh: one BatteryfxError
    naming the field and its element, on every rank, before anything is written."""
    from batteryfx.fields import write_snapshot

    mesh = _box(MPI.COMM_WORLD, (2, 2, 2))
    nm = NodeMap(mesh)
    ok = fem.Function(fem.functionspace(mesh, ("Lagrange", 1)))
    for element, text in ((("Lagrange", 2), "P2 with value shape"),
                          (("DG", 1, (3,)), r"P1 discontinuous with value shape \(3,\)"),
                          (_sym(mesh, 1), r"P1 discontinuous with value shape \(3, 3\)")):
        bad = fem.Function(fem.functionspace(mesh, element))
        with pytest.raises(BatteryfxError, match=f"field 'bad': {text}.*not supported"):
            write_snapshot(shared_tmp, 0, 0.0, nm, {"ok": ok, "bad": bad})
        with pytest.raises(BatteryfxError, match=f"field 'bad': {text}"):
            save_checkpoint(shared_tmp / "bad.npz", nm, {"bad": bad, "ok": ok}, {})
        with pytest.raises(BatteryfxError, match="not supported"):
            NodeMap(bad.function_space)
    other = fem.Function(fem.functionspace(_box(MPI.COMM_WORLD, (2, 2, 2)), ("DG", 0)))
    with pytest.raises(BatteryfxError, match="field 'other' lives on another mesh"):
        save_checkpoint(shared_tmp / "bad.npz", nm, {"other": other}, {})
    p2 = _p2_mesh(MPI.COMM_WORLD)
    with pytest.raises(BatteryfxError, match=r"field 'T': P1 with value shape \(\) on a mesh "
                                             "of geometry degree 2 is not supported"):
        NodeMap(p2).layout(fem.functionspace(p2, ("Lagrange", 1)), "T")
    assert not (shared_tmp / "bad.npz").exists()


def test_fields_file_vector_and_cell_data(shared_tmp):
    """fields.vtkhdf with P1 scalar and vector PointData and DG0 scalar / tensor / symmetric
    tensor CellData: the VTKHDF layout (2D arrays, per-step offsets), VTK's reader, PyVista
    and _read_vtkhdf give the values at the points and cell centres of each step; the same
    file on one rank; truncation for a restart keeps the earlier steps of every array."""
    import shutil

    import h5py
    import pyvista as pv
    import vtk

    from batteryfx.fields import FIELDS_FILE, truncate_fields, write_snapshot
    from batteryfx.post.figures import _read_vtkhdf
    from batteryfx.series import field_arrays
    from tests.cases.test_fields_file import assert_same_file

    steps = 3

    def snapshots(comm, folder):
        mesh = _box(comm, (5, 4, 3))
        nm = NodeMap(mesh)
        for i in range(steps):
            write_snapshot(folder, i, 0.5 * i, nm, _fields(mesh, i))
        return nm

    comm = MPI.COMM_WORLD
    folder = shared_tmp / "mixed_all"
    if comm.rank == 0:
        folder.mkdir()
    comm.Barrier()
    nm = snapshots(comm, folder)
    path = folder / FIELDS_FILE
    components = {"temperature": 1, "displacement": 3, "von_mises": 1, "gradient": 9,
                  "stress": 6}
    if comm.rank == 0:
        n, nc = 6 * 5 * 4, 5 * 4 * 3
        with h5py.File(path, "r") as f:
            g = f["VTKHDF"]
            assert set(g["PointData"]) == {"temperature", "displacement"}
            assert set(g["CellData"]) == {"von_mises", "gradient", "stress"}
            for name, bs in components.items():
                group, rows = ("PointData", n) if name in g["PointData"] else ("CellData", nc)
                shape = (steps * rows,) if bs == 1 else (steps * rows, bs)
                assert g[group][name].shape == shape, name
                offsets = g[f"Steps/{group.replace('Data', 'DataOffsets')}/{name}"][:]
                np.testing.assert_array_equal(offsets, np.arange(steps) * rows)
        assert field_arrays(folder) == {"temperature": ("point", 1), "displacement": ("point", 3),
                                        "von_mises": ("cell", 1), "gradient": ("cell", 9),
                                        "stress": ("cell", 6)}
        reader = vtk.vtkHDFReader()
        reader.SetFileName(str(path))
        reader.UpdateInformation()
        assert reader.GetNumberOfSteps() == steps
        for i in range(steps):
            reader.SetStep(i)
            reader.Update()
            pv_reader = pv.get_reader(path)  # PyVista's reader: step 0 unless told
            pv_reader.reader.UpdateInformation()
            pv_reader.reader.SetStep(i)
            grids = [pv.wrap(reader.GetOutput()), _read_vtkhdf(path, i), pv_reader.read()]
            for grid in grids:
                assert grid.n_points == n and grid.n_cells == nc
                assert grid.field_data["Time"][0] == 0.5 * i
                centers = grid.cell_centers().points
                for name, bs in components.items():
                    data, rows = ((grid.point_data, n) if name in grid.point_data
                                  else (grid.cell_data, nc))
                    assert data[name].shape == ((rows,) if bs == 1 else (rows, bs)), name
                    np.testing.assert_allclose(data[name],
                                               _expected(name, grid.points, centers, i),
                                               rtol=1e-12, atol=1e-12, err_msg=f"{name} {i}")
            assert reader.GetOutput().GetCellData().GetArray("stress") \
                .GetNumberOfComponents() == 6
        first = pv.read(path)  # PyVista alone: step 0
        np.testing.assert_allclose(first.cell_data["gradient"],
                                   _expected("gradient", first.points,
                                             first.cell_centers().points), rtol=1e-12)
        # the same file from one rank (mesh and offsets bitwise, values to round-off)
        serial = shared_tmp / "mixed_one"
        serial.mkdir()
        snapshots(MPI.COMM_SELF, serial)
        assert_same_file(path, serial / FIELDS_FILE, rtol=1e-13, atol=1e-14)
        # a restart truncates every array, point and cell, to the checkpoint's steps
        shutil.copy(path, folder / "whole.vtkhdf")
        truncate_fields(folder, 2)
        with h5py.File(path, "r") as f:
            assert int(f["VTKHDF/Steps"].attrs["NSteps"]) == 2
            assert f["VTKHDF/CellData/gradient"].shape == (2 * nc, 9)
            assert f["VTKHDF/PointData/displacement"].shape == (2 * n, 3)
            assert f["VTKHDF/Steps/CellDataOffsets/stress"].shape == (2,)
        reader = vtk.vtkHDFReader()
        reader.SetFileName(str(path))
        reader.UpdateInformation()
        assert reader.GetNumberOfSteps() == 2
    comm.Barrier()
    # the restarted run writes step 2 again: the file it had
    mesh = nm.mesh
    write_snapshot(folder, 2, 1.0, nm, _fields(mesh, 2))
    if comm.rank == 0:
        assert_same_file(folder / "whole.vtkhdf", path)
    comm.Barrier()
    with pytest.raises(BatteryfxError, match="fixed at the first step"):
        write_snapshot(folder, 3, 1.5, nm, {"temperature": _fields(mesh)["temperature"]})


def test_point_probe_at_micrometre_scale():
    """A point probe takes the cell that contains the point, also when the model is a few
    micrometres (DOLFINx's collision test has absolute tolerances and also returns
    neighbours): points in a 10 um sphere octant, also next to its centre and to vertices,
    each value equal to the barycentric interpolation of the P1 nodal values in the cell
    found by brute force (numpy, every cell)."""
    from batteryfx.geometry import build_geometry
    from batteryfx.geometry.particles import SphereSpec

    side = 5e-6
    msh = build_geometry(SphereSpec(radius=2 * side, mesh_size=1.5e-6, octant=True),
                         MPI.COMM_WORLD).mesh
    V = fem.functionspace(msh, ("Lagrange", 1))
    u = fem.Function(V)
    u.interpolate(lambda x: (x[0] ** 2 + 2 * x[1] ** 2 + 3 * x[2] ** 2) / 1e-12)
    rng = np.random.default_rng(2)
    pts = np.concatenate([[[0.05e-6] * 3], rng.uniform(0.02 * side, 0.98 * side, (30, 3))])
    near = msh.geometry.x[rng.integers(0, msh.geometry.x.shape[0], 10)]
    pts = np.concatenate([pts, np.clip(near + 0.01e-6, 0.01e-6, side)])
    pts = MPI.COMM_WORLD.bcast(pts[np.linalg.norm(pts, axis=1) < 0.95 * side], root=0)

    class Box:  # the parts of a Geometry the point probes use
        mesh, cell_tags, facet_tags = msh, None, None

    specs = [ProbeSpec(name=f"p{i}", point=list(p)) for i, p in enumerate(pts)]
    values = Probes(specs, Box, {"f": u}, {"f": Quantity("K")}, "f").values()
    # brute force on this rank's owned cells, then the value from the rank that holds it
    n = msh.topology.index_map(3).size_local
    x = V.tabulate_dof_coordinates()
    dofs = V.dofmap.list[:n]
    expected = np.full(len(pts), -np.inf)
    for k, p in enumerate(pts):
        for c in range(n):
            v = x[dofs[c]]
            lam = np.linalg.solve(np.vstack([v.T, np.ones(4)]), np.append(p, 1.0))
            if lam.min() >= -1e-9:
                expected[k] = lam @ u.x.array[dofs[c]]
                break
    MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, expected, op=MPI.MAX)
    np.testing.assert_allclose(values, expected, rtol=1e-9)
