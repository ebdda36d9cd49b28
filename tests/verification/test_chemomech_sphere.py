"""Particle chemo-mechanics (solvers/chemomech.py) against closed forms (PHYSICS.md C).

* Zhang, Shyy & Sastry 2007 LiMn2O4 sphere, galvanostatic insertion (C(i)): an octant with
  symmetry planes (FixedDisplacement normal to each plane), P1 concentration, P2
  displacement, BDF2; c, sigma_rr and sigma_tt at tau = 0.05 and 0.1 on two meshes, the
  observed rates (h = (V / cells)^(1/3)) and the exact discrete Li balance.
* A free sphere (no displacement condition: the rigid modes go through the null space):
  direct and CG + GAMG agree; a C-rate gives the mean state of charge exactly.
* Manufactured solution for the elasticity with eigenstrain (clamped cube, body force):
  L2 rate of u ~ 2 for P1.
* Anisotropy: a hexagonal crystal with lattice eigenstrain, mesh and crystal rotated together,
  gives the rotated stress; isotropic stiffness written as a Voigt matrix is rotation
  invariant; a free crystal with uniform eigenstrain is stress-free; grain-boundary tractions.
* Nonlinear diffusion (Newton / SNES), stress-assisted diffusion, checkpoint round trip,
  PETSc option prefixes, and serial = 2 ranks (``-m mpi``).
"""

from __future__ import annotations

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import pytest
import ufl
from dolfinx import fem
from dolfinx import mesh as dmesh

from batteryfx.solvers.analytic_particle import SphereDIS
from batteryfx.solvers.chemomech import (
    AnisotropicElasticity,
    ChemoMechParams,
    ChemoMechProblem,
    FixedDisplacement,
    IsotropicElasticity,
    IsotropicExpansion,
    LatticeExpansion,
    Material,
    SurfaceFlux,
    Table,
)
from tests.helpers import on_all_and_one_rank

pytestmark = pytest.mark.verification

# Zhang 2007 LiMn2O4 (PHYSICS.md C(i))
R, D, OMEGA, E, NU, CMAX = 5e-6, 7.08e-15, 3.497e-6, 10e9, 0.3, 2.29e4
J0 = 2.0 / 96485.33212  # i_n / F, mol m^-2 s^-1
T_R = R**2 / D  # s
EXACT = SphereDIS(R, D, J0, OMEGA, E, NU)
ZHANG = Material(IsotropicElasticity(E, NU), IsotropicExpansion(OMEGA), D)
#: facet tags of sphere(): spherical surface, planes x = 0, y = 0, z = 0
SURFACE, X0, Y0, Z0 = 1, 2, 3, 4


def _generate(size: float) -> None:
    """Mesh the current Gmsh model with tetrahedra of one size (rank 0)."""
    import gmsh

    gmsh.option.setNumber("Mesh.MeshSizeMax", size)
    gmsh.option.setNumber("Mesh.MeshSizeMin", size)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    gmsh.model.mesh.generate(3)


def _distribute(comm):
    """The Gmsh model (meshed on rank 0) as a DOLFINx mesh with shared-facet ghosts (interior
    facet tags on every rank that sees them); finalizes Gmsh."""
    import gmsh
    from dolfinx.io import gmsh as gmshio

    part = dmesh.create_cell_partitioner(dmesh.GhostMode.shared_facet, 2)
    try:
        return gmshio.model_to_mesh(gmsh.model if comm.rank == 0 else None, comm, 0, gdim=3,
                                    partitioner=part)
    finally:
        if comm.rank == 0:
            gmsh.finalize()


def sphere(n: int, octant: bool = False, comm=MPI.COMM_WORLD):
    """Gmsh sphere (or octant) of radius R, mesh size R / n, shared-facet ghosting; cell tag
    1, facet tags SURFACE, X0, Y0, Z0."""
    import gmsh

    if comm.rank == 0:
        gmsh.initialize()
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("sphere")
        ball = gmsh.model.occ.addSphere(0, 0, 0, R)
        if octant:
            box = gmsh.model.occ.addBox(0, 0, 0, 2 * R, 2 * R, 2 * R)
            gmsh.model.occ.intersect([(3, ball)], [(3, box)])
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(3, [v for _, v in gmsh.model.getEntities(3)], 1)
        groups: dict[int, list[int]] = {SURFACE: [], X0: [], Y0: [], Z0: []}
        for _, tag in gmsh.model.getEntities(2):
            com = gmsh.model.occ.getCenterOfMass(2, tag)
            plane = [i for i in range(3) if abs(com[i]) < 1e-3 * R] if octant else []
            groups[X0 + plane[0] if plane else SURFACE].append(tag)
        for k, tags in groups.items():
            if tags:
                gmsh.model.addPhysicalGroup(2, tags, k)
        _generate(R / n)
    return _distribute(comm)


def integral(expr, mesh, degree: int = 6) -> float:
    dx = ufl.dx(domain=mesh, metadata={"quadrature_degree": degree})
    return mesh.comm.allreduce(fem.assemble_scalar(fem.form(expr * dx)), op=MPI.SUM)


def exact_fields(mesh, t: float):
    """(c, sigma_rr, sigma_tt) of the Zhang sphere at t, interpolated in P3 (c) and DG2."""
    c = fem.Function(fem.functionspace(mesh, ("Lagrange", 3)))
    c.interpolate(lambda x: EXACT.concentration(np.linalg.norm(x, axis=0), t))
    s_space = fem.functionspace(mesh, ("DG", 2))
    srr, stt = fem.Function(s_space), fem.Function(s_space)
    srr.interpolate(lambda x: EXACT.radial_stress(np.linalg.norm(x, axis=0), t))
    stt.interpolate(lambda x: EXACT.hoop_stress(np.linalg.norm(x, axis=0), t))
    return c, srr, stt


def zhang_octant(n: int, **kw) -> ChemoMechProblem:
    data = sphere(n, octant=True)
    params = ChemoMechParams(ZHANG, c_max=CMAX, c_initial=0.0, centre=(0.0, 0.0, 0.0),
                             degree_u=2, bounds_tolerance=0.1, **kw)
    conds = [SurfaceFlux(SURFACE, flux=J0), FixedDisplacement(X0, 0),
             FixedDisplacement(Y0, 1), FixedDisplacement(Z0, 2)]
    return ChemoMechProblem(data.mesh, data.cell_tags, data.facet_tags, params, conds,
                            mechanics_every_step=False)


def octant_errors(n: int, taus=(0.05, 0.1), dtau: float = 2e-3):
    """Relative L2 error of c, and the RMS errors of sigma_rr and sigma_tt over sigma*, at
    each tau; the effective mesh size; the Li balance."""
    prob = zhang_octant(n)
    mesh = prob.mesh
    x = ufl.SpatialCoordinate(mesh)
    er = x / ufl.sqrt(ufl.dot(x, x))
    out = []
    for tau in taus:
        while prob.t < tau * T_R * (1 - 1e-9):
            prob.step(min(dtau * T_R, tau * T_R - prob.t))
        prob.solve_mechanics()
        c, srr, stt = exact_fields(mesh, prob.t)
        s = prob.stress
        frr = ufl.dot(er, s * er)
        ftt = (ufl.tr(s) - frr) / 2
        vol = integral(fem.Constant(mesh, 1.0), mesh)
        ec = np.sqrt(integral((prob.c - c) ** 2, mesh) / integral(c**2, mesh))
        err = np.sqrt(integral((frr - srr) ** 2, mesh) / vol) / EXACT.sigma_star
        ett = np.sqrt(integral((ftt - stt) ** 2, mesh) / vol) / EXACT.sigma_star
        out.append((ec, err, ett))
    cells = mesh.topology.index_map(3).size_global
    h = (prob.volume / cells) ** (1 / 3)
    balance = prob.mass_balance()
    q = prob.quantities()
    area = mesh.comm.allreduce(fem.assemble_scalar(fem.form(
        fem.Constant(mesh, 1.0) * prob.ds(SURFACE))), op=MPI.SUM)
    prob.destroy()
    return np.array(out), h, balance, q, area


def test_zhang_sphere_against_series_and_rates():
    """Concentration and radial / hoop stress against the DIS series at tau = 0.05, 0.1 on
    two octant meshes (R/4, R/8; BDF2, dt = 0.002 R^2/D). Measured (tau = 0.05 / 0.1): c rel.
    L2 0.050 / 0.026 -> 0.017 / 0.0084, rates 1.86 / 1.96 in h = (V/cells)^(1/3);
    RMS(sigma_rr error) / sigma* 0.0039 / 0.0035 -> 0.0015 / 0.0012 (rates 1.71 / 1.80);
    RMS(sigma_tt error) / sigma* 0.0074 / 0.0057 -> 0.0026 / 0.0020 (1.77 / 1.79), P2
    displacement; the Li balance exact to 2e-15."""
    coarse, h0, bal0, q0, area0 = octant_errors(4)
    fine, h1, bal1, q1, area1 = octant_errors(8)
    assert coarse[:, 0].max() < 0.06 and fine[:, 0].max() < 0.02
    assert coarse[:, 1:].max() < 0.01 and fine[:, 1:].max() < 0.004
    rates = np.log(coarse / fine) / np.log(h0 / h1)
    assert rates[:, 0].min() > 1.6, rates  # c, P1: 2 expected
    assert rates[:, 1:].min() > 1.5, rates  # stresses, P2 displacement: 2 expected
    for bal, q, area in ((bal0, q0, area0), (bal1, q1, area1)):
        # discrete Li balance: exact (the zero-flux stiffness conserves mass)
        assert bal["drift_rel"] < 1e-10
        vol = bal["content_mol"] / q["mean_concentration_mol_m3"]
        assert q["mean_concentration_mol_m3"] == pytest.approx(J0 * area * q["time_s"] / vol,
                                                               rel=1e-10)
    # and the exact sphere's mean 3 J0 t / R, to the faceted surface's A/V (fine mesh ~1 %)
    assert q1["mean_concentration_mol_m3"] == pytest.approx(
        EXACT.mean_concentration(q1["time_s"]), rel=0.02)


def test_free_sphere_nullspace_solvers_and_c_rate():
    """Full sphere, no displacement condition: the rigid modes are removed with the null
    space; MUMPS (null-pivot detection) and CG + GAMG give the same stresses, centre and
    surface stresses near the series (P1, coarse), and a 1 C insertion raises the mean
    state of charge by exactly t / 3600 s."""
    data = sphere(4)
    results = {}
    for solver in ("direct", "cg_gamg"):
        params = ChemoMechParams(ZHANG, c_max=CMAX, centre=(0.0, 0.0, 0.0),
                                 mech_solver=solver, bounds_tolerance=0.1)
        prob = ChemoMechProblem(data.mesh, data.cell_tags, data.facet_tags, params,
                                [SurfaceFlux(SURFACE, c_rate=1.0)])
        assert prob.rigid_modes == "nullspace"
        for _ in range(10):
            info = prob.step(0.005 * T_R)
        assert info["converged"] and info["mech_iterations"] >= 1
        q = prob.quantities()
        assert q["mean_state_of_charge"] == pytest.approx(prob.t / 3600.0, rel=1e-10)
        # rigid component of u removed: the null-space projection of u is zero
        u = prob.u.x.petsc_vec
        w = u.copy()
        prob.nullspace.remove(w)
        w.axpy(-1.0, u)
        assert w.norm() <= 1e-10 * u.norm()
        f = prob.fields
        results[solver] = (q, f["von_mises"][0].x.array.copy(),
                           f["radial_stress"][0].x.array.copy())
        flux = prob.flux_values[0]
        summary = prob.summary()
        assert summary["rigid_modes"] == "nullspace" and summary["time_steps"] == 10
        prob.destroy()
    qd, vm_d, _ = results["direct"]
    qg, vm_g, _ = results["cg_gamg"]
    scale = np.abs(vm_d).max()
    assert np.abs(vm_d - vm_g).max() < 1e-6 * scale
    assert qd["strain_energy_J"] == pytest.approx(qg["strain_energy_J"], rel=1e-8)
    # the same series with this (C-rate) flux: surface hoop and centre stresses to ~15 %
    exact = SphereDIS(R, D, flux, OMEGA, E, NU)
    tau = 0.05
    assert qd["min_principal_stress_Pa"] == pytest.approx(
        exact.hoop_scaled(1.0, tau) * exact.sigma_star, rel=0.25)
    assert qd["max_principal_stress_Pa"] == pytest.approx(
        exact.radial_scaled(0.0, tau) * exact.sigma_star, rel=0.25)


def composite_sphere(n: int, a: float = 1.0, b: float = 2.0, comm=MPI.COMM_WORLD):
    """A particle (radius a, cell tag 1) bonded in a matrix shell (b, tag 2); facet tags:
    interface 6, outer surface 1; mesh size a / n."""
    import gmsh

    if comm.rank == 0:
        gmsh.initialize()
        gmsh.option.setNumber("General.Terminal", 0)
        inner = gmsh.model.occ.addSphere(0, 0, 0, a)
        outer = gmsh.model.occ.addSphere(0, 0, 0, b)
        gmsh.model.occ.fragment([(3, outer)], [(3, inner)])
        gmsh.model.occ.synchronize()
        vols = sorted(gmsh.model.getEntities(3), key=lambda e: gmsh.model.occ.getMass(*e))
        surfs = sorted(gmsh.model.getEntities(2), key=lambda e: gmsh.model.occ.getMass(*e))
        for (dim, tag), group in ((vols[0], 1), (vols[1], 2), (surfs[0], 6), (surfs[1], 1)):
            gmsh.model.addPhysicalGroup(dim, [tag], group)
        _generate(a / n)
    return _distribute(comm)


def test_misfitting_particle_in_a_shell():
    """Eshelby / Lame (PHYSICS.md C(ii)): a particle with uniform eigenstrain Omega c / 3 I
    bonded in a free matrix shell b = 2a, P2 displacement, mesh a/3. Measured:
    RMS(sigma_rr error) / p = 0.022, RMS(sigma_tt error) / p = 0.014 (0.044 / 0.029 at a/2,
    0.013 / 0.0085 at a/4; P1: 0.18 / 0.14 at a/3), the particle's mean hydrostatic stress
    1.0 % above -p_shell, the interface's mean normal traction 0.90 of the exact value."""
    from batteryfx.solvers.analytic_particle import misfit_sphere_in_shell

    a, b, omega, c1 = 1.0, 2.0, 3e-6, 1e4
    particle = IsotropicElasticity(100e9, 0.25)
    matrix = IsotropicElasticity(20e9, 0.3)
    data = composite_sphere(3, a, b)
    mesh = data.mesh
    params = ChemoMechParams({1: Material(particle, IsotropicExpansion(omega, 0.0)),
                              2: Material(matrix)}, c_max=2e4, c_initial=c1,
                             centre=(0.0, 0.0, 0.0), degree_u=2)
    prob = ChemoMechProblem(mesh, data.cell_tags, data.facet_tags, params)
    assert prob.rigid_modes == "nullspace"
    n_own = mesh.topology.index_map(3).size_local
    cells = np.arange(n_own, dtype=np.int32)
    tag = np.zeros(n_own, dtype=int)
    own = data.cell_tags.indices < n_own
    tag[data.cell_tags.indices[own]] = data.cell_tags.values[own]
    r = np.linalg.norm(dmesh.compute_midpoints(mesh, 3, cells), axis=1)
    # the exact solution of each cell's own region (a faceted interface cell may reach
    # slightly across r = a)
    r_eval = np.where(tag == 1, np.minimum(r, a), np.maximum(r, a * (1 + 1e-12)))
    srr, stt, _ = misfit_sphere_in_shell(r_eval, a, b, omega * c1 / 3, particle.bulk,
                                         matrix.bulk, matrix.shear)
    p_in = -misfit_sphere_in_shell(np.array([0.0]), a, b, omega * c1 / 3, particle.bulk,
                                   matrix.bulk, matrix.shear)[0][0]
    x = mesh.geometry.x[dmesh.entities_to_geometry(mesh, 3, cells)]
    vol = np.abs(np.linalg.det(x[:, 1:4] - x[:, :1])) / 6
    dofs = prob.Q0.dofmap.list[cells].ravel()
    f = prob.fields
    comm = mesh.comm

    def rms(err):
        return np.sqrt(comm.allreduce((vol * err**2).sum()) / comm.allreduce(vol.sum())) / p_in

    assert rms(f["radial_stress"][0].x.array[dofs] - srr) < 0.03
    assert rms(f["hoop_stress"][0].x.array[dofs] - stt) < 0.02
    hyd = f["hydrostatic_stress"][0].x.array[dofs]
    inside = tag == 1
    mean = comm.allreduce((vol * hyd)[inside].sum()) / comm.allreduce(vol[inside].sum())
    assert mean == pytest.approx(-p_in, rel=0.02)
    interface = prob.facet_traction(6)
    s_a = misfit_sphere_in_shell(np.array([a]), a, b, omega * c1 / 3, particle.bulk,
                                 matrix.bulk, matrix.shear)[0][0]
    assert interface["normal_mean_form_Pa"] == pytest.approx(s_a, rel=0.15)
    assert abs(prob.facet_traction(1)["normal_mean_form_Pa"]) < 0.02 * p_in
    prob.destroy()


@pytest.mark.parametrize(("scheme", "theta"), [("bdf2", 1.0), ("theta", 1.0),
                                                ("theta", 0.5)])
def test_fixed_surface_concentration(scheme, theta):
    """Potentiostatic limit (SurfaceConcentration, Dirichlet): the uptake of a sphere (octant)
    against Crank's series at tau = 0.05, 0.1, 0.2 with each time scheme (coarse mesh R/4,
    20 steps per 0.1, lumped mass). Measured |error| / c_s at the three times: BDF2 0.012 /
    0.0001 / 0.004, backward Euler 0.005 / 0.006 / 0.008, Crank-Nicolson 0.002 / 0.006 /
    0.006 (the coarse mesh's error dominates after the start)."""
    from batteryfx.solvers.analytic_particle import sphere_fixed_surface_mean
    from batteryfx.solvers.chemomech import SurfaceConcentration

    data = sphere(4, octant=True)
    c_s = 1.0e4
    params = ChemoMechParams(ZHANG, c_max=CMAX, scheme=scheme, theta=theta, mass_lumping=True)
    conds = [SurfaceConcentration(SURFACE, c_s), FixedDisplacement(X0, 0),
             FixedDisplacement(Y0, 1), FixedDisplacement(Z0, 2)]
    prob = ChemoMechProblem(data.mesh, data.cell_tags, data.facet_tags, params, conds,
                            mechanics_every_step=False)
    errors = []
    for tau in (0.05, 0.1, 0.2):
        while prob.t < tau * T_R * (1 - 1e-9):
            prob.step(min(0.005 * T_R, tau * T_R - prob.t))
        mean = prob.quantities()["mean_concentration_mol_m3"] / c_s
        errors.append(abs(mean - sphere_fixed_surface_mean(tau)))
    assert max(errors) < 0.015, errors
    q = prob.quantities()
    # lumped mass: undershoots stay at round-off size (BDF2 and CN are not positive schemes)
    assert q["min_concentration_mol_m3"] > -1e-5 * c_s
    assert q["max_concentration_mol_m3"] <= c_s * (1 + 1e-12)
    prob.destroy()


def cube(n: int, comm=MPI.COMM_WORLD):
    return dmesh.create_unit_cube(comm, n, n, n, ghost_mode=dmesh.GhostMode.shared_facet)


def test_manufactured_elasticity_with_eigenstrain():
    """Clamped unit cube, u_ex vanishing on the boundary, c_ex smooth (eps* = Omega (c - c_ref)
    / 3 I), body force -div sigma(u_ex, c_ex): L2 error of u ~ h^2 for P1."""
    omega, young, nu, c_ref = 1e-3, 1.0, 0.3, 0.5
    mat = Material(IsotropicElasticity(young, nu), IsotropicExpansion(omega, c_ref))
    lam, mu = IsotropicElasticity(young, nu).lame
    errors, hs = [], []
    for n in (4, 8, 16):
        mesh = cube(n)
        x = ufl.SpatialCoordinate(mesh)
        bubble = x[0] * (1 - x[0]) * x[1] * (1 - x[1]) * x[2] * (1 - x[2])
        u_ex = ufl.as_vector([ufl.sin(ufl.pi * x[1]) * bubble, 2 * bubble * x[0],
                              bubble * ufl.cos(x[0] + x[2])])
        c_ex = c_ref + 0.4 * ufl.sin(2 * x[0]) * ufl.cos(3 * x[1]) + 0.2 * x[2] ** 2
        eps = ufl.sym(ufl.grad(u_ex)) - omega * (c_ex - c_ref) / 3 * ufl.Identity(3)
        sig = 2 * mu * eps + lam * ufl.tr(eps) * ufl.Identity(3)
        force = -ufl.div(sig)
        facets = dmesh.locate_entities_boundary(mesh, 2, lambda p: np.full(p.shape[1], True))
        ftags = dmesh.meshtags(mesh, 2, np.sort(facets).astype(np.int32),
                               np.ones(len(facets), np.int32))
        prob = ChemoMechProblem(mesh, None, ftags, ChemoMechParams(mat, c_max=1.0),
                                [FixedDisplacement(1)], body_force=force)
        assert prob.rigid_modes == "none"
        c_expr = fem.Expression(c_ex, prob.V.element.interpolation_points)
        prob.c.interpolate(c_expr)
        prob.solve_mechanics()
        errors.append(np.sqrt(integral(ufl.dot(prob.u - u_ex, prob.u - u_ex), mesh)
                              / integral(ufl.dot(u_ex, u_ex), mesh)))
        hs.append(1.0 / n)
        prob.destroy()
    rates = np.log(np.divide(errors[:-1], errors[1:])) / np.log(np.divide(hs[:-1], hs[1:]))
    # measured: errors 0.25 / 0.074 / 0.019, rates 1.77 / 1.92
    assert errors[-1] < 0.03
    assert rates[-1] > 1.8, (errors, rates)


def rotation(axis, angle: float) -> np.ndarray:
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


#: a layered-oxide-like hexagonal crystal (illustrative numbers, Pa) and lattice strains
HEX = AnisotropicElasticity.hexagonal(200e9, 80e9, 60e9, 150e9, 40e9)
LATTICE = LatticeExpansion(Table((0.0, 0.5, 1.0), (0.0, 0.01, 0.03)),
                           Table((0.0, 0.5, 1.0), (0.0, 0.03, 0.04)))


def radial_c(x):
    return 1.0e4 * (0.2 + 0.5 * ((x[0] - 0.5) ** 2 + (x[1] - 0.5) ** 2 + (x[2] - 0.5) ** 2))


def free_crystal(mesh, mat, orientation=None, c=radial_c):
    ctags = dmesh.meshtags(mesh, 3, np.arange(mesh.topology.index_map(3).size_local,
                                              dtype=np.int32),
                           np.ones(mesh.topology.index_map(3).size_local, np.int32))
    params = ChemoMechParams({1: mat}, c_max=2e4, c_initial=c,
                             orientations={} if orientation is None else {1: orientation})
    prob = ChemoMechProblem(mesh, ctags, None, params)
    sig = prob.fields["stress"][0].x.array.reshape(-1, 3, 3).copy()
    return prob, sig


def test_rotated_crystal_gives_rotated_stress():
    """Mesh, crystal orientation and concentration field rotated together by Q: the stress
    is Q sigma Q^T cell by cell (round-off level); the problem is free (null space)."""
    mesh = cube(3)
    q = rotation((1.0, 2.0, 0.5), 0.7)
    mat = Material(HEX, LATTICE)
    prob, sig1 = free_crystal(mesh, mat)
    assert np.abs(sig1).max() > 1e7  # a real stress field
    prob.destroy()
    mesh.geometry.x[:] = mesh.geometry.x @ q.T
    centre = q @ np.array([0.5, 0.5, 0.5])

    def c_rot(x):
        y = q.T @ (x - centre[:, None]) + 0.5
        return radial_c(y)

    prob, sig2 = free_crystal(mesh, mat, q, c_rot)
    expected = np.einsum("ij,cjk,lk->cil", q, sig1, q)
    assert np.abs(sig2 - expected).max() < 1e-8 * np.abs(sig1).max()
    prob.destroy()


def test_isotropic_voigt_is_rotation_invariant_and_uniform_strain_is_free():
    mesh = cube(3)
    q = rotation((0.3, -1.0, 2.0), 1.1)
    iso = Material(IsotropicElasticity(100e9, 0.25), IsotropicExpansion(3e-6, 2000.0))
    voigt = Material(AnisotropicElasticity.from_isotropic(100e9, 0.25),
                     IsotropicExpansion(3e-6, 2000.0))
    p1, s1 = free_crystal(mesh, iso)
    p2, s2 = free_crystal(mesh, voigt, q)
    assert np.abs(s1 - s2).max() < 1e-9 * np.abs(s1).max()
    p1.destroy()
    p2.destroy()
    # uniform lattice eigenstrain in a free rotated crystal: compatible, no stress
    prob, sig = free_crystal(mesh, Material(HEX, LATTICE), q, c=lambda x: 0.0 * x[0] + 1.2e4)
    scale = 200e9 * 0.03
    assert np.abs(sig).max() < 1e-8 * scale
    assert prob.quantities()["strain_energy_J"] < 1e-14 * scale * 0.03
    prob.destroy()


def bicrystal(comm=MPI.COMM_WORLD, n: int = 4):
    """Unit cube of two grains (x < 1/2: tag 1, x > 1/2: tag 2), grain boundary facet tag 5,
    outer faces tag 1. The c-axis of grain 2 along x, of grain 1 along z."""
    mesh = cube(n, comm)
    mesh.topology.create_connectivity(2, 3)
    nc = mesh.topology.index_map(3).size_local + mesh.topology.index_map(3).num_ghosts
    mid = dmesh.compute_midpoints(mesh, 3, np.arange(nc, dtype=np.int32))
    ctags = dmesh.meshtags(mesh, 3, np.arange(nc, dtype=np.int32),
                           np.where(mid[:, 0] < 0.5, 1, 2).astype(np.int32))
    gb = dmesh.locate_entities(mesh, 2, lambda p: np.isclose(p[0], 0.5))
    outer = dmesh.locate_entities_boundary(mesh, 2, lambda p: np.full(p.shape[1], True))
    facets = np.concatenate([gb, outer]).astype(np.int32)
    values = np.concatenate([np.full(len(gb), 5), np.full(len(outer), 1)]).astype(np.int32)
    order = np.argsort(facets)
    ftags = dmesh.meshtags(mesh, 2, facets[order], values[order])
    mat = Material(HEX, LATTICE)
    params = ChemoMechParams({1: mat, 2: mat}, c_max=2e4, c_initial=1.2e4,
                             orientations={2: rotation((0, 1, 0), np.pi / 2)})
    return ChemoMechProblem(mesh, ctags, ftags, params)


def test_grain_boundary_traction():
    """Two grains with different c-axes under a uniform concentration: the anisotropic
    misfit loads the grain boundary; the cellwise and the dS-integral means agree (P1: the
    stress is constant per cell); a free outer surface carries little normal traction."""
    prob = bicrystal()
    gb = prob.facet_traction(5)
    assert gb["area_m2"] == pytest.approx(1.0, rel=1e-12)
    assert gb["normal_max_Pa"] > 1e8 and gb["shear_max_Pa"] > 1e7
    assert gb["normal_mean_Pa"] == pytest.approx(gb["normal_mean_form_Pa"], rel=1e-9)
    assert gb["shear_mean_Pa"] == pytest.approx(gb["shear_mean_form_Pa"], rel=1e-9)
    assert gb["normal_min_Pa"] <= gb["normal_mean_Pa"] <= gb["normal_max_Pa"]
    outer = prob.facet_traction(1)
    assert outer["area_m2"] == pytest.approx(6.0, rel=1e-12)
    assert abs(outer["normal_mean_Pa"]) < 0.2 * gb["normal_max_Pa"]
    prob.destroy()


def test_physics_violation_keeps_the_state():
    """A flux that overfills the particle within a step raises PhysicsViolation and leaves c
    as before the step."""
    from batteryfx.errors import PhysicsViolation

    data = sphere(3)
    prob = ChemoMechProblem(data.mesh, data.cell_tags, data.facet_tags,
                            ChemoMechParams(ZHANG, c_max=CMAX),
                            [SurfaceFlux(SURFACE, c_rate=20.0)])
    prob.step(1.0)
    before = prob.c.x.array.copy(), prob.t
    with pytest.raises(PhysicsViolation, match="above c_max"):
        prob.step(400.0)  # 20 C for 400 s: more than twice full
    assert np.array_equal(prob.c.x.array, before[0]) and prob.t == before[1]
    prob.destroy()


def test_nonlinear_diffusion_and_stress_assisted():
    """A constant Table D goes through Newton (SNES) and gives the linear result; a
    concentration-dependent D keeps the exact Li balance; the stress-assisted flux (tensile
    centre pulls Li in) reduces the concentration spread of a sphere under insertion."""
    data = sphere(3)
    conds = [SurfaceFlux(SURFACE, flux=J0)]
    runs = {}
    laws = {"linear": D, "table_constant": Table((0.0, 1.0), (D, D)),
            "table": Table((0.0, 0.3, 1.0), (D, 3 * D, 0.5 * D))}
    for name, law in laws.items():
        mat = Material(IsotropicElasticity(E, NU), IsotropicExpansion(OMEGA), law)
        prob = ChemoMechProblem(data.mesh, data.cell_tags, data.facet_tags,
                                ChemoMechParams(mat, c_max=CMAX, bounds_tolerance=0.1), conds)
        assert prob.linear == (name == "linear")
        for _ in range(5):
            prob.step(0.01 * T_R)
        runs[name] = prob.c.x.array.copy()
        assert prob.mass_balance()["drift_rel"] < 1e-9
        if name != "linear":
            assert prob.newton_iterations >= 5
        prob.destroy()
    scale = np.abs(runs["linear"]).max()
    assert np.abs(runs["table_constant"] - runs["linear"]).max() < 1e-8 * scale
    assert np.abs(runs["table"] - runs["linear"]).max() > 1e-2 * scale
    spread = {}
    for coupled in (False, True):
        prob = ChemoMechProblem(data.mesh, data.cell_tags, data.facet_tags, ChemoMechParams(
            ZHANG, c_max=CMAX, stress_assisted=coupled, bounds_tolerance=0.1), conds)
        for _ in range(5):
            prob.step(0.01 * T_R)
        assert prob.mass_balance()["drift_rel"] < 1e-9
        spread[coupled] = np.ptp(prob.c.x.array)
        prob.destroy()
    assert spread[True] < spread[False]


def test_table_law_in_ufl_matches_numpy():
    """The piecewise-linear Table in UFL (clamped outside) equals numpy.interp."""
    mesh = cube(2)
    table = Table((0.0, 0.3, 0.7, 1.0), (1.0, 3.0, -1.0, 2.0))
    V = fem.functionspace(mesh, ("DG", 2))
    x = ufl.SpatialCoordinate(mesh)
    arg = 1.6 * x[0] - 0.3 + 0.1 * x[1]  # -0.3 .. 1.4: below, inside and above the table
    f = fem.Function(V)
    f.interpolate(fem.Expression(table.ufl(arg), V.element.interpolation_points))
    g = fem.Function(V)
    g.interpolate(lambda p: table(1.6 * p[0] - 0.3 + 0.1 * p[1]))
    assert np.abs(f.x.array - g.x.array).max() < 1e-12
    with pytest.raises(ValueError, match="increase"):
        Table((0.0, 0.0), (1.0, 2.0))


def test_checkpoint_round_trip_and_prefixes():
    """state() + checkpoint functions restore the run exactly (BDF2 history included), so does
    undo() of the last step; the
    diffusion / elasticity solvers carry the chem_ / mech_ prefixes, the user's options win
    and stay after destroy()."""
    opts = PETSc.Options()
    opts["mech_ksp_type"] = "cg"
    opts["mech_pc_type"] = "gamg"
    try:
        data = sphere(3)
        params = ChemoMechParams(ZHANG, c_max=CMAX, bounds_tolerance=0.1)
        prob = ChemoMechProblem(data.mesh, data.cell_tags, data.facet_tags, params,
                                [SurfaceFlux(SURFACE, flux=J0)])
        assert prob.ksp.getOptionsPrefix() == "chem_"
        assert prob.ksp_u.getOptionsPrefix() == "mech_"
        assert prob.ksp_u.getType() == "cg" and prob.mech_user_options
        assert prob.ksp.getType() == "preonly"
        for _ in range(3):
            prob.step(0.004 * T_R)
        saved = {k: f.x.array.copy() for k, f in prob.checkpoint_functions().items()}
        state = prob.state()
        for dt in (0.004, 0.006):
            prob.step(dt * T_R)
        final = prob.c.x.array.copy(), prob.quantities()
        # undo() takes the last step back exactly
        prob.undo()
        prob.step(0.006 * T_R)
        assert np.abs(prob.c.x.array - final[0]).max() <= 1e-12 * np.abs(final[0]).max()
        for k, f in prob.checkpoint_functions().items():
            f.x.array[:] = saved[k]
        prob.restore(state)
        for dt in (0.004, 0.006):
            prob.step(dt * T_R)
        assert np.abs(prob.c.x.array - final[0]).max() <= 1e-12 * np.abs(final[0]).max()
        assert prob.quantities()["strain_energy_J"] == pytest.approx(
            final[1]["strain_energy_J"], rel=1e-6)
        prob.destroy()
        assert opts.getString("mech_ksp_type") == "cg"
        assert not opts.hasName("chem_ksp_type")  # batteryfx's default removed again
    finally:
        opts.delValue("mech_ksp_type")
        opts.delValue("mech_pc_type")


def _sphere_run(comm) -> dict:
    data = sphere(4, comm=comm)
    params = ChemoMechParams(ZHANG, c_max=CMAX, centre=(0.0, 0.0, 0.0), bounds_tolerance=0.1)
    prob = ChemoMechProblem(data.mesh, data.cell_tags, data.facet_tags, params,
                            [SurfaceFlux(SURFACE, c_rate=2.0)])
    for dt in (0.002, 0.004, 0.008):
        prob.step(dt * T_R)
    out = prob.quantities()
    out.update({f"surface_{k}": v for k, v in prob.facet_traction(SURFACE).items()})
    prob.destroy()
    return out


def _bicrystal_run(comm) -> dict:
    prob = bicrystal(comm)
    out = prob.facet_traction(5)
    out.update(prob.quantities())
    prob.destroy()
    return out


@pytest.mark.mpi
@pytest.mark.parametrize("case", [_sphere_run, _bicrystal_run])
def test_ranks_agree(case):
    """All ranks (free sphere with null space, direct solvers; bicrystal grain-boundary
    tractions with interior facets across ranks) = rank 0 alone, to 1e-8."""
    par, ser = on_all_and_one_rank(case)
    assert par.keys() == ser.keys()
    for key, value in ser.items():
        assert par[key] == pytest.approx(value, rel=1e-8, abs=1e-8 * abs(value) + 1e-300), key


@pytest.mark.mpi
def test_auto_solvers_switch_to_iterative_with_the_same_answer(monkeypatch):
    """``chem_solver`` / ``mech_solver`` = "auto" (the default): MUMPS below the size
    thresholds, CG + ICC(0) (constant D) or GMRES + ILU(0) (D(c): the Newton Jacobian is not
    symmetric) and CG + GAMG above; with the thresholds lowered to 1 dof the same free
    sphere gives the same concentration and stresses as the direct solvers (to the
    iterative tolerances), serially and on 2 ranks."""
    import batteryfx.solvers.chemomech as cm

    data = sphere(3)
    conds = [SurfaceFlux(SURFACE, flux=J0)]
    table = Material(IsotropicElasticity(E, NU), IsotropicExpansion(OMEGA),
                     Table((0.0, 0.3, 1.0), (D, 3 * D, 0.5 * D)))
    for mat, chem_kind in ((ZHANG, "cg_icc"), (table, "gmres_ilu")):
        out = {}
        for threshold in (10**9, 1):
            monkeypatch.setattr(cm, "CHEM_AUTO_ITERATIVE_DOFS", threshold)
            monkeypatch.setattr(cm, "MECH_AUTO_ITERATIVE_DOFS", threshold)
            prob = ChemoMechProblem(data.mesh, data.cell_tags, data.facet_tags,
                                    ChemoMechParams(mat, c_max=CMAX, bounds_tolerance=0.1),
                                    conds)
            try:
                kinds = (prob.chem_solver, prob.mech_solver)
                assert kinds == (("direct", "direct") if threshold > 1
                                 else (chem_kind, "cg_gamg")), kinds
                assert prob.summary()["mech_solver"] == kinds[1]
                for _ in range(4):
                    prob.step(0.01 * T_R)
                out[threshold] = (prob.c.x.array.copy(),
                                  prob.fields["von_mises"][0].x.array.copy())
            finally:
                prob.destroy()
        (c_d, vm_d), (c_i, vm_i) = out[10**9], out[1]
        comm = data.mesh.comm
        dc = comm.allreduce(np.abs(c_d - c_i).max(), op=MPI.MAX)
        cs = comm.allreduce(np.abs(c_d).max(), op=MPI.MAX)
        dv = comm.allreduce(np.abs(vm_d - vm_i).max(), op=MPI.MAX)
        vs = comm.allreduce(np.abs(vm_d).max(), op=MPI.MAX)
        assert dc < 1e-9 * cs and dv < 1e-6 * vs, (dc / cs, dv / vs)
