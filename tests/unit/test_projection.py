"""Fischer's projection of initial guesses (solvers/projection.py) on a small SPD system:
the basis stays A-orthonormal, the guess is the energy-norm best correction within the span
of the recorded corrections (exact when the solution lies in it), the basis keeps at most
``size`` vectors, and a CG solve started from it needs no more iterations."""

from __future__ import annotations

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import pytest

import batteryfx  # noqa: F401  (dolfinx_solver before petsc4py when installed)
from batteryfx.solvers.projection import SolutionProjection

N = 240


def spd_matrix(comm) -> PETSc.Mat:
    """A = M/dt + K of a 1D P1 problem with variable conductivity (SPD, N x N)."""
    A = PETSc.Mat().createAIJ([N, N], comm=comm, nnz=3)
    lo, hi = A.getOwnershipRange()
    h = 1.0 / N
    for i in range(lo, hi):
        k_l = 1.0 + 100.0 * ((i // 20) % 2)  # layers of very different conductivity
        k_r = 1.0 + 100.0 * (((i + 1) // 20) % 2)
        A.setValue(i, i, (k_l + k_r) / h + 4 * h / 6 / 1e-3)
        if i > 0:
            A.setValue(i, i - 1, -k_l / h + h / 6 / 1e-3)
        if i < N - 1:
            A.setValue(i, i + 1, -k_r / h + h / 6 / 1e-3)
    A.assemble()
    return A


def vec_from(A: PETSc.Mat, f) -> PETSc.Vec:
    v = A.createVecLeft()
    lo, hi = v.getOwnershipRange()
    v.array[:] = f(np.arange(lo, hi) / N)
    return v


def solve(A, b, x, rtol=1e-12) -> int:
    ksp = PETSc.KSP().create(A.getComm())
    ksp.setOperators(A)
    ksp.setType("cg")
    ksp.getPC().setType("jacobi")
    ksp.setTolerances(rtol=rtol, atol=0.0, max_it=5000)
    ksp.setInitialGuessNonzero(True)
    ksp.solve(b, x)
    its = ksp.getIterationNumber()
    assert ksp.getConvergedReason() > 0
    ksp.destroy()
    return its


def a_norm(A, v) -> float:
    w = A.createVecLeft()
    A.mult(v, w)
    out = np.sqrt(v.dot(w))
    w.destroy()
    return out


@pytest.mark.mpi
def test_basis_orthonormal_and_guess_optimal():
    comm = MPI.COMM_WORLD
    A = spd_matrix(comm)
    proj = SolutionProjection(A.createVecLeft(), size=4)
    x = A.createVecLeft()
    # a sequence of right-hand sides varying smoothly "in time"
    for n in range(7):
        b = vec_from(A, lambda s, n=n: np.sin(np.pi * s * (1 + 0.1 * n)) + 0.01 * n * s)
        x.set(0.0)
        proj.guess(A, b, x)
        solve(A, b, x)
        proj.add(A, x)
        b.destroy()
    assert len(proj) == 4 and proj.dropped == 3 and proj.added == 7
    X = proj._X
    gram = np.array([[a_norm(A, X[i]) ** 2 if i == j else 0.0 for j in range(4)]
                     for i in range(4)])
    w = A.createVecLeft()
    for i in range(4):
        A.mult(X[i], w)
        for j in range(4):
            gram[i, j] = w.dot(X[j])
    assert np.allclose(gram, np.eye(4), atol=1e-10), gram
    # exact when the solution lies in the span: x* = X c
    xs = A.createVecLeft()
    xs.maxpy([0.3, -1.2, 2.0, 0.7], X)
    b = A.createVecLeft()
    A.mult(xs, b)
    x.set(0.0)
    proj.guess(A, b, x)
    x.axpy(-1.0, xs)
    assert a_norm(A, x) <= 1e-10 * a_norm(A, xs)
    # energy-optimal: no other correction in the span gets closer to x* from p
    rng = np.random.default_rng(0)
    target = vec_from(A, lambda s: np.cos(3 * s) + s**2)
    A.mult(target, b)
    p = vec_from(A, lambda s: 0.9 * np.cos(3 * s))
    x0 = p.copy()
    proj.guess(A, b, x0)
    e0 = x0.copy()
    e0.axpy(-1.0, target)
    best = a_norm(A, e0)
    pe = p.copy()
    pe.axpy(-1.0, target)
    assert best < a_norm(A, pe)
    for _ in range(20):
        trial = x0.copy()
        trial.maxpy(list(1e-2 * rng.standard_normal(4)), X)
        trial.axpy(-1.0, target)
        assert a_norm(A, trial) >= best * (1 - 1e-12)
        trial.destroy()
    for v in (w, xs, b, target, p, x0, e0, pe, x):
        v.destroy()
    proj.destroy()
    A.destroy()


@pytest.mark.mpi
def test_projected_guesses_are_closer():
    """Backward-Euler-like sequence x_{n+1} = A^-1 (M x_n / dt) from a sharp initial peak:
    the energy-norm error of the first guess, x_n alone vs x_n projected, over 15 steps. The
    slow modes of the decaying transient soon lie in the span of the recorded corrections:
    measured ratios projected / plain 0.28, 0.08, then 2e-2 .. 1e-4 (median 4e-3)."""
    comm = MPI.COMM_WORLD
    A = spd_matrix(comm)
    proj = SolutionProjection(A.createVecLeft(), size=8)
    x = vec_from(A, lambda s: np.exp(-((s - 0.3) / 0.05) ** 2))
    b, guess, err = A.createVecLeft(), A.createVecLeft(), A.createVecLeft()
    ratios = []
    for _ in range(15):
        x.copy(b)
        b.scale(4 / N / 6 / 1e-3)
        x.copy(guess)
        proj.guess(A, b, guess)
        exact = x.copy()
        solve(A, b, exact)
        for g in (x, guess):
            g.copy(err)
            err.axpy(-1.0, exact)
            ratios.append(a_norm(A, err))
        guess.copy(x)
        exact.copy(x)
        proj.add(A, x)
        exact.destroy()
    plain, projected = np.array(ratios[0::2]), np.array(ratios[1::2])
    assert projected[0] == pytest.approx(plain[0], rel=1e-12)  # nothing recorded yet
    assert np.all(projected <= plain * (1 + 1e-12)), (projected, plain)
    ratio = projected[3:] / plain[3:]
    assert np.all(ratio < 0.1) and np.median(ratio) < 1e-2, ratio
    for v in (b, guess, err, x):
        v.destroy()
    proj.destroy()
    A.destroy()
