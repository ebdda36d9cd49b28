"""Quantities with units in case files."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batteryfx.units import DIMENSIONS, to_c_rate, to_si


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


@pytest.mark.parametrize(
    "text, dim, message",
    [
        ("5,5 um", "length", "decimal point"),  # pint reads it as 55 um
        ("1,000 um", "length", "decimal point"),
        ("um", "length", "a number is needed"),  # pint reads it as 1 um
        ("K", "temperature", "a number is needed"),
        ("300 delta_degC", "temperature", "temperature difference"),  # pint: an absolute 300 K
        ("300 delta_degF", "temperature", "use K or degC"),
        ("10**10**10 m", "length", "cannot parse"),  # no arithmetic on numbers (no hang)
        ("1 m**99**99**99", "length", "cannot parse"),
        ("1 m^2^3", "length", "cannot parse"),
        ("1 m/0", "length", "cannot parse"),
        ("1e400 m", "length", "finite"),
        ("2 Ym^99/m^98", "length", "finite"),  # an overflowing unit factor
        ("1" * 300 + " m", "length", "too long"),
        (10**400, "length", "finite"),
        ("\u0663 um", "length", "a number is needed"),  # an Arabic-Indic digit is not a number
    ],
)
def test_to_si_rejects_slips(text, dim, message):
    with pytest.raises(ValueError, match=message):
        to_si(text, dim)


@pytest.mark.parametrize(
    "text, dim, si",
    [
        ("5.5 um", "length", 5.5e-6),
        (".5 um", "length", 5e-7),
        ("8um", "length", 8e-6),
        ("-5 degC", "temperature", 268.15),
        ("1e9 W/m^3", "power_density", 1e9),
        ("5 W/(m*delta_degC)", "conductivity", 5.0),  # a difference inside a compound unit
        ("1 m**3 / m**2", "length", 1.0),
        ("0.381", "dimensionless", 0.381),
    ],
)
def test_to_si_accepts(text, dim, si):
    assert to_si(text, dim) == pytest.approx(si, rel=1e-12)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(
    st.text(max_size=40),
    st.builds(lambda n, u: f"{n} {u}", st.floats(allow_nan=True, allow_infinity=True),
              st.sampled_from(["um", "m", "K", "degC", "delta_degC", "s", "ms", "W/m^3",
                               "W/(m*K)", "kg/m^3", "m**2", "m^-1", "", "**", "^9^9"])),
    st.from_regex(r"[0-9eE.+\-*/^() a-zA-Z,]{0,30}", fullmatch=True),
), dim=st.sampled_from(sorted(DIMENSIONS)))
def test_to_si_property(text, dim):
    """Any string: a finite float, or a ValueError (never another exception, never a hang)."""
    try:
        si = to_si(text, dim)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert math.isfinite(si)
        if dim == "temperature":
            assert si > 0
