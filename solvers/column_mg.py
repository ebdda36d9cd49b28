r"""Column multigrid: a CG preconditioner for heat conduction on extruded, thinly layered meshes.

Problem. A = M/dt' + K (W/K per dof; M the rho c_p mass in J/K, lumped or consistent, dt' in
s, K the conduction in W/K with per-cell, possibly orthotropic k in W/(m K)) from P1 Lagrange
on the hexahedra of an extruded mesh: an in-plane quad grid (graded or not) times a table of
z levels, the interfaces of a stack of micrometre layers (Cu 8 um k = 400, polyimide 7 um
k = 0.12, ...) over centimetre areas. Cells are flat (hx / hz ~ 1e3-1e4) and k jumps by
1e3-4e3 between layers. Every (x, y) position holds a *column* of dofs; through the thickness
the coupling is huge, in-plane it is strong in the foils and weak elsewhere, and the Q1
stencil spreads the z conduction over the in-plane neighbours with mass-matrix weights.
Point smoothers and isotropic AMG (GAMG) fail; ICC(0) alone needs more iterations as the
time step and the in-plane resolution grow.

Algorithm (algebraic multigrid coarsening in-plane only, with whole columns as the unknowns
of the coarsening, one V-cycle per CG iteration):

1. Columns: the owned dofs of V are grouped by (x, y) (``V.tabulate_dof_coordinates()``,
   tolerance ``rtol`` x mesh extent) and sorted by z level. Columns may miss levels or have
   gaps (cells removed: tabs, electrode footprints); the rest of the algorithm only uses the
   column and level of each dof, not a full tensor grid.
2. Coarse columns: the depth-collapsed operator A_c = S_r A S^T (S sums the dofs of each
   column, Dirichlet rows left out; S_r also leaves out the rows next to Dirichlet dofs,
   whose row sums carry the constraint; ``MatMatMult``) is a 2D operator on the columns in
   which the z conduction cancels exactly. Ruge-Stueben coarsening on its strong negative
   couplings (``strength`` 0.6; rows with row sum > ``dominance`` x diagonal, i.e.
   mass-dominated at small dt, are weak) picks the coarse columns: full coarsening where the
   grid is isotropic, semicoarsening where grading makes it anisotropic. It runs on the
   whole (small) column graph on every rank: deterministic and independent of the
   partition. On a stretched Q1 cell (hx >> hy) the diagonal neighbours couple with about
   half the strength of the short-edge neighbours and the long-edge neighbours positively
   (the stencil is ~K_y (x) M_x): with a threshold below 0.5 the diagonals count as strong,
   the coarse columns form a checkerboard across the weak direction and the interpolation
   mixes columns whose errors have opposite signs (measured: the 45 um strip of cells
   where a tab overlaps a foil edge, aspect ratio ~80, gave 51 iterations per step at
   dt = 10 s). Dirichlet rows (``split_dirichlet``): a column is cut above every run of
   fixed dofs with levels above it (a hot spot in one layer inside the stack); the parts
   are columns of their own.
3. Interpolation: "standard" (Stueben 2001) interpolation weights W from A_c (negative
   couplings to strong coarse columns; positive couplings go to the diagonal, which is
   exact for the tensor-product stencil of stretched Q1 cells at any frequency along the
   long edge: ``positive`` = "diagonal"; "interpolate", as before, takes them from coarse
   columns when there are any, which gave weights of -0.5 across the long edge and an
   interpolation error 12x the energy of the slowest mode), the same for every level k of
   a column: dof (c, k) <-
   sum_j W_cj (j, k) over the coarse columns j that have level k (the others dropped, the
   rest rescaled). P = W (x) I_z keeps the z structure, so A_{l+1} = P^T A_l P
   (``MatPtAP``) is again a column operator with the same properties.
4. Smoothers. Coarse levels are laid out column by column, each column whole on one rank:
   Chebyshev (``degree`` steps on [``lower`` emax, 1.1 emax], emax of L^-1 A by Lanczos
   from a start vector that depends on the dof positions only) preconditioned by exact
   tridiagonal line solves L through each column (LU in natural order: no fill).
   Coarsest level (<= ``coarse_size`` dofs): direct (MUMPS); on several ranks each rank
   solves the whole coarse system with its own copy of the factors after one all-gather of
   the right-hand side (:class:`_CoarseSolve`). Finest level (``smoother``):

   * ``"icc"`` (default, ``"auto"``): ICC(0) of A, once before and once after the coarse
     correction, damped by ``omega`` (capped at 1.8/emax). ICC(0) is computed on a copy of
     A in the column layout of the line smoother below (each rank a strip of whole
     columns) with each rank's rows renumbered level by level (``icc_ordering`` =
     "levels": z level, then y, then x). That copy is the finest level of the whole cycle
     (its products, P and P^T work in that numbering), and the residual and the correction
     are permuted in and out once each per application (``MatCreateSubMatrix`` and a vector
     scatter). Permuting around each ICC solve instead cost 0.25 MatMult per
     permutation, four per application; and the SBAIJ product with the level-ordered copy
     is 0.55 of the caller's AIJ ``MatMult`` instead of 0.7 (better cache reuse): 9.1 ->
     7.0 MatMult per application (best of 30), about 93 -> 78-81 per step at dt = 1 s
     (84 k dofs, single runs). In the caller's (DOLFINx) ordering its emax was 30 on
     graded meshes (so omega = 0.06: hardly any smoothing; 276 iterations per step at
     dt = 10 s), and it broke down (emax 0.7, lambda_min 1e-8) with the consistent mass;
     column by column it breaks down too; level by level emax is 1.3-1.5 on every case
     measured. ``icc_ordering`` = "natural", "rcm", ... gives PETSc's orderings instead.
     ICC keeps the in-plane mass-matrix coupling of the z conduction, which no
     column-by-column smoother can (line Jacobi sees it as a spectrum spread by 9):
     measured 20-60 % less time per step than ``"line"`` on one rank. With several ranks
     (``icc_overlap`` >= 1, default 2): restricted additive Schwarz, ICC(0) of each rank's
     rows plus ``icc_overlap`` layers of neighbours in the matrix graph (columns of the
     other ranks next to the cut), all in the serial level order (``MatIncreaseOverlap``;
     the subdomain's index set sorted by z level, y, x, not by index), the result kept on
     the rank's own rows; its transpose (``PCApplyTranspose``) is the post-smoother, so
     the V-cycle stays symmetric (with no coarse level: the smoother, the residual, its
     transpose). Block Jacobi (``icc_overlap`` = 0, the default before) loses the in-plane
     couplings across the cut, which at small dt no coarse level carries (the columns are
     mass-dominated: the first coarse level keeps 0-2.5 % of them at dt <= 1 ms): on the
     0.5 M-dof hot-spot pouch on 2 ranks 1.70 / 1.30 / 1.95 / 2.6 CG iterations per step at
     dt = 0.1 ms / 1 ms / 10 ms / 1 s against 0.80 / 0.75 / 1.60 / 2.45 on one rank (20
     steps from 298 K, projected guesses); with the overlap (2 columns) 0.60 / 0.75 / 1.60
     / 2.45, the serial counts step by step, and the Lanczos emax of the smoothed operator
     1.100 as on one rank (1.51 with block Jacobi). A cut far (10 mm) from the hot spot
     also gave the serial counts; one column of overlap 0.85 at 1 ms; the overlap with
     PETSc's sorted order (the overlap rows last) only 1.05. Cost: a copy of the
     overlapped block (peak memory +7-12 % on 2 ranks) and two more vector scatters per
     application. Before the overlap, in the caller's (DOLFINx) partition block Jacobi cut couplings
     as large as the z conduction itself (with many thin layers DOLFINx cuts parallel to
     them): 80 to > 300 iterations on 2 ranks. Between strips of whole columns it cuts
     in-plane couplings only: measured on 2 ranks 4 / 8.2 / 10 iterations per step at
     dt = 1 ms / 1 s / 10 s (0.5 M dofs, benchmarks/pouch_heat.py; one rank 2 / 8 / 10;
     the line smoother on 2 ranks 5 / 9 / 10.6) and parallel efficiency (wall time per
     step) 58 / 81 / 82 % (line smoother 42 / 65 / 68 %); with ``skip_smoothing`` 4 / 8.6 /
     10 iterations, 47-53 / 76 / 58-71 % (best runs; the shared machine's other load
     made the 2-rank times vary by up to 2x).
   * ``"line"``: the fine operator is copied into the
     column layout (``MatCreateSubMatrix``: DOLFINx may split columns between ranks, and
     with many thin layers it cuts parallel to them; each rank then gets a strip of whole
     columns) and smoothed like the coarse levels (Chebyshev, ``fine_degree``); the residual
     and the correction cross the layouts by one vector scatter each per application. Every
     part of this preconditioner is then independent of the number of ranks: the same
     iterations and the same result up to round-off (the default, ICC, depends on the
     partition a little).

   If coarsening stops at once (tiny dt: the columns are weakly coupled in-plane) the
   preconditioner is the fine smoother alone.

   Unsmoothed levels (``skip_smoothing``, default level 1): the cycle passes the residual
   through them (P^T down, P up) without smoothing or residual products, which is the
   V-cycle of the hierarchy with level 1 dropped and P_0 P_1 as the interpolation from
   level 2: an aggressive first coarsening (84 k dofs: 84 k -> 17 k instead of 84 k ->
   39 k smoothed levels). Ruge-Stueben coarsening of the collapsed operator keeps about
   half of the columns per level (strength 0.6 counts the diagonal neighbours as weak,
   which the stretched cells need: a 5-point graph), so the first coarse level cost 1.4
   MatMult per application (its operator has 57 % of A's nonzeros) for little gain: without
   its smoothing 6.8 / 8.3 instead of 6.5 / 8.2 CG iterations per step at dt = 1 / 10 s
   (84 k dofs, benchmarks/pouch_heat.py's case, one rank), 6.4-7.5 instead of 8.2-8.7
   MatMult per application, 71-83 instead of 83-90 MatMult per step at dt = 1 s and 84-95
   instead of 98-107 at 10 s (CPU time, three paired runs; the machine's other load makes
   single runs vary by 10-20 %). Skipping levels 1 and 3: 8.2 / 10.5 iterations, no gain;
   a smaller or larger coarse solve (``coarse_size`` 1000, 12000), ``lower`` 0.3,
   ``truncate`` 0.35, ``omega`` 1.2, PETSc's LU instead of MUMPS on the coarsest level:
   no gain either. The SBAIJ copy, line factorization and Lanczos estimate of an
   unsmoothed level are not made. With the level-ordered ICC copy (above) the two changes
   together: 72-76 instead of 89-91 MatMult per step at dt = 1 s, 91-95 instead of 105-107
   at 10 s, 30-33 instead of 33-37 at 1 ms (three paired runs).

Products. Every product with a level operator inside the cycle (residuals, Chebyshev
steps, the Lanczos estimates) uses a copy of it in symmetric block storage (``sbaij``:
``MATSBAIJ``, the upper triangle only; refreshed in place by ``MatConvert`` with
``MAT_REUSE_MATRIX`` at every setup): about half the memory traffic of an AIJ product,
measured 0.75 of an AIJ ``MatMult`` on the finest level (0.55 in the level numbering of the
ICC smoother) and 0.6 on the first coarse one, 15 % less time per step. The AIJ operators
stay for the Galerkin products and the ICC / line factorizations (and the caller's A is used
for CG's own products).

The V-cycle is symmetric positive definite (the smoothers are symmetric and applied the same
way before and after, the coarse operators are Galerkin), so it preconditions CG.

Assumptions: a scalar P1 space; nodes on common z levels (an extruded mesh; the in-plane mesh
may be graded, and need not be a tensor grid); A symmetric positive definite (Dirichlet rows
as DOLFINx assembles them are fine: they get no coarse correction). Extra memory: the coarse
levels (operator complexity ~2: about the nonzeros of A once more), a copy of A (in the
column layout for the line smoother, in level order for ICC; its ICC factor once more), and
with ``sbaij`` the upper triangles of the smoothed levels (about
half the nonzeros of all levels once more).

Re-use: when the operator keeps its sparsity and changes its values (dt changed:
A = M/dt + K re-assembled, then ``ksp.setOperators(A)``), the next solve redoes the numeric
part only: ICC factorization or the copy (``MAT_REUSE_MATRIX``), the collapsed operator,
the coarsening (its patterns kept when it comes out the same, i.e. unless dt crosses the
mass-dominated range), P's values, the Galerkin products (``MatPtAP`` reuse), the SBAIJ
copies, line factorizations, Chebyshev bounds and the coarse factorization. With
``reuse_interpolation`` the coarsening and P of the first setup are kept (cheapest
re-setup: products, smoothers, coarse factorization; fine for gradual changes of dt, weaker
after jumps by orders of magnitude). A different matrix object triggers a full setup (the
columns are kept).

Measured on pouches with a tab, graded in-plane mesh and a 2 x 2 mm fixed-temperature patch
in one 20 um Li layer inside the stack (rtol 1e-8, the heat solver's TR-BDF2 steps, CG
iterations per step at dt = 1 ms / 0.1 / 1 / 10 s; the heat solver takes 6 solves a step
with the lumped mass here (it redoes the steps), 2 otherwise): 25 k dofs, ICC, lumped
15 / 18 / 30 / 44 (before: 15 / 21 / 54 / 276), consistent 6 / 6 / 12 / 16 (before: diverged
at 10 s); line smoother (1 or 2 ranks, the same counts) lumped 34 / 35 / 39 / 54 (before
34 / 35 / 80 / 162), consistent 13 / 14 / 14 / 19 (before 13 / 12 / 24 / 62); with a power
source instead of the patch 4 / 6 / 8 / 14 (ICC) and 8 / 11 / 12 / 16 (line), before
4 / 8 / 14 / 88 and 8 / 11 / 18 / 51: 2-9 iterations per solve everywhere. The real case
(cases/pouch_hotspot_piag_vs_cu.toml, 134 k dofs, lumped, one rank, ICC): 18-27 per step
(6 solves) at 1e-5 ... 1e-3 s, 48 at 0.1 s, 22 / 26-28 (2 solves) at 1 / 10 s, 14 s of
CPU for 9 steps vs 49 s with MUMPS (before: 40-202 per step, 259 s, and no convergence at
dt = 10 s). The measurements below predate these changes.

Measured (benchmarks/pouch_heat_pc.py: 58 x 45 mm pouch, 5 / 20 units of 10 layers, graded
57 x 44 in-plane cells + tabs, footprint, hot patch; rtol 1e-8, previous step as initial
guess): 2-10 CG iterations per step for dt = 1 ms ... 10 s, the same at 140 k and 540 k
dofs. Cost of a step in MatMults with A by process CPU time (the benchmark's "(CPU)"
column; wall time on a loaded shared machine gave 1.0-1.4x these), one rank, 140 k / 540 k
dofs: 12 / 10 at dt = 1 ms, 75-77 / 73-77 at 1 s, 83-86 / 84-85 at 10 s (without ``sbaij``:
12 / 11, 92-94 / 88, 99-103 / 99); 540 k on 2 ranks (line smoother): 38 / 97 / 124 (without:
54 / 119 / 166). Where a step goes (140 k, dt = 1 s, 7 iterations: CG applies the
preconditioner 9 times, once more for the norm of B b with a nonzero initial guess): per
V-cycle the finest level costs 2 ICC solves (1.17 MatMult each) + 2 products (0.76 each,
SBAIJ) + P and P^T (0.45), the coarse levels ~1.9, Python and vector operations ~0.5; CG
itself ~1.1 per iteration. The finest level alone, 9 x 4.3 + 8 x 1.1 = 47, leaves nothing
for the coarse levels under 50 at this iteration count; an exact coarse solve on level 1
gives 4 iterations (the bound of the two-level method) but costs far more. Stronger or
cheaper coarse cycles tried (Chebyshev degree 2 or 3, W-cycle, ICC on level 1, truncation
0.35 / 0.5, strength 0.5, additive fine level: 12-14 iterations) trade iterations against
cost per cycle at 67-100. Measured before the SBAIJ products: ~150x faster per step than
LinearProblem + CG/GAMG; 1.4-1.5x less than MUMPS (reused LU) over 100 steps including the
setup at 540 k dofs, 8-10x less memory; 84-87 % parallel efficiency on 2 ranks (line
smoother, same iterations as on one rank).

Measured with this version (benchmarks/pouch_heat.py: the bundled hot-spot pouch case,
backward Euler, consistent mass, rtol 1e-8 on the preconditioned norm; one rank; CG
iterations / MatMult per step by CPU time at dt = 1 ms / 1 s / 10 s): 84 k dofs (4 units)
2 / 7 / 8.5 and 31 / 78 / 92; 0.50 M dofs (6 units) 2 / 8.2 / 10 and 23 / 70 / 79; 0.51 M
dofs (20 units) 2 / 8 / 10.2 and 24 / 71 / 91. Where a step goes (84 k, dt = 1 s): 8.8
applications (CG's iterations + 1 for the initial residual + 1 for ||B b||, the reference
of the default convergence test with a nonzero initial guess) of ~7 MatMult each (fine
level 2 x 0.84 ICC, 2 x 0.55 SBAIJ products, 0.2 P and P^T, 0.15 permutations; coarse
levels and the MUMPS solve ~2; vector operations and Python the rest), plus ~15 for CG's own
products with the caller's AIJ A and the heat solver's right-hand side. The unpreconditioned
norm (no ||B b||) stops at 3.3 iterations with 400x the error (8e-3 K against MUMPS instead
of 2e-5 K), the natural norm at 5 with 7x: the same rtol is not the same accuracy.

Usage::

    ksp = PETSc.KSP().create(comm)
    info = setup_column_mg(ksp, A, V)     # sets CG + this preconditioner
    ksp.setTolerances(rtol=1e-8)
    ksp.solve(b, x)
    # dt changed: re-assemble A in place, then
    ksp.setOperators(A)
    ksp.solve(b, x)                        # numeric re-setup happens here
"""

from __future__ import annotations

import heapq
import time

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np

#: default options of :func:`setup_column_mg` (see its docstring)
DEFAULTS: dict[str, object] = {
    "smoother": "auto",
    "fine_degree": 2,
    "omega": 1.0,
    "degree": 1,
    "lower": 0.1,
    "cycle": "V",
    "strength": 0.6,
    "dominance": 0.9,
    "truncate": 0.2,
    "max_coarse_fraction": 0.7,
    "keep_edges": False,
    "coarse_size": 3000,
    "max_levels": 20,
    "lanczos_steps": 12,
    "reuse_interpolation": False,
    "rtol": 1e-9,
    "coarse_solver": "mumps",
    "sbaij": True,
    "icc_ordering": "levels",
    "positive": "diagonal",
    "collapse_anchored": False,
    "split_dirichlet": True,
    "skip_smoothing": (1,),
    "icc_overlap": 2,
}

_INSERT = PETSc.InsertMode.INSERT


# ----------------------------------------------------------------------------- columns
def _axis_values(local: np.ndarray, comm, tol: float) -> np.ndarray:
    """The distinct coordinate values on all ranks (values closer than tol merged), sorted."""
    values = np.unique(np.concatenate(comm.allgather(np.unique(local))))
    if values.size == 0:
        return values
    return values[np.concatenate([[True], np.diff(values) > tol])]


def _index_of(values: np.ndarray, x: np.ndarray, tol: float) -> np.ndarray:
    return np.searchsorted(values, x + tol, side="right") - 1


def find_columns(V, rtol: float = 1e-9) -> dict:
    """Group the owned dofs of the scalar space V into columns (same x, y) and z levels.

    Returns ``col`` (column id of each owned dof), ``level`` (z-level index), ``gx``, ``gy``
    (indices of every column's x and y among the distinct values), ``present`` (global bool
    array columns x levels), ``owner`` (the rank that gets each column: the one holding most
    of its dofs, or, when that leaves the ranks out of balance by > 10 %, strips of whole
    columns with equal dof counts), ``split`` (columns whose dofs DOLFINx spread over
    several ranks) and ``z`` (the levels, m). Collective.
    """
    comm = V.mesh.comm
    if V.dofmap.index_map_bs != 1 or V.dofmap.bs != 1:
        raise ValueError("column multigrid: a scalar function space is needed")
    n = V.dofmap.index_map.size_local
    xyz = V.tabulate_dof_coordinates()[:n]
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    comm.Allreduce(MPI.IN_PLACE, lo if not n else (lo := xyz.min(axis=0).copy()), op=MPI.MIN)
    comm.Allreduce(MPI.IN_PLACE, hi if not n else (hi := xyz.max(axis=0).copy()), op=MPI.MAX)
    tol = rtol * float(np.max(hi - lo))
    gridx, gridy, gridz = (_axis_values(xyz[:, i], comm, tol) for i in range(3))
    ix, iy, iz = (_index_of(g, xyz[:, i], tol) for i, g in enumerate((gridx, gridy, gridz)))
    key = iy.astype(np.int64) * gridx.size + ix
    keys = np.unique(np.concatenate(comm.allgather(np.unique(key))))
    col = np.searchsorted(keys, key)
    ncols, nz = keys.size, gridz.size
    total = comm.allreduce(n)
    if ncols * nz > 50 * total:
        raise ValueError("column multigrid: the dofs are not on common z levels "
                         f"({ncols} columns x {nz} levels for {total} dofs)")
    count = np.zeros((ncols, nz), dtype=np.int32)
    np.add.at(count, (col, iz), 1)
    comm.Allreduce(MPI.IN_PLACE, count, op=MPI.SUM)
    if count.max(initial=0) > 1:
        raise ValueError("column multigrid: two dofs at one point (not a scalar P1 space?)")
    per_rank = np.array(comm.allgather(np.bincount(col, minlength=ncols)))
    per_rank = per_rank.reshape(comm.size, ncols)
    gx, gy = keys % gridx.size, keys // gridx.size
    owner = np.argmax(per_rank, axis=0).astype(np.int64)
    dofs = count.sum(axis=1)
    load = np.bincount(owner, weights=dofs, minlength=comm.size)
    if load.max(initial=0) > 1.1 * total / comm.size:
        # DOLFINx cut through the columns (many thin layers: a cut parallel to them is
        # the smallest): give each rank a strip of whole columns with a fair share of dofs
        order = np.lexsort((gy, gx))
        share = np.cumsum(dofs[order]) - 0.5 * dofs[order]
        owner = np.empty(ncols, np.int64)
        owner[order] = np.minimum((share * comm.size / max(total, 1)).astype(np.int64),
                                  comm.size - 1)
    return {"col": col, "level": iz.astype(np.int64), "gx": gx, "gy": gy,
            "present": count > 0, "owner": owner,
            "split": int(np.count_nonzero((per_rank > 0).sum(axis=0) > 1)), "z": gridz}


def _isolated_rows(A: PETSc.Mat, csr=None) -> np.ndarray:
    """Owned rows of A without nonzero off-diagonal values (Dirichlet rows); ``csr`` = A's
    ``getValuesCSR()`` if the caller has it. Counts the nonzero values per row and takes
    the diagonal's away: exact (no sums of magnitudes), no per-entry row index. Collective."""
    indptr, _, data = A.getValuesCSR() if csr is None else csr
    diagonal = A.getDiagonal()  # (collective: also on a rank without rows)
    nonzero = np.concatenate([[0], np.cumsum(data != 0, dtype=np.int64)])[indptr]
    off = np.diff(nonzero) - (diagonal.array != 0)
    diagonal.destroy()
    return off == 0


def split_columns(columns: dict, isolated: np.ndarray, comm) -> dict:
    """The columns of :func:`find_columns` cut above every run of isolated (Dirichlet) dofs
    that has levels above it: the part above becomes a column of its own (same x, y); the
    isolated dofs stay with the levels under them (so a fixed top or bottom face changes
    nothing). A fixed temperature inside the stack (a hot spot in one layer) cuts the column
    into parts that are anchored differently: they are coarsened and interpolated on their
    own. Collective; returns ``columns`` itself when nothing is isolated."""
    col, level, present = columns["col"], columns["level"], columns["present"]
    ncols, nz = present.shape
    iso = np.zeros((ncols, nz), np.int32)
    iso[col[isolated], level[isolated]] = 1
    comm.Allreduce(MPI.IN_PLACE, iso, op=MPI.SUM)
    if not iso.any():
        return columns
    # segment of each (column, level): the number of runs of isolated levels that end
    # below it (an isolated dof stays in the segment of the levels under it)
    ends = np.zeros((ncols, nz), np.int64)
    ends[:, 1:] = (iso[:, :-1] > 0) & (iso[:, 1:] == 0) & present[:, 1:]
    seg = np.cumsum(ends, axis=1)
    pc, pk = np.nonzero(present)
    keys, inverse = np.unique(pc.astype(np.int64) * (2 * nz + 2) + seg[pc, pk],
                              return_inverse=True)
    new_of = np.full((ncols, nz), -1, np.int64)
    new_of[pc, pk] = inverse
    parent = keys // (2 * nz + 2)
    new_present = np.zeros((keys.size, nz), bool)
    new_present[inverse, pk] = True
    out = dict(columns)
    out.update(col=new_of[col, level], present=new_present, gx=columns["gx"][parent],
               gy=columns["gy"][parent], owner=columns["owner"][parent], parent=parent)
    return out


class _Layout:
    """Numbering of the dofs of a set of columns: each column whole on one rank (its
    ``owner``), column after column (by owner, then id), bottom-up."""

    def __init__(self, comm, gx, gy, present, owner):
        self.comm = comm
        self.gx, self.gy, self.present, self.owner = gx, gy, present, owner
        self.ncols = ncols = present.shape[0]
        counts = present.sum(axis=1).astype(np.int64)
        self.order = order = np.lexsort((np.arange(ncols), owner))
        self.position = np.empty(ncols, np.int64)  # of each column in ``order``
        self.position[order] = np.arange(ncols)
        self.starts = np.concatenate([[0], np.cumsum(counts[order])]).astype(np.int64)
        self.start = np.empty(ncols, np.int64)
        self.start[order] = self.starts[:-1]
        self.posz = np.cumsum(present, axis=1, dtype=np.int64) - 1
        before = int(np.count_nonzero(owner < comm.rank))
        self.col_lo = before
        self.mine = mine = order[before:before + int(np.count_nonzero(owner == comm.rank))]
        self.lo, self.hi = int(self.starts[before]), int(self.starts[before + mine.size])
        self.size = int(self.starts[-1])
        ci, zi = np.nonzero(present[mine])
        self.row_col, self.row_z = mine[ci], zi.astype(np.int64)

    @property
    def nlocal(self) -> int:
        return self.hi - self.lo

    def index(self, col, z):
        """Global index of dof (column, level)."""
        return self.start[col] + self.posz[col, z]

    def vec(self) -> PETSc.Vec:
        return PETSc.Vec().createMPI((self.nlocal, self.size), comm=self.comm)

    def subset(self, keep: np.ndarray) -> _Layout:
        return _Layout(self.comm, self.gx[keep], self.gy[keep], self.present[keep],
                       self.owner[keep])


def _probe(gx, gy, z) -> np.ndarray:
    """A pseudo-random vector that depends on the dof positions only (not the partition)."""
    t = 12.9898 * gx + 78.233 * gy + 37.719 * z + 0.5
    return np.modf(np.abs(np.sin(t)) * 43758.5453)[0] - 0.5


def _lanczos_max(A: PETSc.Mat, precondition, r, p, z, w, steps: int) -> float:
    """Largest eigenvalue of B A (B = ``precondition``, SPD) by ``steps`` steps of Lanczos
    (preconditioned CG) from the start residual in ``r`` (overwritten)."""
    precondition(r, z)
    z.copy(p)
    rz = r.dot(z)
    alphas, betas = [], []
    for _ in range(steps):
        if not rz > 0:
            break
        A.mult(p, w)
        pw = p.dot(w)
        if not pw > 0:
            break
        alpha = rz / pw
        r.axpy(-alpha, w)
        precondition(r, z)
        rz_new = r.dot(z)
        alphas.append(alpha)
        betas.append(rz_new / rz)
        rz = rz_new
        p.aypx(betas[-1], z)
    m = len(alphas)
    if m == 0:
        return 1.0
    t = np.zeros((m, m))
    for j in range(m):
        t[j, j] = 1.0 / alphas[j] + (betas[j - 1] / alphas[j - 1] if j else 0.0)
        if j + 1 < m:
            t[j, j + 1] = t[j + 1, j] = np.sqrt(max(betas[j], 0.0)) / alphas[j]
    return float(np.linalg.eigvalsh(t)[-1])


# ----------------------------------------------------------------------------- coarsening
def _strong(n: int, ci, cj, val, theta: float, dominance: float) -> np.ndarray:
    """Strong couplings of the collapsed operator (COO sorted by row): j is strong for i
    when -a_ij >= theta max_k(-a_ik) > 0, unless row i is dominated by its diagonal (row sum
    > ``dominance`` a_ii: the mass term at small time steps)."""
    off = ci != cj
    diag = np.bincount(ci, weights=np.where(off, 0.0, val), minlength=n)
    rowsum = np.bincount(ci, weights=val, minlength=n)
    s = np.where(off, -val, 0.0)
    smax = np.zeros(n)
    np.maximum.at(smax, ci, s)
    weak = ~(rowsum <= dominance * diag) | ~(diag > 0)
    return off & (s > 0) & (s >= theta * smax[ci]) & ~weak[ci]


def _split(n: int, si: np.ndarray, sj: np.ndarray) -> np.ndarray:
    """Ruge-Stueben first pass on the column graph (si depends strongly on sj), ties by the
    lowest column id: deterministic. Columns with strong couplings but none to a coarse
    column become coarse too. Returns the coarse-column mask."""
    order = np.argsort(si, kind="stable")
    s_ptr = np.concatenate([[0], np.cumsum(np.bincount(si, minlength=n))]).tolist()
    s_adj = sj[order].tolist()
    order = np.argsort(sj, kind="stable")
    t_ptr = np.concatenate([[0], np.cumsum(np.bincount(sj, minlength=n))]).tolist()
    t_adj = si[order].tolist()
    lam = np.bincount(sj, minlength=n).tolist()
    involved = np.zeros(n, bool)
    involved[si] = True
    involved[sj] = True
    state = np.where(involved, 0, -1).tolist()  # 0 undecided, 1 coarse, -1 fine
    heap = [(-lam[i], i) for i in np.flatnonzero(involved).tolist()]
    heapq.heapify(heap)
    while heap:
        neg, i = heapq.heappop(heap)
        if state[i] or -neg != lam[i]:
            continue
        if lam[i] == 0:
            state[i] = -1
            continue
        state[i] = 1
        for k in t_adj[t_ptr[i]:t_ptr[i + 1]]:
            if state[k] == 0:
                state[k] = -1
                for j in s_adj[s_ptr[k]:s_ptr[k + 1]]:
                    if state[j] == 0:
                        lam[j] += 1
                        heapq.heappush(heap, (-lam[j], j))
        for j in s_adj[s_ptr[i]:s_ptr[i + 1]]:
            if state[j] == 0:
                lam[j] -= 1
                heapq.heappush(heap, (-lam[j], j))
    is_c = np.array(state) == 1
    has_c = np.zeros(n, bool)
    has_c[si[is_c[sj]]] = True
    has_dep = np.zeros(n, bool)
    has_dep[si] = True
    return is_c | (has_dep & ~has_c)


def _weights(n: int, ci, cj, val, strong, is_c, truncate: float, positive="interpolate"):
    """Interpolation weights between columns (wi, wj, w), sorted by (wi, wj): coarse
    columns inject; a fine column i first eliminates its strongly coupled fine neighbours k
    with their rows (a_i. -= a_ik / a_kk a_k.: "standard" interpolation, Stueben 2001), then
    takes w_ij = -alpha_i a_ij / d_i from the strong coarse neighbours of i and of those k
    with a_ij < 0, alpha_i = sum_j a_ij^- / sum_{j coarse} a_ij^-, and w_ij = -beta_i a_ij /
    d_i from the coarse neighbours with a_ij > 0, beta_i = sum_j a_ij^+ / sum_{j coarse}
    a_ij^+ (Q1 on stretched cells has positive couplings; without a positive coarse
    neighbour they are added to d_i = a_ii). Weights below ``truncate`` x the row's largest
    (in size) are dropped (the rest rescaled to the same sum)."""
    off = ci != cj
    ptr = np.concatenate([[0], np.cumsum(np.bincount(ci, minlength=n))])
    diag = np.bincount(ci, weights=np.where(off, 0.0, val), minlength=n)
    diag = np.where(diag != 0, diag, 1.0)
    elim = strong & ~is_c[ci] & ~is_c[cj]
    ii, kk, aik = ci[elim], cj[elim], val[elim]
    cnt = ptr[kk + 1] - ptr[kk]
    pos = np.repeat(ptr[kk] - (np.cumsum(cnt) - cnt), cnt) + np.arange(cnt.sum())
    own = ~is_c[ci]
    # (the a_kk term of row k cancels the eliminated a_ik)
    ti = np.concatenate([ci[own], np.repeat(ii, cnt)])
    tj = np.concatenate([cj[own], cj[pos]])
    tv = np.concatenate([val[own], np.repeat(-aik / diag[kk], cnt) * val[pos]])
    ts = np.concatenate([strong[own], strong[pos]])
    keys, inv = np.unique(ti * n + tj, return_inverse=True)
    hi, hj = keys // n, keys % n
    hv = np.bincount(inv, weights=tv, minlength=keys.size)
    hs = np.bincount(inv, weights=ts, minlength=keys.size) > 0
    hoff = hi != hj
    neg, pos = np.minimum(hv, 0.0), np.maximum(hv, 0.0)
    src_neg = hoff & hs & is_c[hj] & (hv < 0)
    src_pos = hoff & is_c[hj] & (hv > 0)
    if positive == "diagonal":
        src_pos = src_pos & False
    neg_all = np.bincount(hi, weights=np.where(hoff, neg, 0.0), minlength=n)
    neg_c = np.bincount(hi, weights=np.where(src_neg, neg, 0.0), minlength=n)
    pos_all = np.bincount(hi, weights=np.where(hoff, pos, 0.0), minlength=n)
    pos_c = np.bincount(hi, weights=np.where(src_pos, pos, 0.0), minlength=n)
    alpha = np.divide(neg_all, neg_c, out=np.zeros(n), where=neg_c < 0)
    beta = np.divide(pos_all, pos_c, out=np.zeros(n), where=pos_c > 0)
    # positive couplings without a coarse one to carry them go to the diagonal
    d = np.bincount(hi, weights=np.where(hoff, 0.0, hv), minlength=n)
    d = d + np.where(pos_c > 0, 0.0, pos_all)
    d = np.where(d > 0, d, 1.0)
    src = src_neg | src_pos
    wi, wj = hi[src], hj[src]
    w = -np.where(hv[src] < 0, alpha[wi], beta[wi]) * hv[src] / d[wi]
    if truncate > 0 and w.size:
        wmax = np.zeros(n)
        np.maximum.at(wmax, wi, np.abs(w))
        big = np.abs(w) >= truncate * wmax[wi]
        total = np.bincount(wi, weights=w, minlength=n)
        kept = np.bincount(wi, weights=np.where(big, w, 0.0), minlength=n)
        w = w * np.divide(total, kept, out=np.ones(n), where=kept > 0)[wi]
        wi, wj, w = wi[big], wj[big], w[big]
    cc = np.flatnonzero(is_c)
    wi, wj = np.concatenate([wi, cc]), np.concatenate([wj, cc])
    w = np.concatenate([w, np.ones(cc.size)])
    order = np.lexsort((wj, wi))
    return wi[order], wj[order], w[order]


# ----------------------------------------------------------------------------- levels
class _Level:
    """Rows of one level (column and z level of each owned row) with its operator ``A`` and
    the interpolation ``P`` from the next coarser level. The finest level uses the caller's
    layout (``layout`` None) and ICC; the coarse ones a column layout and line solves."""

    def __init__(self, comm, row_col, row_z, layout: _Layout | None = None):
        self.comm = comm
        self.row_col, self.row_z = row_col, row_z
        self.layout = layout
        self.A: PETSc.Mat | None = None
        self.mv: PETSc.Mat | None = None  # A for the products: A itself or an SBAIJ copy
        self.P: PETSc.Mat | None = None
        self.smoother: PETSc.PC | None = None
        self.L: PETSc.Mat | None = None
        self.emax = 1.0
        self.isolated = np.zeros(row_col.size, bool)
        self.vecs: list[PETSc.Vec] = []
        self.split = None  # (coarse-column mask, weight pattern) of the last setup
        self._collapse = None  # (masks, S_r^T, S^T, A S^T, collapsed operator)
        self._ghosts = None  # lookup of the Dirichlet flags of off-process columns
        self.anchored = np.zeros(row_col.size, bool)
        self._p_pattern = None
        self._line_pattern = None
        self._lb = self._lx = None
        self.icc_ordering = "natural"
        self.icc_overlap = 0
        self.level_key = None  # position of each owned row in the global level order
        self.collapse_anchored = False

    def setup_products(self, sbaij: bool) -> None:
        """The matrix of the cycle's products with A: A itself, or with ``sbaij`` a copy
        in symmetric block storage (the upper triangle only: about half the memory
        traffic of a product; refreshed in place when A's values change)."""
        if not sbaij:
            if self.mv is not None and self.mv is not self.A:
                self.mv.destroy()
            self.mv = self.A
            return
        self.A.setOption(PETSc.Mat.Option.SYMMETRIC, True)
        if self.mv is None or self.mv is self.A or self.mv.getSize() != self.A.getSize():
            if self.mv is not None and self.mv is not self.A:
                self.mv.destroy()
            self.mv = self.A.convert(PETSc.Mat.Type.SBAIJ, PETSc.Mat())
        else:
            self.A.convert(PETSc.Mat.Type.SBAIJ, self.mv)

    def drop_products(self) -> None:
        """No products with this level (it is not smoothed): the SBAIJ copy goes."""
        if self.mv is not None and self.mv is not self.A:
            self.mv.destroy()
        self.mv = None

    def make_vecs(self) -> None:
        if not self.vecs:
            self.vecs = [self.A.createVecs()[0] for _ in range(5)]  # b, x, r, d, w

    # -- depth-collapsed operator
    def find_isolated(self) -> None:
        """Rows without off-diagonal values (Dirichlet rows: no coarse correction there) and
        rows with a (zeroed) entry in the column of such a row (their row sum carries the
        constraint: left out of the collapsed operator's rows)."""
        csr = self.A.getValuesCSR()
        indptr, indices, _ = csr
        n = indptr.size - 1
        self.isolated = _isolated_rows(self.A, csr)
        self.anchored = np.zeros(n, bool)
        flags = self.A.createVecs()[0]
        flags.array[:] = self.isolated
        if self._ghosts is None or self._ghosts[0] != indices.size:
            lo, hi = self.A.getOwnershipRange()
            outside = np.unique(indices[(indices < lo) | (indices >= hi)])
            seq = PETSc.Vec().createSeq(outside.size, comm=PETSc.COMM_SELF)
            isx = PETSc.IS().createGeneral(outside.astype(PETSc.IntType), comm=self.comm)
            self._ghosts = (indices.size, outside,
                            PETSc.Scatter().create(flags, isx, seq, None), seq)
            isx.destroy()
        _, outside, scatter, seq = self._ghosts
        scatter.scatter(flags, seq, _INSERT, PETSc.ScatterMode.FORWARD)
        flags.destroy()
        if n:
            lo, hi = self.A.getOwnershipRange()
            inside = (indices >= lo) & (indices < hi)
            iso = np.zeros(indices.size, bool)
            iso[inside] = self.isolated[indices[inside] - lo]
            if outside.size:
                iso[~inside] = seq.array[np.searchsorted(outside, indices[~inside])] > 0
            # (a row's own diagonal entry counts only for an isolated row, left out here)
            hits = np.concatenate([[0], np.cumsum(iso, dtype=np.int64)])[indptr]
            self.anchored = (np.diff(hits) > 0) & ~self.isolated

    def collapse(self, columns: _Layout):
        """The depth-collapsed operator S_r A S^T on the columns (S sums the dofs of each
        column without the Dirichlet rows; S_r also without the rows next to them, whose
        row sums carry the constraint) as a global COO (ci, cj, val) sorted by (ci, cj),
        the same on every rank."""
        n = self.row_col.size
        anchored = self.anchored & (not self.collapse_anchored)
        masks = np.concatenate([self.isolated, anchored])
        if self._collapse is None or not np.array_equal(self._collapse[0], masks):
            self._drop_collapse()
            mine = int(np.count_nonzero(columns.owner == self.comm.rank))
            mats = []
            for keep in (~self.isolated & ~anchored, ~self.isolated):
                ptr = np.concatenate([[0], np.cumsum(keep)]).astype(PETSc.IntType)
                cols = columns.position[self.row_col[keep]].astype(PETSc.IntType)
                St = PETSc.Mat().createAIJ(((n, PETSc.DECIDE), (mine, columns.ncols)),
                                           csr=(ptr, cols, np.ones(cols.size)),
                                           comm=self.comm)
                St.assemble()
                mats.append(St)
            AS = self.A.matMult(mats[1])
            self._collapse = (masks, mats[0], mats[1], AS, mats[0].transposeMatMult(AS))
        else:
            _, left, right, AS, C = self._collapse
            self.A.matMult(right, result=AS)
            left.transposeMatMult(AS, result=C)
        indptr, indices, data = self._collapse[4].getValuesCSR()
        rows = np.repeat(np.arange(indptr.size - 1) + columns.col_lo, np.diff(indptr))
        ci = np.concatenate(self.comm.allgather(columns.order[rows]))
        cj = np.concatenate(self.comm.allgather(columns.order[indices]))
        cv = np.concatenate(self.comm.allgather(data))
        order = np.lexsort((cj, ci))
        return ci[order], cj[order], cv[order]

    def _drop_collapse(self) -> None:
        if self._collapse is not None:
            for obj in self._collapse[1:]:
                obj.destroy()
        self._collapse = None

    # -- interpolation
    def interpolation(self, weights, present, coarse_of, coarse: _Layout) -> None:
        """P: dof (column c, level k) <- W[c, j] at the coarse dof (j, k), for the coarse
        columns j that have level k (the others dropped, the rest rescaled to W's row sum);
        isolated rows get nothing. The pattern is kept for later calls."""
        wptr, wj, w = weights
        n = self.row_col.size
        c = self.row_col
        if self._p_pattern is None:
            cnt = wptr[c + 1] - wptr[c]
            prow = np.repeat(np.arange(n, dtype=np.int64), cnt)
            edge = np.repeat(wptr[c] - (np.cumsum(cnt) - cnt), cnt) + np.arange(cnt.sum())
            src, k = wj[edge], self.row_z[prow]
            ok = present[src, k]
            prow, edge, src, k = prow[ok], edge[ok], src[ok], k[ok]
            pcol = coarse.index(coarse_of[src], k)
            perm = np.lexsort((pcol, prow))
            prow, edge, pcol = prow[perm], edge[perm], pcol[perm]
            ptr = np.concatenate([[0], np.cumsum(np.bincount(prow, minlength=n))])
            self._p_pattern = (prow, edge, ptr.astype(PETSc.IntType), pcol.astype(PETSc.IntType))
        prow, edge, ptr, pcol = self._p_pattern
        ncols = wptr.size - 1
        wsum = np.bincount(np.repeat(np.arange(ncols), np.diff(wptr)), weights=w,
                           minlength=ncols)
        vals = w[edge]
        rsum = np.bincount(prow, weights=vals, minlength=n)
        scale = np.divide(wsum[c], rsum, out=np.zeros(n), where=rsum != 0)
        scale[self.isolated] = 0.0
        vals = vals * scale[prow]
        if self.P is None:
            self.P = PETSc.Mat().createAIJ(((n, PETSc.DECIDE), (coarse.nlocal, coarse.size)),
                                           csr=(ptr, pcol, vals), comm=self.comm)
        else:
            self.P.setValuesCSR(ptr, pcol, vals)
        self.P.assemble()

    def reset_interpolation(self) -> None:
        if self.P is not None:
            self.P.destroy()
        self.P = None
        self._p_pattern = None

    # -- smoothers
    def setup_icc(self) -> None:
        """ICC(0) of the rank's block of A in the order of A's rows (the finest level is a
        renumbered copy for ``icc_ordering`` = "levels") or in a PETSc ordering
        (``icc_ordering`` = "rcm", ...); with several ranks restricted additive Schwarz
        with ``icc_overlap`` layers of overlap, the overlapped rows in the order of
        ``level_key`` (fetched from the rows' owners; block Jacobi with ``icc_overlap`` = 0).
        Collective."""
        if self.smoother is None:
            self.smoother = pc = PETSc.PC().create(self.comm)
            pc.setOperators(self.A)
            if self.comm.size > 1 and self.icc_overlap > 0:
                pc.setType(PETSc.PC.Type.ASM)
                pc.setASMType(PETSc.PC.ASMType.RESTRICT)
                lo, hi = self.A.getOwnershipRange()
                ov = PETSc.IS().createStride(hi - lo, lo, 1, comm=PETSc.COMM_SELF)
                self.A.increaseOverlap(ov, self.icc_overlap)
                idx = ov.getIndices()
                if self.level_key is not None:
                    idx = idx[np.argsort(self._level_keys_of(idx), kind="stable")]
                ov.destroy()
                ov = PETSc.IS().createGeneral(idx.astype(PETSc.IntType), comm=PETSc.COMM_SELF)
                pc.setASMLocalSubdomains(1, [ov])
                pc.setASMSortIndices(False)
                pc.setUp()
                ov.destroy()
                sub = pc.getASMSubKSP()[0].getPC()
            elif self.comm.size > 1:
                pc.setType(PETSc.PC.Type.BJACOBI)
                pc.setUp()
                sub = pc.getBJacobiSubKSP()[0].getPC()
            else:
                sub = pc
            sub.setType(PETSc.PC.Type.ICC)
            sub.setFactorLevels(0)
            sub.setFactorOrdering(self.icc_ordering)
            sub.setFactorShift(shift_type=PETSc.Mat.FactorShiftType.POSITIVE_DEFINITE)
        self.smoother.setUp()

    def _level_keys_of(self, rows: np.ndarray) -> np.ndarray:
        """``level_key`` of the global rows ``rows`` (any rank's), from their owners by a
        scatter (exact: keys < 2**53). Collective."""
        keys, out = self.A.createVecs()[0], PETSc.Vec().createSeq(rows.size)
        keys.array[:] = self.level_key
        where = PETSc.IS().createGeneral(rows.astype(PETSc.IntType), comm=PETSc.COMM_SELF)
        scatter = PETSc.Scatter().create(keys, where, out, None)
        scatter.scatter(keys, out, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
        got = np.rint(out.array).astype(np.int64)
        for obj in (scatter, where, out, keys):
            obj.destroy()
        return got

    def setup_lines(self) -> None:
        """L = the within-column part of A (symmetrized tridiagonal: rows are numbered
        column by column, bottom-up), LU in natural order (no fill)."""
        indptr, indices, data = self.A.getValuesCSR()
        lo = self.layout.lo
        n = self.row_col.size
        if self._line_pattern is None:
            rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
            d = indices - (rows + lo)
            same = np.zeros(n, bool)  # row i and i + 1 in the same column
            same[:-1] = self.row_col[:-1] == self.row_col[1:]
            up = np.flatnonzero(d == 1)
            up = up[same[rows[up]]]
            down = np.flatnonzero(d == -1)
            down = down[same[np.maximum(rows[down] - 1, 0)] & (rows[down] > 0)]
            diag = np.flatnonzero(d == 0)
            if diag.size != n:
                raise ValueError("column multigrid: a row without its diagonal entry")
            pos_up = np.full(n, -1, np.int64)
            pos_up[rows[up]] = up
            pos_down = np.full(n, -1, np.int64)
            pos_down[rows[down]] = down
            link = (pos_up[:-1] >= 0) | (pos_down[1:] >= 0)  # z link i -> i + 1
            link = link[:max(n - 1, 0)]
            nl = np.ones(n, np.int64)
            nl[:-1] += link
            nl[1:] += link
            ptr = np.concatenate([[0], np.cumsum(nl)]).astype(PETSc.IntType)
            cols = np.empty(ptr[-1], PETSc.IntType)
            slot = ptr[:-1].astype(np.int64)
            has_lo = np.concatenate([[False], link])[:n]
            cols[slot[has_lo]] = np.flatnonzero(has_lo) - 1
            slot[has_lo] += 1
            cols[slot] = np.arange(n)
            has_hi = np.concatenate([link, [False]])[:n]
            cols[slot[has_hi] + 1] = np.flatnonzero(has_hi) + 1
            self._line_pattern = (ptr, cols, diag, link, pos_up, pos_down, slot)
        ptr, cols, diag, link, pos_up, pos_down, slot = self._line_pattern
        vals = np.zeros(cols.size)
        vals[slot] = data[diag]
        a_up = np.where(pos_up[:-1] >= 0, data[np.maximum(pos_up[:-1], 0)], 0.0)
        a_dn = np.where(pos_down[1:] >= 0, data[np.maximum(pos_down[1:], 0)], 0.0)
        ilink = np.flatnonzero(link)
        off = 0.5 * (a_up + a_dn)[ilink]
        vals[slot[ilink] + 1] = off
        vals[slot[ilink + 1] - 1] = off
        if self.L is None:
            self.L = PETSc.Mat().createAIJ((n, n), csr=(ptr, cols, vals), comm=PETSc.COMM_SELF)
            self.L.assemble()
            self.smoother = pc = PETSc.PC().create(PETSc.COMM_SELF)
            pc.setType(PETSc.PC.Type.LU)
            pc.setFactorSolverType("petsc")
            pc.setFactorOrdering("natural")
            pc.setOperators(self.L)
            self._lb = self.vecs[0].createLocalVector()
            self._lx = self.vecs[0].createLocalVector()
        else:
            self.L.setValuesCSR(ptr, cols, vals)
            self.L.assemble()
        self.smoother.setUp()

    def precondition(self, b: PETSc.Vec, x: PETSc.Vec) -> None:
        """x = ICC^-1 b (finest level) or x = L^-1 b (line solves)."""
        if self.layout is None:
            self.smoother.apply(b, x)
            return
        self._line_solve(b, x)

    @property
    def symmetric_smoother(self) -> bool:
        """False for the restricted additive Schwarz ICC (several ranks, ``icc_overlap``)."""
        return self.layout is not None or self.smoother.getType() != PETSc.PC.Type.ASM

    def precondition_transpose(self, b: PETSc.Vec, x: PETSc.Vec) -> None:
        """x = S^T b for the finest level's smoother S: the post-smoother that keeps the
        V-cycle symmetric (S itself unless S is the restricted additive Schwarz ICC)."""
        if not self.symmetric_smoother:
            self.smoother.applyTranspose(b, x)
            return
        self.precondition(b, x)

    def _line_solve(self, b: PETSc.Vec, x: PETSc.Vec) -> None:
        b.getLocalVector(self._lb, readonly=True)
        x.getLocalVector(self._lx)
        self.smoother.apply(self._lb, self._lx)
        x.restoreLocalVector(self._lx)
        b.restoreLocalVector(self._lb, readonly=True)

    def estimate_emax(self, gx, gy, steps: int) -> float:
        _, _, r, d, w = self.vecs
        z = self.vecs[1]
        r.array[:] = _probe(gx[self.row_col], gy[self.row_col], self.row_z)
        self.emax = _lanczos_max(self.mv, self.precondition, r, d, z, w, steps)
        return self.emax

    def destroy(self, keep_A: bool = False) -> None:
        self._drop_collapse()
        if self._ghosts is not None:
            self._ghosts[2].destroy()
            self._ghosts[3].destroy()
        if self.mv is not None and self.mv is not self.A:
            self.mv.destroy()
        self.mv = None
        for obj in (None if keep_A else self.A, self.P, self.L, self.smoother, *self.vecs,
                    self._lb, self._lx):
            if obj is not None:
                obj.destroy()


# ----------------------------------------------------------------------------- the PC
class _CoarseSolve:
    """Direct solve on the coarsest level (a few thousand dofs): LU (``solver``, e.g.
    "mumps") of its operator ``A``. On several ranks every rank factors its own copy of the
    whole operator (``MatCreateRedundantMatrix``) and solves the whole coarse system after
    one all-gather of the right-hand side (as PETSc's PCREDUNDANT): measured on the 0.5 M-dof
    pouch (2422 coarse dofs) a distributed MUMPS solve took 0.97 ms on 2 ranks against 0.69 ms
    on one (its messages cost more than the arithmetic), which made the coarse solve the one
    part of the cycle slower in parallel. Collective."""

    def __init__(self, A: PETSc.Mat, solver: str | None):
        self.A, self.solver = A, solver or ""
        comm = A.getComm().tompi4py()
        self.redundant = comm.size > 1
        self.local = None  # the whole operator on this rank (several ranks)
        self.ksp = PETSc.KSP().create(PETSc.COMM_SELF if self.redundant else A.getComm())
        self.ksp.setType(PETSc.KSP.Type.PREONLY)
        pc = self.ksp.getPC()
        pc.setType(PETSc.PC.Type.LU)
        if self.solver:
            pc.setFactorSolverType(self.solver)
        self._gather = None  # (to-all scatter, whole right-hand side, whole solution)
        if self.redundant:
            x = A.createVecs()[0]
            scatter, whole = PETSc.Scatter.toAll(x)
            self._gather = (scatter, whole, whole.duplicate(), x.getOwnershipRange())
            x.destroy()

    def setup(self) -> None:
        """Factor the current values of A (collective)."""
        op = self.A
        if self.redundant:
            self.local = self.A.getRedundantMatrix(self.A.getComm().getSize(),
                                                   out=self.local)
            op = self.local
        self.ksp.setOperators(op)
        self._workspace(400)
        self.ksp.setUp()
        if self._failed():
            # MUMPS INFOG(1) = -9: its work array, sized from the analysis, was too small
            # for the pivoting the badly scaled coarse operator needed (met on 2 ranks of
            # the pouch hot spot at dt = 0.29 s): factor again with more room
            self._workspace(4000)
            self.ksp.reset()
            self.ksp.setOperators(op)
            self.ksp.setUp()

    def _workspace(self, percent: int) -> None:
        """MUMPS ICNTL(14): the extra work space (%) over the analysis' estimate."""
        if self.solver != "mumps":
            return
        pc = self.ksp.getPC()
        pc.setFactorSetUpSolverType()
        pc.getFactorMatrix().setMumpsIcntl(14, percent)

    def _failed(self) -> bool:
        if self.solver != "mumps":
            return False
        return self.ksp.getPC().getFactorMatrix().getMumpsInfog(1) < 0

    def solve(self, b: PETSc.Vec, x: PETSc.Vec) -> None:
        if self._gather is None:
            self.ksp.solve(b, x)
            return
        scatter, wb, wx, (lo, hi) = self._gather
        scatter.scatter(b, wb, _INSERT, PETSc.ScatterMode.FORWARD)
        self.ksp.solve(wb, wx)
        x.array[:] = wx.array_r[lo:hi]

    def destroy(self) -> None:
        self.ksp.destroy()
        if self.local is not None:
            self.local.destroy()
        if self._gather is not None:
            for obj in self._gather[:3]:
                obj.destroy()
        self.local = self._gather = None


class ColumnMG:
    """petsc4py ``PC.Type.PYTHON`` context of the column multigrid (see the module
    docstring). Build it with :func:`setup_column_mg`. ``info`` (a dict, updated at every
    setup) holds the hierarchy (dofs, columns and nonzeros per level, operator complexity),
    the smoothers' emax, the number of split columns and the setup times (s)."""

    def __init__(self, V, **options):
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"column multigrid: unknown options {sorted(unknown)}")
        self.options = {**DEFAULTS, **options}
        if self.options["cycle"] not in ("V", "W"):
            raise ValueError("column multigrid: cycle must be 'V' or 'W'")
        self.comm = V.mesh.comm
        t0 = time.perf_counter()
        self.whole_columns = c = find_columns(V, self.options["rtol"])
        self._use_columns(c)
        self.info: dict = {"columns_s": time.perf_counter() - t0, "split_columns": c["split"],
                           "columns": int(c["present"].shape[0]),
                           "z_levels": int(c["present"].shape[1]), "setups": 0}
        self.levels: list[_Level] = []
        self._source = None  # (handle, sizes) of the operator the hierarchy was built for
        self._coarse: _CoarseSolve | None = None
        self._omega = 1.0
        self._skip: set[int] = set()  # coarse levels passed through without smoothing
        self._move = None  # (IS, scatter, work vectors) when the fine level is a copy
        self._isolated = None  # the isolated rows the columns were split at
        smoother = self.options["smoother"]
        if smoother not in ("auto", "icc", "line"):
            raise ValueError("column multigrid: smoother must be 'auto', 'icc' or 'line'")
        if smoother == "auto":
            smoother = "icc"
        self.smoother = smoother

    def _use_columns(self, c: dict) -> None:
        self.columns = c
        self.grid = _Layout(self.comm, c["gx"], c["gy"], c["present"], c["owner"])

    # -- setup
    def setUp(self, pc: PETSc.PC) -> None:
        A, _ = pc.getOperators()
        self.build(A)

    def build(self, A: PETSc.Mat) -> None:
        """(Re)build for operator A; the same matrix object with new values (same
        sparsity) reuses the patterns level by level as long as the coarsening is the same."""
        t0 = time.perf_counter()
        opt = self.options
        c = self.columns
        source = (A.handle, A.getSizes())
        lo, hi = A.getOwnershipRange()
        if hi - lo != self.whole_columns["col"].size:
            raise ValueError("column multigrid: A's rows are not the owned dofs of V")
        isolated = _isolated_rows(A) if opt["split_dirichlet"] else np.zeros(hi - lo, bool)
        changed = self._isolated is None or not np.array_equal(self._isolated, isolated)
        if self.comm.allreduce(changed, op=MPI.LOR):
            self._source = None  # the columns change: a full setup
            self.destroy()
            self._isolated = isolated
            self._use_columns(split_columns(self.whole_columns, isolated, self.comm))
            self.info["columns"] = int(self.columns["present"].shape[0])
        c = self.columns
        if self._source != source or not self.levels:
            self.destroy()
            if self.smoother == "line":
                fine = self._to_columns(A)
            elif opt["icc_ordering"] in ("levels", "levels_y"):
                fine = self._to_levels(A, opt["icc_ordering"])
            else:
                fine = _Level(self.comm, c["col"], c["level"])
                fine.A = A
            fine.make_vecs()
            self.levels = [fine]
        elif self._move is not None:
            A.createSubMatrix(self._move[0], self._move[0], submat=self.levels[0].A)
        fine = self.levels[0]
        if self.smoother == "icc":
            fine.icc_ordering = "natural" if self._move is not None else opt["icc_ordering"]
            fine.icc_overlap = int(opt["icc_overlap"])
            fine.setup_icc()
        times = {"fine_s": time.perf_counter() - t0}
        t = time.perf_counter()
        reused = 0
        k = 0
        layout = self.grid
        while True:
            lev = self.levels[k]
            if opt["reuse_interpolation"] and lev.P is not None and k + 1 < len(self.levels):
                nxt = self.levels[k + 1]  # keep P: the Galerkin product only
                lev.A.PtAP(lev.P, result=nxt.A)
                self._fix_empty_rows(nxt.A)
                layout = nxt.layout
                reused += 1
                k += 1
                continue
            lev.find_isolated()  # (only the coarsening and the interpolation use them)
            lev.collapse_anchored = opt["collapse_anchored"]
            split = self._coarsen(lev, layout, k)
            if split is None:
                self._drop_levels(k + 1)
                break
            is_c, weights = split
            old = lev.split
            same = (k + 1 < len(self.levels) and old is not None
                    and np.array_equal(old[0], is_c) and np.array_equal(old[1], weights[0])
                    and np.array_equal(old[2], weights[1]))
            same = self.comm.allreduce(same, op=MPI.LAND)
            coarse_of = np.where(is_c, np.cumsum(is_c) - 1, -1)
            if same:
                reused += 1
                nxt = self.levels[k + 1]
                lev.interpolation(weights, layout.present, coarse_of, nxt.layout)
                lev.A.PtAP(lev.P, result=nxt.A)
            else:
                self._drop_levels(k + 1)
                lev.reset_interpolation()
                sub = layout.subset(is_c)
                nxt = _Level(self.comm, sub.row_col, sub.row_z, sub)
                lev.interpolation(weights, layout.present, coarse_of, sub)
                nxt.A = lev.A.PtAP(lev.P)
                nxt.make_vecs()
                self.levels.append(nxt)
            lev.split = (is_c, weights[0], weights[1])
            self._fix_empty_rows(nxt.A)
            layout = nxt.layout
            k += 1
        times["galerkin_s"] = time.perf_counter() - t
        t = time.perf_counter()
        last = self.levels[-1]
        direct = len(self.levels) > 1 and last.layout.size <= opt["coarse_size"]
        self._skip = {k for k in opt["skip_smoothing"] if 0 < k < len(self.levels) - 1}
        smoothed = [i for i in range(len(self.levels) - direct) if i not in self._skip]
        for i in smoothed:
            if i > 0 or self.smoother != "icc":
                self.levels[i].setup_lines()
            self.levels[i].setup_products(bool(opt["sbaij"]))
        for i in self._skip:
            self.levels[i].drop_products()
        g = (c["gx"], c["gy"])
        for i in smoothed:
            lev = self.levels[i]
            gx, gy = g if i == 0 else (lev.layout.gx, lev.layout.gy)
            lev.estimate_emax(gx, gy, opt["lanczos_steps"])
        self._omega = min(opt["omega"], 1.8 / max(fine.emax, 1e-300))
        info_smoother = self.smoother
        times["smoothers_s"] = time.perf_counter() - t
        t = time.perf_counter()
        if direct:
            if self._coarse is not None and self._coarse.A is not last.A:
                # another coarsest level (sizes may differ; a handle may be an address the
                # destroyed one had, so the objects are compared)
                self._coarse.destroy()
                self._coarse = None
            if self._coarse is None:
                self._coarse = _CoarseSolve(last.A, opt["coarse_solver"])
            self._coarse.setup()
        elif self._coarse is not None:
            self._coarse.destroy()
            self._coarse = None
        times["coarse_s"] = time.perf_counter() - t
        self._source = source
        info = self.info
        info.update(times)
        info["setups"] += 1
        info["reused_levels"] = reused
        info["setup_s"] = time.perf_counter() - t0
        info["levels"] = len(self.levels)
        info["coarse_direct"] = direct
        info["dofs"] = [lev.A.getSize()[0] for lev in self.levels]
        info["columns_per_level"] = [self.grid.ncols] + [lev.layout.ncols
                                                         for lev in self.levels[1:]]
        nnz = [lev.A.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)["nz_used"] for lev in self.levels]
        info["nonzeros"] = [int(v) for v in nnz]
        info["operator_complexity"] = float(sum(nnz) / nnz[0])
        info["emax"] = [float("nan") if i in self._skip else lev.emax
                        for i, lev in enumerate(self.levels[:len(self.levels) - direct])]
        info["unsmoothed_levels"] = sorted(self._skip)
        info["omega"] = self._omega
        info["smoother"] = info_smoother

    def _to_columns(self, A: PETSc.Mat) -> _Level:
        """The finest level for the line smoother: a copy of A in the column layout (each
        column whole on its owner rank, numbered column by column, bottom-up)."""
        comm, c, grid = self.comm, self.columns, self.grid
        lo, hi = A.getOwnershipRange()
        target = grid.vec()
        target.setValues(grid.index(c["col"], c["level"]).astype(PETSc.IntType),
                         np.arange(lo, hi, dtype=np.float64))
        target.assemble()
        is_ = PETSc.IS().createGeneral(np.rint(target.array).astype(PETSc.IntType), comm=comm)
        xa = A.createVecs()[0]
        self._move = (is_, PETSc.Scatter().create(xa, is_, target, None), xa, target)
        fine = _Level(comm, grid.row_col, grid.row_z, grid)
        fine.A = A.createSubMatrix(is_, is_)
        return fine

    def _to_levels(self, A: PETSc.Mat, ordering: str) -> _Level:
        """The finest level for the ICC smoother: a copy of A with each column whole on its
        owner rank (the strips of the line smoother's layout) and each rank's rows
        renumbered level by level (z level, then y, then x; "levels_y": x before y), so that
        ICC(0) in natural order is the level-ordered factorization, and with several ranks
        its block Jacobi cuts in-plane couplings only, never the z conduction. The whole
        fine level of the cycle (products, restriction, prolongation) works in that
        numbering: the residual and the correction are permuted once each per application
        (permuting in and out around each of the two ICC solves instead cost 0.25 MatMult
        each)."""
        comm, c, grid = self.comm, self.columns, self.grid
        lo, hi = A.getOwnershipRange()
        where = grid.vec()  # the caller's index of each dof in the column layout
        where.setValues(grid.index(c["col"], c["level"]).astype(PETSc.IntType),
                        np.arange(lo, hi, dtype=np.float64))
        where.assemble()
        src = np.rint(where.array).astype(np.int64)
        where.destroy()
        gx, gy = c["gx"][grid.row_col], c["gy"][grid.row_col]
        nx, ny = int(c["gx"].max(initial=0)) + 1, int(c["gy"].max(initial=0)) + 1
        # the position of each (column, level) in the global level order, the same on every
        # rank (unique: a column, even one split at fixed dofs, has each level once)
        if ordering == "levels":
            key = (grid.row_z * ny + gy) * nx + gx
        else:
            key = (grid.row_z * nx + gx) * ny + gy
        perm = np.argsort(key, kind="stable")
        is_ = PETSc.IS().createGeneral(src[perm].astype(PETSc.IntType), comm=comm)
        fine = _Level(comm, grid.row_col[perm], grid.row_z[perm])
        fine.level_key = key[perm].astype(np.int64)
        fine.A = A.createSubMatrix(is_, is_)
        xa, target = A.createVecs()[0], fine.A.createVecs()[0]
        self._move = (is_, PETSc.Scatter().create(xa, is_, target, None), xa, target)
        return fine

    def _coarsen(self, lev: _Level, layout: _Layout, k: int):
        """(coarse-column mask, column weights as a CSR over all columns) for the level, or
        None when it is the last one: small enough, too many levels, or no useful coarsening
        (columns weakly coupled in-plane, as at tiny time steps; or too few dropped). Works
        on the whole (small) column graph on every rank: independent of the partition."""
        opt = self.options
        n = layout.ncols
        if (lev.A.getSize()[0] <= opt["coarse_size"] or k + 1 >= opt["max_levels"]
                or n <= 1):
            return None
        ci, cj, cv = lev.collapse(layout)
        strong = _strong(n, ci, cj, cv, opt["strength"], opt["dominance"])
        is_c = _split(n, ci[strong], cj[strong])
        if opt["keep_edges"]:
            # columns next to a column with another set of levels (the edge of a tab or
            # of a layer's footprint) stay coarse: the column-wise weights would be wrong
            _, sets = np.unique(layout.present, axis=0, return_inverse=True)
            sets = sets.ravel()
            edge = np.zeros(n, bool)
            edge[ci[(ci != cj) & (sets[ci] != sets[cj])]] = True
            is_c |= edge
        n_c = int(np.count_nonzero(is_c))
        if n_c == 0 or n_c > opt["max_coarse_fraction"] * n:
            return None
        wi, wj, w = _weights(n, ci, cj, cv, strong, is_c, opt["truncate"], opt["positive"])
        wptr = np.concatenate([[0], np.cumsum(np.bincount(wi, minlength=n))])
        return is_c, (wptr, wj, w)

    def _drop_levels(self, k: int) -> None:
        for lev in self.levels[k:]:
            lev.destroy()
        del self.levels[k:]

    @staticmethod
    def _fix_empty_rows(A: PETSc.Mat) -> None:
        """Coarse dofs that only interpolate to isolated (Dirichlet) rows: unit diagonal."""
        d = A.getDiagonal()
        lo, _ = A.getOwnershipRange()
        empty = np.flatnonzero(d.array == 0.0)
        for i in empty:
            A.setValue(lo + i, lo + i, 1.0)
        A.assemble()
        d.destroy()

    # -- application
    def apply(self, pc: PETSc.PC, b: PETSc.Vec, x: PETSc.Vec) -> None:
        """x = one V-cycle applied to b (zero initial guess)."""
        cycle = self._vcycle if self.smoother == "icc" else self._cycle0
        if self._move is None:
            cycle(b, x)
            return
        _, scatter, _, bf = self._move
        xf = self.levels[0].vecs[1]
        scatter.scatter(b, bf, _INSERT, PETSc.ScatterMode.FORWARD)
        cycle(bf, xf)
        scatter.scatter(xf, x, _INSERT, PETSc.ScatterMode.REVERSE)

    def _cycle0(self, b: PETSc.Vec, x: PETSc.Vec) -> None:
        self._cycle(0, b, x)

    def _vcycle(self, b: PETSc.Vec, x: PETSc.Vec) -> None:
        fine = self.levels[0]
        _, _, r, d, w = fine.vecs
        A, P, omega = fine.mv, fine.P, self._omega
        if len(self.levels) == 1:
            fine.precondition(b, x)
            if fine.symmetric_smoother:
                return
            # restricted additive Schwarz is not symmetric: S, then S^T on the residual
            # (the V-cycle without a coarse level)
            A.mult(x, r)
            r.aypx(-1.0, b)
            fine.precondition_transpose(r, d)
            x.axpy(1.0, d)
            return
        fine.precondition(b, x)
        if omega != 1.0:
            x.scale(omega)
        A.mult(x, r)
        r.aypx(-1.0, b)
        nxt = self.levels[1]
        P.multTranspose(r, nxt.vecs[0])
        self._cycle(1, nxt.vecs[0], nxt.vecs[1])
        P.mult(nxt.vecs[1], d)
        x.axpy(1.0, d)
        A.mult(d, w)
        r.axpy(-1.0, w)
        fine.precondition_transpose(r, d)
        x.axpy(omega, d)

    def _cycle(self, k: int, b: PETSc.Vec, x: PETSc.Vec) -> None:
        """x = one cycle on coarse level k applied to b (zero initial guess)."""
        levels = self.levels
        lev = levels[k]
        if k in self._skip:  # restriction and prolongation only (see skip_smoothing)
            nxt = levels[k + 1]
            lev.P.multTranspose(b, nxt.vecs[0])
            self._cycle(k + 1, nxt.vecs[0], nxt.vecs[1])
            lev.P.mult(nxt.vecs[1], x)
            return
        _, _, r, d, w = lev.vecs
        x.set(0.0)
        b.copy(r)
        if k == len(levels) - 1:
            if self._coarse is not None:
                self._coarse.solve(b, x)
            else:
                self._smooth(lev, x, r, final_residual=False)
            return
        self._smooth(lev, x, r, final_residual=True)
        nxt = levels[k + 1]
        visits = 2 if self.options["cycle"] == "W" and k + 1 < len(levels) - 1 else 1
        for _ in range(visits):
            lev.P.multTranspose(r, nxt.vecs[0])
            self._cycle(k + 1, nxt.vecs[0], nxt.vecs[1])
            lev.P.mult(nxt.vecs[1], d)
            x.axpy(1.0, d)
            lev.mv.mult(d, w)
            r.axpy(-1.0, w)
        self._smooth(lev, x, r, final_residual=False)

    def _smooth(self, lev: _Level, x: PETSc.Vec, r: PETSc.Vec, final_residual: bool) -> None:
        """Chebyshev iteration on [lower emax, 1.1 emax] preconditioned by the line solves;
        r holds b - A x on entry (and on exit when ``final_residual``)."""
        z, _, _, d, w = lev.vecs  # (b is free: its content is in r)
        degree = self.options["fine_degree" if lev is self.levels[0] else "degree"]
        hi = 1.1 * lev.emax
        lo = self.options["lower"] * lev.emax
        theta, delta = 0.5 * (hi + lo), 0.5 * (hi - lo)
        sigma = theta / delta
        rho = 1.0 / sigma
        lev.precondition(r, z)
        z.copy(d)
        d.scale(1.0 / theta)
        x.axpy(1.0, d)
        for i in range(1, degree + 1):
            if i == degree and not final_residual:
                break
            lev.mv.mult(d, w)
            r.axpy(-1.0, w)
            if i == degree:
                break
            lev.precondition(r, z)
            rho_new = 1.0 / (2.0 * sigma - rho)
            d.scale(rho_new * rho)
            d.axpy(2.0 * rho_new / delta, z)
            x.axpy(1.0, d)
            rho = rho_new

    def view(self, pc: PETSc.PC, viewer: PETSc.Viewer | None = None) -> None:
        if viewer is not None:
            viewer.printfASCII(f"column multigrid: {self.info}\n")

    def destroy(self, pc: PETSc.PC | None = None) -> None:
        if self.levels:
            self.levels[0].destroy(keep_A=self._move is None)  # (A itself: the caller's)
        if self._move is not None:
            for obj in self._move:
                obj.destroy()
        self._move = None
        self._drop_levels(1)
        self.levels = []
        if self._coarse is not None:
            self._coarse.destroy()
        self._coarse = None
        self._source = None


def setup_column_mg(ksp: PETSc.KSP, A: PETSc.Mat | None, V, **options) -> dict:
    """Make ``ksp`` a CG solver preconditioned by column multigrid (module docstring).

    ``A``: the assembled operator on the scalar P1 space ``V`` (or None: set later with
    ``ksp.setOperators``; the hierarchy is then built at the first solve). Keeps the KSP's
    options prefix, tolerances, norm and initial-guess settings; sets the KSP type to CG.

    Options (defaults in :data:`DEFAULTS`): ``smoother`` of the finest level: "icc",
    "line" or "auto" (ICC, on any number of ranks: see the module docstring); ``omega``
    damping of the fine ICC smoothing (capped at 1.8/emax);
    ``fine_degree`` and ``degree`` Chebyshev steps of the line smoothers on the finest and
    on the coarse levels, on [``lower`` emax, 1.1 emax]; ``cycle`` "V" or "W" (coarse
    levels); ``strength``, ``dominance`` strong-coupling threshold and diagonal-dominance
    limit of the coarsening; ``truncate`` drop interpolation weights below this fraction of
    the row's largest; ``keep_edges`` keep the columns next to a column with another set of
    levels (tab edges) coarse; ``max_coarse_fraction`` stop when a level keeps more of its
    columns; ``coarse_size`` dofs for the direct coarse solve (``coarse_solver``, e.g.
    "mumps"); ``max_levels``; ``lanczos_steps`` for the emax estimates;
    ``reuse_interpolation`` keep the coarsening and P of the first setup when the values of A
    change (cheaper re-setup, more iterations after a large change of dt); ``rtol``
    coordinate tolerance relative to the mesh extent; ``sbaij`` the cycle's products with
    SBAIJ copies of the level operators (less time per step, more memory; False: with the
    AIJ operators themselves); ``icc_ordering`` of the fine ICC(0): "levels" (a renumbered
    copy of A, level by level) or a PETSc ordering ("natural": the caller's); ``positive``
    couplings in the interpolation: "diagonal" (lumped to the diagonal) or "interpolate";
    ``split_dirichlet`` cut the columns above interior fixed (Dirichlet) dofs;
    ``skip_smoothing`` the coarse levels (indices, 0 = finest; the coarsest is never
    skipped) the cycle passes through without smoothing (default: level 1);
    ``icc_overlap`` layers of overlap of the fine ICC smoother between ranks (restricted
    additive Schwarz; 0: block Jacobi);
    ``collapse_anchored`` keep the rows next to Dirichlet dofs in the collapsed operator's
    rows (measured: slightly fewer iterations with an interior hot spot, more with a fixed
    patch on the top face; off).

    Returns the live ``info`` dict of the preconditioner (updated at each setup). When A's
    values change (same sparsity), call ``ksp.setOperators(A)``: the numeric re-setup runs
    at the next solve. Collective.
    """
    ctx = ColumnMG(V, **options)
    ksp.setType(PETSc.KSP.Type.CG)
    pc = ksp.getPC()
    pc.setType(PETSc.PC.Type.PYTHON)
    pc.setPythonContext(ctx)
    if A is not None:
        ksp.setOperators(A)
        pc.setUp()
    return ctx.info


def column_mg_context(ksp: PETSc.KSP) -> ColumnMG:
    """The :class:`ColumnMG` of a KSP configured by :func:`setup_column_mg`."""
    return ksp.getPC().getPythonContext()


__all__ = ["DEFAULTS", "ColumnMG", "column_mg_context", "find_columns", "setup_column_mg"]
