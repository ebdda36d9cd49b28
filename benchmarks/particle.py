"""Lithiation of an NCM523 polycrystal: batteryfx's staggered solver vs a monolithic direct solve.

The mesh and the physics are batteryfx's own (``cases/ncm523_overlithiation.toml``: a Voronoi
polycrystal of ``--grains`` grains with random orientations, Li diffusion with the library's
D, anisotropic lattice expansion diag(eps_a(x), eps_a(x), eps_c(x)) rotated per grain,
vector P1 displacement, mass lumping, BDF2, Li inserted through the surface at C/10 from
Li1.0 to Li2.0 over 10 h, free particle: no displacement condition), with the grain count and
mesh size from the command line. Every variant takes the same ``--steps`` fixed steps
dt = end / steps on the same mesh from the same initial state:

  (c) batteryfx's default path: ``batteryfx.run.build_problem`` on the case with the solver
      settings a user gets (``chem_solver = mech_solver = "auto"``: MUMPS below 400 k / 250 k
      dofs of c / u, CG + ICC(0) / CG + GAMG above; the kinds in use are printed), each step
      ``ChemoMechProblem.step(dt)``: diffusion with M and K assembled once (D is constant),
      MUMPS LU factorised once per dt / BDF2 coefficient, then the elasticity with its MUMPS
      factors (or GAMG hierarchy) from the set-up reused (the rigid modes through a
      MatNullSpace, plus MUMPS null-pivot detection);
  (g) the same with the other elasticity solver (``mech_solver = "cg_gamg"`` when (c) resolved
      to "direct", else "direct"), to show which is faster at this size;
  (a) a straightforward monolithic formulation: one mixed (c, u) space
      (``basix.ufl.mixed_element``), the same weak forms written plainly in UFL (the same
      lumped mass, D, surface flux and BDF2; the stress R (C : R^T (eps(u) - eps*(c)) R) R^T
      with the same rotated lattice eigenstrain, evaluated with one quadrature point per cell
      as batteryfx's P1 path does), solved each step by ``dolfinx.fem.petsc.NonlinearProblem``
      (SNES Newton: the eigenstrain table is piecewise linear in c) with MUMPS LU, the
      Jacobian assembled and refactorised every Newton iteration; the rigid modes are left to
      MUMPS null-pivot detection (ICNTL(24) = 1, as batteryfx's direct elasticity), the
      rigid part of u removed afterwards only to compare u. Two things a plain script needs
      here: the diffusion rows are multiplied by a constant to the size of the elasticity
      rows (in SI units the residuals differ by ~1e15, and SNES with PETSc's defaults stops
      at the first step with DIVERGED_LOCAL_MIN), and full Newton steps (line search
      "basic"; the backtracking line search rejects the first step, whose Jacobian has
      d eps* / dc of the old segment of the table). rtol 1e-10, no step-size test.

The full default run (serial, 2 shared cores) takes about 65 min, almost all of it in (a)
(MUMPS on the 232 k-dof mixed system: ~100 s per factorisation, ~8 GB); ``--variants cg``
skips (a).

Printed per variant: dofs (c + u), steps, Newton iterations, linear (KSP) iterations, LU
factorisations, set-up time (problem construction: forms, assembly, (c)/(g) also the first
elasticity solve with its factorisation / GAMG set-up), mean time per step and the total
(set-up + steps), wall (max over ranks) and CPU (process CPU time incl. threads, summed over
ranks), and the peak resident memory during the variant (VmHWM, reset before each variant,
summed over ranks). Then the differences of the final states from (c) (concentration, u up to
rigid motion, peak von Mises stress, peak grain-boundary normal traction; all from the same
cell-midpoint stress evaluation) and the ratios. The last line is
``ratio particle_speedup <(a) total wall time / (c) total wall time>`` (set-up + all steps;
the geometry is built once and not counted).

    python benchmarks/particle.py --quick                      # smoke test, < 1 min
    python benchmarks/particle.py                               # 50 grains, 0.12 um, 30 steps
    mpiexec -n 2 python benchmarks/particle.py --quick
"""

from __future__ import annotations

import argparse
import gc
import time

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
from peak_memory import peak_mb, reset_peak

import batteryfx  # noqa: F401  (imports dolfinx_solver before dolfinx when installed)
from batteryfx.case import load_case
from batteryfx.cli import bundled_cases
from batteryfx.geometry_args import build_case_geometry
from batteryfx.run import build_problem

CASE = "ncm523_overlithiation"


# ----------------------------------------------------------------------------- measuring
class Clock:
    """Wall (max over ranks) and CPU (process CPU time incl. threads, sum over ranks) of a
    block of collective work."""

    def __init__(self, comm):
        self.comm = comm

    def __enter__(self):
        self.comm.Barrier()
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = self.comm.allreduce(time.perf_counter() - self.t0, op=MPI.MAX)
        self.cpu = self.comm.allreduce(time.process_time() - self.c0, op=MPI.SUM)


# ----------------------------------------------------------------------------- the case
def case_for(args, mech_solver: str | None = None):
    h = args.mesh_size
    hs = args.surface_mesh_size or h
    sets = [f"geometry.grains={args.grains}", f"geometry.seed={args.seed}",
            f'geometry.mesh_size="{h} um"', f'geometry.surface_mesh_size="{hs} um"',
            "outputs.fields=false"]
    if mech_solver is not None:
        sets.append(f"physics.mech_solver='{mech_solver}'")
    return load_case(bundled_cases()[CASE], sets)


def final_state(mesh, c_fun, u_fun) -> dict:
    """The final c and u as P1 / vector-P1 arrays on fresh spaces (one dof layout for every
    variant), u without its rigid-body part (batteryfx's orthonormal rigid modes)."""
    from dolfinx import fem

    from batteryfx.solvers.chemomech import rigid_body_modes

    V = fem.functionspace(mesh, ("Lagrange", 1))
    W = fem.functionspace(mesh, ("Lagrange", 1, (3,)))
    c, u = fem.Function(V), fem.Function(W)
    c.interpolate(c_fun)
    u.interpolate(u_fun)
    ns, keep = rigid_body_modes(W)
    ns.remove(u.x.petsc_vec)
    u.x.scatter_forward()
    ns.destroy()
    del keep
    return {"c": c, "u": u}


# ----------------------------------------------------------------------------- UFL pieces
def pw_linear(x, xs, ys):
    """y(x) piecewise linear through (xs, ys), constant outside (UFL)."""
    import ufl

    out = ys[0] + 0.0 * x
    for x0, x1, y0, y1 in zip(xs[:-1], xs[1:], ys[:-1], ys[1:], strict=True):
        out = out + (y1 - y0) / (x1 - x0) * (ufl.min_value(ufl.max_value(x, x0), x1) - x0)
    return out


def voigt(e):
    import ufl

    return ufl.as_vector([e[0, 0], e[1, 1], e[2, 2], 2 * e[1, 2], 2 * e[0, 2], 2 * e[0, 1]])


def unvoigt(s):
    import ufl

    return ufl.as_matrix([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])


def stress(R, cmat, strain):
    """sigma = R (C : (R^T strain R)) R^T, C a 6x6 Voigt matrix in the crystal frame."""
    import ufl

    return R * unvoigt(ufl.as_matrix(cmat) * voigt(R.T * strain * R)) * R.T


def eigenstrain(R, mat, c, c_max):
    import ufl

    x = c / c_max
    ex = mat.expansion
    ea = pw_linear(x, ex.eps_a.x, ex.eps_a.y)
    ec = pw_linear(x, ex.eps_c.x, ex.eps_c.y)
    return R * ufl.as_matrix([[ea, 0, 0], [0, ea, 0], [0, 0, ec]]) * R.T


def orientation_field(geometry):
    """DG0 3x3 crystal -> lab rotation per cell from the grains of the geometry."""
    from dolfinx import fem

    T0 = fem.functionspace(geometry.mesh, ("DG", 0, (3, 3)))
    R = fem.Function(T0)
    rot = R.x.array.reshape(-1, 3, 3)
    rot[:] = np.eye(3)
    ct = geometry.cell_tags
    for tag, g in geometry.grains.items():
        cells = ct.indices[ct.values == tag]
        rot[T0.dofmap.list[cells].ravel()] = np.asarray(g.rotation)
    R.x.scatter_forward()
    return R


def stress_peaks(geometry, R, mat, c_max, c, u) -> dict:
    """Peak von Mises stress and peak grain-boundary normal traction (Pa) of (c, u): the stress
    tensor at the cell midpoints (c there = the cell mean of P1 c, as batteryfx's P1 path),
    on a grain-boundary facet the mean of its two cells' stresses (owned facets)."""
    import ufl
    from dolfinx import fem
    from dolfinx import mesh as dmesh

    mesh, comm = geometry.mesh, geometry.mesh.comm
    T0 = R.function_space
    sig = stress(R, mat.elasticity.voigt, ufl.sym(ufl.grad(u))
                 - eigenstrain(R, mat, c, c_max))
    s = fem.Function(T0)
    s.interpolate(fem.Expression(sig, T0.element.interpolation_points))
    S = s.x.array.reshape(-1, 3, 3)
    S = 0.5 * (S + S.transpose(0, 2, 1))
    n_own = T0.dofmap.index_map.size_local
    dev = S - np.trace(S, axis1=1, axis2=2)[:, None, None] / 3.0 * np.eye(3)
    vm = np.sqrt(1.5 * np.einsum("cij,cij->c", dev, dev))[:n_own]
    tdim = mesh.topology.dim
    mesh.topology.create_connectivity(tdim - 1, tdim)
    f2c = mesh.topology.connectivity(tdim - 1, tdim)
    tags = geometry.markers["grain_boundaries"].tags
    facets = np.concatenate([geometry.facet_tags.find(t) for t in tags])
    facets = facets[facets < mesh.topology.index_map(tdim - 1).size_local]
    off, arr = f2c.offsets, f2c.array
    two = (off[facets + 1] - off[facets]) == 2
    facets = facets[two]
    cells = np.stack([arr[off[facets]], arr[off[facets] + 1]], axis=1)
    dofs = T0.dofmap.list[cells.ravel()].ravel().reshape(-1, 2)
    sf = 0.5 * (S[dofs[:, 0]] + S[dofs[:, 1]])
    x = mesh.geometry.x[dmesh.entities_to_geometry(mesh, tdim - 1, facets)[:, :3]] \
        if len(facets) else np.zeros((0, 3, 3))
    nv = np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0])
    nv /= np.maximum(np.linalg.norm(nv, axis=1), 1e-300)[:, None]
    tn = np.einsum("ki,kij,kj->k", nv, sf, nv)
    return {"von_mises": comm.allreduce(float(vm.max(initial=-np.inf)), op=MPI.MAX),
            "gb_traction": comm.allreduce(float(tn.max(initial=-np.inf)), op=MPI.MAX)}


# ----------------------------------------------------------------------------- (c) / (g)
def run_batteryfx(args, geometry, mech_solver: str | None, comm) -> dict:
    """batteryfx's path: build_problem on the case (``mech_solver`` None: the case's
    default), then ChemoMechProblem.step(dt)."""
    reset_peak()
    with Clock(comm) as setup:
        problem = build_problem(case_for(args, mech_solver), geometry)
    inner = problem.inner
    dt = args.end / args.steps
    walls, cpus = [], []
    for _ in range(args.steps):
        with Clock(comm) as clk:
            inner.step(dt)
        walls.append(clk.wall)
        cpus.append(clk.cpu)
    mem = peak_mb(comm)
    with Clock(comm) as post:  # what the run loop adds after every step (not timed above)
        inner.update_derived()
    q = inner.quantities()
    gb = inner.facet_traction("grain_boundaries")
    p = inner.params
    # the kinds in use ("auto" resolved by size; older solvers: the parameters)
    chem, mech = (getattr(inner, k, getattr(p, k)) for k in ("chem_solver", "mech_solver"))
    how = "default" if mech_solver is None else "u solver set"
    out = {"label": f"batteryfx {how}: c {chem}, u {mech}", "mech": mech,
           "dofs": sum(inner.num_dofs.values()), "steps": args.steps,
           "newton": inner.newton_iterations,
           "linear": inner.chem_iterations + inner.mech_iterations,
           "factorizations": inner.chem_factorizations + (mech == "direct"),
           "setup_s": setup.wall, "setup_cpu_s": setup.cpu,
           "step_s": walls, "step_cpu_s": cpus, "peak_mb": mem,
           "own": {"von_mises": q["max_von_mises_Pa"], "gb_traction": gb["normal_max_Pa"]},
           "drift": inner.mass_balance()["drift_rel"], "post_s": post.wall,
           "mean_x": 2.0 * q["mean_state_of_charge"],
           "c_max": p.c_max, "flux": inner.flux_values[0],
           "state": final_state(geometry.mesh, inner.c, inner.u)}
    problem.destroy()
    del problem, inner
    gc.collect()
    return out


# ----------------------------------------------------------------------------- (a)
def run_monolithic(args, geometry, comm) -> dict:
    """One mixed (c, u) space, the same weak forms in plain UFL, SNES Newton + MUMPS LU."""
    import basix.ufl
    import ufl
    from dolfinx import fem
    from dolfinx.fem.petsc import NonlinearProblem

    from batteryfx.physics.chemomech import materials

    reset_peak()
    case = case_for(args)
    with Clock(comm) as setup:
        built = materials(case)
        mat = built["materials"][case.physics.material]
        c_max, c0 = built["c_max"], built["c0"]
        bc = case.boundary_conditions[0]  # li_flux on the surface, c_rate relative to delta
        mesh = geometry.mesh
        cell = mesh.basix_cell()
        me = basix.ufl.mixed_element([basix.ufl.element("Lagrange", cell, 1),
                                      basix.ufl.element("Lagrange", cell, 1, shape=(3,))])
        Wm = fem.functionspace(mesh, me)
        w, w_n, w_nm1 = fem.Function(Wm), fem.Function(Wm), fem.Function(Wm)
        for f in (w, w_n, w_nm1):
            f.sub(0).interpolate(lambda x: np.full(x.shape[1], c0))
            f.x.scatter_forward()
        c, u = ufl.split(w)
        c_n, c_nm1 = ufl.split(w_n)[0], ufl.split(w_nm1)[0]
        q, v = ufl.TestFunctions(Wm)
        R = orientation_field(geometry)
        dx = ufl.Measure("dx", domain=mesh)
        dx_lumped = dx(metadata={"quadrature_rule": "vertex", "quadrature_degree": 1})
        dx_1 = dx(metadata={"quadrature_degree": 1})  # one point per cell (P1 u)
        ds = ufl.Measure("ds", domain=mesh, subdomain_data=geometry.facet_tags)
        surface = ds(tuple(geometry.markers[bc.marker].tags))
        one = fem.Constant(mesh, PETSc.ScalarType(1.0))
        vol = comm.allreduce(fem.assemble_scalar(fem.form(one * dx)), op=MPI.SUM)
        area = comm.allreduce(fem.assemble_scalar(fem.form(one * surface)), op=MPI.SUM)
        flux = bc.c_rate * bc.delta * vol / (3600.0 * area)  # mol m^-2 s^-1
        a0, a1, a2 = (fem.Constant(mesh, PETSc.ScalarType(0.0)) for _ in range(3))
        D = fem.Constant(mesh, PETSc.ScalarType(mat.diffusivity))
        J = fem.Constant(mesh, PETSc.ScalarType(flux))
        eps = ufl.sym(ufl.grad(u))
        # the diffusion rows (mol/s) scaled to the size of the elasticity rows (N): a nodal
        # force C11 eps_max h^2 against a nodal Li rate c_max h^3 / dt; without it the Newton
        # residual norm is the elasticity's alone (1e15 x larger) and no tolerance fits both
        eps_max = max(abs(v) for v in (*mat.expansion.eps_a.y, *mat.expansion.eps_c.y))
        h = args.mesh_size * 1e-6
        s_c = fem.Constant(mesh, PETSc.ScalarType(
            mat.elasticity.voigt[0][0] * eps_max * (args.end / args.steps) / (c_max * h)))
        F = s_c * ((a0 * c - a1 * c_n + a2 * c_nm1) * q * dx_lumped
                   + D * ufl.inner(ufl.grad(c), ufl.grad(q)) * dx - J * q * surface) \
            + ufl.inner(stress(R, mat.elasticity.voigt, eps - eigenstrain(R, mat, c, c_max)),
                        ufl.sym(ufl.grad(v))) * dx_1
        opts = {"snes_type": "newtonls", "snes_linesearch_type": "basic", "snes_rtol": 1e-10,
                "snes_atol": 0.0, "snes_stol": 0.0, "snes_max_it": 30,
                "ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps",
                "mat_mumps_icntl_24": 1}
        problem = NonlinearProblem(F, w, bcs=[], petsc_options_prefix="particle_mono_",
                                   petsc_options=opts)
    snes = problem.solver
    dt = args.end / args.steps
    walls, cpus, newton, linear = [], [], 0, 0
    for k in range(args.steps):
        # BDF2 (first step backward Euler), fixed dt: (a0 c - a1 c_n + a2 c_nm1) / dt
        a0.value, a1.value, a2.value = ((1.0, 1.0, 0.0) if k == 0 else (1.5, 2.0, 0.5))
        a0.value, a1.value, a2.value = a0.value / dt, a1.value / dt, a2.value / dt
        with Clock(comm) as clk:
            problem.solve()
        reason = snes.getConvergedReason()
        if reason <= 0:
            raise RuntimeError(f"(a): SNES did not converge at step {k + 1} (reason {reason})")
        newton += snes.getIterationNumber()
        linear += snes.getLinearSolveIterations()
        walls.append(clk.wall)
        cpus.append(clk.cpu)
        if args.progress and comm.rank == 0:
            print(f"  (a) step {k + 1}/{args.steps}: {snes.getIterationNumber()} Newton, "
                  f"{clk.wall:.2f} s", flush=True)
        w_nm1.x.array[:] = w_n.x.array
        w_n.x.array[:] = w.x.array
    mem = peak_mb(comm)
    c_fin, u_fin = w.sub(0).collapse(), w.sub(1).collapse()
    li = comm.allreduce(fem.assemble_scalar(fem.form(c_fin * dx)), op=MPI.SUM)
    expected = (c0 + flux * area * args.end / vol) * vol
    out = {"label": "monolithic (c, u): Newton + MUMPS LU", "dofs": Wm.dofmap.index_map.size_global
           * Wm.dofmap.index_map_bs, "steps": args.steps, "newton": newton, "linear": linear,
           "factorizations": newton, "setup_s": setup.wall, "setup_cpu_s": setup.cpu,
           "step_s": walls, "step_cpu_s": cpus, "peak_mb": mem,
           "drift": abs(li - expected) / expected, "mean_x": 2.0 * li / vol / c_max,
           "flux": flux, "state": final_state(mesh, c_fin, u_fin)}
    problem.solver.destroy()
    del problem
    gc.collect()
    return out


# ----------------------------------------------------------------------------- main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--grains", type=int, default=50)
    p.add_argument("--mesh-size", type=float, default=0.12, help="um (inside the particle)")
    p.add_argument("--surface-mesh-size", type=float, default=None,
                   help="um at the surface (default: --mesh-size)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--end", type=float, default=None,
                   help="s (default: the case's time.end, Li1.0 -> Li2.0 at C/10)")
    p.add_argument("--variants", default="cga",
                   help="c: batteryfx default, g: batteryfx with the other elasticity "
                        "solver, a: monolithic")
    p.add_argument("--progress", action="store_true", help="print each step of (a)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 12 grains, 0.45 um, 4 steps (overrides those options)")
    args = p.parse_args()
    if args.quick:
        args.grains, args.mesh_size, args.surface_mesh_size, args.steps = 12, 0.45, None, 4
    comm = MPI.COMM_WORLD
    if args.end is None:
        args.end = float(case_for(args).time.end)

    def say(*a):
        if comm.rank == 0:
            print(*a, flush=True)

    with Clock(comm) as geo:
        geometry = build_case_geometry(case_for(args).geometry, comm)
    mesh = geometry.mesh
    say(f"NCM523 polycrystal ({CASE}): {len(geometry.grains)} grains, mesh "
        f"{args.mesh_size:g} um (surface {args.surface_mesh_size or args.mesh_size:g} um), "
        f"{mesh.topology.index_map(3).size_global} cells, "
        f"{mesh.geometry.index_map().size_global} nodes, built in {geo.wall:.1f} s on "
        f"{comm.size} rank(s); {args.steps} steps of {args.end / args.steps:g} s to "
        f"t = {args.end:g} s")
    results = {}
    for key in "cga":  # each variant's peak memory is measured on its own (VmHWM reset)
        if key not in args.variants:
            continue
        if key == "a":
            results[key] = run_monolithic(args, geometry, comm)
        elif key == "c":
            results[key] = run_batteryfx(args, geometry, None, comm)
        else:
            other = "direct" if results.get("c", {}).get("mech") == "cg_gamg" else "cg_gamg"
            results[key] = run_batteryfx(args, geometry, other, comm)
        r = results[key]
        say(f"  ({key}) done: {sum(r['step_s']) + r['setup_s']:.1f} s wall, Li x = "
            f"{r['mean_x']:.6f}, Li balance drift {r['drift']:.1e}")

    say(f"{'variant':48s} {'dofs':>8s} {'steps':>5s} {'Newton':>6s} {'lin':>5s} {'LU':>4s} "
        f"{'setup s':>8s} {'(CPU)':>8s} {'step s':>8s} {'(CPU)':>8s} {'total s':>8s} "
        f"{'(CPU)':>8s} {'peak MB':>8s}")
    for key in "cga":
        if key not in results:
            continue
        r = results[key]
        r["step_mean"] = float(np.mean(r["step_s"]))
        r["step_cpu_mean"] = float(np.mean(r["step_cpu_s"]))
        r["total"] = r["setup_s"] + float(np.sum(r["step_s"]))
        r["total_cpu"] = r["setup_cpu_s"] + float(np.sum(r["step_cpu_s"]))
        say(f"({key}) {r['label']:44s} {r['dofs']:8d} {r['steps']:5d} {r['newton']:6d} "
            f"{r['linear']:5d} {r['factorizations']:4d} {r['setup_s']:8.2f} "
            f"{r['setup_cpu_s']:8.2f} {r['step_mean']:8.3f} {r['step_cpu_mean']:8.3f} "
            f"{r['total']:8.1f} {r['total_cpu']:8.1f} {r['peak_mb']:8.0f}")
    for key, r in results.items():
        if len(r["step_s"]) > 2:
            say(f"({key}) step times s: first {r['step_s'][0]:.3f}, second "
                f"{r['step_s'][1]:.3f}, later mean {np.mean(r['step_s'][2:]):.3f} "
                f"(min {min(r['step_s'][2:]):.3f}, max {max(r['step_s'][2:]):.3f})")

    for key in "cg":
        if key in results:
            say(f"({key}) not in the step times: the stress fields the run loop derives after "
                f"every step (ChemoMechProblem.update_derived) take "
                f"{results[key]['post_s']:.3f} s per call")
    ref = results.get("c") or results.get("g")
    if ref is not None:
        mat = load_materials(args)
        R = orientation_field(geometry)
        for r in results.values():
            r["peaks"] = stress_peaks(geometry, R, mat, ref["c_max"], r["state"]["c"],
                                      r["state"]["u"])
        say(f"final state (t = {args.end:g} s) vs ({'c' if 'c' in results else 'g'}); stresses "
            "from the cell-midpoint evaluation of each variant's (c, u):")
        cmax = ref["c_max"]
        umax = _norm_max(ref["state"]["u"], comm)
        for key, r in results.items():
            dc = _abs_max(r["state"]["c"].x.array - ref["state"]["c"].x.array, comm)
            du = _norm_max_arr(r["state"]["u"].x.array - ref["state"]["u"].x.array, comm)
            pv, pr = r["peaks"]["von_mises"], ref["peaks"]["von_mises"]
            gv, gr = r["peaks"]["gb_traction"], ref["peaks"]["gb_traction"]
            say(f"({key}) max|dc| {dc:.3e} mol/m^3 ({dc / cmax:.2e} c_max), max|du| (no rigid "
                f"part) {du / umax:.2e} of max|u|; peak von Mises {pv / 1e9:.5f} GPa "
                f"(rel diff {abs(pv - pr) / abs(pr):.1e}); peak grain-boundary tension "
                f"{gv / 1e9:.5f} GPa (rel diff {abs(gv - gr) / abs(gr):.1e})")
        for key in "cg":
            if key in results:
                own = results[key]["own"]
                say(f"({key}) batteryfx's own summary: max von Mises "
                    f"{own['von_mises'] / 1e9:.5f} GPa, grain-boundary normal_max "
                    f"{own['gb_traction'] / 1e9:.5f} GPa")
    for num, den in (("a", "c"), ("a", "g"), ("c", "g")):
        if num in results and den in results:
            rn, rd = results[num], results[den]
            say(f"({num}) / ({den}): per step {rn['step_mean'] / rd['step_mean']:.3g} (CPU "
                f"{rn['step_cpu_mean'] / rd['step_cpu_mean']:.3g}), total incl. set-up "
                f"{rn['total'] / rd['total']:.3g} (CPU {rn['total_cpu'] / rd['total_cpu']:.3g})")
    if "c" in results and "g" in results:
        rc, rg = results["c"], results["g"]
        faster = "c" if rc["total"] < rg["total"] else "g"
        say(f"elasticity solvers: (c) mech {rc['mech']} {rc['total']:.1f} s, "
            f"{rc['peak_mb']:.0f} MB; (g) mech {rg['mech']} {rg['total']:.1f} s, "
            f"{rg['peak_mb']:.0f} MB: faster over these {args.steps} steps ({faster}) mech "
            f"{results[faster]['mech']}")
        d_setup = rc["setup_s"] - rg["setup_s"]
        d_step = rg["step_mean"] - rc["step_mean"]
        if d_setup * d_step > 0:
            say(f"  break-even at about {d_setup / d_step:.0f} steps (set-up difference / "
                "per-step difference)")
    if "a" in results and "c" in results:
        say(f"ratio particle_speedup {results['a']['total'] / results['c']['total']:.4g}")


def load_materials(args):
    from batteryfx.physics.chemomech import materials

    case = case_for(args)
    return materials(case)["materials"][case.physics.material]


def _abs_max(a, comm) -> float:
    return comm.allreduce(float(np.abs(a).max(initial=0.0)), op=MPI.MAX)


def _norm_max_arr(a, comm) -> float:
    return comm.allreduce(float(np.linalg.norm(a.reshape(-1, 3), axis=1).max(initial=0.0)),
                          op=MPI.MAX)


def _norm_max(u, comm) -> float:
    return max(_norm_max_arr(u.x.array, comm), 1e-300)


if __name__ == "__main__":
    main()
