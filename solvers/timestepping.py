"""Time-step sequence: geometric growth from dt_initial to dt_max, landing exactly on targets.

Without dt_max the steps grow without a cap (a step never exceeds the time left to the next
target, so in practice the cap is the end time).

With ``hold_steps = n`` the step is kept for n steps and then multiplied by growth**n (the same
average growth), so a direct solver re-factorizes n times less often.

Heat from a micrometre hot spot crosses a copper foil in about a microsecond and a polyimide
film in about a millisecond, so steps grow geometrically; output times and the end time are hit
exactly (the step before a target is shortened), as FESTIM's exports do.

Adaptive mode (``tolerance`` in K): after each step the caller passes the problem's local error
estimate to :meth:`TimeStepper.accept`. A step whose error exceeds the tolerance is rejected
(the caller undoes it) and retried with dt x max(0.2, 0.9 (tol / err)^(1/3)) (the error of a
second-order step scales as dt^3); an accepted step sets the next dt to
dt x 0.9 (tol / err)^(1/3), at most x4 per step and at most dt_max, but keeps dt unchanged
when that factor is between 0.8 and 1.5, so a factorized operator is reused over long
stretches. ``growth`` and ``hold_steps`` are not used then.
"""

from __future__ import annotations

import math


class TimeStepper:
    """State: t (s), the nominal step, the step count. ``state()``/``restore()`` for restart."""

    #: smallest step (relative to the end time) an adaptive run may shrink to
    DT_MIN_REL = 1e-14

    def __init__(self, end: float, dt_initial: float, dt_max: float | None = None,
                 growth: float = 1.0, targets: list[float] = (), hold_steps: int = 1,
                 tolerance: float | None = None):
        self.end = float(end)
        # no dt_max: no cap other than the end time (the step is shortened to land on targets)
        self.dt_max = float(dt_max) if dt_max is not None else math.inf
        self.growth = float(growth)
        self.hold_steps = int(hold_steps)
        merged: list[float] = []
        for x in sorted({float(t) for t in targets if 0.0 < t < end} | {self.end}):
            if merged and x - merged[-1] <= 1e-9 * x:  # "1 us" and "1000 ns": one target
                merged[-1] = x
            else:
                merged.append(x)
        self.targets = merged
        self.t = 0.0
        self.dt_nominal = float(dt_initial)
        self.step = 0
        self.tolerance = None if tolerance is None else float(tolerance)
        self.rejected = 0  # adaptive: steps taken back

    @property
    def adaptive(self) -> bool:
        return self.tolerance is not None

    def accept(self, dt: float, error: float) -> bool:
        """Adaptive mode: whether a step of ``dt`` with local ``error`` (K) is accepted; sets
        the next nominal step either way (module docstring). Raises ValueError when the step
        would shrink below DT_MIN_REL of the end time."""
        tol = self.tolerance
        ratio = 0.9 * (tol / error) ** (1.0 / 3.0) if error > 0 else 4.0
        if error > tol:
            self.rejected += 1
            self.dt_nominal = dt * max(0.2, min(ratio, 0.9))
            if self.dt_nominal < self.DT_MIN_REL * self.end:
                raise ValueError(f"the adaptive time step fell below {self.dt_nominal:.3g} s "
                                 f"at t = {self.t:.6g} s (error {error:.3g} K > tolerance "
                                 f"{tol:.3g} K)")
            return False
        if ratio >= 1.5 and dt >= self.dt_nominal * (1 - 1e-9):
            self.dt_nominal = min(dt * min(ratio, 4.0), self._cap)
        elif ratio < 0.8:
            self.dt_nominal = dt * max(ratio, 0.5)
        return True

    @property
    def done(self) -> bool:
        return self.t >= self.end

    def next(self) -> tuple[float, float | None]:
        """(dt, hit): the next step and the target it lands on exactly (or None)."""
        target = next(x for x in self.targets if x > self.t)
        dt = self.dt_nominal
        remaining = target - self.t
        if dt >= remaining * (1.0 - 1e-9) or remaining - dt < 0.01 * dt:
            return remaining, target
        return dt, None

    def advance(self, dt: float, hit: float | None) -> None:
        self.t = hit if hit is not None else self.t + dt
        self.step += 1
        if self.adaptive:
            return
        if self.step % self.hold_steps == 0:  # dt held for hold_steps steps: fewer refactorizations
            self.dt_nominal = self._grown(self.dt_nominal)

    def _grown(self, dt: float) -> float:
        """dt * growth**hold_steps, capped at dt_max and at the end time (in logs: no
        overflow)."""
        cap = self._cap
        if math.log(cap / dt) <= self.hold_steps * math.log(self.growth):
            return cap
        return dt * self.growth**self.hold_steps

    def estimate_steps(self, limit: int = 10**7) -> int:
        """Number of steps left (targets included); counting stops past ``limit``."""
        t, dt, n = self.t, self.dt_nominal, 0
        while t < self.end and n <= limit:
            if dt >= self._cap:  # constant from here on
                n += math.ceil((self.end - t) / dt)
                break
            t += dt
            n += 1
            if (self.step + n) % self.hold_steps == 0:
                dt = self._grown(dt)
        return n + len([x for x in self.targets if x > self.t])

    @property
    def _cap(self) -> float:
        return min(self.dt_max, self.end)

    def state(self) -> dict:
        return {"t": self.t, "dt_nominal": self.dt_nominal, "step": self.step,
                "rejected": self.rejected}

    def restore(self, state: dict) -> None:
        self.t, self.dt_nominal, self.step = state["t"], state["dt_nominal"], state["step"]
        self.rejected = int(state.get("rejected", 0))
        if not math.isfinite(self.t):  # pragma: no cover - corrupt file
            raise ValueError("bad checkpoint time")
