r"""The external circuit of an internal short: a cell discharging through a short resistance.

The cell is an open-circuit voltage V(s) behind an internal resistance R_int; the short is a
resistance R_short; s is the state of charge (1 full, 0 empty), Q the capacity (C)::

    I = V(s) / R,   R = R_int + R_short,   ds/dt = -I / Q                      (A, 1/s)

heat I^2 R_short in the short and I^2 R_int in the electrodes (W), until s = 0. V(s) is a
constant (then I is constant and the energy Q V is spent at t = Q R / V) or piecewise linear
in s (an open-circuit-voltage table; a cathode's U(sto) vs Li metal maps to it through a
linear stoichiometry window). On a segment V = a + b s the ODE is solved exactly:
dV/dt = -b V / (Q R), so V(t) = V_k exp(-b (t - t_k) / (Q R)) (b != 0) or
s = s_k - V_k (t - t_k) / (Q R) (b = 0); the time to pass a segment is
Q R ln(V_k / V_{k-1}) / b (or Q R (s_k - s_{k-1}) / V_k), and the energy the cell delivers
(to R_int and R_short together) is Q int V ds (trapezoids, exact for linear V). The short's
share of every energy is R_short / R, the electrodes' R_int / R. No temperature dependence
(the circuit does not see the heat: it is solved once, before the transient).

The heat sources use :meth:`ShortCircuit.shape` (power relative to the initial power) and
:meth:`ShortCircuit.integral` (its exact integral over a step), so the energy put in over any
step is exact.
"""

from __future__ import annotations

import math

import numpy as np


class ShortCircuit:
    """A cell (V(s), R_int, capacity) shorted through R_short from time ``start`` (s)."""

    def __init__(self, soc, voltage, internal_resistance: float, short_resistance: float,
                 capacity: float, start: float = 0.0, initial_soc: float = 1.0):
        """``soc`` increasing knots in [0, 1] and ``voltage`` V at them (V, > 0); a single
        knot means a constant V. ``capacity`` in C (A s), resistances in ohm."""
        s = np.atleast_1d(np.asarray(soc, float))
        v = np.atleast_1d(np.asarray(voltage, float))
        if s.size != v.size or s.size == 0:
            raise ValueError("ShortCircuit: soc and voltage need the same number of values")
        if np.any(v <= 0):
            raise ValueError("ShortCircuit: open-circuit voltages must be > 0")
        if s.size > 1 and np.any(np.diff(s) <= 0):
            raise ValueError("ShortCircuit: soc knots must increase strictly")
        self.r_int, self.r_short = float(internal_resistance), float(short_resistance)
        self.resistance = self.r_int + self.r_short
        self.capacity, self.start = float(capacity), float(start)
        self.initial_soc = float(initial_soc)
        qr = self.capacity * self.resistance
        if s.size == 1:
            knots_s = np.array([self.initial_soc, 0.0])
            knots_v = np.array([v[0], v[0]])
        else:
            inner = s[(s > 0.0) & (s < self.initial_soc)]
            knots_s = np.concatenate([[self.initial_soc], inner[::-1], [0.0]])
            knots_v = np.interp(knots_s, s, v)  # held constant outside the table
        self._s, self._v = knots_s, knots_v  # from the start (s0) down to empty (0)
        # time and delivered energy (J, both resistors) at every knot
        t = [0.0]
        w = [0.0]
        for k in range(1, knots_s.size):
            ds = knots_s[k - 1] - knots_s[k]
            v0, v1 = knots_v[k - 1], knots_v[k]
            b = (v0 - v1) / ds if ds > 0 else 0.0
            t.append(t[-1] + (qr * math.log(v0 / v1) / b if abs(b) > 1e-14 * v0 / max(ds, 1e-300)
                              else qr * ds / v0))
            w.append(w[-1] + self.capacity * 0.5 * (v0 + v1) * ds)
        self._t, self._w = np.array(t), np.array(w)

    # ------------------------------------------------------------------ the solution
    @property
    def end(self) -> float:
        """When the cell is empty (s)."""
        return self.start + float(self._t[-1])

    @property
    def energy(self) -> float:
        """Energy the cell delivers until empty (J), both resistors."""
        return float(self._w[-1])

    def _segment(self, tau: float) -> tuple[int, float, float]:
        """(segment k, V, s) at time tau after the start (0 <= tau <= duration)."""
        k = int(np.clip(np.searchsorted(self._t, tau, side="right"), 1, self._t.size - 1))
        s0, s1 = self._s[k - 1], self._s[k]
        v0, v1 = self._v[k - 1], self._v[k]
        dt = tau - self._t[k - 1]
        qr = self.capacity * self.resistance
        b = (v0 - v1) / (s0 - s1)
        if abs(b) > 1e-14 * v0 / (s0 - s1):
            v = v0 * math.exp(-b * dt / qr)
            s = s0 + (v - v0) / b
        else:
            v = v0
            s = s0 - v0 * dt / qr
        return k, v, min(max(s, s1), s0)

    def voltage(self, t: float) -> float:
        """Open-circuit voltage at time t (V); 0 outside [start, end)."""
        tau = t - self.start
        if tau < 0 or tau >= self._t[-1]:
            return 0.0
        return self._segment(tau)[1]

    def soc(self, t: float) -> float:
        tau = min(max(t - self.start, 0.0), float(self._t[-1]))
        return self._segment(tau)[2]

    def current(self, t: float) -> float:
        """Short-circuit current (A) at time t."""
        return self.voltage(t) / self.resistance

    def delivered(self, t: float) -> float:
        """Energy delivered from the start until t (J, both resistors)."""
        tau = min(max(t - self.start, 0.0), float(self._t[-1]))
        k, v, s = self._segment(tau)
        v0 = self._v[k - 1]
        return float(self._w[k - 1] + self.capacity * 0.5 * (v0 + v) * (self._s[k - 1] - s))

    # ------------------------------------------------------------------ for the sources
    @property
    def initial_power(self) -> float:
        """I^2 R at the start (W, both resistors)."""
        return self._v[0] ** 2 / self.resistance

    def shape(self, t: float) -> float:
        """Power at t relative to the initial power (0 outside [start, end))."""
        v = self.voltage(t)
        return (v / self._v[0]) ** 2

    def integral(self, t0: float, t1: float) -> float:
        """int_t0^t1 shape dt (s): the energy over [t0, t1] / the initial power."""
        return (self.delivered(t1) - self.delivered(t0)) / self.initial_power
