"""Preconditioners for transient heat conduction on a layered pouch-cell mesh, side by side.

Synthetic extruded mesh: a graded in-plane quad grid over 58 x 45 mm (plus tab rows of 5 mm
in y that keep only the Cu or Al foils) times a stack of ``--units`` repeats of 10 layers
(Al 12, cathode 60, separator 16, Li 20, Ag 0.5, Cu 8, polyimide 7, Cu 8, Ag 0.5, Li 20 um;
k from 0.12 to 429 W/(m K)) plus a closing separator / cathode / Al, one hexahedron per
layer; the cathode is removed outside a footprint 1 mm in from the edges. A patch of the top
face is held at 473 K, the rest is insulated; backward Euler from 298 K, consistent mass,
A = M/dt + K. Every method takes ``--steps`` steps per time step in ``--dt`` (rtol 1e-8, the
previous step as initial guess for the iterative ones):

  (a) DOLFINx-tutorial style: ``LinearProblem(...).solve()`` each step (re-assembles A and b,
      sets GAMG up again), CG + GAMG with PETSc defaults, capped at ``--gamg-max-it``
      iterations (it can need thousands; capped steps are flagged);
  (b) MUMPS LU of A, factorized once per dt and reused; b = M T / dt - (M/dt + K) g (the
      lifting computed once per dt): one SpMV per step;
  (c) CG + column multigrid (batteryfx.solvers.column_mg), set up once, numeric re-setup when
      dt changes; b as in (b).

Prints per dt: setup time, time per step, iterations, the cost of a step in units of one
MatMult with A (wall time of the step / min of 20 MatMults; "(CPU)": the same with the
process CPU time of the step and of a MatMult, max over the ranks, which the other load
of a shared machine inflates much less), resident memory added by the setup and the process's peak
(resource.getrusage), the difference of each method's first step from MUMPS's (max norm,
relative), and ratios, then the last line
``ratio pouch_heat_speedup <(a) per step / (c) per step at the dt closest to 1 s>``.

    python benchmarks/pouch_heat_pc.py --units 5 --nx 57 --ny 44      # ~140 k dofs
    python benchmarks/pouch_heat_pc.py --units 20 --nx 57 --ny 44     # ~540 k dofs
    python benchmarks/pouch_heat_pc.py --units 20 --nx 115 --ny 88    # ~2.1 M dofs
    mpiexec -n 2 python benchmarks/pouch_heat_pc.py --units 20 --nx 57 --ny 44
"""

from __future__ import annotations

import argparse
import resource
import time

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import ufl
from dolfinx import fem, mesh
from dolfinx.fem import petsc as fem_petsc

import batteryfx  # noqa: F401  (imports dolfinx_solver before dolfinx when installed)
from batteryfx.solvers.column_mg import column_mg_context, setup_column_mg

# name: thickness (m), k (W/(m K)), rho c_p (J/(m^3 K))
MATERIALS = {
    "Cu": (8e-6, 400.0, 3.44e6),
    "PI": (7e-6, 0.12, 1.58e6),
    "Ag": (0.5e-6, 429.0, 2.45e6),
    "Li": (20e-6, 85.0, 1.65e6),
    "sep": (16e-6, 0.34, 1.9e6),
    "cathode": (60e-6, 0.8, 2.6e6),
    "Al": (12e-6, 237.0, 2.42e6),
}
UNIT = ["Al", "cathode", "sep", "Li", "Ag", "Cu", "PI", "Cu", "Ag", "Li"]
CLOSE = ["sep", "cathode", "Al"]
LX, LY, TAB = 58e-3, 45e-3, 5e-3  # m
HOT, T0 = 473.0, 298.0  # K


def graded(n: int, length: float, g: float = 1.0) -> np.ndarray:
    """n cells over [0, length], finer towards both ends (tanh grading; ratio ~2.4)."""
    s = np.linspace(0.0, 1.0, n + 1)
    return length * 0.5 * (1.0 + np.tanh(g * (2 * s - 1)) / np.tanh(g))


def pouch_mesh(comm, units: int, nx: int, ny: int):
    """The layered pouch mesh and DG0 k, rho c_p (see the module docstring)."""
    names = UNIT * units + CLOSE
    z = np.concatenate([[0.0], np.cumsum([MATERIALS[m][0] for m in names])])
    xs = graded(nx, LX)
    tab_rows = max(2, round(TAB / (LY / ny)))
    ys = np.concatenate([graded(ny, LY), LY + TAB * np.arange(1, tab_rows + 1) / tab_rows])
    nyt, nl = ys.size - 1, len(names)
    msh = mesh.create_box(comm, [[0, 0, 0], [1, 1, 1]], [nx, nyt, nl],
                          mesh.CellType.hexahedron)
    x = msh.geometry.x
    x[:, 0] = xs[np.rint(x[:, 0] * nx).astype(int)]
    x[:, 1] = ys[np.rint(x[:, 1] * nyt).astype(int)]
    x[:, 2] = z[np.rint(x[:, 2] * nl).astype(int)]
    ncell = msh.topology.index_map(3).size_local
    mid = mesh.compute_midpoints(msh, 3, np.arange(ncell, dtype=np.int32))
    layer = np.array(names)[np.searchsorted(z, mid[:, 2]) - 1]
    in_tab = mid[:, 1] > LY
    anode_tab = (mid[:, 0] > 8e-3) & (mid[:, 0] < 18e-3)
    cathode_tab = (mid[:, 0] > 40e-3) & (mid[:, 0] < 50e-3)
    keep = ~in_tab | (anode_tab & (layer == "Cu")) | (cathode_tab & (layer == "Al"))
    outside = (mid[:, 0] < 1e-3) | (mid[:, 0] > LX - 1e-3) | (mid[:, 1] < 1e-3) \
        | (mid[:, 1] > LY - 1e-3)
    keep &= ~(outside & (layer == "cathode"))
    msh = mesh.create_submesh(msh, 3, np.flatnonzero(keep).astype(np.int32))[0]
    nc = msh.topology.index_map(3).size_local + msh.topology.index_map(3).num_ghosts
    mid = mesh.compute_midpoints(msh, 3, np.arange(nc, dtype=np.int32))
    layer = np.searchsorted(z, mid[:, 2]) - 1
    Q = fem.functionspace(msh, ("DG", 0))
    k, rc = fem.Function(Q, name="k"), fem.Function(Q, name="rho_cp")
    cells = Q.dofmap.list[np.arange(nc)].ravel()
    k.x.array[cells] = np.array([MATERIALS[m][1] for m in names])[layer]
    rc.x.array[cells] = np.array([MATERIALS[m][2] for m in names])[layer]
    return msh, k, rc, len(names)


def rss_mb() -> float:
    """Current resident memory of this process (MB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_mb() -> float:
    """Peak resident memory of this process so far (MB; ru_maxrss is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Case:
    def __init__(self, comm, units: int, nx: int, ny: int):
        t0 = time.perf_counter()
        self.comm = comm
        msh, k, rc, self.nlayers = pouch_mesh(comm, units, nx, ny)
        self.msh, self.k, self.rc = msh, k, rc
        self.V = V = fem.functionspace(msh, ("Lagrange", 1))
        self.u, self.v = u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        self.dtc = fem.Constant(msh, PETSc.ScalarType(1.0))
        self.a = rc / self.dtc * u * v * ufl.dx + k * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx
        self.a_form = fem.form(self.a)
        top = comm.allreduce(msh.geometry.x[:, 2].max(), op=MPI.MAX)
        dofs = fem.locate_dofs_geometrical(
            V, lambda p: np.isclose(p[2], top, rtol=0, atol=1e-9)
            & (np.abs(p[0] - 29e-3) < 3.1e-3) & (np.abs(p[1] - 22.5e-3) < 3.1e-3))
        self.bc = fem.dirichletbc(PETSc.ScalarType(HOT), dofs, V)
        self.M = fem_petsc.assemble_matrix(fem.form(rc * u * v * ufl.dx))
        self.M.assemble()
        self.K = fem_petsc.assemble_matrix(fem.form(k * ufl.inner(ufl.grad(u), ufl.grad(v))
                                                    * ufl.dx))
        self.K.assemble()
        self.A = fem_petsc.create_matrix(self.a_form)
        g = fem.Function(V)
        self.bc.set(g.x.array)
        self.g = g.x.petsc_vec.copy()
        n = V.dofmap.index_map.size_local
        rows = self.bc.dof_indices()[0]
        self.rows = rows[rows < n].astype(PETSc.IntType)
        self.ndofs = V.dofmap.index_map.size_global
        self.mesh_s = time.perf_counter() - t0

    def matrix(self, dt: float) -> PETSc.Mat:
        self.dtc.value = dt
        self.A.zeroEntries()
        fem_petsc.assemble_matrix(self.A, self.a_form, bcs=[self.bc])
        self.A.assemble()
        return self.A

    def lifting(self, dt: float, w: PETSc.Vec) -> None:
        """w = (M/dt + K) g (once per dt): the lifting by the unconstrained operator."""
        tmp = w.duplicate()
        self.M.mult(self.g, w)
        w.scale(1.0 / dt)
        self.K.mult(self.g, tmp)
        w.axpy(1.0, tmp)
        tmp.destroy()

    def rhs(self, T: PETSc.Vec, dt: float, b: PETSc.Vec, w: PETSc.Vec) -> None:
        """b = M T / dt - w (w from :meth:`lifting`), b = g on the fixed rows: one SpMV."""
        self.M.mult(T, b)
        b.scale(1.0 / dt)
        b.axpy(-1.0, w)
        b.array[self.rows] = HOT

    def matmult_time(self, A: PETSc.Mat, clock=time.perf_counter) -> float:
        x, y = A.createVecs()
        x.set(1.0)
        best = np.inf
        for _ in range(20):
            self.comm.Barrier()
            t = clock()
            A.mult(x, y)
            best = min(best, clock() - t)
        x.destroy()
        y.destroy()
        return self.comm.allreduce(best, op=MPI.MAX)

    def initial(self) -> PETSc.Vec:
        T = self.A.createVecs()[0]
        T.set(T0)
        T.array[self.rows] = HOT
        return T


def wall(comm, t0: float) -> float:
    return comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)


def cpu(comm, t0: float) -> float:
    """Process CPU time since t0 (time.process_time), max over the ranks: a cost measure
    that other processes on a shared machine inflate much less than wall time (MPI's
    busy waiting counts as CPU time)."""
    return comm.allreduce(time.process_time() - t0, op=MPI.MAX)


def run_assembled(case: Case, dts, steps: int, make_ksp, label: str) -> dict:
    """Steps with A assembled once per dt and b from SpMVs; ``make_ksp`` configures."""
    comm = case.comm
    out = {"label": label, "dt": {}}
    T = case.initial()
    b, w = T.duplicate(), T.duplicate()
    ksp = None
    mem0 = rss_mb()
    for dt in dts:
        T.set(T0)
        T.array[case.rows] = HOT
        A = case.matrix(dt)
        case.lifting(dt, w)
        comm.Barrier()
        t0 = time.perf_counter()
        if ksp is None:
            ksp, info = make_ksp(A)
        else:
            ksp.setOperators(A)
        ksp.setUp()
        setup = wall(comm, t0)
        mem = comm.allreduce(rss_mb() - mem0, op=MPI.SUM)
        times, cpus, its, first = [], [], [], None
        for _ in range(steps):
            comm.Barrier()
            t0, c0 = time.perf_counter(), time.process_time()
            case.rhs(T, dt, b, w)
            ksp.solve(b, T)
            times.append(wall(comm, t0))
            cpus.append(cpu(comm, c0))
            its.append(ksp.getIterationNumber())
            if first is None:
                first = T.copy()
            if ksp.getConvergedReason() < 0:
                raise RuntimeError(f"{label}: not converged at dt = {dt} "
                                   f"(reason {ksp.getConvergedReason()})")
        out["dt"][dt] = {"setup": setup, "step": float(np.mean(times)), "its": its,
                         "cpu": float(np.mean(cpus)),
                         "mem": mem, "peak": comm.allreduce(peak_mb(), op=MPI.SUM),
                         "T": first, "info": dict(info) if info is not None else None}
    ksp.destroy()
    b.destroy()
    w.destroy()
    T.destroy()
    return out


def make_mumps(A):
    ksp = PETSc.KSP().create(A.getComm())
    ksp.setOperators(A)
    ksp.setType("preonly")
    pc = ksp.getPC()
    pc.setType("lu")
    pc.setFactorSolverType("mumps")
    return ksp, None


def make_column_mg(V, options):
    def make(A):
        ksp = PETSc.KSP().create(A.getComm())
        ksp.setTolerances(rtol=1e-8, atol=0.0, max_it=500)
        ksp.setInitialGuessNonzero(True)
        info = setup_column_mg(ksp, A, V, **options)
        assert column_mg_context(ksp).info is info
        return ksp, info
    return make


def run_tutorial(case: Case, dts, steps: int, max_it: int) -> dict:
    """(a): LinearProblem.solve() every step: CG + GAMG with PETSc's defaults."""
    from dolfinx.fem.petsc import LinearProblem

    comm = case.comm
    out = {"label": "LinearProblem CG+GAMG", "dt": {}}
    T_old = fem.Function(case.V)
    T_new = fem.Function(case.V)
    L = case.rc / case.dtc * T_old * case.v * ufl.dx
    mem0 = rss_mb()
    problem = LinearProblem(case.a, L, bcs=[case.bc], u=T_new,
                            petsc_options_prefix="bench_tutorial_",
                            petsc_options={"ksp_type": "cg", "pc_type": "gamg",
                                           "ksp_rtol": 1e-8, "ksp_atol": 0.0,
                                           "ksp_max_it": max_it})
    problem.solver.setInitialGuessNonzero(True)
    for dt in dts:
        case.dtc.value = dt
        T_old.x.array[:] = T0
        case.bc.set(T_old.x.array)
        T_new.x.array[:] = T_old.x.array
        times, cpus, its, capped, first = [], [], [], 0, None
        for _ in range(steps):
            comm.Barrier()
            t0, c0 = time.perf_counter(), time.process_time()
            problem.solve()
            times.append(wall(comm, t0))
            cpus.append(cpu(comm, c0))
            its.append(problem.solver.getIterationNumber())
            capped += int(problem.solver.getConvergedReason() < 0)
            if first is None:
                first = T_new.x.petsc_vec.copy()
            T_old.x.array[:] = T_new.x.array
        out["dt"][dt] = {"setup": 0.0, "step": float(np.mean(times)), "its": its,
                         "cpu": float(np.mean(cpus)),
                         "capped": capped, "mem": comm.allreduce(rss_mb() - mem0),
                         "peak": comm.allreduce(peak_mb(), op=MPI.SUM),
                         "T": first, "info": None}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--units", type=int, default=5, help="repeats of the 10-layer unit")
    ap.add_argument("--nx", type=int, default=57, help="cells in x over 58 mm")
    ap.add_argument("--ny", type=int, default=44, help="cells in y over 45 mm (+ tab rows)")
    ap.add_argument("--dt", type=float, nargs="+", default=[1e-3, 1.0, 10.0], help="s")
    ap.add_argument("--steps", type=int, default=3, help="steps per dt")
    ap.add_argument("--tutorial-steps", type=int, default=1, help="steps per dt for (a)")
    ap.add_argument("--gamg-max-it", type=int, default=3000)
    ap.add_argument("--skip", nargs="*", default=[], choices=["tutorial", "mumps"])
    ap.add_argument("--mg", nargs="*", default=[], metavar="KEY=VALUE",
                    help="column multigrid options, e.g. smoother=line cycle=W")
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    options = {}
    for item in args.mg:
        key, value = item.split("=", 1)
        try:
            options[key] = eval(value, {})  # numbers, tuples, True / False
        except Exception:
            options[key] = value
    case = Case(comm, args.units, args.nx, args.ny)
    say(f"pouch heat: {case.ndofs} dofs, {case.nlayers} layers x ({args.nx} x {args.ny} + tab) "
        f"cells, {comm.size} rank(s); mesh + operators {case.mesh_s:.1f} s; backward Euler, "
        f"dt = {args.dt} s, rtol 1e-8")
    tmv, cmv = {}, {}
    for dt in args.dt:
        tmv[dt] = case.matmult_time(case.matrix(dt))
        cmv[dt] = case.matmult_time(case.A, time.process_time)
    say("MatMult with A: " + ", ".join(f"{tmv[dt] * 1e3:.2f} ms (dt {dt:g})" for dt in args.dt))

    results = [run_assembled(case, args.dt, args.steps, make_column_mg(case.V, options),
                             "CG + column MG")]
    info = results[0]["dt"][args.dt[-1]]["info"]
    say(f"column MG: {info['levels']} levels, dofs {info['dofs']}, operator complexity "
        f"{info['operator_complexity']:.2f}, fine smoother {info['smoother']}, "
        f"split columns {info['split_columns']}")
    if "mumps" not in args.skip:
        results.append(run_assembled(case, args.dt, args.steps, make_mumps,
                                     "MUMPS (LU reused)"))
    if "tutorial" not in args.skip:
        results.append(run_tutorial(case, args.dt, args.tutorial_steps, args.gamg_max_it))
    names = {"CG + column MG": "(c)", "MUMPS (LU reused)": "(b)", "LinearProblem CG+GAMG": "(a)"}
    ref = next((r for r in results if r["label"].startswith("MUMPS")), results[0])
    for dt in args.dt:
        say(f"\ndt = {dt:g} s   (cost in MatMult units: {tmv[dt] * 1e3:.2f} ms)")
        say(f"  {'method':28s} {'setup s':>8s} {'step s':>9s} {'its/step':>12s} "
            f"{'MatMults':>9s} {'(CPU)':>6s} {'+RSS MB':>8s} {'peak MB':>8s} {'dT1/T1':>10s}")
        for r in results:
            d = r["dt"][dt]
            its = d["its"]
            its_s = f"{np.mean(its):.1f}" if its and max(its) > 0 else "-"
            note = f" (capped at {args.gamg_max_it}: {d['capped']} of {len(its)})" \
                if d.get("capped") else ""
            diff = d["T"].copy()
            diff.axpy(-1.0, ref["dt"][dt]["T"])
            rel = diff.norm(PETSc.NormType.INFINITY) / ref["dt"][dt]["T"].norm(
                PETSc.NormType.INFINITY)
            diff.destroy()
            say(f"  {names[r['label']]} {r['label']:24s} {d['setup']:8.2f} {d['step']:9.4f} "
                f"{its_s:>12s} {d['step'] / tmv[dt]:9.1f} {d['cpu'] / cmv[dt]:6.1f} "
                f"{d['mem']:8.0f} {d['peak']:8.0f} "
                f"{rel:10.1e}{note}")
        by = {names[r["label"]]: r["dt"][dt] for r in results}
        c = by["(c)"]
        if "(a)" in by:
            say(f"  ratio (a)/(c) per step: {by['(a)']['step'] / c['step']:.1f}"
                + ("  [(a) hit the iteration cap: a lower bound]" if by["(a)"].get("capped")
                   else "")
                + ("  [(a) steps were each a fresh solve: its setup is in its step time]"))
        if "(b)" in by:
            b = by["(b)"]
            t100b = b["setup"] + 100 * b["step"]
            t100c = c["setup"] + 100 * c["step"]
            say(f"  ratio (b)/(c) per step: {b['step'] / c['step']:.1f}; 100 steps incl. setup: "
                f"(b) {t100b:.1f} s, (c) {t100c:.1f} s, ratio {t100b / t100c:.1f}")
        if c["info"] is not None:
            say("  (c) setup detail: " + ", ".join(
                f"{k} {v:.2f}" for k, v in c["info"].items() if k.endswith("_s"))
                + f"; reused levels {c['info'].get('reused_levels')}")
    for r in results:
        for d in r["dt"].values():
            d["T"].destroy()
    key = min(args.dt, key=lambda t: abs(np.log(t)))
    a = next((r for r in results if r["label"].startswith("LinearProblem")), None)
    speedup = (a["dt"][key]["step"] / results[0]["dt"][key]["step"]) if a else float("nan")
    say(f"ratio pouch_heat_speedup {speedup:.1f}")


if __name__ == "__main__":
    main()
