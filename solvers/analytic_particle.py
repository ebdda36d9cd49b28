"""Closed-form solutions for particle chemo-mechanics (shared/PHYSICS.md C, verification (i), (ii)).

(i) Diffusion-induced stress (DIS) in a sphere under galvanostatic insertion (Zhang, Shyy &
Sastry 2007, J. Electrochem. Soc. 154 A910; Cheng & Verbrugge 2009, J. Power Sources 190
453). A sphere of radius R, constant diffusivity D, initially at c0, a constant inward flux
J0 (mol m^-2 s^-1, insertion positive) on its traction-free surface, isotropic eigenstrain
Omega (c - c0) / 3 I, isotropic (E, nu). With x = r / R, tau = D t / R^2 and lambda_n the
positive roots of tan(l) = l:

    c - c0 = (J0 R / D) [3 tau + x^2/2 - 3/10 - (2/x) sum sin(l_n x) / (l_n^2 sin l_n)
                         exp(-l_n^2 tau)]
    sigma* = Omega E J0 R / (3 (1 - nu) D)
    sigma_r / sigma* = (1 - x^2)/5 + 4 sum exp(-l_n^2 tau) g(l_n x) / (l_n sin l_n)
    sigma_t / sigma* = (1 - 2 x^2)/5 + 2 sum exp(-l_n^2 tau) [sinc(l_n x) / (l_n sin l_n)
                       - g(l_n x) / (l_n sin l_n)]

with g(y) = (sin y - y cos y) / y^3 (so that (sin l x - l x cos l x) / (l^4 x^3) = g / l) and
sinc(y) = sin(y) / y, both evaluated without cancellation near x = 0 (Taylor series), where
sigma_r = sigma_t. Quasi-steady (tau -> infinity): centre +sigma*/5, surface hoop -sigma*/5.
Stresses in Pa when sigma* is in Pa; tensile positive.

(ii) A misfitting sphere (radius a, bulk modulus K_p, uniform isotropic misfit strain e, i.e.
eigenstrain e I) bonded in an infinite matrix (shear modulus G_m) (Eshelby 1957): uniform
pressure inside p = 12 K_p G_m e / (3 K_p + 4 G_m) (sigma = -p I), outside
sigma_rr = -p (a/r)^3, sigma_tt = +p/2 (a/r)^3. A finite matrix shell (outer radius b,
traction-free) is the Lame composite sphere :func:`misfit_sphere_in_shell`.

(iii) A sphere whose surface concentration is held fixed (potentiostatic limit, Crank 1975):
:func:`sphere_fixed_surface`, :func:`sphere_fixed_surface_mean`.

The roots of tan l = l are found by ``scipy.optimize.brentq`` inside their brackets
(n pi, (n + 1/2) pi).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: terms kept in the sphere series at most (the slowest-decaying term of c at tau = 0
#: behaves like 1/l_n^2: 400 terms give ~1e-3 of J0 R / D at tau = 0, machine precision for
#: tau > 1e-3); for tau > 0 only the terms with l_n^2 tau <= 50 are summed (the rest are
#: below exp(-50) = 2e-22)
N_TERMS = 400


@lru_cache(maxsize=8)
def _roots(n: int) -> tuple[float, ...]:
    """The first n positive roots of tan l = l, i.e. of f(l) = sin l - l cos l, which changes
    sign once on each bracket [k pi, (k + 1/2) pi]."""
    from scipy.optimize import brentq

    def f(x):
        return np.sin(x) - x * np.cos(x)

    return tuple(brentq(f, k * np.pi, (k + 0.5) * np.pi, xtol=1e-15, rtol=1e-15)
                 for k in range(1, n + 1))


def sphere_roots(n: int = N_TERMS) -> np.ndarray:
    """The first ``n`` positive roots of tan(l) = l: 4.4934, 7.7253, 10.9041, 14.0662, ..."""
    return np.array(_roots(int(n)))


def _sinc(y: np.ndarray) -> np.ndarray:
    """sin(y) / y (1 at y = 0)."""
    return np.sinc(y / np.pi)


def _g(y: np.ndarray) -> np.ndarray:
    """(sin y - y cos y) / y^3, with its Taylor series 1/3 - y^2/30 + y^4/840 - y^6/45360
    below |y| = 0.05 (1/3 at y = 0)."""
    y = np.asarray(y, dtype=float)
    small = np.abs(y) < 0.05
    ys = np.where(small, 1.0, y)
    y2 = y * y
    series = 1.0 / 3.0 - y2 / 30.0 + y2 * y2 / 840.0 - y2**3 / 45360.0
    return np.where(small, series, (np.sin(ys) - ys * np.cos(ys)) / ys**3)


@dataclass(frozen=True)
class SphereDIS:
    """Galvanostatic insertion into a traction-free sphere (module docstring, (i)).

    ``radius`` R (m), ``diffusivity`` D (m^2/s), ``flux`` J0 (mol m^-2 s^-1, inward positive),
    ``omega`` partial molar volume (m^3/mol), ``young`` E (Pa), ``poisson`` nu, ``c0`` initial
    concentration (mol/m^3)."""

    radius: float
    diffusivity: float
    flux: float
    omega: float
    young: float
    poisson: float
    c0: float = 0.0
    terms: int = N_TERMS

    @property
    def c_scale(self) -> float:
        """J0 R / D (mol/m^3)."""
        return self.flux * self.radius / self.diffusivity

    @property
    def sigma_star(self) -> float:
        """sigma* = Omega E J0 R / (3 (1 - nu) D) (Pa)."""
        return self.omega * self.young * self.c_scale / (3.0 * (1.0 - self.poisson))

    def tau(self, t):
        """Dimensionless time D t / R^2."""
        return self.diffusivity * np.asarray(t, dtype=float) / self.radius**2

    def _terms(self, x, tau):
        lam = sphere_roots(self.terms)
        if tau > 0:  # terms with exp(-l^2 tau) < 2e-22 change nothing in double precision
            lam = lam[: max(1, int(np.count_nonzero(lam**2 * float(tau) <= 50.0)))]
        x = np.asarray(x, dtype=float)[..., None]
        decay = np.exp(-(lam**2) * float(tau)) / (lam * np.sin(lam))
        return lam, x, decay

    def concentration_scaled(self, x, tau: float) -> np.ndarray:
        """(c - c0) / (J0 R / D) at x = r / R, dimensionless time tau."""
        lam, xx, decay = self._terms(x, tau)
        # (2/x) sin(l x) / (l^2 sin l) = 2 sinc(l x) / (l sin l)
        series = np.sum(2.0 * _sinc(lam * xx) * decay, axis=-1)
        x = np.asarray(x, dtype=float)
        return 3.0 * tau + x**2 / 2.0 - 0.3 - series

    def concentration(self, r, t: float) -> np.ndarray:
        """c(r, t) (mol/m^3)."""
        return self.c0 + self.c_scale * self.concentration_scaled(
            np.asarray(r) / self.radius, float(self.tau(t)))

    def radial_scaled(self, x, tau: float) -> np.ndarray:
        """sigma_r / sigma*."""
        lam, xx, decay = self._terms(x, tau)
        x = np.asarray(x, dtype=float)
        return (1.0 - x**2) / 5.0 + 4.0 * np.sum(decay * _g(lam * xx), axis=-1)

    def hoop_scaled(self, x, tau: float) -> np.ndarray:
        """sigma_t / sigma* (= sigma_theta = sigma_phi)."""
        lam, xx, decay = self._terms(x, tau)
        x = np.asarray(x, dtype=float)
        return (1.0 - 2.0 * x**2) / 5.0 + 2.0 * np.sum(
            decay * (_sinc(lam * xx) - _g(lam * xx)), axis=-1)

    def radial_stress(self, r, t: float) -> np.ndarray:
        """sigma_rr(r, t) (Pa, tensile positive)."""
        return self.sigma_star * self.radial_scaled(np.asarray(r) / self.radius,
                                                    float(self.tau(t)))

    def hoop_stress(self, r, t: float) -> np.ndarray:
        """sigma_tt(r, t) (Pa)."""
        return self.sigma_star * self.hoop_scaled(np.asarray(r) / self.radius,
                                                  float(self.tau(t)))

    def mean_concentration(self, t: float) -> float:
        """Volume mean of c (mol/m^3): c0 + 3 J0 t / R (mass balance)."""
        return self.c0 + 3.0 * self.flux * float(t) / self.radius


def sphere_fixed_surface(x, tau: float, terms: int = N_TERMS) -> np.ndarray:
    """(c - c0) / (c_s - c0) in a sphere whose surface is held at c_s from tau = 0 (Crank,
    The Mathematics of Diffusion, eq. 6.18): 1 + (2 / (pi x)) sum (-1)^n / n sin(n pi x)
    exp(-n^2 pi^2 tau), x = r / R, tau = D t / R^2 > 0 (the series does not converge at
    tau = 0)."""
    n = np.arange(1, terms + 1)
    if tau > 0:  # drop terms below exp(-50)
        n = n[: max(1, int(np.count_nonzero(n**2 * np.pi**2 * float(tau) <= 50.0)))]
    x = np.asarray(x, dtype=float)
    xx = x[..., None]
    # (2 / (pi x)) sin(n pi x) / n = 2 sinc(n pi x)
    return 1.0 + np.sum(2.0 * (-1.0) ** n * _sinc(n * np.pi * xx)
                        * np.exp(-(n**2) * np.pi**2 * float(tau)), axis=-1)


def sphere_fixed_surface_mean(tau: float, terms: int = N_TERMS) -> float:
    """Volume mean of :func:`sphere_fixed_surface` (the fractional uptake M_t / M_inf):
    1 - (6 / pi^2) sum exp(-n^2 pi^2 tau) / n^2 (Crank eq. 6.20)."""
    n = np.arange(1, terms + 1)
    return float(1.0 - 6.0 / np.pi**2 * np.sum(np.exp(-(n**2) * np.pi**2 * float(tau)) / n**2))


def eshelby_pressure(misfit: float, bulk_particle: float, shear_matrix: float) -> float:
    """p = 12 K_p G_m e / (3 K_p + 4 G_m) (Pa): the (compressive) pressure inside a sphere
    with misfit strain ``e`` (eigenstrain e I, e.g. Omega Delta c / 3) in an infinite matrix."""
    return 12.0 * bulk_particle * shear_matrix * misfit / (3.0 * bulk_particle
                                                            + 4.0 * shear_matrix)


def eshelby_sphere(r, radius: float, misfit: float, bulk_particle: float,
                   shear_matrix: float) -> tuple[np.ndarray, np.ndarray]:
    """(sigma_rr, sigma_tt) (Pa) at distance ``r`` (m) from the centre of a misfitting sphere
    of radius a in an infinite matrix: -p inside; -p (a/r)^3 and p/2 (a/r)^3 outside."""
    r = np.asarray(r, dtype=float)
    p = eshelby_pressure(misfit, bulk_particle, shear_matrix)
    inside = r <= radius
    ratio3 = (radius / np.where(inside, radius, r)) ** 3
    return np.where(inside, -p, -p * ratio3), np.where(inside, -p, 0.5 * p * ratio3)


def misfit_sphere_in_shell(r, a: float, b: float, misfit: float, bulk_particle: float,
                           bulk_matrix: float, shear_matrix: float):
    """Lame composite sphere: particle (radius a, bulk modulus K_p, eigenstrain misfit I)
    bonded to a matrix shell a < r < b (K_m, G_m) with a traction-free outer surface.

    Inside u = A r (uniform hydrostatic stress 3 K_p (A - e)); in the shell u = B r + C / r^2,
    sigma_rr = 3 K_m B - 4 G_m C / r^3, sigma_tt = 3 K_m B + 2 G_m C / r^3; A, B, C from
    continuity of u and sigma_rr at a and sigma_rr(b) = 0. Returns (sigma_rr, sigma_tt, u_r)
    (Pa, Pa, m). b -> infinity gives :func:`eshelby_sphere`."""
    r = np.asarray(r, dtype=float)
    kp, km, gm, e = bulk_particle, bulk_matrix, shear_matrix, misfit
    mat = np.array([[a, -a, -1.0 / a**2],
                    [3 * kp, -3 * km, 4 * gm / a**3],
                    [0.0, 3 * km, -4 * gm / b**3]])
    A, B, C = np.linalg.solve(mat, np.array([0.0, 3 * kp * e, 0.0]))
    inside = r <= a
    rs = np.where(inside, a, r)
    s_in = 3 * kp * (A - e)
    srr = np.where(inside, s_in, 3 * km * B - 4 * gm * C / rs**3)
    stt = np.where(inside, s_in, 3 * km * B + 2 * gm * C / rs**3)
    ur = np.where(inside, A * r, B * r + C / rs**2)
    return srr, stt, ur


__all__ = [
    "N_TERMS",
    "SphereDIS",
    "eshelby_pressure",
    "eshelby_sphere",
    "misfit_sphere_in_shell",
    "sphere_fixed_surface",
    "sphere_fixed_surface_mean",
    "sphere_roots",
]
