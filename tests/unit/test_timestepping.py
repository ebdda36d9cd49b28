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


def test_huge_growth_does_not_overflow():
    s = TimeStepper(1.0, 1e-9, dt_max=0.1, growth=10.0, hold_steps=400)
    times, dts = _run(s)
    assert times[-1] == 1.0 and max(dts) <= 0.1 * (1 + 1e-12)


def test_near_duplicate_targets_merge():
    s = TimeStepper(1e-5, 1e-7, targets=[1e-6, 1.0000000000000002e-06])
    times, dts = _run(s)
    assert min(dts) > 1e-8 and 1.0000000000000002e-06 in times


def test_estimate_steps_is_exact_for_constant_dt():
    assert TimeStepper(1.0, 1e-3).estimate_steps() == 1000 + 1  # + the end target


def test_graded_division():
    from batteryfx.geometry.coupon import graded_division

    n, r = graded_division(4.5, 0.125, 0.5, 1.25)
    first = 4.5 * (r - 1) / (r**n - 1)
    assert 1 < r <= 1.25 and first == pytest.approx(0.125, rel=1e-6)
    assert first * r ** (n - 1) <= 0.5 * (1 + 1e-9)
    n, r = graded_division(1e-3, 0.5e-6, 1e-6, 1.25)  # long interval: no overflow
    assert r >= 1.0 and n <= 2000
    assert graded_division(4.5, 0.5, 0.5, 1.25) == (9, 1.0)



def test_growth_without_dt_max_is_uncapped():
    """No dt_max: the steps keep growing (they used to stay at dt_initial, silently ignoring
    growth: 10,000 steps here); only the end time caps them."""
    s = TimeStepper(1.0, 1e-4, growth=1.5)
    assert s.estimate_steps() < 30
    times, dts = _run(s)
    assert times[-1] == 1.0 and len(times) < 30
    assert dts[1] == pytest.approx(1.5e-4) and max(dts) > 0.1
    assert all(b >= a for a, b in zip(dts[:-2], dts[1:-1], strict=False))  # last: shortened


def test_growth_without_dt_max_huge_end_no_overflow():
    s = TimeStepper(1e300, 1e-9, growth=10.0, hold_steps=4)
    n = s.estimate_steps()
    times, dts = _run(s)
    assert times[-1] == 1e300 and len(times) == n - 1  # the end target is counted in n
    assert max(dts) <= 1e300


def test_no_growth_without_dt_max_is_constant():
    times, dts = _run(TimeStepper(1.0, 0.25, growth=1.0))
    assert times == [0.25, 0.5, 0.75, 1.0]
