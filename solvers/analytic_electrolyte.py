r"""Closed-form solutions for salt transport in a binary liquid electrolyte (shared/PHYSICS.md D).

All in one dimension, 0 < x < L, with constant properties: porosity eps, effective diffusivity
D_eff (m^2/s; D eps^b for Bruggeman), transference number t+, so that the salt equation of
solvers/electrolyte.py reduces to

    eps dc/dt = D_eff d2c/dx2,    -D_eff dc/dx = J(t) at x = 0 and at x = L,
    J = (1 - t+) i / F  (mol m^-2 s^-1),

i (A/m^2) the current density of the Li electrode at x = 0 (positive = stripping: Li+ enters
the electrolyte there; the counter electrode at x = L takes the same current back). The
factor (1 - t+) is the diffusive part of the Li+ flux i / F at an electrode: the migration
part t+ i / F is carried by the field (see the module docstring of solvers/electrolyte.py).

* Steady state (``steady_profile``): c = c0 + (J / D_eff) (L/2 - x), the mean c0 kept.
  The counter electrode empties first: c(L) = 0 at the limiting current
  i_lim = 2 F D_eff c0 / (L (1 - t+)) (``limiting_current``; the factor 2 because the
  linear profile pivots about the mid-point with salt conserved, PHYSICS.md D).
* Transient (``FiniteCell``): eigenfunction series for a current switched on at t = 0 from
  the uniform c0,

    c = c0 + (J L / D_eff) [1/2 - x/L - sum_{n odd} 4 / (n^2 pi^2) cos(n pi x / L)
                                              exp(-n^2 t / tau_1)],

  tau_1 = eps L^2 / (pi^2 D_eff) (``relaxation_time``; = L^2 / (pi^2 D_eff) for eps = 1, i.e.
  L^2 / (pi^2 D_a) with the apparent diffusivity D_a = D_eff / eps); only odd (antisymmetric)
  modes are excited. A piecewise-constant current protocol is the superposition of such
  steps (linear problem), so a current interrupt (rest) relaxes with the slowest time tau_1
  (the next mode, n = 3, nine times faster).
  (The cosine coefficients of L/2 - x are 2 L (1 - (-1)^n) / (n^2 pi^2): 4 L / (n^2 pi^2)
  for odd n, 0 for even n; at t = 0 the bracket vanishes since sum_{n odd} 1/n^2 = pi^2/8.)
* Semi-infinite cell (``semi_infinite_surface``): a constant flux J out of the half space
  x > 0 from the uniform c0 gives the classical
  c(0, t) = c0 - 2 J sqrt(t / (pi D_a)) / eps = c0 - 2 (1 - t+) i / F sqrt(t / (pi eps D_eff))
  (= c0 - 2 (1 - t+) i / F sqrt(t / (pi D)) for eps = 1), which reaches 0 at Sand's time
  t_s = pi eps D_eff (c0 F / (2 i (1 - t+)))^2 (``sand_time``; pi D (c0 F / (2 i (1 - t+)))^2
  for eps = 1, PHYSICS.md D). This is the depleting electrode (plating, i < 0 at x = 0, or
  the counter electrode).
* Two regions (``steady_two_region``): separator 0 < x < L_s and a porous electrode
  L_s < x < L_s + L_p with a uniform reaction a j = -i / L_p (Li+ consumed), blocking back
  wall: linear then quadratic steady profile, salt conserved.
* Potentials with constant properties: ohmic drop i L / kappa_eff (``ohmic_drop``) and the
  concentration overpotential (2 R T / F)(1 - t+)(1 + dlnf/dlnc) ln(c_a / c_c)
  (``concentration_overpotential``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Faraday constant (C/mol), exact SI value N_A e
FARADAY = 6.02214076e23 * 1.602176634e-19
#: gas constant (J mol^-1 K^-1), exact SI value N_A k_B
GAS_CONSTANT = 6.02214076e23 * 1.380649e-23
#: odd modes kept at most in the series (at t = 0 the tail of sum 1/n^2 over odd n beyond
#: N is ~1/(2N): 20001 modes give 2.5e-5 of J L / D_eff); for t > 0 only modes with
#: n^2 t / tau_1 <= 50 are summed
N_MODES = 20001


def flux(current_density: float, t_plus: float) -> float:
    """J = (1 - t+) i / F (mol m^-2 s^-1): the diffusive Li+ flux at an electrode."""
    return (1.0 - t_plus) * current_density / FARADAY


def limiting_current(d_eff: float, c0: float, length: float, t_plus: float) -> float:
    """i_lim = 2 F D_eff c0 / (L (1 - t+)) (A/m^2): the steady current at which the linear
    profile touches 0 at the depleting electrode."""
    return 2.0 * FARADAY * d_eff * c0 / (length * (1.0 - t_plus))


def steady_profile(x, length: float, d_eff: float, c0: float, t_plus: float,
                   current_density: float) -> np.ndarray:
    """Steady c(x) (mol/m^3) between a Li electrode at x = 0 (current density i, stripping
    positive) and a planar counter electrode at x = L, uniform porosity, mean c0."""
    j = flux(current_density, t_plus)
    return c0 + j / d_eff * (0.5 * length - np.asarray(x, dtype=float))


def relaxation_time(length: float, d_eff: float, porosity: float = 1.0) -> float:
    """tau_1 = eps L^2 / (pi^2 D_eff) (s): decay time of the slowest (n = 1) mode."""
    return porosity * length**2 / (np.pi**2 * d_eff)


def sand_time(d_eff: float, c0: float, current_density: float, t_plus: float,
              porosity: float = 1.0) -> float:
    """t_s = pi eps D_eff (c0 F / (2 |i| (1 - t+)))^2 (s), semi-infinite cell."""
    return np.pi * porosity * d_eff * (c0 * FARADAY / (2.0 * abs(current_density)
                                                       * (1.0 - t_plus))) ** 2


def semi_infinite_surface(t, d_eff: float, c0: float, current_density: float,
                          t_plus: float, porosity: float = 1.0) -> np.ndarray:
    """Concentration (mol/m^3) at the depleting surface of a semi-infinite cell:
    c0 - 2 (1 - t+) |i| / F sqrt(t / (pi eps D_eff))."""
    t = np.asarray(t, dtype=float)
    return c0 - 2.0 * abs(flux(current_density, t_plus)) * np.sqrt(
        t / (np.pi * porosity * d_eff))


def ohmic_drop(current_density: float, length: float, kappa_eff: float) -> float:
    """i L / kappa_eff (V)."""
    return current_density * length / kappa_eff


def concentration_overpotential(c_anode, c_counter, t_plus: float, temperature: float,
                                thermodynamic_factor: float = 1.0):
    """(2 R T / F)(1 - t+)(1 + dlnf/dlnc) ln(c_a / c_c) (V), constant t+ and factor."""
    return (2.0 * GAS_CONSTANT * temperature / FARADAY * (1.0 - t_plus)
            * thermodynamic_factor * np.log(np.asarray(c_anode) / np.asarray(c_counter)))


@dataclass(frozen=True)
class FiniteCell:
    """1D cell (Li electrode at x = 0, counter at x = L) under a piecewise-constant current
    protocol ((start, end, i) segments, A/m^2, stripping at x = 0 positive), from the uniform
    c0 at t = 0; module docstring."""

    length: float
    d_eff: float
    c0: float
    t_plus: float
    protocol: tuple[tuple[float, float, float], ...]
    porosity: float = 1.0
    modes: int = N_MODES

    @property
    def tau(self) -> float:
        """Slowest-mode time eps L^2 / (pi^2 D_eff) (s)."""
        return relaxation_time(self.length, self.d_eff, self.porosity)

    def _step_response(self, x: np.ndarray, s: float) -> np.ndarray:
        """(c - c0) / J (s/m) for a flux J switched on at s = 0; 0 for s <= 0."""
        if s <= 0:
            return np.zeros_like(x)
        length = self.length
        n = np.arange(1, self.modes + 1, 2, dtype=float)
        n = n[: max(1, int(np.count_nonzero(n**2 * s / self.tau <= 50.0)))]
        terms = (4.0 / (n**2 * np.pi**2)) * np.exp(-(n**2) * s / self.tau)
        series = np.cos(np.pi * np.outer(x / length, n)) @ terms
        return length / self.d_eff * (0.5 - x / length - series)

    def concentration(self, x, t: float) -> np.ndarray:
        """c(x, t) (mol/m^3)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        out = np.full_like(x, self.c0)
        for start, end, i in self.protocol:
            j = flux(i, self.t_plus)
            out += j * (self._step_response(x, t - start)
                        - (self._step_response(x, t - end) if np.isfinite(end) else 0.0))
        return out

    def surfaces(self, t: float) -> tuple[float, float]:
        """(c at the Li electrode x = 0, c at the counter electrode x = L) (mol/m^3)."""
        c = self.concentration(np.array([0.0, self.length]), t)
        return float(c[0]), float(c[1])


def steady_two_region(x, sep_length: float, sep_d_eff: float, sep_porosity: float,
                      el_length: float, el_d_eff: float, el_porosity: float, c0: float,
                      t_plus: float, current_density: float) -> np.ndarray:
    """Steady c(x) (mol/m^3): Li electrode at x = 0 (current density i, stripping positive),
    separator to L_s, porous electrode L_s .. L_s + L_p with the uniform reaction
    a j = -i / L_p, blocking wall at L_s + L_p; the salt int eps c dx = c0 sum(eps L) kept.

    D_eff c' = -(1 - t+) i(x) / F with i(x) = i in the separator and i (L_s + L_p - x) / L_p
    in the electrode."""
    x = np.asarray(x, dtype=float)
    a = (1.0 - t_plus) * current_density / FARADAY
    ls, lp = sep_length, el_length
    lt = ls + lp

    def g(y):  # c - c(0)
        y = np.asarray(y, dtype=float)
        sep = -a * y / sep_d_eff
        yc = np.maximum(y, ls)
        el = -a * ls / sep_d_eff - a / (el_d_eff * lp) * (lt * (yc - ls) - 0.5 * (yc**2 - ls**2))
        return np.where(y <= ls, sep, el)

    # int_0^ls g = -a ls^2 / (2 Ds); int_ls^lt g = -a ls lp / Ds - a / (Dp lp) (lt lp^2/2
    # - int_ls^lt (y^2 - ls^2)/2 dy) with the last integral (lt^3 - ls^3)/6 - ls^2 lp / 2
    int_sep = -a * ls**2 / (2.0 * sep_d_eff)
    quad = (lt**3 - ls**3) / 6.0 - 0.5 * ls**2 * lp
    int_el = -a * ls * lp / sep_d_eff - a / (el_d_eff * lp) * (lt * lp**2 / 2.0 - quad)
    total = sep_porosity * ls + el_porosity * lp
    c_origin = c0 - (sep_porosity * int_sep + el_porosity * int_el) / total
    return c_origin + g(x)


__all__ = [
    "FARADAY",
    "GAS_CONSTANT",
    "N_MODES",
    "FiniteCell",
    "concentration_overpotential",
    "flux",
    "limiting_current",
    "ohmic_drop",
    "relaxation_time",
    "sand_time",
    "semi_infinite_surface",
    "steady_profile",
    "steady_two_region",
]
