"""Analytical solutions used by the verification tests and the benchmarks (shared/PHYSICS.md B).

The single-slab solutions are in non-dimensional form: x* = x / L, Fo = alpha t / L^2,
theta = (T - T_inf) / (T_i - T_inf). The multilayer series (:class:`MultilayerSeries`) and the
steady stack (:func:`layered_steady`) are in SI units.
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


# --------------------------------------------------------------------------- multilayer slab
def _brentq(f, a: float, b: float, fa: float, fb: float, xtol: float = 2e-12,
            rtol: float = 4.0 * np.finfo(float).eps) -> float:
    """Root of ``f`` in [a, b] with f(a) f(b) <= 0 (``scipy.optimize.brentq``; fa, fb are the
    values already known at the ends, kept for the callers' bracket search)."""
    from scipy.optimize import brentq

    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    return brentq(f, a, b, xtol=xtol, rtol=rtol, maxiter=200)


class MultilayerSeries:
    r"""Transient conduction through a multilayer slab in perfect contact, held at a fixed
    temperature at one end and given a heat flux (0: insulated) at the other: the
    eigenfunction series of Hickson, Barry & Mercer (2009) and Carr & Turner (2016).

    Units: x in m, t in s, T in K, k_i in W/(m K), (rho c)_i in J/(m^3 K), q0 in W/m^2,
    eigenvalues lambda in 1/s, wavenumbers omega in 1/m.

    Problem (layer i on x_i < x < x_{i+1}, x_0 = 0, x_n = H, l_i = x_{i+1} - x_i)::

        (rho c)_i dT/dt = k_i d2T/dx2
        -k_0 dT/dx = q0 at x = 0           (heat flux q0 INTO the body; q0 = 0: insulated)
        T = T1 at x = H                    (for t > 0)
        [T] = 0 and [k dT/dx] = 0 at x_1 .. x_{n-1}   (perfect contact)
        T(x, 0) = T0(x)                    (a constant or a callable)

    Solution T = T_s(x) + sum_m c_m exp(-lambda_m t) X_m(x), with the steady profile
    T_s(x) = T1 + q0 int_x^H ds / k(s) (piecewise linear) and the eigenpairs of

        (k X')' + lambda (rho c) X = 0,  X'(0) = 0,  X(H) = 0,  [X] = [k X'] = 0.

    In layer i, with u = x - x_i, omega_i = sqrt(lambda (rho c)_i / k_i) and the state
    s = (X, F = k X') at x_i (X(0) = 1, F(0) = 0)::

        X(u) = X_i cos(omega_i u) + F_i sin(omega_i u) / (k_i omega_i)
        s_{i+1} = P_i s_i,  P_i = [[cos(omega_i l_i),  sin(omega_i l_i) / (k_i omega_i)],
                                   [-k_i omega_i sin(omega_i l_i),  cos(omega_i l_i)]]

    The eigenvalues are the roots of the characteristic function
    f(lambda) = e_1^T P_{n-1} ... P_0 e_1 = X(H; lambda), which is the determinant of the 2n x
    2n interface system of Hickson et al. up to a non-vanishing factor; f is an entire function
    of lambda (no poles) and its roots are simple and positive (regular Sturm-Liouville
    problem). They are bracketed by a scan in omega-scale w = sqrt(lambda) with
    ``points_per_root`` points per mean root spacing pi / S, S = sum_i l_i sqrt((rho c)_i / k_i)
    (Weyl: N(lambda) ~ sqrt(lambda) S / pi), then refined with Brent's method. No root is
    missed: every scan interval is checked against the exact Sturm count N(lambda) = number of
    eigenvalues below lambda = number of zeros of X(x; lambda) in (0, H) (oscillation theorem;
    counted in closed form per layer from X = R cos(omega u - phi)); intervals holding more
    than one eigenvalue are subdivided.

    Orthogonality: int_0^H (rho c) X_m X_p dx = delta_mp N_m, with per layer (beta = F_i /
    (k_i omega_i), w = omega_i)
    int_0^l X^2 du = X_i^2 (l/2 + sin(2 w l) / (4 w)) + beta^2 (l/2 - sin(2 w l) / (4 w))
                     + X_i beta (1 - cos(2 w l)) / (2 w).
    Coefficients c_m = int_0^H (rho c) (T0 - T_s) X_m dx / N_m. For a constant T0, integrating
    the ODE (int (rho c) X = -F(H) / lambda, int (rho c) X T_s = (q0 X(0) - T1 F(H)) / lambda)
    gives c_m = -((T0 - T1) F_m(H) + q0) / (lambda_m N_m) (X_m(0) = 1); a callable T0 is
    integrated by composite Gauss-Legendre quadrature.

    The series is truncated after the modes with lambda <= ``lambda_max`` (or the first
    ``n_terms``): the neglected modes are below exp(-lambda_max t) times their coefficients
    (|c_m| of order the initial jump), so take lambda_max >~ 40 / t_min for a time t_min.
    """

    def __init__(self, thicknesses, conductivities, heat_capacities, *, t0, t1: float,
                 flux: float = 0.0, n_terms: int | None = None,
                 lambda_max: float | None = None, points_per_root: int = 16):
        self.l = np.asarray(thicknesses, float)
        self.k = np.asarray(conductivities, float)
        self.rc = np.asarray(heat_capacities, float)
        if not (self.l.shape == self.k.shape == self.rc.shape and self.l.ndim == 1):
            raise ValueError("thicknesses, conductivities and heat_capacities: one per layer")
        if np.any(self.l <= 0) or np.any(self.k <= 0) or np.any(self.rc <= 0):
            raise ValueError("thicknesses, conductivities and heat capacities must be > 0")
        if (n_terms is None) == (lambda_max is None):
            raise ValueError("give exactly one of n_terms and lambda_max")
        self.x = np.concatenate([[0.0], np.cumsum(self.l)])  # interfaces, m
        self.t1, self.flux, self.t0 = float(t1), float(flux), t0
        #: S = sum l_i / sqrt(alpha_i) (s^1/2): N(lambda) ~ sqrt(lambda) S / pi
        self.weyl_s = float(np.sum(self.l * np.sqrt(self.rc / self.k)))
        self.lam = self._roots(n_terms, lambda_max, points_per_root)
        self.states = self._states(self.lam)  # (M, n + 1, 2): (X, F) at every interface
        self.norms = self._norms()
        self.coefficients = self._coefficients()

    # ---------------------------------------------------------------- eigenvalues
    def _sweep(self, lam):
        """(X, F) at every interface for an array of lambda: shape (..., n + 1, 2)."""
        lam = np.asarray(lam, float)
        out = np.empty(lam.shape + (len(self.l) + 1, 2))
        x, f = np.ones_like(lam), np.zeros_like(lam)
        out[..., 0, 0], out[..., 0, 1] = x, f
        for i, (li, ki, rci) in enumerate(zip(self.l, self.k, self.rc, strict=True)):
            w = np.sqrt(lam * rci / ki)
            c, s = np.cos(w * li), np.sin(w * li)
            # sin(w l) / (k w) -> l / k as w -> 0
            sw = np.where(w * li > 1e-8, s / np.where(w > 0, ki * w, 1.0), li / ki)
            x, f = c * x + sw * f, -ki * w * s * x + c * f
            out[..., i + 1, 0], out[..., i + 1, 1] = x, f
        return out

    def characteristic(self, lam):
        """f(lambda) = X(H; lambda) (zero at the eigenvalues)."""
        return self._sweep(lam)[..., -1, 0]

    def count_below(self, lam):
        """Exact number of eigenvalues below ``lam`` (Sturm oscillation: zeros of X(x; lam)
        in (0, H)); for lam not itself an eigenvalue."""
        lam = np.asarray(lam, float)
        st = self._sweep(lam)
        count = np.zeros(lam.shape, dtype=np.int64)
        for i, (li, ki, rci) in enumerate(zip(self.l, self.k, self.rc, strict=True)):
            w = np.sqrt(lam * rci / ki)
            xi, fi = st[..., i, 0], st[..., i, 1]
            beta = np.where(w > 0, fi / np.where(w > 0, ki * w, 1.0), 0.0)
            phi = np.arctan2(beta, xi)  # X = R cos(w u - phi)
            shift = phi + 0.5 * np.pi  # zeros at w u = shift + m pi, counted for u in (0, l]
            count += (np.floor((w * li - shift) / np.pi) - np.floor(-shift / np.pi)).astype(
                np.int64)
        return count

    def weyl_count(self, lam):
        """Asymptotic eigenvalue count sqrt(lambda) S / pi (Weyl's law in 1D)."""
        return np.sqrt(np.asarray(lam, float)) * self.weyl_s / np.pi

    def _roots(self, n_terms, lambda_max, points_per_root) -> np.ndarray:
        spacing = np.pi / self.weyl_s  # mean root spacing in w = sqrt(lambda)
        if lambda_max is None:  # enough range for n_terms roots (grown below if short)
            w_max = (n_terms + len(self.l) + 2) * spacing
        else:
            w_max = np.sqrt(lambda_max)
        while True:
            roots = self._roots_below(w_max, spacing / points_per_root)
            if lambda_max is not None:
                return roots
            if len(roots) >= n_terms:
                return roots[:n_terms]
            w_max *= 1.5

    def _roots_below(self, w_max: float, dw: float) -> np.ndarray:
        """All roots with sqrt(lambda) < w_max, in w-scale brackets refined by Brent."""
        def g(w):
            return float(self.characteristic(w * w))

        n = max(int(np.ceil(w_max / dw)), 2)
        # grid shifted by an irrational fraction of dw, so that the roots of symmetric
        # layouts (e.g. equal layers) do not fall on grid points
        grid = np.concatenate([[1e-9 * dw], (np.arange(n) + 0.5 * (np.sqrt(5.0) - 1.0)) * dw])
        found: list[float] = []
        stack = list(zip(grid[:-1], grid[1:], strict=True))
        counts = dict(zip(grid, self.count_below(grid**2), strict=True))
        values = dict(zip(grid, self.characteristic(grid**2), strict=True))
        expected = int(counts[grid[-1]])
        # Weyl's law as a sanity check of the count: each layer's zero count is within 1 of
        # omega_i l_i / pi, so |N - sqrt(lambda) S / pi| <= number of layers
        if abs(expected - float(self.weyl_count(grid[-1] ** 2))) > len(self.l):
            raise RuntimeError(f"Sturm count {expected} far from Weyl's law "
                               f"{float(self.weyl_count(grid[-1] ** 2)):.1f}")
        while stack:
            a, b = stack.pop()
            inside = int(counts[b] - counts[a])
            if inside == 0:
                continue
            if inside == 1 and np.sign(values[a]) != np.sign(values[b]):
                found.append(_brentq(g, a, b, values[a], values[b], xtol=1e-15 * b))
                continue
            if b - a < 1e-13 * b:
                if inside > 1:
                    raise RuntimeError(
                        f"cannot separate eigenvalues near sqrt(lambda) = {a:g} 1/s^0.5")
                # a root on an end point: sign and count disagree only by round-off there
                found.append(a if abs(values[a]) < abs(values[b]) else b)
                continue
            mid = 0.5 * (a + b)  # more than one root (or a touching pair): subdivide
            counts[mid] = int(self.count_below(mid * mid))
            values[mid] = float(self.characteristic(mid * mid))
            stack += [(a, mid), (mid, b)]
        roots = np.sort(np.asarray(found)) ** 2
        if len(roots) != expected:  # cannot happen unless the count itself failed
            raise RuntimeError(f"found {len(roots)} eigenvalues, Sturm count {expected}")
        return roots

    # ---------------------------------------------------------------- modes
    def _states(self, lam):
        return self._sweep(lam)

    def _layer_terms(self, lam, states):
        """(omega, X_i, beta_i) per mode and layer: X = X_i cos(omega u) + beta_i sin(omega u)."""
        w = np.sqrt(lam[:, None] * self.rc[None, :] / self.k[None, :])
        xi = states[:, :-1, 0]
        beta = states[:, :-1, 1] / (self.k[None, :] * w)
        return w, xi, beta

    def _norms(self) -> np.ndarray:
        w, a, b = self._layer_terms(self.lam, self.states)
        ll = self.l[None, :]
        s2, c2 = np.sin(2 * w * ll), np.cos(2 * w * ll)
        sq = (a**2 * (ll / 2 + s2 / (4 * w)) + b**2 * (ll / 2 - s2 / (4 * w))
              + a * b * (1 - c2) / (2 * w))
        return np.sum(self.rc[None, :] * sq, axis=1)

    def _coefficients(self) -> np.ndarray:
        if callable(self.t0):
            xq, wq = self.quadrature()
            integrand = (self.rc_at(xq) * (self.t0(xq) - self.steady(xq)))[None, :] \
                * self.eigenfunctions(xq)
            return integrand @ wq / self.norms
        f_end = self.states[:, -1, 1]
        return -((float(self.t0) - self.t1) * f_end + self.flux) / (self.lam * self.norms)

    def quadrature(self, per_wave: int = 8, minimum: int = 32):
        """Composite Gauss-Legendre points and weights over [0, H] that integrate products of
        the retained eigenfunctions (8 points per half wave of the highest mode)."""
        xs, ws = [], []
        w_top = np.sqrt(self.lam[-1] * self.rc / self.k) if len(self.lam) else 0 * self.k
        for i, li in enumerate(self.l):
            pieces = max(int(np.ceil(2 * w_top[i] * li / np.pi)), 1)
            g, gw = np.polynomial.legendre.leggauss(max(per_wave, minimum // pieces, 4))
            edges = np.linspace(self.x[i], self.x[i + 1], pieces + 1)
            for a, b in zip(edges[:-1], edges[1:], strict=True):
                xs.append(0.5 * (b - a) * g + 0.5 * (a + b))
                ws.append(0.5 * (b - a) * gw)
        return np.concatenate(xs), np.concatenate(ws)

    def _layer_of(self, x) -> np.ndarray:
        x = np.asarray(x, float)
        h = self.x[-1]
        if np.any(x < -1e-12 * h) or np.any(x > h * (1 + 1e-12)):
            raise ValueError(f"x outside [0, {h:g}] m")
        return np.clip(np.searchsorted(self.x, x, side="right") - 1, 0, len(self.l) - 1)

    def rc_at(self, x) -> np.ndarray:
        """(rho c)(x), J/(m^3 K)."""
        return self.rc[self._layer_of(x)]

    def eigenfunctions(self, x) -> np.ndarray:
        """X_m(x) for every retained mode: shape (M, len(x)), X_m(0) = 1."""
        x = np.atleast_1d(np.asarray(x, float))
        i = self._layer_of(x)
        w, a, b = self._layer_terms(self.lam, self.states)
        u = x - self.x[i]
        return a[:, i] * np.cos(w[:, i] * u) + b[:, i] * np.sin(w[:, i] * u)

    def heat_flux(self, x, t: float) -> np.ndarray:
        """q(x, t) = -k dT/dx in W/m^2 (positive towards +x); at an interface the layer
        above (x >= x_i) is used."""
        x = np.asarray(x, float)
        xs = np.atleast_1d(x).ravel()
        i = self._layer_of(xs)
        w, a, b = self._layer_terms(self.lam, self.states)
        u = xs - self.x[i]
        dmodes = w[:, i] * (b[:, i] * np.cos(w[:, i] * u) - a[:, i] * np.sin(w[:, i] * u))
        decay = self.coefficients * np.exp(-self.lam * t)
        return (self.flux - self.k[i] * (decay @ dmodes)).reshape(x.shape)

    def steady(self, x) -> np.ndarray:
        """T_s(x) = T1 + q0 int_x^H ds / k(s), K."""
        x = np.asarray(x, float)
        r_below = np.concatenate([[0.0], np.cumsum(self.l / self.k)])  # int_0^{x_i} ds / k
        i = self._layer_of(x)
        r_x = r_below[i] + (x - self.x[i]) / self.k[i]
        return self.t1 + self.flux * (r_below[-1] - r_x)

    def temperature(self, x, t: float) -> np.ndarray:
        """T(x, t), K (t > 0; at t = 0 the truncated series shows the Gibbs overshoot)."""
        x = np.asarray(x, float)
        modes = self.eigenfunctions(x.ravel())
        decay = self.coefficients * np.exp(-self.lam * t)
        return (self.steady(x.ravel()) + decay @ modes).reshape(x.shape)


def multilayer_series(thicknesses, conductivities, heat_capacities, *, t0, t1: float,
                      flux: float = 0.0, n_terms: int | None = None,
                      lambda_max: float | None = None) -> MultilayerSeries:
    """The eigenfunction series of a multilayer slab, insulated (or given a heat flux ``flux``
    into the body, W/m^2) at x = 0 and held at ``t1`` (K) at x = H for t > 0, initially at
    ``t0`` (K, constant or callable of x); see :class:`MultilayerSeries` for the formulae.
    Layers are listed from x = 0; thicknesses in m, conductivities in W/(m K), heat capacities
    rho c in J/(m^3 K). Evaluate with ``.temperature(x, t)``."""
    return MultilayerSeries(thicknesses, conductivities, heat_capacities, t0=t0, t1=t1,
                            flux=flux, n_terms=n_terms, lambda_max=lambda_max)
