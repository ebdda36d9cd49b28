"""Load the materials library from ``data/*.toml``.

A material carries what the physics using it needs, each entry with its ``source`` (and an
optional ``note``) and a ``basis`` saying what kind of number it is:

* ``reported`` (default): the value as given by the cited source (measurement, handbook, or a
  published model parameter set);
* ``derived``: computed here from sourced numbers (the note says how);
* ``computed``: first-principles / simulation result of the cited source;
* ``estimate``: a typical value or placeholder (the note says why; replace when a measurement
  is cited).

Four kinds of entry, all converted to SI on load:

``[properties.NAME]``
    scalars: ``value``, ``unit``, ``source`` (as before). ``material["density"]`` is the SI value.
``[tensors.NAME]``
    ``elastic_stiffness`` (6x6 Voigt, order 11, 22, 33, 23, 13, 12, engineering shear strain;
    crystal frame with the c axis = 3) or ``thermal_conductivity`` (3x3), given by ``symmetry``
    and ``components`` (e.g. hexagonal C11, C12, C13, C33, C44) or a full ``matrix``.
``[tables.NAME]``
    ``columns``, ``units`` and ``rows`` (like a CSV); the first column is the key (``x`` Li per
    formula unit, ``sto`` = c / c_max, ``soc`` or ``T``) and strictly increasing. Known tables:
    ``lattice`` (x, a, c[, volume]), ``diffusivity`` (key, D), ``ocv`` (key, U).
``[laws.NAME]``
    ``form = "constant"`` or ``"arrhenius"``: q(x, T) = q_ref(x) exp(-Ea/R (1/T - 1/T_ref)),
    q_ref a ``reference`` value or a ``table`` column; or q = ``prefactor`` exp(-Ea/(R T)).

Solvers use the typed accessors (:meth:`Material.table`, :meth:`Material.tensor`,
:meth:`Material.law`, :meth:`Material.require`) and never parse TOML. Properties are not all
required: :meth:`Material.require` names what a physics needs and what is missing.
:func:`library` is the historical view (materials with the heat set :data:`REQUIRED`, what
the heat pipeline lists and accepts as layers); :func:`catalog` has every material.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from batteryfx.errors import BatteryfxError
from batteryfx.units import to_si

#: Molar gas constant, J/(mol K) (CODATA 2018, exact).
R_GAS = 8.314462618

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
    "shear_modulus": "pressure",
    # particle chemo-mechanics and transport
    "diffusivity": "diffusivity",
    "activation_energy": "activation_energy",
    "max_concentration": "concentration",
    "partial_molar_volume": "molar_volume",
    "molar_volume": "molar_volume",
    "molar_mass": "molar_mass",
    "specific_capacity": "specific_capacity",
    "lattice_a": "lattice_length",
    "lattice_c": "lattice_length",
    "lattice_c_max": "lattice_length",
    "lattice_c_min": "lattice_length",
    "volume_change": "strain",
    # electrolyte transport (binary salt)
    "salt_concentration": "concentration",
    "transference_number": "dimensionless",
    "thermodynamic_factor": "dimensionless",
    "ionic_conductivity": "electrical_conductivity",
}
#: What heat needs of every layer material (the historical meaning: kept for the callers).
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
    "shear_modulus": (1e2, 1e13, "Pa", "gels about 1e2, diamond about 5e11 Pa", False),
    "diffusivity": (1e-25, 1e-5, "m^2/s",
                    "solid-state Li about 1e-20 to 1e-10, liquids about 1e-9 m^2/s", False),
    "activation_energy": (0.0, 1e6, "J/mol", "diffusion and reactions: about 1e3 to 3e5 J/mol",
                          False),
    "max_concentration": (1.0, 1e6, "mol/m^3",
                          "intercalation hosts about 1e4 to 1e5, Li metal 7.7e4 mol/m^3", False),
    "partial_molar_volume": (-1e-4, 1e-4, "m^3/mol",
                             "Li in hosts about -1e-6 to 1e-5 m^3/mol (negative: shrinks)",
                             False),
    "molar_volume": (1e-7, 1e-2, "m^3/mol", "solids about 1e-6 to 1e-4 m^3/mol", False),
    "molar_mass": (1e-3, 10.0, "kg/mol", "formula units about 0.007 to 1 kg/mol", False),
    "specific_capacity": (1e2, 2e7, "C/kg",
                          "1 mAh/g = 3600 C/kg; Li metal 3860 mAh/g = 1.39e7 C/kg", False),
    "lattice_a": (1e-11, 1e-8, "m", "lattice parameters 0.1 to 100 angstrom", False),
    "lattice_c": (1e-11, 1e-8, "m", "lattice parameters 0.1 to 100 angstrom", False),
    "lattice_c_max": (1e-11, 1e-8, "m", "lattice parameters 0.1 to 100 angstrom", False),
    "lattice_c_min": (1e-11, 1e-8, "m", "lattice parameters 0.1 to 100 angstrom", False),
    "volume_change": (-1.0, 10.0, "", "relative volume change (strain), > -1", True),
    "salt_concentration": (1.0, 1e5, "mol/m^3", "liquid electrolytes about 1e2 to 5e3 mol/m^3",
                           False),
    "transference_number": (-1.0, 1.0, "", "Li+ transference numbers -1 < t+ < 1 (usually "
                            "0.2-0.8)", False),
    "thermodynamic_factor": (0.05, 50.0, "", "1 + dln f / dln c: about 0.5-10 in liquid "
                             "electrolytes", False),
    "ionic_conductivity": (1e-8, 1e3, "S/m", "liquid electrolytes about 0.01-5 S/m", False),
}

Basis = Literal["reported", "derived", "computed", "estimate"]

#: Named physics -> what they need of a material (names of properties, tensors, tables or
#: laws; see :meth:`Material.has` for what can stand in for what).
REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "heat": REQUIRED,
    "particle_diffusion": ("diffusivity",),
    "particle_elasticity": ("elastic_stiffness",),
    "isotropic_swelling": ("elastic_stiffness", "partial_molar_volume"),
    "lattice_eigenstrain": ("elastic_stiffness", "lattice"),
    "electrolyte_transport": ("diffusivity", "ionic_conductivity", "transference_number"),
}
#: Entries that scalars can stand in for (used by :meth:`Material.has` and error messages).
STAND_INS: dict[str, tuple[str, ...]] = {
    "elastic_stiffness": ("youngs_modulus", "poissons_ratio"),
}

#: Tensor name -> (dimension of its entries, size of the matrix).
TENSOR_KINDS: dict[str, tuple[str, int]] = {
    "elastic_stiffness": ("pressure", 6),
    "thermal_conductivity": ("conductivity", 3),
}
#: Matrix size -> symmetry -> component names.
SYMMETRIES: dict[int, dict[str, tuple[str, ...]]] = {
    6: {
        "isotropic": ("C11", "C12"),
        "cubic": ("C11", "C12", "C44"),
        "hexagonal": ("C11", "C12", "C13", "C33", "C44"),
        "trigonal": ("C11", "C12", "C13", "C14", "C33", "C44"),
        "orthotropic": ("C11", "C12", "C13", "C22", "C23", "C33", "C44", "C55", "C66"),
        "full": (),
    },
    3: {
        "isotropic": ("k",),
        "transversely_isotropic": ("k11", "k33"),
        "orthotropic": ("k11", "k22", "k33"),
        "full": (),
    },
}

#: Table column base name (before the first ``_``, e.g. ``a_Li2`` -> ``a``) -> dimension.
COLUMN_DIMENSIONS: dict[str, str] = {
    "x": "dimensionless",      # Li per formula unit
    "sto": "dimensionless",    # stoichiometry c / c_max
    "soc": "dimensionless",    # state of charge 0..1
    "fraction": "dimensionless",
    "a": "lattice_length",
    "c": "lattice_length",
    "d": "lattice_length",
    "volume": "volume",        # per formula unit unless the note says otherwise
    "D": "diffusivity",
    "U": "voltage",
    "T": "temperature",
    "strain": "strain",
    "conc": "concentration",   # salt concentration (electrolytes)
    "kappa": "electrical_conductivity",
    "tplus": "dimensionless",
    "tdf": "dimensionless",    # thermodynamic factor 1 + dln f / dln c
}
KEY_COLUMNS = ("x", "sto", "soc", "T", "conc")
#: Known table names -> columns they must have besides the key.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "lattice": ("a", "c"),
    "diffusivity": ("D",),
    "ocv": ("U",),
    "transport": ("D", "kappa"),
}
#: Law name -> dimension of the quantity.
LAW_DIMENSIONS: dict[str, str] = {
    "diffusivity": "diffusivity",
    "electrical_conductivity": "electrical_conductivity",
    "ionic_conductivity": "electrical_conductivity",
    "thermal_conductivity": "conductivity",
}


class MaterialError(BatteryfxError, KeyError):
    """A material lacks what a physics needs, or an accessor was used out of its range.

    A KeyError too (``material["x"]`` on a missing property raised KeyError before), but the
    message is shown as is.
    """

    exit_code = 2

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _convert(value: float, unit: str, dimension: str) -> float:
    text = f"{float(value)!r} {unit}".strip()
    return to_si(text, dimension)


# --------------------------------------------------------------------------- entries
class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str
    note: str = ""
    basis: Basis = "reported"

    @property
    def derived(self) -> bool:
        """True unless the value is as reported by its source."""
        return self.basis != "reported"


class Property(_Entry):
    """One scalar property: the value as written, its unit, the SI value and its source."""

    value: float
    unit: str
    si: float = 0.0


class Value(BaseModel):
    """A number with its unit inside a law (``{ value = 12.05, unit = "kJ/mol" }``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    value: float
    unit: str = ""


class Tensor(_Entry):
    """A material tensor given by its symmetry and independent components (crystal frame)."""

    symmetry: str
    unit: str
    components: dict[str, float] = {}
    matrix: list[list[float]] | None = None
    si: tuple[tuple[float, ...], ...] = ()


class Table(_Entry):
    """A table of columns vs a key column (first column, strictly increasing)."""

    columns: tuple[str, ...]
    units: tuple[str, ...]
    rows: tuple[tuple[float, ...], ...]
    interpolation: Literal["linear", "log"] = "linear"
    si: dict[str, tuple[float, ...]] = {}


class Law(_Entry):
    """A simple law q(x, T): constant or Arrhenius, with its parameters."""

    form: Literal["constant", "arrhenius"]
    reference: Value | None = None
    table: str | None = None
    column: str | None = None
    prefactor: Value | None = None
    activation_energy: Value | None = None
    reference_temperature: Value | None = None


def _build_tensor(name: str, data: dict) -> dict:
    if name not in TENSOR_KINDS:
        raise ValueError(f"unknown tensor {name!r}; allowed: {', '.join(TENSOR_KINDS)}")
    dimension, size = TENSOR_KINDS[name]
    sym = data.get("symmetry")
    allowed = SYMMETRIES[size]
    if sym not in allowed:
        raise ValueError(f"tensors.{name}: symmetry {sym!r}; allowed: {', '.join(allowed)}")
    unit = data.get("unit", "")
    if sym == "full":
        mat = np.asarray(data.get("matrix"), dtype=float)
        if mat.shape != (size, size):
            raise ValueError(f"tensors.{name}: a full tensor needs a {size}x{size} matrix")
    else:
        comps = dict(data.get("components", {}))
        want = allowed[sym]
        if set(comps) != set(want):
            raise ValueError(f"tensors.{name}: symmetry {sym!r} needs components "
                             f"{', '.join(want)} (got {', '.join(sorted(comps)) or 'none'})")
        mat = _assemble(size, sym, comps)
    si = np.array([[_convert(v, unit, dimension) if v else 0.0 for v in row] for row in mat])
    if not np.allclose(si, si.T, rtol=1e-12, atol=0.0):
        raise ValueError(f"tensors.{name}: not symmetric")
    if np.linalg.eigvalsh(si).min() <= 0.0:
        raise ValueError(f"tensors.{name}: not positive definite (an elastic or conduction "
                         "tensor must be)")
    return {**data, "si": tuple(tuple(float(v) for v in row) for row in si)}


def _assemble(size: int, sym: str, c: dict[str, float]) -> np.ndarray:
    """The matrix of a symmetry class from its independent components (in their unit)."""
    m = np.zeros((size, size))
    if size == 3:
        if sym == "isotropic":
            np.fill_diagonal(m, c["k"])
        elif sym == "transversely_isotropic":
            m[0, 0] = m[1, 1] = c["k11"]
            m[2, 2] = c["k33"]
        else:
            m[0, 0], m[1, 1], m[2, 2] = c["k11"], c["k22"], c["k33"]
        return m
    if sym == "orthotropic":
        for (i, j), key in {(0, 0): "C11", (1, 1): "C22", (2, 2): "C33", (0, 1): "C12",
                            (0, 2): "C13", (1, 2): "C23", (3, 3): "C44", (4, 4): "C55",
                            (5, 5): "C66"}.items():
            m[i, j] = m[j, i] = c[key]
        return m
    c11, c12 = c["C11"], c["C12"]
    c13 = c.get("C13", c12)
    c33 = c.get("C33", c11)
    c44 = c.get("C44", (c11 - c12) / 2.0)
    c66 = (c11 - c12) / 2.0 if sym in ("hexagonal", "trigonal", "isotropic") else c44
    m[0, 0] = m[1, 1] = c11
    m[2, 2] = c33
    m[0, 1] = m[1, 0] = c12
    m[0, 2] = m[2, 0] = m[1, 2] = m[2, 1] = c13
    m[3, 3] = m[4, 4] = c44
    m[5, 5] = c66
    if sym == "trigonal":  # Laue class -3m (e.g. R-3m layered oxides), x1 along a 2-fold axis
        c14 = c["C14"]
        m[0, 3] = m[3, 0] = c14
        m[1, 3] = m[3, 1] = -c14
        m[4, 5] = m[5, 4] = c14
    return m


def _build_table(name: str, data: dict) -> dict:
    cols = tuple(data.get("columns", ()))
    units = tuple(data.get("units", ()))
    rows = [tuple(r) for r in data.get("rows", ())]
    where = f"tables.{name}"
    if len(cols) < 2 or len(units) != len(cols):
        raise ValueError(f"{where}: needs columns (key first, then values) and one unit per "
                         "column ('' for dimensionless)")
    if len(set(cols)) != len(cols):
        raise ValueError(f"{where}: repeated column names")
    if cols[0] not in KEY_COLUMNS:
        raise ValueError(f"{where}: the first column is the key, one of {', '.join(KEY_COLUMNS)}")
    for col in cols:
        if col.split("_")[0] not in COLUMN_DIMENSIONS:
            raise ValueError(f"{where}: column {col!r}: unknown kind; allowed (optionally with "
                             f"a _suffix): {', '.join(COLUMN_DIMENSIONS)}")
    missing = [c for c in TABLE_COLUMNS.get(name, ()) if c not in cols]
    if missing:
        raise ValueError(f"{where}: a {name} table needs columns {', '.join(missing)}")
    if len(rows) < 2:
        raise ValueError(f"{where}: needs at least two rows")
    for i, row in enumerate(rows):
        if len(row) != len(cols):
            raise ValueError(f"{where}: row {i} has {len(row)} values for {len(cols)} columns")
    si: dict[str, tuple[float, ...]] = {}
    for j, (col, unit) in enumerate(zip(cols, units, strict=True)):
        dim = COLUMN_DIMENSIONS[col.split("_")[0]]
        si[col] = tuple(_convert(float(r[j]), unit, dim) for r in rows)
    key = np.asarray(si[cols[0]])
    if not np.all(np.diff(key) > 0):
        raise ValueError(f"{where}: the key column {cols[0]!r} must be strictly increasing")
    if data.get("interpolation") == "log":
        for col in cols[1:]:
            if min(si[col]) <= 0.0:
                raise ValueError(f"{where}: log interpolation needs positive values "
                                 f"(column {col!r})")
    return {**data, "si": si}


def _check_law(name: str, law: Law, tables: dict[str, Any]) -> None:
    where = f"laws.{name}"
    if name not in LAW_DIMENSIONS:
        raise ValueError(f"unknown law {name!r}; allowed: {', '.join(LAW_DIMENSIONS)}")
    if law.reference is not None and law.table is not None:
        raise ValueError(f"{where}: give a reference value or a table, not both")
    if law.table is not None:
        if law.table not in tables:
            raise ValueError(f"{where}: no table {law.table!r} in this material")
        column = law.column or _default_column(tables[law.table])
        if column not in tables[law.table]["columns"]:
            raise ValueError(f"{where}: table {law.table!r} has no column {column!r}")
    if law.form == "constant":
        if law.reference is None and law.table is None:
            raise ValueError(f"{where}: a constant law needs a reference value or a table")
        return
    if law.activation_energy is None:
        raise ValueError(f"{where}: an arrhenius law needs activation_energy")
    if law.prefactor is not None:
        if law.reference is not None or law.table is not None:
            raise ValueError(f"{where}: give a prefactor or a reference value/table, not both")
    elif law.reference is None and law.table is None:
        raise ValueError(f"{where}: an arrhenius law needs a prefactor, or a reference value "
                         "or table with reference_temperature")
    elif law.reference_temperature is None:
        raise ValueError(f"{where}: a reference value or table needs reference_temperature")


def _default_column(table: dict) -> str:
    cols = list(table["columns"])
    return cols[1]


# --------------------------------------------------------------------------- accessors
@dataclass(frozen=True)
class TableData:
    """A table in SI: ``t["a"]`` is a column (numpy), ``t("a", x)`` interpolates it."""

    name: str
    material: str
    key: str
    columns: dict[str, np.ndarray]
    source: str
    note: str
    basis: str
    interpolation: str = "linear"

    def __getitem__(self, column: str) -> np.ndarray:
        if column not in self.columns:
            raise MaterialError(f"material {self.material!r}: table {self.name!r} has no column "
                                f"{column!r}; it has {', '.join(self.columns)}")
        return self.columns[column]

    @property
    def domain(self) -> tuple[float, float]:
        """Smallest and largest key value."""
        k = self.columns[self.key]
        return float(k[0]), float(k[-1])

    def __call__(self, column: str, at, extrapolate: bool = False):
        """Column ``column`` at key values ``at`` (SI), piecewise linear (log-linear for
        ``interpolation = "log"``). Outside the table: MaterialError, or the end values with
        ``extrapolate=True``."""
        values = self[column]
        x = np.asarray(at, dtype=float)
        lo, hi = self.domain
        span = hi - lo
        if not extrapolate and (np.any(x < lo - 1e-12 * span) or np.any(x > hi + 1e-12 * span)):
            raise MaterialError(
                f"material {self.material!r}: {self.key} = {_range_text(x)} is outside the "
                f"{self.name!r} table ({lo:.6g} .. {hi:.6g}); the library has no sourced data "
                "there (see the table's note)")
        key = self.columns[self.key]
        if self.interpolation == "log":
            out = np.exp(np.interp(x, key, np.log(values)))
        else:
            out = np.interp(x, key, values)
        return float(out) if out.ndim == 0 else out

    def interpolator(self, column: str, extrapolate: bool = False) -> Callable:
        """``f(at)`` = ``self(column, at, extrapolate)``."""
        self[column]  # fail now on a wrong column
        return lambda at: self(column, at, extrapolate)


def _range_text(x: np.ndarray) -> str:
    return f"{float(x):.6g}" if x.ndim == 0 else f"{x.min():.6g} .. {x.max():.6g}"


@dataclass(frozen=True)
class LawFunction:
    """A law as a callable ``f(x, T)`` in SI (x: key of its table, ignored without a table)."""

    name: str
    material: str
    form: str
    source: str
    note: str
    basis: str
    _base: Callable = field(repr=False)
    activation_energy: float = 0.0
    reference_temperature: float | None = None
    prefactor: float | None = None

    def __call__(self, x=None, T=None):
        if self.form == "constant":
            return self._base(x)
        ea = self.activation_energy
        if self.prefactor is not None:
            if T is None:
                raise MaterialError(f"material {self.material!r}: law {self.name!r} needs a "
                                    "temperature T (prefactor form)")
            return self.prefactor * np.exp(-ea / (R_GAS * np.asarray(T, dtype=float)))
        t_ref = self.reference_temperature
        t = t_ref if T is None else np.asarray(T, dtype=float)
        return self._base(x) * np.exp(-ea / R_GAS * (1.0 / t - 1.0 / t_ref))


# --------------------------------------------------------------------------- material
class Material(BaseModel):
    """A material of the library (or a per-case variant with overridden properties)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str
    category: Literal[
        "metal", "polymer", "electrode", "separator", "electrolyte", "ceramic", "packaging",
        "active_material", "solid_electrolyte",
    ]
    formula: str = ""
    #: What the library lacks for this material and why (missing data, open questions).
    note: str = ""
    properties: dict[str, Property] = {}
    tensors: dict[str, Tensor] = {}
    tables: dict[str, Table] = {}
    laws: dict[str, Law] = {}

    @model_validator(mode="before")
    @classmethod
    def _to_si(cls, data: dict) -> dict:
        props = {}
        for key, prop in dict(data.get("properties", {})).items():
            if key not in PROPERTY_DIMENSIONS:
                raise ValueError(
                    f"unknown property {key!r}; allowed: {', '.join(PROPERTY_DIMENSIONS)}"
                )
            prop = dict(prop) if not isinstance(prop, Property) else prop.model_dump()
            unit = prop.get("unit", "")
            text = f"{prop['value']} {unit}".strip()
            prop["si"] = to_si(text, PROPERTY_DIMENSIONS[key])
            props[key] = prop
        tensors = {k: _build_tensor(k, _plain(v)) for k, v in
                   dict(data.get("tensors", {})).items()}
        tables = {k: _build_table(k, _plain(v)) for k, v in dict(data.get("tables", {})).items()}
        laws = dict(data.get("laws", {}))
        for k, v in laws.items():
            _check_law(k, Law.model_validate(_plain(v)), tables)
        return {**data, "properties": props, "tensors": tensors, "tables": tables,
                "laws": laws}

    # ---- scalars (as before)
    def __getitem__(self, key: str) -> float:
        """SI value of a scalar property."""
        if key not in self.properties:
            raise MaterialError(f"material {self.name!r} has no property {key!r}; it has: "
                                f"{', '.join(self.properties) or 'none'}")
        return self.properties[key].si

    def with_overrides(self, overrides: dict[str, float]) -> Material:
        """A copy with SI values replaced; the source of each says it is a case override."""
        props = dict(self.properties)
        for key, si in overrides.items():
            props[key] = Property(value=si, unit="", source="case file override", si=si)
        return self.model_copy(update={"properties": props})

    # ---- what the material has
    def has(self, name: str) -> bool:
        """True if ``name`` is a property, tensor, table or law of the material, or can be
        made from its scalars (``elastic_stiffness`` from E and nu)."""
        if name in self.properties or name in self.tensors or name in self.tables \
                or name in self.laws:
            return True
        return name in STAND_INS and all(s in self.properties for s in STAND_INS[name])

    def missing(self, names: Iterable[str] | str) -> list[str]:
        """The entries of ``names`` (or of the named physics in REQUIREMENTS) it lacks."""
        return [n for n in _expand(names)[0] if not self.has(n)]

    def require(self, names: Iterable[str] | str, context: str = "") -> Material:
        """Check the material has ``names`` (entry names, or a physics of REQUIREMENTS such
        as ``"heat"``); MaterialError naming the material, the physics and what is missing.
        Returns the material."""
        wanted, physics = _expand(names)
        lacking = [n for n in wanted if not self.has(n)]
        if not lacking:
            return self
        why = context or physics or "this physics"
        parts = []
        for n in lacking:
            alt = STAND_INS.get(n)
            parts.append(f"{n} (or {' and '.join(alt)})" if alt else n)
        have = self.inventory()
        see = " (its note in materials/data says what is missing and why)" if self.note else ""
        raise MaterialError(
            f"material {self.name!r} lacks {', '.join(parts)}, needed by {why}; it has: "
            f"{', '.join(have) or 'nothing'}{see}. Add the missing entries with their source "
            f"to materials/data (a scalar can also be set per case in "
            f"[materials.{self.name}])")

    def inventory(self) -> list[str]:
        """Every entry name with its kind, e.g. ``['density', 'lattice (table)']``."""
        out = list(self.properties)
        out += [f"{k} (tensor)" for k in self.tensors]
        out += [f"{k} (table)" for k in self.tables]
        out += [f"{k} (law)" for k in self.laws]
        return out

    def entries(self) -> Iterator[tuple[str, str, Any]]:
        """(kind, name, entry) for every entry: kind is property, tensor, table or law."""
        for kind, group in (("property", self.properties), ("tensor", self.tensors),
                            ("table", self.tables), ("law", self.laws)):
            for name, entry in group.items():
                yield kind, name, entry

    def describe(self) -> list[str]:
        """Lines describing every entry with its value(s), SI unit, basis, source and note
        (what ``batteryfx materials NAME`` can print)."""
        out = [f"{self.name} ({self.category}{', ' + self.formula if self.formula else ''}): "
               f"{self.description}"]
        for kind, name, e in self.entries():
            if kind == "property":
                head = f"{name} = {e.value:g} {e.unit}  (SI {e.si:.6g})"
            elif kind == "tensor":
                head = f"{name}: {e.symmetry} tensor, {e.unit}"
            elif kind == "table":
                key = e.si[e.columns[0]]
                head = (f"{name}: table of {', '.join(e.columns[1:])} vs {e.columns[0]} "
                        f"{key[0]:g}..{key[-1]:g} ({len(e.rows)} rows)")
            else:
                head = f"{name}: {e.form} law" + (f" of table {e.table!r}" if e.table else "")
            if e.basis != "reported":
                head += f"  [{e.basis}]"
            out.append(f"  {head}")
            out.append(f"      source: {e.source}")
            if e.note:
                out.append(f"      note: {e.note}")
        if self.note:
            out.append(f"  note: {self.note}")
        return out

    def estimates(self) -> list[str]:
        """Names of entries whose basis is ``estimate`` (a solver may warn about them)."""
        return [name for _, name, e in self.entries() if e.basis == "estimate"]

    # ---- typed accessors for solvers
    def tensor(self, name: str) -> np.ndarray:
        """SI matrix of a tensor (6x6 Voigt stiffness, 3x3 conductivity), crystal frame.

        Without a tensor entry: ``elastic_stiffness`` is the isotropic one from
        ``youngs_modulus`` and ``poissons_ratio``; ``thermal_conductivity`` is diagonal with
        ``thermal_conductivity`` along z (through-plane) and ``thermal_conductivity_in_plane``
        (or the same) along x and y."""
        if name in self.tensors:
            return np.array(self.tensors[name].si)
        if name == "elastic_stiffness":
            self.require(STAND_INS[name], context="an isotropic elastic_stiffness")
            return isotropic_stiffness(self["youngs_modulus"], self["poissons_ratio"])
        if name == "thermal_conductivity" and name in self.properties:
            k = self["thermal_conductivity"]
            k_in = self.properties.get("thermal_conductivity_in_plane")
            return np.diag([k_in.si if k_in else k, k_in.si if k_in else k, k])
        if name not in TENSOR_KINDS:
            raise MaterialError(f"unknown tensor {name!r}; allowed: {', '.join(TENSOR_KINDS)}")
        self.require([name], context=f"a solver asking for the {name!r} tensor")
        raise AssertionError("unreachable")  # pragma: no cover

    def table(self, name: str) -> TableData:
        """A table in SI with its interpolator (see :class:`TableData`)."""
        if name not in self.tables:
            self.require([name], context=f"a solver asking for the {name!r} table")
        t = self.tables[name]
        return TableData(name=name, material=self.name, key=t.columns[0],
                         columns={k: np.asarray(v) for k, v in t.si.items()},
                         source=t.source, note=t.note, basis=t.basis,
                         interpolation=t.interpolation)

    def law(self, name: str) -> LawFunction:
        """A law as ``f(x, T)`` in SI. Without a law entry: a scalar property of that name
        (constant) or a table of that name (its first value column vs the key, T ignored)."""
        if name in self.laws:
            law = self.laws[name]
            dim = LAW_DIMENSIONS[name]
            if law.table is not None:
                tab = self.table(law.table)
                col = law.column or list(tab.columns)[1]
                base = tab.interpolator(col)
            elif law.reference is not None:
                ref = _convert(law.reference.value, law.reference.unit, dim)
                base = _constant(ref)
            else:
                base = _constant(float("nan"))
            ea = law.activation_energy
            t_ref = law.reference_temperature
            pre = law.prefactor
            return LawFunction(
                name=name, material=self.name, form=law.form, source=law.source,
                note=law.note, basis=law.basis, _base=base,
                activation_energy=_convert(ea.value, ea.unit, "activation_energy") if ea else 0.0,
                reference_temperature=(_convert(t_ref.value, t_ref.unit, "temperature")
                                       if t_ref else None),
                prefactor=_convert(pre.value, pre.unit, dim) if pre else None)
        if name in self.properties:
            p = self.properties[name]
            return LawFunction(name=name, material=self.name, form="constant", source=p.source,
                               note=p.note, basis=p.basis, _base=_constant(p.si))
        if name in self.tables:
            tab = self.table(name)
            return LawFunction(name=name, material=self.name, form="constant",
                               source=tab.source, note=tab.note, basis=tab.basis,
                               _base=tab.interpolator(list(tab.columns)[1]))
        self.require([name], context=f"a solver asking for the {name!r} law")
        raise AssertionError("unreachable")  # pragma: no cover

    def lattice_strain(self, x, reference: float | None = None,
                       table: str = "lattice") -> tuple[np.ndarray, np.ndarray]:
        """(eps_a, eps_c) = (a(x)/a(x_ref) - 1, c(x)/c(x_ref) - 1) from a lattice table;
        ``reference`` defaults to the table's first key value. The crystal-frame eigenstrain
        is diag(eps_a, eps_a, eps_c)."""
        tab = self.table(table)
        x_ref = tab.domain[0] if reference is None else reference
        return (np.asarray(tab("a", x)) / tab("a", x_ref) - 1.0,
                np.asarray(tab("c", x)) / tab("c", x_ref) - 1.0)

    def lattice_eigenstrain(self, x, reference: float | None = None,
                            table: str = "lattice") -> np.ndarray:
        """Crystal-frame eigenstrain tensor(s) diag(eps_a, eps_a, eps_c) at ``x``: shape
        (3, 3), or (..., 3, 3) for an array of x (``two_phase`` tables: phase-weighted)."""
        if "a" in self.table(table).columns:
            eps_a, eps_c = self.lattice_strain(x, reference, table)
        else:
            eps_a, eps_c = self.phase_strain(x, table)
        eps_a, eps_c = np.broadcast_arrays(np.asarray(eps_a, float), np.asarray(eps_c, float))
        out = np.zeros(eps_a.shape + (3, 3))
        out[..., 0, 0] = out[..., 1, 1] = eps_a
        out[..., 2, 2] = eps_c
        return out

    def strain_points(self, table: str = "lattice", reference: float | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(key, eps_a, eps_c) at the rows of a ``lattice`` table (a, c columns) or a
        ``two_phase`` table (phase-weighted, see :meth:`phase_strain`): the points of a
        piecewise-linear eigenstrain law, e.g. for the chemo-mechanics solver's tables (which
        take x = c / c_max: rescale the key with the material's molar volume)."""
        tab = self.table(table)
        key = tab[tab.key]
        if "a" in tab.columns:
            eps_a, eps_c = self.lattice_strain(key, reference, table)
        else:
            if reference is not None:
                raise MaterialError("phase-weighted strains are relative to a phase, not to a "
                                    "key value: use phase_strain(x, reference=PHASE)")
            eps_a, eps_c = self.phase_strain(key, table)
        return key.copy(), np.asarray(eps_a), np.asarray(eps_c)

    def phase_strain(self, x, table: str = "two_phase",
                     reference: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Phase-fraction-weighted (eps_a, eps_c) of a two-phase table with columns
        ``fraction_P`` and ``a_P``, ``c_P`` per phase P (a phase without a fraction column
        takes the rest); strains relative to the ``reference`` phase (default: the first)."""
        tab = self.table(table)
        phases = [c[2:] for c in tab.columns if c.startswith("a_")]
        if not phases:
            raise MaterialError(f"material {self.name!r}: table {table!r} has no a_PHASE "
                                "columns")
        ref = reference or phases[0]
        x = np.asarray(x, dtype=float)
        given = {p: np.asarray(tab(f"fraction_{p}", x)) for p in phases
                 if f"fraction_{p}" in tab.columns}
        rest = [p for p in phases if p not in given]
        if len(rest) > 1:
            raise MaterialError(f"material {self.name!r}: table {table!r} lacks fraction "
                                f"columns for {', '.join(rest[1:])}")
        fractions = dict(given)
        if rest:
            fractions[rest[0]] = 1.0 - sum(given.values())
        eps_a = sum(f * (tab(f"a_{p}", x) / tab(f"a_{ref}", x) - 1.0)
                    for p, f in fractions.items())
        eps_c = sum(f * (tab(f"c_{p}", x) / tab(f"c_{ref}", x) - 1.0)
                    for p, f in fractions.items())
        return np.asarray(eps_a), np.asarray(eps_c)


def _plain(value: Any) -> dict:
    return value.model_dump() if isinstance(value, BaseModel) else dict(value)


def _constant(value: float) -> Callable:
    def base(x=None):
        return value if x is None else np.full(np.shape(x), value) if np.ndim(x) else value
    return base


def _expand(names: Iterable[str] | str) -> tuple[list[str], str]:
    """Entry names of ``names`` (a physics of REQUIREMENTS, one name, or names) and the
    physics it was, if any."""
    if isinstance(names, str):
        if names in REQUIREMENTS:
            return list(REQUIREMENTS[names]), names.replace("_", " ")
        return [names], ""
    return list(names), ""


def isotropic_stiffness(youngs_modulus: float, poissons_ratio: float) -> np.ndarray:
    """6x6 Voigt stiffness (order 11, 22, 33, 23, 13, 12; engineering shear) of an isotropic
    solid: lambda = E nu / ((1 + nu)(1 - 2 nu)), mu = E / (2 (1 + nu))."""
    e, nu = youngs_modulus, poissons_ratio
    if not (-1.0 < nu < 0.5) or e <= 0.0 or not math.isfinite(e):
        raise MaterialError(f"an isotropic stiffness needs E > 0 and -1 < nu < 0.5 (got E = "
                            f"{e:.6g} Pa, nu = {nu:.6g})")
    lam = e * nu / ((1.0 + nu) * (1.0 - 2.0 * nu))
    mu = e / (2.0 * (1.0 + nu))
    c = np.zeros((6, 6))
    c[:3, :3] = lam
    c[np.arange(3), np.arange(3)] = lam + 2.0 * mu
    c[np.arange(3, 6), np.arange(3, 6)] = mu
    return c


# --------------------------------------------------------------------------- the library
@cache
def catalog() -> dict[str, Material]:
    """Every material of the library, by name (whatever physics it serves)."""
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
            if mat.name in out:
                raise RuntimeError(f"materials/data/{entry.name}: material name {mat.name!r} "
                                   "used twice")
            out[mat.name] = mat
    return out


@cache
def library() -> dict[str, Material]:
    """Materials with the heat set :data:`REQUIRED` (scalars), by name: what heat callers
    list and accept as layers (the meaning ``library()`` always had). See :func:`catalog`."""
    return {n: m for n, m in catalog().items() if all(k in m.properties for k in REQUIRED)}


def materials_for(physics: str) -> dict[str, Material]:
    """Materials that have what ``physics`` (a key of REQUIREMENTS) needs."""
    return {n: m for n, m in catalog().items() if not m.missing(physics)}


def resolve(name: str, overrides: dict[str, float] | None = None) -> Material:
    """The named library material with per-case overrides (SI values) applied."""
    lib = catalog()
    if name not in lib:
        raise MaterialError(f"unknown material {name!r}; the library has: "
                            f"{', '.join(sorted(lib))}")
    mat = lib[name]
    return mat.with_overrides(overrides) if overrides else mat
