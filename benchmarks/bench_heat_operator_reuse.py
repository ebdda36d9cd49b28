"""Heat solver: operators assembled once + factorization reused (batteryfx.solvers.heat) vs the
textbook DOLFINx loop (LinearProblem.solve(), which re-assembles matrix and right-hand side and
re-factorizes every step). Same coupon mesh, same constant dt, same steps, in one process; prints
both times, the speed-up ratio and the largest difference between the two solutions.

    python benchmarks/bench_heat_operator_reuse.py [--mesh-size "0.5 um"] [--steps 40]
    mpiexec -n 2 python benchmarks/bench_heat_operator_reuse.py
"""

from __future__ import annotations

import argparse
import time

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem.petsc import LinearProblem

from batteryfx.case import load_case
from batteryfx.cli import bundled_cases
from batteryfx.geometry_args import build_case_geometry
from batteryfx.run import build_problem


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mesh-size", default="0.5 um")
    ap.add_argument("--hot-spot-mesh-size", default="0.5 um")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--dt", type=float, default=1e-6)
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    # backward Euler in both, so the two loops compute the same numbers
    case = load_case(bundled_cases()["coupon_pi_ag_vs_cu"],
                     [f'geometry.mesh_size="{args.mesh_size}"',
                      f'geometry.hot_spot.mesh_size="{args.hot_spot_mesh_size}"',
                      "physics.scheme=\"theta\"", "physics.theta=1.0"])
    geometry = build_case_geometry(case.geometry, comm)

    # (a) batteryfx: M, K, loads assembled once; RHS by SpMV; one factorization for constant dt
    problem = build_problem(case, geometry)
    comm.Barrier()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        problem.step(args.dt)
    t_reuse = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)

    # (b) textbook: LinearProblem re-assembles A and b and re-factorizes every step
    V = problem.V
    T_old = fem.Function(V)
    T_old.x.array[:] = case.physics.initial_temperature
    T_new = fem.Function(V)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    dx = ufl.Measure("dx", domain=geometry.mesh,
                     metadata={"quadrature_rule": "vertex", "quadrature_degree": 1})
    k, rc = problem.conductivity, problem.heat_capacity
    dt = fem.Constant(geometry.mesh, PETSc.ScalarType(args.dt))
    a = rc * u * v / dt * dx + k * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx
    L = rc * T_old * v / dt * dx
    lp = LinearProblem(a, L, bcs=problem.bcs, u=T_new, petsc_options_prefix="bench_textbook_",
                       petsc_options={"ksp_type": "preonly", "pc_type": "lu",
                                      "pc_factor_mat_solver_type": "mumps"})
    comm.Barrier()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        lp.solve()
        T_old.x.array[:] = T_new.x.array
    t_text = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    diff = comm.allreduce(np.max(np.abs(T_new.x.array - problem.T.x.array)), op=MPI.MAX)
    if comm.rank == 0:
        print(f"coupon mesh {args.mesh_size}: {problem.num_dofs} dofs, {args.steps} steps of "
              f"{args.dt:g} s on {comm.size} rank(s)")
        print(f"  batteryfx (operators once, LU reused): {t_reuse:8.3f} s "
              f"({problem.factorizations} factorization)")
        print(f"  LinearProblem.solve() every step:      {t_text:8.3f} s")
        print(f"  speed-up ratio: {t_text / t_reuse:.1f}x   max |T_a - T_b| = {diff:.2e} K")


if __name__ == "__main__":
    main()
