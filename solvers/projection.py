r"""Initial guesses for a sequence of solves A x = b with the same symmetric positive definite A.

Time stepping solves A x_n = b_n again and again with the operator fixed while dt is (the
right-hand sides carry the history). The solutions of successive steps differ by slowly
varying fields, so the part of the new solution that the last few corrections span is cheap
to get exactly: Fischer, "Projection techniques for iterative solution of Ax = b with
successive right-hand sides", Comput. Methods Appl. Mech. Engrg. 163 (1998) 193-204.

Keep X = [x_1 .. x_L], A-orthonormal (X^T A X = I), and A X. For a first guess p (e.g. the
extrapolation in time of the last states), the best correction within span(X) in the energy
norm is X X^T (b - A p): it minimises ||x - p - X a||_A over a, since
X^T A (x - p - X a) = X^T (b - A p) - a. After the Krylov solve, its own correction
d = x - x_0 is A-orthonormalised against X (modified Gram-Schmidt with the stored A X, one
product A d) and added; when there are L already, the one with the smallest coefficient in
the last guess is dropped (dropping the oldest instead, i.e. the first and largest
corrections, cost up to 5 iterations per step after every L - 1 steps at L = 8). Per solve:
two products with A and about 3 L vector operations; the reward is fewer preconditioned
iterations (each several products). Everything is collective (global dot products), so the
guess and the iterations do not depend on the partition beyond round-off.
"""

from __future__ import annotations

import math

from petsc4py import PETSc


class SolutionProjection:
    """Fischer's projection of the initial guess onto earlier corrections (same operator).

    ``guess(A, b, x)`` improves the first guess held in x; ``add(A, x)`` (after the solve)
    records the solve's correction. ``reset()`` when the operator changes."""

    def __init__(self, template: PETSc.Vec, size: int = 16) -> None:
        self.size = int(size)
        self._template = template
        self._X: list[PETSc.Vec] = []
        self._AX: list[PETSc.Vec] = []
        self._r = template.duplicate()
        self._x0 = template.duplicate()
        self._free: list[PETSc.Vec] = []
        self._last: list[float] = []  # |coefficients| of the last guess
        #: statistics: guesses made with a non-empty basis, vectors added, vectors dropped
        self.guesses = self.added = self.dropped = 0

    def __len__(self) -> int:
        return len(self._X)

    def reset(self) -> None:
        """Forget the basis (the operator changed)."""
        self._free.extend(self._X)
        self._free.extend(self._AX)
        self._X, self._AX, self._last = [], [], []

    def guess(self, A: PETSc.Mat, b: PETSc.Vec, x: PETSc.Vec) -> None:
        """x <- x + X X^T (b - A x); keeps the result as x_0 for :meth:`add`."""
        if self._X:
            A.mult(x, self._r)
            self._r.aypx(-1.0, b)
            coeffs = self._r.mDot(self._X)
            x.maxpy(coeffs, self._X)
            self._last = [abs(c) for c in coeffs]
            self.guesses += 1
        x.copy(self._x0)

    def add(self, A: PETSc.Mat, x: PETSc.Vec) -> None:
        """Record the correction x - x_0 of the solve that followed :meth:`guess`."""
        d = self._vec()
        ad = self._vec()
        d.waxpy(-1.0, self._x0, x)
        A.mult(d, ad)
        norm0 = math.sqrt(max(d.dot(ad), 0.0))
        for xi, axi in zip(self._X, self._AX, strict=True):
            c = ad.dot(xi)
            d.axpy(-c, xi)
            ad.axpy(-c, axi)
        energy = d.dot(ad)
        # nothing new (the guess was already the solution), or lost to cancellation
        if not energy > (1e-10 * norm0) ** 2 or norm0 == 0.0:
            self._free.extend((d, ad))
            return
        scale = 1.0 / math.sqrt(energy)
        d.scale(scale)
        ad.scale(scale)
        if len(self._X) == self.size:
            # drop the vector the last guess used least (the oldest, i.e. the first and
            # usually largest corrections, are often still the most useful ones)
            k = 0
            if len(self._last) == len(self._X):
                k = min(range(len(self._X)), key=self._last.__getitem__)
            self._free.append(self._X.pop(k))
            self._free.append(self._AX.pop(k))
            self.dropped += 1
        self._X.append(d)
        self._AX.append(ad)
        self.added += 1

    def _vec(self) -> PETSc.Vec:
        return self._free.pop() if self._free else self._template.duplicate()

    def destroy(self) -> None:
        for v in (*self._X, *self._AX, *self._free, self._r, self._x0):
            v.destroy()
        self._X, self._AX, self._free = [], [], []
