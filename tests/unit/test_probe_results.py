"""Scalar results from probe time series: plateau maximum, rise-fraction crossing times."""

from __future__ import annotations

import numpy as np
import pytest

from batteryfx.post.probes import crossing_time, probe_results


def test_plateau_and_crossing():
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    v = np.array([300.0, 350.0, 400.0 - 1e-9, 400.0 + 1e-9, 400.0])  # plateau with round-off
    res = probe_results(t, {"p": v}, {"p": [0.5, 0.99]}, 300.0, 400.0)["p"]
    assert res["max_K"] == v.max() and res["final_K"] == 400.0
    assert res["time_of_max_s"] == 2.0  # the start of the plateau, not a round-off wiggle
    assert res["time_to_50pct_rise_s"] == 1.0
    assert res["time_to_99pct_rise_s"] == pytest.approx(1.0 + 49.0 / (50.0 - 1e-9), rel=1e-12)
    low = probe_results(t, {"p": v}, {"p": [0.5]}, 300.0, 600.0)["p"]
    assert low["time_to_50pct_rise_s"] == "not reached (end time 4 s)"


def test_crossing_falling():
    t = np.array([0.0, 1.0, 2.0])
    assert crossing_time(t, np.array([400.0, 300.0, 200.0]), 250.0, rising=False) == 1.5


def test_rise_undefined_without_a_rise():
    """A hot spot at the initial temperature has no rise: "undefined", never 0.0 s."""
    t = np.array([0.0, 1.0, 2.0])
    v = np.full(3, 298.0)
    res = probe_results(t, {"p": v}, {"p": [0.5]}, 298.0, 298.0)["p"]
    assert res["time_to_50pct_rise_s"].startswith("undefined")
