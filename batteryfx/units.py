"""Physical quantities in case files: SI numbers or strings with units, checked for dimension.

``"8 um"``, ``"473 K"``, ``"200 degC"``, ``"2 A/m^2"`` are parsed with pint and converted to SI
base units (temperatures to kelvin). A bare number is taken as already SI. C-rates (``"0.5 C"``)
are a separate type because pint's ``C`` is the coulomb.
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Annotated

import pint
from pydantic import BeforeValidator, PlainSerializer

#: Dimension name -> (pint dimensionality string, an example used in error messages).
DIMENSIONS: dict[str, tuple[str, str]] = {
    "length": ("[length]", "8 um"),
    "time": ("[time]", "2 ms"),
    "temperature": ("[temperature]", "473 K or 200 degC"),
    "conductivity": ("[power] / [length] / [temperature]", "401 W/(m*K)"),
    "density": ("[mass] / [length] ** 3", "8933 kg/m^3"),
    "specific_heat": ("[energy] / [mass] / [temperature]", "385 J/(kg*K)"),
    "heat_transfer_coefficient": ("[power] / [length] ** 2 / [temperature]", "10 W/(m^2*K)"),
    "heat_flux": ("[power] / [length] ** 2", "1e4 W/m^2"),
    "power_density": ("[power] / [length] ** 3", "1e9 W/m^3"),
    "electrical_conductivity": (
        "[current] ** 2 * [time] ** 3 / [mass] / [length] ** 3", "5.96e7 S/m"
    ),
    "pressure": ("[pressure]", "10 GPa"),
    "current_density": ("[current] / [length] ** 2", "2 A/m^2"),
    "dimensionless": ("", "0.3"),
    "power": ("[power]", "5 W"),
    "voltage": ("[electric_potential]", "4.2 V"),
    "resistance": ("[resistance]", "10 mohm"),
    "energy": ("[energy]", "1.3 W*h"),
    "charge": ("[current] * [time]", "0.36 A*h"),
    "areal_charge": ("[current] * [time] / [length] ** 2", "4 mA*h/cm^2"),
    "mass_per_charge": ("[mass] / [current] / [time]", "1.5 g/(A*h)"),
    "contact_resistance": ("[length] ** 2 * [temperature] / [power]", "1e-5 m^2*K/W"),
    # particle chemo-mechanics and transport (materials library)
    "diffusivity": ("[length] ** 2 / [time]", "7.08e-15 m^2/s"),
    "concentration": ("[substance] / [length] ** 3", "2.29e4 mol/m^3"),
    "molar_volume": ("[length] ** 3 / [substance]", "3.497e-6 m^3/mol"),
    "molar_mass": ("[mass] / [substance]", "96.55 g/mol"),
    "strain": ("", "8.2 percent"),
    "activation_energy": ("[energy] / [substance]", "50 kJ/mol"),
    "specific_capacity": ("[current] * [time] / [mass]", "277.6 mA*h/g"),
    "lattice_length": ("[length]", "2.87 angstrom"),
    "volume": ("[length] ** 3", "33.7 angstrom^3"),
    "molar_flux": ("[substance] / [length] ** 2 / [time]", "2e-5 mol/(m^2*s)"),
}


@cache
def registry() -> pint.UnitRegistry:
    """The one pint registry of batteryfx."""
    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


#: Leading number of a quantity string: decimal digits, optional exponent, or inf / nan.
_NUMBER = re.compile(
    r"\s*([+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan))",
    re.IGNORECASE,
)
#: A unit exponent such as ``^2``, ``**-1`` or ``^(0.5)``.
_EXPONENT = re.compile(r"(\*\*|\^)\s*\(?\s*[+-]?[0-9]{1,2}(\.[0-9]{1,3})?\s*\)?")
MAX_QUANTITY_CHARS = 200


def to_si(value: object, dimension: str) -> float:
    """Convert ``value`` (number or string with unit) to a float in SI base units.

    A string is a number followed by a unit (``"8 um"``, ``"1e9 W/m^3"``); unit exponents are
    small numbers. Raises ``ValueError`` with a message saying what is allowed (pydantic turns
    it into a validation error located at the key).
    """
    dim, example = DIMENSIONS[dimension]
    name = dimension.replace("_", " ")
    if isinstance(value, bool):
        raise ValueError(f"expected a {name}, e.g. {example!r}")
    if isinstance(value, int | float):
        try:
            return _checked(float(value), dimension)
        except OverflowError:
            raise ValueError(f"must be a finite {name}") from None
    if not isinstance(value, str):
        raise ValueError(f"expected a number or a string with unit, e.g. {example!r}")
    number, unit = _split(value.strip(), example)
    ureg = registry()
    try:
        q = ureg.Quantity(number, unit)
    except Exception as exc:  # pint raises many types for bad strings
        raise ValueError(f"cannot parse as a quantity ({exc}); e.g. {example!r}") from None
    if not isinstance(q, pint.Quantity):  # pragma: no cover - Quantity() always returns one
        raise ValueError(f"expected a quantity, e.g. {example!r}")
    expected = ureg.Quantity(1.0, ureg.parse_units("dimensionless")) if not dim else None
    want = expected.dimensionality if expected is not None else ureg.get_dimensionality(dim)
    if q.dimensionality != want:
        got = str(q.dimensionality) or "dimensionless"
        raise ValueError(f"wrong dimension {got}; expected a {name}, e.g. {example!r}")
    if dimension == "temperature" and any(u.startswith("delta_") for u, _ in q.unit_items()):
        raise ValueError("a temperature difference is not a temperature; use K or degC, "
                         "e.g. '473 K' or '200 degC'")
    try:
        si = q.to_base_units().magnitude
    except ArithmeticError:  # e.g. an overflowing unit factor
        raise ValueError(f"must be a finite {name}") from None
    # 15 significant digits: "10 us" and "0.01 ms" give the same float
    return _checked(float(f"{si:.15g}"), dimension)


def _split(text: str, example: str) -> tuple[float, str]:
    """The number and the unit of a quantity string (no arithmetic on numbers: no ``10**9``)."""
    if len(text) > MAX_QUANTITY_CHARS:
        raise ValueError(f"too long for a quantity ({len(text)} characters); e.g. {example!r}")
    if "," in text:
        raise ValueError(f"use a decimal point, not a comma, and no thousands separators; "
                         f"e.g. {example!r}")
    match = _NUMBER.match(text)
    if match is None:
        raise ValueError(f"cannot parse as a quantity: a number is needed before the unit; "
                         f"e.g. {example!r}")
    unit = text[match.end():].strip()
    rest = _EXPONENT.sub("", unit)
    if re.search(r"[0-9]|\*\*|\^", rest) or re.search(r"(\*\*|\^)[^A-Za-z]*(\*\*|\^)", unit):
        raise ValueError(f"cannot parse as a quantity (a number and a unit with small "
                         f"exponents are expected, got {text!r}); e.g. {example!r}")
    return float(match.group(1)), unit


def _checked(si: float, dimension: str) -> float:
    if not math.isfinite(si):
        raise ValueError(f"must be a finite {dimension.replace('_', ' ')}")
    if dimension == "temperature" and si <= 0.0:
        raise ValueError("must be above absolute zero (0 K)")
    return si


def to_c_rate(value: object) -> float:
    """Parse a C-rate (``0.5``, ``"0.5 C"``, ``"2C"``) to a float in 1/h."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.upper().endswith("C"):
            text = text[:-1]
        try:
            return float(text)
        except ValueError:
            pass
    raise ValueError("expected a C-rate, e.g. '0.5 C' or 2")


def _quantity(dimension: str):
    return Annotated[
        float,
        BeforeValidator(lambda v: to_si(v, dimension)),
        PlainSerializer(lambda v: v, return_type=float),
    ]


Length = _quantity("length")
Time = _quantity("time")
Temperature = _quantity("temperature")
Conductivity = _quantity("conductivity")
Density = _quantity("density")
SpecificHeat = _quantity("specific_heat")
HeatTransferCoefficient = _quantity("heat_transfer_coefficient")
HeatFlux = _quantity("heat_flux")
PowerDensity = _quantity("power_density")
Power = _quantity("power")
Voltage = _quantity("voltage")
Resistance = _quantity("resistance")
Energy = _quantity("energy")
Charge = _quantity("charge")
ArealCharge = _quantity("areal_charge")
MassPerCharge = _quantity("mass_per_charge")
ContactResistance = _quantity("contact_resistance")
Diffusivity = _quantity("diffusivity")
Concentration = _quantity("concentration")
MolarVolume = _quantity("molar_volume")
MolarMass = _quantity("molar_mass")
Strain = _quantity("strain")
ActivationEnergy = _quantity("activation_energy")
#: SI: C/kg (A s/kg); 1 mAh/g = 3600 C/kg.
SpecificCapacity = _quantity("specific_capacity")
LatticeLength = _quantity("lattice_length")
Volume = _quantity("volume")
Pressure = _quantity("pressure")
CurrentDensity = _quantity("current_density")
MolarFlux = _quantity("molar_flux")
ElectricalConductivity = _quantity("electrical_conductivity")
CRate = Annotated[float, BeforeValidator(to_c_rate)]
