"""The closed-form particle solutions (solvers/analytic_particle.py, shared/PHYSICS.md C)."""

from __future__ import annotations

import numpy as np
import pytest

from batteryfx.solvers.analytic_particle import (
    SphereDIS,
    eshelby_pressure,
    eshelby_sphere,
    misfit_sphere_in_shell,
    sphere_fixed_surface,
    sphere_fixed_surface_mean,
    sphere_roots,
)

# Zhang, Shyy & Sastry 2007 LiMn2O4 set (PHYSICS.md C(i)): J0 = i_n / F
ZHANG = SphereDIS(radius=5e-6, diffusivity=7.08e-15, flux=2.0 / 96485.33212, omega=3.497e-6,
                  young=10e9, poisson=0.3, c0=0.0)
TAUS = (0.005, 0.02, 0.05, 0.1, 0.3, 1.0)


def test_roots_of_tan_l_equals_l():
    lam = sphere_roots(400)
    assert lam[:4] == pytest.approx([4.4934, 7.7253, 10.9041, 14.0662], abs=1e-4)
    # sin l - l cos l = 0 (tan itself is ill-conditioned next to its poles)
    assert np.abs(np.sin(lam) - lam * np.cos(lam)).max() < 1e-12 * lam.max()
    k = np.arange(1, 401)
    assert np.all((lam > k * np.pi) & (lam < (k + 0.5) * np.pi))


def test_scales():
    assert ZHANG.c_scale == pytest.approx(2 / 96485.33212 * 5e-6 / 7.08e-15)
    assert ZHANG.sigma_star == pytest.approx(3.497e-6 * 10e9 * ZHANG.c_scale / (3 * 0.7))
    assert ZHANG.sigma_star == pytest.approx(243.77e6, rel=1e-4)


def test_quasi_steady_limits():
    """tau -> infinity: centre +sigma*/5 (radial = hoop), surface hoop -sigma*/5, and the
    parabolic profile c - c_mean = (J0 R / D)(x^2/2 - 3/10)."""
    s, tau = ZHANG, 20.0
    assert s.radial_scaled(0.0, tau) == pytest.approx(0.2, abs=1e-12)
    assert s.hoop_scaled(0.0, tau) == pytest.approx(0.2, abs=1e-12)
    assert s.hoop_scaled(1.0, tau) == pytest.approx(-0.2, abs=1e-12)
    x = np.linspace(0, 1, 11)
    assert s.concentration_scaled(x, tau) - 3 * tau == pytest.approx(x**2 / 2 - 0.3, abs=1e-12)
    assert s.radial_scaled(x, tau) == pytest.approx((1 - x**2) / 5, abs=1e-12)
    assert s.hoop_scaled(x, tau) == pytest.approx((1 - 2 * x**2) / 5, abs=1e-12)


@pytest.mark.parametrize("tau", TAUS)
def test_centre_limit_is_smooth(tau):
    """x -> 0: finite values, radial = hoop at the centre, no cancellation blow-up."""
    s = ZHANG
    x = np.array([0.0, 1e-12, 1e-8, 1e-5, 1e-2])
    for f in (s.concentration_scaled, s.radial_scaled, s.hoop_scaled):
        v = f(x, tau)
        assert np.all(np.isfinite(v))
        assert v[1:4] == pytest.approx(v[0], rel=1e-8, abs=1e-9)  # O(x^2) away from 0
    assert s.radial_scaled(0.0, tau) == pytest.approx(s.hoop_scaled(0.0, tau), abs=1e-13)


@pytest.mark.parametrize("tau", TAUS)
def test_traction_free_surface(tau):
    assert abs(ZHANG.radial_scaled(1.0, tau)) < 1e-12


@pytest.mark.parametrize("tau", TAUS)
def test_mass_balance(tau):
    """mean c = c0 + 3 J0 t / R, i.e. 3 int_0^1 x^2 (c - c0) dx / (J0 R / D) = 3 tau."""
    x = np.linspace(0.0, 1.0, 8001)
    mean = np.trapezoid(3 * x**2 * ZHANG.concentration_scaled(x, tau), x)
    assert mean == pytest.approx(3 * tau, rel=1e-6, abs=1e-8)
    t = tau * ZHANG.radius**2 / ZHANG.diffusivity
    assert ZHANG.mean_concentration(t) == pytest.approx(
        ZHANG.c0 + 3 * ZHANG.flux * t / ZHANG.radius)


@pytest.mark.parametrize("tau", TAUS)
def test_stresses_from_the_concentration(tau):
    """Identities of the traction-free sphere at every time: surface hoop
    = Omega E (c_mean - c_s) / (3 (1 - nu)), centre = 2/3 of Omega E (c_mean - c(0)) /
    (3 (1 - nu)); in sigma* units with c in J0 R / D units."""
    s = ZHANG
    x = np.linspace(0.0, 1.0, 8001)
    c = s.concentration_scaled(x, tau)
    mean = np.trapezoid(3 * x**2 * c, x)
    assert s.hoop_scaled(1.0, tau) == pytest.approx(mean - c[-1], rel=1e-6)
    assert s.radial_scaled(0.0, tau) == pytest.approx(2.0 / 3.0 * (mean - c[0]), rel=1e-6)


def test_initial_state_and_time_scale():
    """tau = 0: c = c0 (series truncated: 1e-3 of J0 R / D); SI wrappers use tau = D t / R^2."""
    x = np.linspace(0.05, 0.95, 19)
    assert np.abs(ZHANG.concentration_scaled(x, 0.0)).max() < 1e-3
    t = 0.1 * ZHANG.radius**2 / ZHANG.diffusivity
    r = np.array([0.0, 2.5e-6, 5e-6])
    assert ZHANG.concentration(r, t) == pytest.approx(
        ZHANG.c_scale * ZHANG.concentration_scaled(r / 5e-6, 0.1))
    assert ZHANG.hoop_stress(r, t) == pytest.approx(
        ZHANG.sigma_star * ZHANG.hoop_scaled(r / 5e-6, 0.1))
    assert ZHANG.radial_stress(r, t) == pytest.approx(
        ZHANG.sigma_star * ZHANG.radial_scaled(r / 5e-6, 0.1))


def test_eshelby_infinite_matrix():
    kp, gm, e, a = 100e9, 30e9, 0.01, 1e-6
    p = eshelby_pressure(e, kp, gm)
    assert p == pytest.approx(12 * kp * gm * e / (3 * kp + 4 * gm))
    r = np.array([0.2, 0.9, 1.0, 2.0, 4.0]) * a
    srr, stt = eshelby_sphere(r, a, e, kp, gm)
    assert srr[:3] == pytest.approx(-p)
    assert srr[3:] == pytest.approx(-p * (a / r[3:]) ** 3)
    assert stt[3:] == pytest.approx(0.5 * p * (a / r[3:]) ** 3)
    # traction continuous at r = a (outside limit)
    out = eshelby_sphere(np.array([a * (1 + 1e-12)]), a, e, kp, gm)[0]
    assert out[0] == pytest.approx(-p, rel=1e-9)


def test_lame_shell():
    """Composite sphere: traction-free outside, continuous traction and displacement at a,
    the infinite-matrix limit, and no stress without misfit."""
    kp, km, gm, e, a, b = 100e9, 20e9, 8e9, 0.01, 1e-6, 3e-6
    eps = 1e-9 * a
    srr, stt, ur = misfit_sphere_in_shell(np.array([a - eps, a + eps, b]), a, b, e, kp, km, gm)
    assert abs(srr[2]) < 1e-9 * abs(srr[0])
    assert srr[0] == pytest.approx(srr[1], rel=1e-6)
    assert ur[0] == pytest.approx(ur[1], rel=1e-6)
    assert ur[0] > 0  # an expanding particle pushes the matrix out
    # equilibrium in the shell: d sigma_rr / dr + 2 (sigma_rr - sigma_tt) / r = 0
    r = np.linspace(1.2 * a, 0.9 * b, 7)
    h = 1e-6 * a
    s_p = misfit_sphere_in_shell(r + h, a, b, e, kp, km, gm)[0]
    s_m = misfit_sphere_in_shell(r - h, a, b, e, kp, km, gm)[0]
    s0, t0, _ = misfit_sphere_in_shell(r, a, b, e, kp, km, gm)
    resid = (s_p - s_m) / (2 * h) + 2 * (s0 - t0) / r
    assert np.abs(resid).max() * a < 1e-5 * abs(s0).max()
    # b -> infinity: Eshelby
    rr = np.array([0.5 * a, 2 * a])
    big = misfit_sphere_in_shell(rr, a, 1e4 * a, e, kp, km, gm)
    inf = eshelby_sphere(rr, a, e, kp, gm)
    assert big[0] == pytest.approx(inf[0], rel=1e-6)
    assert big[1] == pytest.approx(inf[1], rel=1e-6)
    zero = misfit_sphere_in_shell(rr, a, b, 0.0, kp, km, gm)
    assert np.abs(np.concatenate(zero)).max() == 0.0


@pytest.mark.parametrize("tau", (0.01, 0.1, 0.5))
def test_fixed_surface_sphere(tau):
    """Potentiostatic sphere (Crank 6.18 / 6.20): surface at c_s, the mean is the uptake
    series, the centre lags, and a late time is nearly full."""
    x = np.linspace(0.0, 1.0, 8001)
    c = sphere_fixed_surface(x, tau)
    assert c[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(c) >= -1e-12)  # increasing outwards during uptake
    assert np.trapezoid(3 * x**2 * c, x) == pytest.approx(sphere_fixed_surface_mean(tau),
                                                          rel=1e-6)
    # short times: M_t / M_inf ~ 6 sqrt(tau / pi) - 3 tau (Crank 6.21)
    if tau == 0.01:
        assert sphere_fixed_surface_mean(tau) == pytest.approx(
            6 * np.sqrt(tau / np.pi) - 3 * tau, rel=1e-6)
