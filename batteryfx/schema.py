"""Building blocks of the case schema shared by the case root and the physics sections:
the strict section base (unknown keys rejected), bounded quantities with units and the
physical limits that catch unit slips. No DOLFINx, no physics."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from batteryfx.units import Length, Time
from batteryfx.units import Temperature as _AnyTemperature

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]*$"
MAX_CELLS = 2e7  # a case larger than this is almost certainly a unit slip
MAX_STEPS = 10**6
MAX_CASE_BYTES = 4 * 2**20  # a case file is a few kB of TOML
MAX_DEPTH = 32  # nesting of tables and arrays in a case file

# Physical bounds: values outside are unit slips or outside what the models describe.
MIN_LENGTH, MAX_LENGTH = 1e-9, 10.0  # m
MIN_TEMPERATURE, MAX_TEMPERATURE = 1.0, 1e4  # K
MIN_DT, MAX_TIME = 1e-12, 1e9  # s
MAX_HEAT_TRANSFER_COEFFICIENT = 1e7  # W/(m^2 K)
MAX_HEAT_FLUX = 1e10  # W/m^2
MAX_POWER_DENSITY = 1e15  # W/m^3


def _num(x: float) -> str:
    """A bound as short text: 1e-09 -> 1e-9, 10000.0 -> 1e4."""
    text = f"{x:.3g}"
    return text.replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def _bounded(lo: float | None, hi: float | None, unit: str, reason: str | tuple[str, str], *,
             magnitude: bool = False) -> AfterValidator:
    """A validator for lo <= value <= hi (of abs(value) with ``magnitude``), saying why
    (``reason``, or a reason for the lower and one for the upper bound)."""
    what = "the magnitude " if magnitude else ""
    why_lo, why_hi = (reason, reason) if isinstance(reason, str) else reason

    def check(value: float) -> float:
        x = abs(value) if magnitude else value
        if lo is not None and x < lo:
            raise ValueError(f"{what}must be at least {_num(lo)} {unit} ({why_lo})")
        if hi is not None and x > hi:
            raise ValueError(f"{what}must be at most {_num(hi)} {unit} ({why_hi})")
        return value

    return AfterValidator(check)


_LENGTH_BOUNDS = _bounded(MIN_LENGTH, MAX_LENGTH, "m", (
    "below 1 nm continuum heat conduction does not hold and the mesher cannot resolve it",
    "batteryfx meshes cells and coupons, not objects larger than 10 m"))
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
PositiveLength = Annotated[Length, Field(gt=0), _LENGTH_BOUNDS]
Coordinate = Annotated[Length, Field(ge=0), _bounded(
    None, MAX_LENGTH, "m", "batteryfx meshes cells and coupons, not objects larger than 10 m")]
Temperature = Annotated[_AnyTemperature, _bounded(
    MIN_TEMPERATURE, MAX_TEMPERATURE, "K",
    "batteryfx models solid and liquid battery materials; the library data are for about "
    "200-1500 K",
)]
Duration = Annotated[Time, Field(gt=0), _bounded(MIN_DT, MAX_TIME, "s", (
    "below 1 ps continuum heat conduction does not hold", "that is about 30 years"))]


class Section(BaseModel):
    """A case-file table: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


_Section = Section
