"""Load the materials library from ``data/*.toml``.

Each property is stored as ``value`` + ``unit`` + ``source`` and converted to SI on load. Case
files refer to materials by ``name`` and may override single properties per case.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from batteryfx.units import to_si

#: Property name -> dimension (see ``batteryfx.units.DIMENSIONS``).
PROPERTY_DIMENSIONS: dict[str, str] = {
    "density": "density",
    "specific_heat": "specific_heat",
    "thermal_conductivity": "conductivity",
    "thermal_conductivity_in_plane": "conductivity",
    "dry_density": "density",
    "electrical_conductivity": "electrical_conductivity",
    "youngs_modulus": "pressure",
    "poissons_ratio": "dimensionless",
}
REQUIRED = ("density", "specific_heat", "thermal_conductivity")
#: Property name -> (low, high, SI unit, why, strict) for case overrides; strict: lo < x < hi.
PROPERTY_BOUNDS: dict[str, tuple[float, float, str, str, bool]] = {
    "density": (1.0, 1e5, "kg/m^3", "aerogels about 1, osmium 2.3e4 kg/m^3", False),
    "specific_heat": (10.0, 1e5, "J/(kg K)",
                      "solids and liquids: lead about 130, hydrogen 1.4e4 J/(kg K)", False),
    "thermal_conductivity": (1e-3, 1e4, "W/(m K)",
                             "aerogels about 0.01, diamond about 2e3 W/(m K)", False),
    "dry_density": (1.0, 1e5, "kg/m^3", "porous sheets without their electrolyte", False),
    "thermal_conductivity_in_plane": (1e-3, 1e4, "W/(m K)",
                                      "aerogels about 0.01, graphene about 5e3 W/(m K)", False),
    "electrical_conductivity": (1e-20, 1e9, "S/m",
                                "insulators about 1e-16, silver 6.3e7 S/m", False),
    "youngs_modulus": (1e3, 1e13, "Pa", "gels about 1e3, diamond 1.2e12 Pa", False),
    "poissons_ratio": (-1.0, 0.5, "", "an isotropic elastic solid has -1 < nu < 0.5", True),
}


class Property(BaseModel):
    """One property: the value as written, its unit, the SI value and where it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    value: float
    unit: str
    source: str
    note: str = ""
    si: float = 0.0


class Material(BaseModel):
    """A material of the library (or a per-case variant with overridden properties)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str
    category: Literal[
        "metal", "polymer", "electrode", "separator", "electrolyte", "ceramic", "packaging"
    ]
    properties: dict[str, Property]

    @model_validator(mode="before")
    @classmethod
    def _to_si(cls, data: dict) -> dict:
        props = {}
        for key, prop in dict(data.get("properties", {})).items():
            if key not in PROPERTY_DIMENSIONS:
                raise ValueError(
                    f"unknown property {key!r}; allowed: {', '.join(PROPERTY_DIMENSIONS)}"
                )
            prop = dict(prop)
            unit = prop.get("unit", "")
            text = f"{prop['value']} {unit}".strip()
            prop["si"] = to_si(text, PROPERTY_DIMENSIONS[key])
            props[key] = prop
        missing = [k for k in REQUIRED if k not in props]
        if missing:
            raise ValueError(f"missing properties {missing}")
        return {**data, "properties": props}

    def __getitem__(self, key: str) -> float:
        """SI value of a property."""
        return self.properties[key].si

    def with_overrides(self, overrides: dict[str, float]) -> Material:
        """A copy with SI values replaced; the source of each says it is a case override."""
        props = dict(self.properties)
        for key, si in overrides.items():
            props[key] = Property(value=si, unit="", source="case file override", si=si)
        return self.model_copy(update={"properties": props})


@cache
def library() -> dict[str, Material]:
    """All materials of the library, by name."""
    out: dict[str, Material] = {}
    folder = resources.files("batteryfx.materials") / "data"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            with entry.open("rb") as fh:
                data = tomllib.load(fh)
            try:
                mat = Material.model_validate(data)
            except Exception as exc:
                raise RuntimeError(f"materials/data/{entry.name}: {exc}") from exc
            out[mat.name] = mat
    return out


def resolve(name: str, overrides: dict[str, float] | None = None) -> Material:
    """The named library material with per-case overrides (SI values) applied."""
    mat = library()[name]
    return mat.with_overrides(overrides) if overrides else mat
