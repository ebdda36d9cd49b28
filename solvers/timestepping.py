"""Time-step sequence: geometric growth from dt_initial to dt_max, landing exactly on targets.

Without dt_max the steps grow without a cap (a step never exceeds the time left to the next
target, so in practice the cap is the end time).

With ``hold_steps = n`` the step is kept for n steps and then multiplied by growth**n (the same
average growth), so a direct solver re-factorizes n times less often.

Heat from a micrometre hot spot crosses a copper foil in about a microsecond and a polyimide
film in about a millisecond, so steps grow geometrically; output times and the end time are hit
exactly (the step before a target is shortened), as FESTIM's exports do.
"""

from __future__ import annotations

import math


class TimeStepper:
    """State: t (s), the nominal step, the step count. ``state()``/``restore()`` for restart."""

    def __init__(self, end: float, dt_initial: float, dt_max: float | None = None,
                 growth: float = 1.0, targets: list[float] = (), hold_steps: int = 1):
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
        return {"t": self.t, "dt_nominal": self.dt_nominal, "step": self.step}

    def restore(self, state: dict) -> None:
        self.t, self.dt_nominal, self.step = state["t"], state["dt_nominal"], state["step"]
        if not math.isfinite(self.t):  # pragma: no cover - corrupt file
            raise ValueError("bad checkpoint time")
