"""Transient heat in a layer-resolved pouch cell: three ways to take the same steps, side by side.

The mesh and the physics are batteryfx's own (``cases/pouch_hotspot_piag_vs_cu.toml``: the pouch
builder with real footprints, tabs, the laminate, a 2 x 2 mm region held at 473 K inside the
stack, natural convection outside), with ``--cathodes N`` (2N unit cells) and in-plane mesh
sizes from the command line. Every method takes ``--steps`` backward-Euler steps at each
``--dt`` from the same initial state (298 K), with rtol 1e-8 for the iterative ones:

  (a) the DOLFINx tutorial way: ``dolfinx.fem.petsc.LinearProblem(a, L, bcs).solve()`` every
      step (re-assembles A and b, sets the preconditioner up again), CG + GAMG (PETSc
      defaults), capped at ``--gamg-max-it`` iterations (capped steps are flagged);
  (b) MUMPS LU with the factorization reused (batteryfx ``physics.solver = "direct"``);
  (c) batteryfx's default for this size (``physics.solver = "auto"``; ``--solver`` to force
      one, e.g. ``cg_column_mg``).

(b) and (c) run through batteryfx's HeatProblem (operators assembled once, A = M/dt + K
re-assembled only when dt changes). Printed per method and dt: setup time (the first step
at that dt: assembly, factorization or multigrid setup), mean time per later step (with
``--repeat R`` the fastest of R runs of the same steps from 298 K, each without the history of
the one before: the other load of a shared machine only ever slows a run down), linear
iterations per step, the cost of a step in matrix-vector products with A (wall time per step /
one MatMult, min of 20; "(CPU)": the same with process CPU times, max over the ranks, which
the other load of a shared machine inflates much less), the peak resident memory of the
process so far (summed over the ranks), and the largest difference of the final
temperatures from (b) (K; "-" when (a) took fewer steps). Then the ratios, and as the last line
``ratio pouch_heat_speedup <(a) per step / (c) per step at the dt closest to 1 s>`` (of the
dts (a) ran at). (a) is slow on large meshes: ``--a-dts`` and ``--a-steps`` restrict it to
fewer time steps and steps, ``--gamg-max-it`` caps its iterations (a capped step makes the
ratio an underestimate).

    python benchmarks/pouch_heat.py --cathodes 2 --mesh-size 2mm      # 84 k dofs (cathodes >= 2)
    python benchmarks/pouch_heat.py --cathodes 3 --mesh-size 0.6mm --dts 1e-3 1 10 \
        --steps 4 --a-dts 1e-3 1 --a-steps 2 --gamg-max-it 1000       # 0.50 M dofs, 6 units
    python benchmarks/pouch_heat.py --cathodes 10 --mesh-size 1.1mm ...        # 20 units
    mpiexec -n 2 python benchmarks/pouch_heat.py --cathodes 3 --mesh-size 0.6mm --methods c
    mpiexec -n 2 python benchmarks/pouch_heat.py --cathodes 3 --mesh-size 0.6mm \
        --dts 1e-3 1 10 --steps 20 --repeat 5 --scaling   # 1 vs 2 ranks in one run (efficiency)
"""

from __future__ import annotations

import argparse
import time

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
from peak_memory import peak_mb

import batteryfx  # noqa: F401  (imports dolfinx_solver before dolfinx when installed)
from batteryfx.case import load_case
from batteryfx.cli import bundled_cases
from batteryfx.geometry_args import build_case_geometry
from batteryfx.run import build_problem


def case_for(args, solver: str):
    sets = [f"geometry.cathodes={args.cathodes}", f"geometry.mesh_size={args.mesh_size}",
            f"geometry.regions[0].mesh_size={args.spot_mesh_size}",
            "physics.scheme='theta'", "physics.theta=1.0", f"physics.solver='{solver}'",
            "physics.rtol=1e-8", "physics.mass_lumping=false"]
    return load_case(bundled_cases()["pouch_hotspot_piag_vs_cu"], sets)


def matmult_time(A: PETSc.Mat, comm) -> tuple[float, float]:
    """(wall, CPU) time of one MatMult with A: min over 20 single products (wall) and over
    5 batches of 20 (process CPU time, whose resolution is too coarse for one product); max
    over the ranks."""
    x, y = A.createVecs()
    x.set(1.0)
    best, best_cpu = np.inf, np.inf
    for _ in range(20):
        comm.Barrier()
        t = time.perf_counter()
        A.mult(x, y)
        best = min(best, time.perf_counter() - t)
    for _ in range(5):
        comm.Barrier()
        t = time.process_time()
        for _ in range(20):
            A.mult(x, y)
        best_cpu = min(best_cpu, (time.process_time() - t) / 20)
    x.destroy()
    y.destroy()
    return comm.allreduce(best, op=MPI.MAX), comm.allreduce(best_cpu, op=MPI.MAX)


def run_batteryfx(args, solver: str, geometry, comm) -> dict:
    """(b) / (c): HeatProblem with the case's conditions; per dt setup and step times."""
    problem = build_problem(case_for(args, solver), geometry)
    if args.no_predict:
        problem.predict = False
    if args.project is not None:
        problem.set_projection(args.project)
    out = {"label": f"batteryfx {problem.solver}", "dt": {}}
    for dt in args.dts:
        per = per_cpu = np.inf
        for repeat in range(args.repeat):
            # each repeat the same transient from 298 K (no history kept; the operator and
            # the preconditioner set up by the first repeat's first step stay)
            run = _timed_steps(problem, dt, args.steps, comm)
            if not repeat:
                setup, it_first = run["first_s"], run["first_its"]
            per, per_cpu = min(per, run["step_s"]), min(per_cpu, run["step_cpu_s"])
            its = run["its"]
        mm, mm_cpu = matmult_time(problem.A, comm)
        out["dt"][dt] = {"setup_s": setup, "step_s": per, "step_cpu_s": per_cpu,
                         "iterations": its, "first_iterations": it_first, "matmult_s": mm,
                         "matmult_cpu_s": mm_cpu, "peak_mb": peak_mb(comm),
                         "steps": args.steps, "T": problem.T.x.array.copy()}
    out["dofs"] = problem.num_dofs
    problem.destroy()
    return out


def _wait_idle(comm) -> None:
    """Wait for the other ranks without spinning (an MPI barrier polls and takes a core)."""
    req = comm.Ibarrier()
    while not req.Test():
        time.sleep(0.002)


def _timed_steps(problem, dt: float, steps: int, comm, start=None) -> dict:
    """The transient from 298 K at dt (no history: the predictor and the projection basis
    forgotten): ``first_s`` / ``first_its`` of the first step (with a change of dt: the
    set-up), and per later step (steps 2..``steps``) ``step_s`` (wall), ``step_cpu_s``
    (process CPU) and ``its``; times max over the ranks of ``comm``; the later steps start
    together on the ranks of ``start`` (default ``comm``)."""
    problem.T.x.array[:] = 298.0
    problem.reset_predictor()
    it0 = problem.iterations
    comm.Barrier()
    t0 = time.perf_counter()
    problem.step(dt)
    first = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    it1 = problem.iterations
    later = max(steps - 1, 1)
    (start or comm).Barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps - 1):
        problem.step(dt)
    return {"first_s": first, "first_its": it1 - it0,
            "step_s": comm.allreduce(time.perf_counter() - t0, op=MPI.MAX) / later,
            "step_cpu_s": comm.allreduce(time.process_time() - c0, op=MPI.MAX) / later,
            "its": (problem.iterations - it1) / later}


def run_scaling(args, comm, say) -> None:
    """--scaling (under mpiexec -n 2 or more): (c) on one rank and on all ranks in one run,
    so that both see the same machine. Rounds of, per dt: (1) the serial solve on rank 0
    while the other ranks wait idle; (2) the serial solve on every rank at once, each its
    own copy (independent jobs: what the machine's shared memory bandwidth and caches allow
    at best); (3) the parallel solve on all ranks. The fastest of ``--repeat`` rounds of
    each. Parallel efficiency = t(1) / (P t(3)); the ceiling t(1) / t(2) is the efficiency
    of P jobs that need no communication at all (1 on a machine whose cores do not slow
    each other down)."""
    if comm.size < 2:
        raise SystemExit("--scaling compares 1 rank with all: run it under mpiexec -n 2")
    self_comm = MPI.COMM_SELF
    parallel = build_problem(case_for(args, args.solver),
                             build_case_geometry(case_for(args, "direct").geometry, comm))
    serial = build_problem(case_for(args, args.solver),
                           build_case_geometry(case_for(args, "direct").geometry, self_comm))
    say(f"scaling: (c) = batteryfx {parallel.solver}, {parallel.num_dofs} dofs, "
        f"{args.steps} steps per dt, fastest of {args.repeat} rounds")
    say(f"{'dt s':>8s} {'1 rank s':>9s} {'its':>5s} {f'{comm.size} x 1 rank s':>14s} "
        f"{f'{comm.size} ranks s':>11s} {'its':>5s} {'efficiency':>10s} {'ceiling':>8s}")
    for dt in args.dts:
        # set-up at this dt (operators, preconditioners), not timed
        serial.step(dt)
        parallel.step(dt)
        solo = alone = par = np.inf
        for _ in range(args.repeat):
            if comm.rank == 0:
                run = _timed_steps(serial, dt, args.steps, self_comm)
                solo, its_1 = min(solo, run["step_s"]), run["its"]
            _wait_idle(comm)
            run = _timed_steps(serial, dt, args.steps, self_comm, start=comm)
            alone = min(alone, comm.allreduce(run["step_s"], op=MPI.MAX))
            run = _timed_steps(parallel, dt, args.steps, comm)
            par, its_p = min(par, run["step_s"]), run["its"]
        solo = comm.bcast(solo, root=0)
        its_1 = comm.bcast(its_1 if comm.rank == 0 else None, root=0)
        say(f"{dt:8.0e} {solo:9.4f} {its_1:5.2f} {alone:14.4f} {par:11.4f} {its_p:5.2f} "
            f"{solo / (comm.size * par):10.1%} {solo / alone:8.1%}")
    serial.destroy()
    parallel.destroy()


def run_tutorial(args, geometry, comm, reference: dict) -> dict:
    """(a): a LinearProblem per step with CG + GAMG, as the DOLFINx tutorial teaches."""
    import ufl
    from dolfinx import fem
    from dolfinx.fem.petsc import LinearProblem

    heat = build_problem(case_for(args, "direct"), geometry)  # for k, rho c_p, V, the bcs
    V, mesh = heat.V, geometry.mesh
    k = heat.conductivity
    rc = heat.heat_capacity
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    T_n = fem.Function(V)
    dtc = fem.Constant(mesh, PETSc.ScalarType(1.0))
    if isinstance(k, tuple):
        kk = ufl.as_matrix([[k[0], 0, 0], [0, k[0], 0], [0, 0, k[1]]])
        flux = ufl.inner(kk * ufl.grad(u), ufl.grad(v))
    else:
        flux = k * ufl.inner(ufl.grad(u), ufl.grad(v))
    ds = ufl.Measure("ds", domain=mesh, subdomain_data=geometry.facet_tags)
    outer = ds(tuple(geometry.markers["outer"].tags))
    h, t_amb = 10.0, 298.0
    a = rc / dtc * u * v * ufl.dx + flux * ufl.dx + h * u * v * outer
    L = rc / dtc * T_n * v * ufl.dx + h * t_amb * v * outer
    out = {"label": "tutorial LinearProblem CG+GAMG", "dt": {}}
    for dt in args.a_dts or args.dts:
        dtc.value = dt
        T_n.x.array[:] = 298.0
        problem = LinearProblem(
            a, L, bcs=heat.bcs, petsc_options_prefix="tutorial_",
            petsc_options={"ksp_type": "cg", "pc_type": "gamg", "ksp_rtol": 1e-8,
                           "ksp_max_it": args.gamg_max_it})
        times, cpu, its, capped = [], [], [], 0
        for _ in range(args.a_steps or args.steps):
            comm.Barrier()
            t0, c0 = time.perf_counter(), time.process_time()
            T = problem.solve()
            times.append(comm.allreduce(time.perf_counter() - t0, op=MPI.MAX))
            cpu.append(comm.allreduce(time.process_time() - c0, op=MPI.MAX))
            n = problem.solver.getIterationNumber()
            its.append(n)
            capped += n >= args.gamg_max_it
            T_n.x.array[:] = T.x.array
        mm, mm_cpu = matmult_time(problem.A, comm)
        out["dt"][dt] = {"setup_s": times[0], "step_s": float(np.mean(times[1:] or times)),
                         "step_cpu_s": float(np.mean(cpu[1:] or cpu)),
                         "iterations": float(np.mean(its)), "capped_steps": capped,
                         "matmult_s": mm, "matmult_cpu_s": mm_cpu, "peak_mb": peak_mb(comm),
                         "steps": len(times), "T": T_n.x.array.copy()}
    out["dofs"] = heat.num_dofs
    heat.destroy()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cathodes", type=int, default=2)
    p.add_argument("--mesh-size", default="2mm")
    p.add_argument("--spot-mesh-size", default="0.25mm")
    p.add_argument("--dts", type=float, nargs="+", default=[1e-3, 1e-1, 1.0])
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--solver", default="auto", help="(c): physics.solver")
    p.add_argument("--methods", default="abc")
    p.add_argument("--project", type=int, default=None,
                   help="(c): how many earlier corrections the initial guesses are projected "
                   "on (default: the heat solver's, 16; 0: off)")
    p.add_argument("--no-predict", action="store_true",
                   help="(c): initial guess T^n instead of the extrapolation in time")
    p.add_argument("--gamg-max-it", type=int, default=3000)
    p.add_argument("--a-dts", type=float, nargs="+", default=None,
                   help="(a) only at these of --dts (default: all; (a) is slow)")
    p.add_argument("--a-steps", type=int, default=None, help="(a): steps per dt (--steps)")
    p.add_argument("--repeat", type=int, default=1,
                   help="(b), (c): run each dt's steps this many times from 298 K and keep "
                   "the fastest (the other load of a shared machine only slows runs down)")
    p.add_argument("--scaling", action="store_true",
                   help="under mpiexec -n P: (c) on 1 rank, on P ranks, and P independent "
                   "1-rank copies at once, in interleaved rounds of one run (see run_scaling); "
                   "nothing else")
    args = p.parse_args()
    comm = MPI.COMM_WORLD

    def say(*a):
        if comm.rank == 0:
            print(*a, flush=True)

    if args.scaling:
        run_scaling(args, comm, say)
        return

    t0 = time.perf_counter()
    geometry = build_case_geometry(case_for(args, "direct").geometry, comm)
    say(f"pouch: {2 * args.cathodes} unit cells, mesh {args.mesh_size} (spot "
        f"{args.spot_mesh_size}), {geometry.num_cells_global()} cells, built in "
        f"{time.perf_counter() - t0:.1f} s on {comm.size} rank(s)")
    results = {}
    for m in args.methods:  # (c) before (b): MUMPS's memory would hide (c)'s peak
        if m == "c":
            results["c"] = run_batteryfx(args, args.solver, geometry, comm)
    if "b" in args.methods:
        results["b"] = run_batteryfx(args, "direct", geometry, comm)
    if "a" in args.methods:
        results["a"] = run_tutorial(args, geometry, comm, results.get("b"))
    ref = results.get("b")
    say(f"dofs: {next(iter(results.values()))['dofs']}, {comm.size} rank(s)")
    say(f"{'method':34s} {'dt s':>8s} {'setup s':>9s} {'step s':>9s} {'its':>7s} "
        f"{'MatMult-eq':>10s} {'(CPU)':>7s} {'peak MB':>9s} {'|dT| vs b':>10s}")
    for key in "abc":
        if key not in results:
            continue
        r = results[key]
        for dt, d in r["dt"].items():
            diff = f"{'-':>10s}"  # (no reference, or another number of steps)
            if ref is not None and dt in ref["dt"] and ref["dt"][dt]["steps"] == d["steps"]:
                local = np.abs(d["T"] - ref["dt"][dt]["T"]).max(initial=0.0)
                diff = f"{comm.allreduce(local, op=MPI.MAX):10.2e}"
            flag = f" ({d['capped_steps']} capped)" if d.get("capped_steps") else ""
            say(f"({key}) {r['label']:30s} {dt:8.0e} {d['setup_s']:9.3f} {d['step_s']:9.4f} "
                f"{d['iterations']:7.1f} {d['step_s'] / d['matmult_s']:10.1f} "
                f"{d['step_cpu_s'] / d['matmult_cpu_s']:7.1f} {d['peak_mb']:9.0f} {diff}{flag}")
    for num, den in (("a", "c"), ("b", "c")):
        if num in results and den in results:
            for dt in [d for d in args.dts if d in results[num]["dt"]]:
                rn, rd = results[num]["dt"][dt], results[den]["dt"][dt]
                say(f"({num}) / ({den}) per step at dt = {dt:g} s: "
                    f"{rn['step_s'] / rd['step_s']:.3g}")
    if "b" in results and "c" in results:
        n = 100
        for dt in args.dts:
            rb, rc_ = results["b"]["dt"][dt], results["c"]["dt"][dt]
            cost_b = rb["setup_s"] + (n - 1) * rb["step_s"]
            cost_c = rc_["setup_s"] + (n - 1) * rc_["step_s"]
            say(f"(b) / (c) over {n} steps incl. setup at dt = {dt:g} s: {cost_b / cost_c:.3g}")
    if "a" in results and "c" in results:
        target = min(results["a"]["dt"], key=lambda d: abs(np.log(d)))
        ratio = results["a"]["dt"][target]["step_s"] / results["c"]["dt"][target]["step_s"]
        say(f"ratio pouch_heat_speedup {ratio:.4g}")


if __name__ == "__main__":
    main()
