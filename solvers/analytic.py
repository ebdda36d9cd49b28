"""Analytical solutions used by the verification tests and the benchmarks (shared/PHYSICS.md B).

All in non-dimensional form: x* = x / L, Fo = alpha t / L^2, theta = (T - T_inf) / (T_i - T_inf).
"""

from __future__ import annotations

import numpy as np


def slab_convection_roots(biot: float, n: int) -> np.ndarray:
    """First ``n`` positive roots of z tan z = Bi (one in each ((k) pi, (k + 1/2) pi))."""
    roots = np.empty(n)
    for k in range(n):
        lo, hi = k * np.pi + 1e-12, k * np.pi + np.pi / 2 - 1e-12
        for _ in range(200):  # bisection: f increases monotonically on the interval
            mid = 0.5 * (lo + hi)
            if mid * np.tan(mid) - biot > 0:
                hi = mid
            else:
                lo = mid
        roots[k] = 0.5 * (lo + hi)
    return roots


def slab_convection_terms(biot: float, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """(z_n, C_n) of theta = sum C_n exp(-z_n^2 Fo) cos(z_n x*) for a plane wall of
    half-thickness L, symmetric convection, Bi = h L / k (Incropera, eq. 5.39)."""
    z = slab_convection_roots(biot, n)
    return z, 4.0 * np.sin(z) / (2.0 * z + np.sin(2.0 * z))


def slab_convection(xstar, fourier: float, biot: float, n: int = 60):
    """theta(x*, Fo) of the symmetric-convection plane wall."""
    z, c = slab_convection_terms(biot, n)
    xstar = np.asarray(xstar, dtype=float)[..., None]
    return np.sum(c * np.exp(-(z**2) * fourier) * np.cos(z * xstar), axis=-1)


def slab_fixed_terms(n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(z_n, C_n) for a wall insulated at x* = 0 whose face x* = 1 is suddenly held at the
    ambient temperature: theta = sum C_n exp(-z_n^2 Fo) cos(z_n x*), z_n = (2n+1) pi / 2,
    C_n = 4 (-1)^n / ((2n+1) pi) (the Bi -> infinity limit of the convection series)."""
    k = np.arange(n)
    return (2 * k + 1) * np.pi / 2, 4.0 * (-1.0) ** k / ((2 * k + 1) * np.pi)


def layered_steady(z, interfaces, conductivities, powers, t_top: float):
    """Steady T(z) of a stack insulated at z = interfaces[0], held at ``t_top`` at
    z = interfaces[-1], layer i (between interfaces[i], interfaces[i+1]) with conductivity
    k_i and volumetric heating q_i. Heat flows up: -k dT/dz = Q(z) = int_0^z q, so
    T(z) = t_top + int_z^H Q(s) / k(s) ds (piecewise quadratic)."""
    zi = np.asarray(interfaces, float)
    k = np.asarray(conductivities, float)
    q = np.asarray(powers, float)
    q_below = np.concatenate([[0.0], np.cumsum(q * np.diff(zi))])  # Q at each interface

    def integral_from_bottom(zz):
        """int_{z0}^{zz} Q(s)/k(s) ds."""
        out = np.zeros_like(zz)
        for i in range(len(k)):
            a, b = zi[i], zi[i + 1]
            s = np.clip(zz, a, b) - a  # distance covered inside layer i
            out += (q_below[i] * s + 0.5 * q[i] * s**2) / k[i]
        return out

    z = np.asarray(z, float)
    return t_top + integral_from_bottom(np.array([zi[-1]]))[0] - integral_from_bottom(z)
