"""Quantities with units in case files."""

from __future__ import annotations

import pytest

from batteryfx.units import to_c_rate, to_si


@pytest.mark.parametrize(
    "text, dim, si",
    [
        ("8 um", "length", 8e-6),
        ("473 K", "temperature", 473.0),
        ("200 degC", "temperature", 473.15),
        ("2 A/m^2", "current_density", 2.0),
        ("401 W/(m*K)", "conductivity", 401.0),
        ("1.42 g/cm^3", "density", 1420.0),
        ("5.96e7 S/m", "electrical_conductivity", 5.96e7),
        ("2 ms", "time", 2e-3),
        (3.5, "length", 3.5),
    ],
)
def test_to_si(text, dim, si):
    assert to_si(text, dim) == pytest.approx(si, rel=1e-12)


@pytest.mark.parametrize("text, dim", [("8 K", "length"), ("3 s", "temperature"),
                                       ("eight um", "length"), (True, "length"), ([1], "time")])
def test_to_si_rejects(text, dim):
    with pytest.raises(ValueError):
        to_si(text, dim)


def test_c_rate():
    assert to_c_rate("0.5 C") == 0.5
    assert to_c_rate("2C") == 2.0
    assert to_c_rate(1) == 1.0
    with pytest.raises(ValueError):
        to_c_rate("fast")
