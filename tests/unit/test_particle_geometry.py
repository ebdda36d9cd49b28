"""Particle builders (geometry/particles.py): exact volumes and areas (errors falling with the
mesh size), grains and orientations, octant symmetry faces, matrix interfaces, bad input,
mesh-file import, plan() without meshing, and the same markers and measures on 2 ranks."""

from __future__ import annotations

import dataclasses
import math
import time

from mpi4py import MPI

import numpy as np
import pytest

from batteryfx.geometry import BUILDERS, GeometryError, build_geometry, plan_geometry
from batteryfx.geometry import particles as P

R = 5e-6  # a 5 um particle (PHYSICS.md C, Zhang 2007)
SPHERE_V = 4 / 3 * math.pi * R**3
SPHERE_A = 4 * math.pi * R**2
WORLD = MPI.COMM_WORLD

# every test is collective and must pass on 2 ranks (builds on COMM_WORLD)
pytestmark = pytest.mark.mpi


def approx(expected, rel):
    """pytest.approx with a relative tolerance only: its default absolute tolerance (1e-12)
    would accept any volume (~1e-16 m^3) or area (~1e-10 m^2) of a micrometre particle."""
    return pytest.approx(expected, rel=rel, abs=0)


def build(spec, comm=WORLD):
    return build_geometry(spec, comm)


def ellipsoid_area(a: float, b: float, c: float, n: int = 256) -> float:
    """Surface area of an ellipsoid by Gauss-Legendre (polar) x trapezoid (azimuth)."""
    t, w = np.polynomial.legendre.leggauss(n)
    theta = 0.5 * math.pi * (t + 1)
    phi = np.linspace(0, 2 * math.pi, 2 * n, endpoint=False)
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    st, ct, sp, cp = np.sin(th), np.cos(th), np.sin(ph), np.cos(ph)
    rt = np.stack([a * ct * cp, b * ct * sp, -c * st])
    rp = np.stack([-a * st * sp, b * st * cp, 0 * st])
    dA = np.linalg.norm(np.cross(rt, rp, axis=0), axis=0)
    return float(np.sum(dA.mean(axis=1) * w) * 0.5 * math.pi * 2 * math.pi)


def extreme(x: np.ndarray, op) -> np.ndarray:
    """Component-wise global MIN or MAX of the rows of x (collective)."""
    fill = np.inf if op == MPI.MIN else -np.inf
    local = np.array(x.min(axis=0) if op == MPI.MIN else x.max(axis=0), dtype=np.float64) \
        if len(x) else np.full(x.shape[1], fill)
    WORLD.Allreduce(MPI.IN_PLACE, local, op=op)
    return local


def owned_facets(g, name) -> np.ndarray:
    """Owned local facets of a facet marker."""
    idx = g.entities(name)
    return idx[idx < g.mesh.topology.index_map(2).size_local]


def cell_tag_array(g) -> np.ndarray:
    """The cell tag of every local cell (owned and ghost); -1 untagged."""
    imap = g.mesh.topology.index_map(3)
    tags = np.full(imap.size_local + imap.num_ghosts, -1)
    tags[g.cell_tags.indices] = g.cell_tags.values
    return tags


# --------------------------------------------------------------------------- volumes, areas
def test_sphere_volume_and_area_converge():
    """Volume and area errors of the sphere fall with the mesh size; bounds at the finest."""
    errors_v, errors_a = [], []
    for h in (0.6 * R, 0.35 * R, 0.2 * R):
        g = build(P.SphereSpec(radius=R, mesh_size=h))
        errors_v.append(abs(g.measure("particle") / SPHERE_V - 1))
        errors_a.append(abs(g.measure("surface") / SPHERE_A - 1))
        assert g.mesh.topology.cell_type.name == "tetrahedron"
        assert set(g.markers) == {"particle", "surface"}
    assert errors_v[0] > errors_v[1] > errors_v[2], errors_v
    assert errors_a[0] > errors_a[1] > errors_a[2], errors_a
    assert errors_v[-1] < 0.02 and errors_a[-1] < 0.02


def test_surface_refinement_and_second_order():
    """A finer surface size (spec key) adds cells near the surface and cuts the area error;
    second-order tetrahedra cut the volume error of the same coarse mesh."""
    coarse = P.SphereSpec(radius=R, mesh_size=0.5 * R)
    g1 = build(coarse)
    g2 = build(dataclasses.replace(coarse, surface_mesh_size=0.15 * R,
                                   surface_refinement_width=0.2 * R))
    assert g2.num_cells_global() > 3 * g1.num_cells_global()
    e1, e2 = (abs(g.measure("surface") / SPHERE_A - 1) for g in (g1, g2))
    assert e2 < 0.25 * e1
    g3 = build(dataclasses.replace(coarse, order=2))
    assert g3.mesh.geometry.cmaps[0].degree == 2
    v1, v3 = (abs(g.measure("particle") / SPHERE_V - 1) for g in (g1, g3))
    assert v3 < 0.1 * v1, (v1, v3)


def test_ellipsoid_volume_and_area():
    a, b, c = R, 0.7 * R, 0.45 * R
    exact_v, exact_a = 4 / 3 * math.pi * a * b * c, ellipsoid_area(a, b, c)
    errs = []
    for h in (0.35 * R, 0.18 * R):
        g = build(P.EllipsoidSpec(semi_axes=(a, b, c), mesh_size=h))
        errs.append((abs(g.measure("particle") / exact_v - 1),
                     abs(g.measure("surface") / exact_a - 1)))
    assert errs[1][0] < errs[0][0] and errs[1][1] < errs[0][1], errs
    assert errs[1][0] < 0.03 and errs[1][1] < 0.03, errs
    x = g.mesh.geometry.x
    hi = extreme(np.abs(x), MPI.MAX)
    assert hi == approx([a, b, c], rel=0.01)
    # the boundary vertices lie on the ellipsoid, the others inside it
    rho = np.sum((x / [a, b, c]) ** 2, axis=1)
    assert WORLD.allreduce(rho.max(initial=0.0), op=MPI.MAX) == pytest.approx(1.0, abs=1e-6)


def test_core_shell_volumes_and_interface():
    rc, t = 0.7 * R, 0.3 * R
    g = build(P.CoreShellSpec(core_radius=rc, shell_thickness=t, mesh_size=0.25 * R,
                              surface_mesh_size=0.15 * R))
    assert g.markers["core"].tags == (1,) and g.markers["shell"].tags == (2,)
    assert g.markers["particle"].tags == (1, 2)
    vc, vs = 4 / 3 * math.pi * rc**3, 4 / 3 * math.pi * (R**3 - rc**3)
    assert g.measure("core") == approx(vc, rel=0.03)
    assert g.measure("shell") == approx(vs, rel=0.03)
    assert g.measure("particle") == approx(g.measure("core") + g.measure("shell"), rel=1e-12)
    assert g.measure("interface") == approx(4 * math.pi * rc**2, rel=0.03)
    assert g.measure("surface") == approx(SPHERE_A, rel=0.03)
    assert g.interior_facets == ("interface",)
    _assert_interior_between(g, "interface", lambda a, b: {a, b} == {1, 2})


def _assert_interior_between(g, name, pair_ok) -> int:
    """Every owned facet of ``name`` has two cells whose tags satisfy pair_ok; returns the
    global number of such facets (collective)."""
    mesh = g.mesh
    mesh.topology.create_connectivity(2, 3)
    f2c = mesh.topology.connectivity(2, 3)
    tags = cell_tag_array(g)
    facets = owned_facets(g, name)
    for f in facets:
        cells = f2c.links(f)
        assert len(cells) == 2, f"{name} facet {f} has {len(cells)} cell(s)"
        assert pair_ok(*tags[cells]), tags[cells]
    return mesh.comm.allreduce(len(facets), op=MPI.SUM)


# --------------------------------------------------------------------------- polycrystal
POLY = P.PolycrystalSpec(radius=R, grains=6, mesh_size=0.3 * R, seed=7)


@pytest.fixture(scope="module")
def poly():
    return build(POLY)


def test_polycrystal_grains(poly):
    g = poly
    names = [f"grain{i}" for i in range(1, 7)]
    assert all(g.markers[n].tags == (i,) for i, n in enumerate(names, 1))
    values = np.unique(np.concatenate(WORLD.allgather(g.cell_tags.values)))
    assert values.tolist() == list(range(1, 7))
    vols = [g.measure(n) for n in names]
    assert min(vols) > 0.02 * SPHERE_V
    assert sum(vols) == approx(g.measure("particle"), rel=1e-12)
    assert sum(vols) == approx(SPHERE_V, rel=0.05)
    assert g.measure("surface") == approx(SPHERE_A, rel=0.05)
    assert g.measure("grain_boundaries") > 0.5 * math.pi * R**2
    assert g.interior_facets == ("grain_boundaries",)


def test_grain_boundaries_are_interior_and_complete(poly):
    """Tagged grain-boundary facets have two cells of different grains, and every facet
    between two grains is tagged (owned facets; with shared-facet ghosting on any rank)."""
    g = poly
    n = _assert_interior_between(g, "grain_boundaries", lambda a, b: a != b and a > 0 < b)
    assert n > 50
    mesh = g.mesh
    f2c = mesh.topology.connectivity(2, 3)
    tags = cell_tag_array(g)
    gb = set(g.entities("grain_boundaries").tolist())
    imap = mesh.topology.index_map(2)
    between = 0
    for f in range(imap.size_local + imap.num_ghosts):  # ghost facets too
        cells = f2c.links(f)
        if len(cells) == 2 and tags[cells[0]] != tags[cells[1]]:
            assert f in gb
            between += 1
    assert between >= len(owned_facets(g, "grain_boundaries"))
    # the outer surface: exterior facets only
    surface = owned_facets(g, "surface")
    assert all(len(f2c.links(f)) == 1 for f in surface)


def test_polycrystal_deterministic_and_orientations(poly):
    again = build(POLY)
    assert again.num_cells_global() == poly.num_cells_global()
    for i in range(1, 7):
        assert again.measure(f"grain{i}") == approx(poly.measure(f"grain{i}"), rel=1e-12)
        assert again.grains[i] == poly.grains[i]
    other = P.grain_table(dataclasses.replace(POLY, seed=8))
    assert other[1].center != poly.grains[1].center
    assert sorted(poly.grains) == list(range(1, 7))
    for tag, grain in poly.grains.items():
        rot = grain.matrix
        assert grain.name == f"grain{tag}"
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(rot) == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(P.euler_matrix(*grain.euler), rot, atol=1e-12)
        assert np.linalg.norm(grain.center) < R
    assert [d["tag"] for d in poly.info["grains"]] == list(range(1, 7))
    # uniform on SO(3): E[R] = 0, E[R_ij^2] = 1/3
    many = P.random_rotations(20000, seed=1)
    assert np.abs(many.mean(axis=0)).max() < 0.02
    assert np.abs((many**2).mean(axis=0) - 1 / 3).max() < 0.02


def test_grains_are_voronoi_cells(poly):
    """Each cell lies in the Voronoi cell of its grain's centre (its centroid is nearest)."""
    g = poly
    centers = np.array([g.grains[i].center for i in range(1, 7)])
    x = g.mesh.geometry.x
    dofmap = g.mesh.geometry.dofmaps[0]
    cells = g.cell_tags.indices
    mid = x[dofmap[cells]].mean(axis=1)
    nearest = np.argmin(np.linalg.norm(mid[:, None, :] - centers[None], axis=2), axis=1) + 1
    assert np.mean(nearest == g.cell_tags.values) > 0.97


# --------------------------------------------------------------------------- octants
@pytest.mark.parametrize("spec, full", [
    (P.SphereSpec(radius=R, mesh_size=0.3 * R, octant=True), SPHERE_V),
    (P.EllipsoidSpec(semi_axes=(R, 0.8 * R, 0.6 * R), mesh_size=0.3 * R, octant=True),
     4 / 3 * math.pi * 0.48 * R**3),
    (P.CoreShellSpec(core_radius=0.7 * R, shell_thickness=0.3 * R, mesh_size=0.3 * R,
                     octant=True), SPHERE_V),
])
def test_octant_volume_and_symmetry_faces(spec, full):
    g = build(spec)
    assert g.measure("particle") == approx(full / 8, rel=0.05)
    for axis, name in enumerate(("symmetry_x", "symmetry_y", "symmetry_z")):
        _assert_plane_face(g, name, axis)
    x = g.mesh.geometry.x
    lo = extreme(x, MPI.MIN)
    assert np.all(lo > -1e-12 * R)
    if isinstance(spec, P.CoreShellSpec):
        # the quarter discs of the symmetry plane x = 0
        assert g.measure("symmetry_x") == approx(math.pi * R**2 / 4, rel=0.05)


def _assert_plane_face(g, name, axis):
    """The facets of a symmetry marker are exterior, lie on the plane x_axis = 0 and have
    the outward normal -e_axis; every boundary facet on that plane is tagged."""
    mesh = g.mesh
    mesh.topology.create_connectivity(2, 3)
    f2c = mesh.topology.connectivity(2, 3)
    from dolfinx.mesh import entities_to_geometry, exterior_facet_indices

    facets = owned_facets(g, name)
    assert mesh.comm.allreduce(len(facets), op=MPI.SUM) > 0
    xg = mesh.geometry.x
    pts = xg[entities_to_geometry(mesh, 2, facets, False)]
    assert np.abs(pts[:, :, axis]).max(initial=0) < 1e-12 * R
    normals = np.cross(pts[:, 1] - pts[:, 0], pts[:, 2] - pts[:, 0])
    normals /= np.linalg.norm(normals, axis=1)[:, None]
    cell_mid = np.array([xg[mesh.geometry.dofmaps[0][f2c.links(f)[0]]].mean(axis=0)
                         for f in facets]).reshape(-1, 3)
    sign = np.sign(np.einsum("ij,ij->i", normals, pts[:, 0] - cell_mid))
    outward = normals * sign[:, None]
    expected = -np.eye(3)[axis]
    assert np.allclose(outward, expected, atol=1e-9)
    assert all(len(f2c.links(f)) == 1 for f in facets)
    boundary = exterior_facet_indices(mesh.topology)
    boundary = boundary[boundary < mesh.topology.index_map(2).size_local]
    coords = xg[entities_to_geometry(mesh, 2, boundary, False)]
    on_plane = boundary[np.abs(coords[:, :, axis]).max(axis=1) < 1e-12 * R]
    assert set(on_plane) == set(facets.tolist())


# --------------------------------------------------------------------------- matrix
@pytest.mark.parametrize("shape", ["box", "sphere"])
def test_particle_in_matrix(shape):
    w = 2 * R
    spec = P.ParticleInMatrixSpec(radius=R, matrix_extent=w, mesh_size=0.35 * R,
                                  matrix_shape=shape, matrix_mesh_size=0.7 * R)
    g = build(spec)
    assert set(g.markers) == {"particle", "matrix", "surface", "outer"}
    assert g.interior_facets == ("surface",)
    vm_exact = (8 * w**3 if shape == "box" else 4 / 3 * math.pi * w**3) - SPHERE_V
    vp, vm = g.measure("particle"), g.measure("matrix")
    assert vp == approx(SPHERE_V, rel=0.05)
    assert vp + vm == approx(vm_exact + SPHERE_V, rel=1e-12 if shape == "box" else 0.05)
    outer = 24 * w**2 if shape == "box" else 4 * math.pi * w**2
    assert g.measure("outer") == approx(outer, rel=1e-12 if shape == "box" else 0.04)
    assert g.measure("surface") == approx(SPHERE_A, rel=0.04)
    n = _assert_interior_between(g, "surface", lambda a, b: {a, b} == {1, 2})
    assert n > 50


def test_core_shell_in_matrix_octant():
    spec = P.ParticleInMatrixSpec(radius=0.8 * R, shell_thickness=0.2 * R, matrix_extent=2 * R,
                                  mesh_size=0.35 * R, octant=True)
    g = build(spec)
    assert {"core", "shell", "matrix", "particle", "interface", "surface", "outer",
            "symmetry_x", "symmetry_y", "symmetry_z"} == set(g.markers)
    assert g.markers["matrix"].tags == (3,)
    assert g.measure("particle") + g.measure("matrix") == approx(8 * R**3, rel=1e-12)
    assert g.measure("symmetry_z") == approx(4 * R**2, rel=1e-12)
    _assert_interior_between(g, "surface", lambda a, b: {a, b} == {2, 3})
    _assert_interior_between(g, "interface", lambda a, b: {a, b} == {1, 2})


# --------------------------------------------------------------------------- bad input
BAD = [
    (P.SphereSpec(radius=-1e-6, mesh_size=1e-7), "radius"),
    (P.SphereSpec(radius=R, mesh_size=0.0), "mesh_size"),
    (P.SphereSpec(radius=R, mesh_size=float("nan")), "mesh_size"),
    (P.SphereSpec(radius=R, mesh_size=20 * R), "mesh_size"),
    (P.SphereSpec(radius=R, mesh_size=R / 4, surface_mesh_size=R), "surface_mesh_size"),
    (P.SphereSpec(radius=R, mesh_size=R / 4, surface_refinement_width=-1.0),
     "surface_refinement_width"),
    (P.SphereSpec(radius=R, mesh_size=R / 4, order=3), "order"),
    (P.EllipsoidSpec(semi_axes=(R, R), mesh_size=R / 4), "semi_axes"),
    (P.EllipsoidSpec(semi_axes=(R, 0.0, R), mesh_size=R / 4), "semi_axes[1]"),
    (P.CoreShellSpec(core_radius=R, shell_thickness=0.0, mesh_size=R / 4), "shell_thickness"),
    (P.CoreShellSpec(core_radius=R, shell_thickness=1e-15, mesh_size=R / 4), "shell_thickness"),
    (P.PolycrystalSpec(radius=R, grains=0, mesh_size=R / 4), "grains"),
    (P.PolycrystalSpec(radius=R, grains=2.5, mesh_size=R / 4), "grains"),
    (P.PolycrystalSpec(radius=R, grains=4, mesh_size=R / 4, seed=-1), "seed"),
    (P.PolycrystalSpec(radius=R, grains=4, mesh_size=R / 4, min_seed_spacing=2.0),
     "min_seed_spacing"),
    (P.ParticleInMatrixSpec(radius=R, matrix_extent=R, mesh_size=R / 4), "matrix_extent"),
    (P.ParticleInMatrixSpec(radius=R, matrix_extent=2 * R, mesh_size=R / 4,
                            matrix_shape="cylinder"), "matrix_shape"),
    (P.ParticleInMatrixSpec(radius=R, matrix_extent=2 * R, mesh_size=R / 4,
                            shell_thickness=-1e-7), "shell_thickness"),
    (P.MeshFileSpec(path="/nonexistent/particle.msh"), "path"),
]


@pytest.mark.parametrize("spec, field", BAD, ids=[f"{type(s).__name__}.{f}" for s, f in BAD])
def test_bad_input_names_the_field(spec, field):
    with pytest.raises(GeometryError) as err:
        plan_geometry(spec)
    assert err.value.field == field
    assert str(err.value).startswith(field)
    with pytest.raises(GeometryError) as err:
        build(spec)
    assert err.value.field == field


def test_bad_mesh_file(tmp_path):
    bad = tmp_path / "junk.msh"
    bad.write_text("not a mesh\n")
    with pytest.raises(GeometryError) as err:
        plan_geometry(P.MeshFileSpec(path=str(bad)))
    assert err.value.field == "path"


# --------------------------------------------------------------------------- plan
def test_plan_without_mesh():
    """plan(): markers, boxes and an estimate, fast for any size (no Gmsh model)."""
    import gmsh

    models = gmsh.model.list() if gmsh.isInitialized() else None
    t0 = time.perf_counter()
    huge = P.CoreShellSpec(core_radius=1.0, shell_thickness=0.1, mesh_size=1e-4,
                           surface_mesh_size=1e-5, octant=True)
    p = plan_geometry(huge)
    assert time.perf_counter() - t0 < 1.0
    assert p.cells > 10**12 and p.layers == ()
    assert (gmsh.model.list() if gmsh.isInitialized() else None) == models  # no Gmsh model
    assert p.markers["symmetry_z"].dim == 2 and p.markers["core"].dim == 3
    assert p.boxes["particle"] == ((0.0, 0.0, 0.0), (1.1, 1.1, 1.1))
    # every kind is registered with its spec type
    for kind, spec in [("sphere", P.SphereSpec), ("ellipsoid", P.EllipsoidSpec),
                       ("core_shell", P.CoreShellSpec), ("polycrystal", P.PolycrystalSpec),
                       ("particle_in_matrix", P.ParticleInMatrixSpec),
                       ("mesh_file", P.MeshFileSpec)]:
        assert BUILDERS[kind].spec_type is spec
    # tags: cells 1.., facets after them, no tag twice per dimension
    p = plan_geometry(POLY)
    cells = [t for m in p.markers.values() if m.dim == 3 for t in m.tags]
    facets = [m.tags[0] for m in p.markers.values() if m.dim == 2]
    assert sorted(set(cells)) == list(range(1, 7)) and min(facets) == 7
    assert len(facets) == len(set(facets))


@pytest.mark.parametrize("spec", [P.SphereSpec(radius=R, mesh_size=0.25 * R),
                                  P.SphereSpec(radius=R, mesh_size=0.4 * R,
                                               surface_mesh_size=0.15 * R),
                                  P.ParticleInMatrixSpec(radius=R, matrix_extent=2 * R,
                                                         mesh_size=0.3 * R)])
def test_cell_estimate(spec):
    p = plan_geometry(spec)
    g = build(spec)
    assert set(p.markers) == set(g.markers)
    assert 0.5 < p.cells / g.num_cells_global() < 2.0


# --------------------------------------------------------------------------- import
def test_import_round_trip(shared_tmp):
    """A core-shell particle written as .msh (Gmsh) and read back: the same markers and
    measures; converted to .vtu by meshio and read back: the same volumes."""
    spec = P.CoreShellSpec(core_radius=0.7 * R, shell_thickness=0.3 * R, mesh_size=0.35 * R)
    path = shared_tmp / "core_shell.msh"
    P.write_msh(spec, path, WORLD)
    built = build(spec)
    imported = build(P.MeshFileSpec(path=str(path)))
    assert {k: (m.tags, m.dim) for k, m in imported.markers.items()} == \
        {k: (m.tags, m.dim) for k, m in built.markers.items() if k != "particle"}
    assert imported.interior_facets == ("interface",)
    for name in ("core", "shell", "surface", "interface"):
        assert imported.measure(name) == approx(built.measure(name), rel=1e-10), name
    assert imported.num_cells_global() == built.num_cells_global()
    assert plan_geometry(P.MeshFileSpec(path=str(path))).cells == built.num_cells_global()

    vtu, bare = shared_tmp / "core_shell.vtu", shared_tmp / "bare.vtu"
    if WORLD.rank == 0:
        import meshio

        m = meshio.read(str(path))
        meshio.write(str(vtu), m)
        meshio.write(str(bare), meshio.Mesh(m.points, [("tetra", m.cells_dict["tetra"])]))
    WORLD.Barrier()
    # no region data: every cell is "particle"
    plain = build(P.MeshFileSpec(path=str(bare)))
    assert set(plain.markers) == {"particle"}
    assert plain.measure("particle") == approx(built.measure("particle"), rel=1e-10)
    # in micrometres: scale back to metres
    spec_vtu = P.MeshFileSpec(path=str(vtu), cell_data="gmsh:physical")
    via = build(spec_vtu)
    assert via.markers["volume1"] == imported.markers["core"]
    assert via.measure("volume1") == approx(imported.measure("core"), rel=1e-10)
    assert via.measure("volume2") == approx(imported.measure("shell"), rel=1e-10)
    assert via.measure("facet3") == approx(imported.measure("surface"), rel=1e-10)
    scaled = build(dataclasses.replace(spec_vtu, scale=1e6))
    assert scaled.measure("volume1") == approx(1e18 * via.measure("volume1"), rel=1e-10)


# --------------------------------------------------------------------------- 2 ranks
@pytest.mark.parametrize("spec", [
    POLY,
    P.ParticleInMatrixSpec(radius=0.8 * R, shell_thickness=0.2 * R, matrix_extent=2 * R,
                           mesh_size=0.4 * R),
], ids=["polycrystal", "core_shell_in_matrix"])
def test_same_on_any_number_of_ranks(spec):
    """Distributed (COMM_WORLD) and serial (COMM_SELF, on every rank) builds: the same
    markers, measures, interior-facet counts and grains; interior facet markers tagged with
    both cells on every rank."""
    dist, serial = build(spec, WORLD), build(spec, MPI.COMM_SELF)
    assert dist.markers == serial.markers
    assert dist.num_cells_global() == serial.num_cells_global()
    for name in dist.markers:
        assert dist.measure(name) == approx(serial.measure(name), rel=1e-10), name
    for name in dist.interior_facets:
        n_dist = _assert_interior_between(dist, name, lambda a, b: a != b and min(a, b) > 0)
        n_serial = len(owned_facets(serial, name))
        assert n_dist == n_serial > 0, name
    assert dist.grains == serial.grains
    grains = WORLD.allgather(dist.grains)
    assert all(g == grains[0] for g in grains)
    if WORLD.size > 1:
        assert dist.mesh.topology.index_map(3).num_ghosts > 0  # shared-facet ghosting
