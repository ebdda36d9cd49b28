"""Time-step sequence: geometric growth, exact landing on targets and the end, restart state."""

from __future__ import annotations

import pytest

from batteryfx.solvers.timestepping import TimeStepper


def _run(stepper):
    times, dts = [], []
    while not stepper.done:
        dt, hit = stepper.next()
        stepper.advance(dt, hit)
        times.append(stepper.t)
        dts.append(dt)
    return times, dts


def test_growth_and_targets():
    s = TimeStepper(1.0, 1e-3, dt_max=0.1, growth=2.0, targets=[0.05, 0.5])
    times, dts = _run(s)
    assert times[-1] == 1.0 and 0.05 in times and 0.5 in times
    assert max(dts) <= 0.1 * (1 + 1e-12)
    assert dts[0] == pytest.approx(1e-3) and dts[1] == pytest.approx(2e-3)
    assert all(b > a for a, b in zip(times, times[1:], strict=False))


def test_constant_dt():
    times, dts = _run(TimeStepper(1.0, 0.25))
    assert times == [0.25, 0.5, 0.75, 1.0]


def test_no_sliver_steps():
    """A remainder below 1 % of dt is merged into the step before the target."""
    times, dts = _run(TimeStepper(1.0, 0.333))
    assert len(times) == 3 and min(dts) > 0.3


def test_state_roundtrip():
    a = TimeStepper(1.0, 1e-3, dt_max=0.1, growth=1.5, targets=[0.3])
    for _ in range(7):
        a.advance(*a.next())
    b = TimeStepper(1.0, 1e-3, dt_max=0.1, growth=1.5, targets=[0.3])
    b.restore(a.state())
    assert _run(a) == _run(b)


def test_hold_steps_same_average_growth():
    held = TimeStepper(1.0, 1e-3, dt_max=1.0, growth=1.1, hold_steps=4)
    times, dts = _run(held)
    assert dts[:4] == [1e-3] * 4 and dts[4] == pytest.approx(1e-3 * 1.1**4)
    assert len(set(dts[:-1])) <= len(dts) // 4 + 2  # distinct steps = re-factorizations
