"""Materials library beyond scalars: tensors, tables, laws, require(), the particle materials."""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pytest

from batteryfx.materials import (
    REQUIRED,
    REQUIREMENTS,
    Material,
    MaterialError,
    catalog,
    isotropic_stiffness,
    library,
    materials_for,
    resolve,
)
from batteryfx.materials.library import R_GAS, TABLE_COLUMNS
from batteryfx.units import to_si

ANGSTROM = 1e-10
PARTICLE_MATERIALS = ["NCM523", "NCM811", "LRLO", "LiMn2O4", "LLZO", "Li6PS5Cl"]


def _base(**extra) -> dict:
    return {"name": "test", "description": "test material", "category": "ceramic", **extra}


def _hex_stiffness(**kw) -> dict:
    comps = {"C11": 200.0, "C12": 60.0, "C13": 50.0, "C33": 150.0, "C44": 40.0, **kw}
    return {"elastic_stiffness": {"symmetry": "hexagonal", "unit": "GPa", "components": comps,
                                  "source": "synthetic numbers for a unit test, not a material"}}


# --------------------------------------------------------------------------- data files
def test_every_data_file_loads():
    files = [e for e in (resources.files("batteryfx.materials") / "data").iterdir()
             if e.name.endswith(".toml")]
    assert len(catalog()) == len(files)
    assert set(PARTICLE_MATERIALS) <= set(catalog())


@pytest.mark.parametrize("name", sorted(catalog()))
def test_every_entry_sourced(name):
    mat = catalog()[name]
    for kind, key, entry in mat.entries():
        assert len(entry.source) > 20, (name, kind, key)
        if entry.basis == "estimate":
            assert "estimate" in entry.source.lower(), (name, key)
        if entry.basis == "derived":
            assert "derived" in entry.source.lower(), (name, key)


def test_library_keeps_its_heat_meaning():
    """library() = the materials with the heat set (what heat callers list and accept)."""
    lib = library()
    for mat in lib.values():
        assert all(k in mat.properties for k in REQUIRED)
        mat.require("heat")
    assert not set(PARTICLE_MATERIALS) & set(lib)
    # a material with part of the thermal set is most likely a typo in its file
    for mat in catalog().values():
        thermal = {"specific_heat", "thermal_conductivity"} & set(mat.properties)
        assert not thermal or mat.name in lib, mat.name


def test_table_keys_monotone_and_known_tables_complete():
    for mat in catalog().values():
        for name in mat.tables:
            tab = mat.table(name)
            assert np.all(np.diff(tab[tab.key]) > 0), (mat.name, name)
            assert all(np.all(np.isfinite(v)) for v in tab.columns.values())
            for col in TABLE_COLUMNS.get(name, ()):
                assert col in tab.columns


def test_units_converted_to_si():
    ncm = catalog()["NCM523"]
    lat = ncm.table("lattice")
    assert lat("a", 1.0) == pytest.approx(2.87 * ANGSTROM)
    assert lat("c", 2.0) == pytest.approx(15.321 * ANGSTROM)
    assert lat("volume", 1.0) == pytest.approx(33.679 * ANGSTROM**3)
    assert ncm["specific_capacity"] == pytest.approx(277.6 * 3.6e3)  # mAh/g -> C/kg
    assert ncm["molar_mass"] == pytest.approx(0.096554)
    n811 = catalog()["NCM811"]
    assert n811["lattice_c_max"] == pytest.approx(14.467e-10)
    assert n811["volume_change"] == pytest.approx(-0.051)
    assert n811.law("diffusivity").activation_energy == pytest.approx(12050.0)
    assert catalog()["LLZO"]["youngs_modulus"] == pytest.approx(149.8e9)
    assert catalog()["LRLO"]["electrical_conductivity"] == pytest.approx(1e-6)
    assert to_si("2.87 angstrom", "lattice_length") == pytest.approx(2.87e-10)
    assert to_si("8.2 percent", "strain") == pytest.approx(0.082)
    assert to_si("12 kJ/mol", "activation_energy") == pytest.approx(12000.0)
    assert to_si("2.29e4 mol/m^3", "concentration") == pytest.approx(2.29e4)


# --------------------------------------------------------------------------- tensors
@pytest.mark.parametrize("name", sorted(materials_for("particle_elasticity")))
def test_stiffness_symmetric_positive_definite(name):
    c = catalog()[name].tensor("elastic_stiffness")
    assert c.shape == (6, 6)
    assert np.allclose(c, c.T)
    assert np.linalg.eigvalsh(c).min() > 0


@pytest.mark.parametrize("e, nu", [(10e9, 0.3), (149.8e9, 0.257), (2.5e9, 0.34), (1e9, -0.2)])
def test_isotropic_stiffness_matches_formula(e, nu):
    c = isotropic_stiffness(e, nu)
    lam, mu = e * nu / ((1 + nu) * (1 - 2 * nu)), e / (2 * (1 + nu))
    assert c[0, 0] == pytest.approx(lam + 2 * mu) and c[0, 1] == pytest.approx(lam)
    assert c[3, 3] == pytest.approx(mu) and c[0, 3] == 0.0
    s = np.linalg.inv(c)  # compliance: 1/E, -nu/E, 1/G with engineering shear strains
    assert s[0, 0] == pytest.approx(1 / e) and s[0, 1] == pytest.approx(-nu / e)
    assert s[5, 5] == pytest.approx(2 * (1 + nu) / e)


def test_isotropic_stiffness_of_a_material_uses_its_scalars_and_overrides():
    lmo = catalog()["LiMn2O4"]
    assert np.allclose(lmo.tensor("elastic_stiffness"), isotropic_stiffness(10e9, 0.3))
    stiffer = resolve("LiMn2O4", {"youngs_modulus": 20e9})
    assert stiffer.tensor("elastic_stiffness")[0, 0] == pytest.approx(
        2 * lmo.tensor("elastic_stiffness")[0, 0])


def test_hexagonal_and_trigonal_tensors():
    mat = Material.model_validate(_base(tensors=_hex_stiffness()))
    c = mat.tensor("elastic_stiffness")
    assert c[0, 0] == pytest.approx(200e9) and c[2, 2] == pytest.approx(150e9)
    assert c[5, 5] == pytest.approx((200e9 - 60e9) / 2) and c[0, 2] == pytest.approx(50e9)
    assert np.allclose(c, c.T)
    trig = _hex_stiffness(C14=10.0)
    trig["elastic_stiffness"]["symmetry"] = "trigonal"
    ct = Material.model_validate(_base(tensors=trig)).tensor("elastic_stiffness")
    assert ct[0, 3] == pytest.approx(10e9) and ct[1, 3] == pytest.approx(-10e9)
    assert ct[4, 5] == pytest.approx(10e9) and np.allclose(ct, ct.T)


def test_conductivity_tensor_and_scalar_fallback():
    k = {"thermal_conductivity": {"symmetry": "transversely_isotropic", "unit": "W/(m*K)",
                                  "components": {"k11": 54.0, "k33": 0.14},
                                  "source": "synthetic numbers for a unit test, not a material"}}
    mat = Material.model_validate(_base(tensors=k))
    assert np.allclose(mat.tensor("thermal_conductivity"), np.diag([54.0, 54.0, 0.14]))
    cu = catalog()["Cu"]
    assert np.allclose(cu.tensor("thermal_conductivity"), np.eye(3) * cu["thermal_conductivity"])


@pytest.mark.parametrize("tensors, message", [
    (_hex_stiffness(C12=250.0), "positive definite"),
    ({"elastic_stiffness": {"symmetry": "hexagonal", "unit": "GPa",
                            "components": {"C11": 1.0}, "source": "x" * 30}}, "needs components"),
    ({"elastic_stiffness": {"symmetry": "monoclinic", "unit": "GPa", "components": {},
                            "source": "x" * 30}}, "allowed"),
    ({"stiffness": {"symmetry": "isotropic", "unit": "GPa", "components": {},
                    "source": "x" * 30}}, "unknown tensor"),
])
def test_bad_tensors_rejected(tensors, message):
    with pytest.raises(ValueError, match=message):
        Material.model_validate(_base(tensors=tensors))


# --------------------------------------------------------------------------- tables, laws
def _table(rows, **kw) -> dict:
    return {"lattice": {"columns": ["x", "a", "c"], "units": ["", "angstrom", "angstrom"],
                        "rows": rows, "source": "synthetic numbers for a unit test", **kw}}


@pytest.mark.parametrize("tables, message", [
    (_table([[1.0, 2.8, 14.2], [0.5, 2.8, 14.4]]), "strictly increasing"),
    (_table([[1.0, 2.8, 14.2]]), "at least two rows"),
    (_table([[1.0, 2.8], [2.0, 2.9]]), "row 0"),
    ({"lattice": {"columns": ["x", "a"], "units": ["", "angstrom"], "rows": [[0, 1], [1, 1]],
                  "source": "x" * 30}}, "needs columns c"),
    ({"lattice": {"columns": ["x", "a", "c"], "units": ["", "kg", "angstrom"],
                  "rows": [[0, 1, 1], [1, 1, 1]], "source": "x" * 30}}, "wrong dimension"),
])
def test_bad_tables_rejected(tables, message):
    with pytest.raises(ValueError, match=message):
        Material.model_validate(_base(tables=tables))


def test_table_interpolation_and_range():
    lat = catalog()["NCM523"].table("lattice")
    assert lat.domain == (1.0, 2.0)
    assert lat("a", 1.35) == pytest.approx((lat("a", 1.0) + lat("a", 1.7)) / 2)
    assert np.allclose(lat("c", [1.0, 2.0]), lat["c"][[0, -1]])
    with pytest.raises(MaterialError, match="outside the 'lattice' table"):
        lat("a", 0.7)  # the delithiated range has no sourced numbers yet
    assert lat("a", 0.7, extrapolate=True) == pytest.approx(lat("a", 1.0))
    with pytest.raises(MaterialError, match="no column 'b'"):
        lat["b"]


def test_arrhenius_law_from_table():
    n811 = catalog()["NCM811"]
    d = n811.law("diffusivity")
    tab = n811.table("diffusivity")
    assert d(0.5, 298.15) == pytest.approx(tab("D", 0.5))
    assert d(0.5) == pytest.approx(tab("D", 0.5))  # T defaults to the reference temperature
    ratio = d(0.5, 318.15) / d(0.5, 298.15)
    assert ratio == pytest.approx(math.exp(12050.0 / R_GAS * (1 / 298.15 - 1 / 318.15)))
    assert d([0.3, 0.8], 298.15).shape == (2,)
    # log-linear between points: the geometric mean half way
    x0, x1 = 0.30, 0.31
    assert tab("D", 0.305) == pytest.approx(math.sqrt(tab("D", x0) * tab("D", x1)))


def test_constant_and_prefactor_laws():
    lmo = catalog()["LiMn2O4"]
    assert lmo.law("diffusivity")(0.3, 350.0) == pytest.approx(7.08e-15)  # scalar stand-in
    law = {"diffusivity": {"form": "arrhenius", "prefactor": {"value": 1e-6, "unit": "m^2/s"},
                           "activation_energy": {"value": 50.0, "unit": "kJ/mol"},
                           "source": "synthetic numbers for a unit test"}}
    d = Material.model_validate(_base(laws=law)).law("diffusivity")
    assert d(None, 300.0) == pytest.approx(1e-6 * math.exp(-50e3 / (R_GAS * 300.0)))
    with pytest.raises(MaterialError, match="needs a temperature"):
        d(0.5)
    bad = {"diffusivity": {"form": "arrhenius", "reference": {"value": 1e-14, "unit": "m^2/s"},
                           "activation_energy": {"value": 50.0, "unit": "kJ/mol"},
                           "source": "synthetic numbers for a unit test"}}
    with pytest.raises(ValueError, match="reference_temperature"):
        Material.model_validate(_base(laws=bad))


# --------------------------------------------------------------------------- NCM523 physics
def test_ncm523_over_lithiation_matches_physics_notes():
    """shared/PHYSICS.md A.2: interlayer +8.2 %, a +7.6 %, volume Li1.0 -> Li2.0 +24-27 %."""
    ncm = catalog()["NCM523"]
    lat = ncm.table("lattice")
    dv = lat("volume", 2.0) / lat("volume", 1.0) - 1.0
    assert 0.24 <= dv <= 0.27
    eps_a, eps_c = ncm.lattice_strain(2.0, reference=1.0)
    assert eps_a == pytest.approx(0.076, abs=0.002) and eps_c == pytest.approx(0.082, abs=0.002)
    # volume column consistent with a, c (three-layer hexagonal cell, Z = 3) at the end phases
    for x in (1.0, 2.0):
        v = math.sqrt(3) / 2 * lat("a", x) ** 2 * lat("c", x) / 3
        assert lat("volume", x) == pytest.approx(v, rel=1e-3)
    # lever rule: 70 % Li2 at Li1.7, and the phase-weighted strain at the ends
    tp = ncm.table("two_phase")
    assert tp("fraction_Li2", 1.7) == pytest.approx(0.7)
    assert np.allclose(ncm.phase_strain(2.0), (eps_a, eps_c))
    assert np.allclose(ncm.phase_strain(1.0), (0.0, 0.0))
    # the partial molar volume is the slope of the molar volume over the two-phase range
    na = 6.02214076e23
    omega = na * (lat("volume", 2.0) - lat("volume", 1.0))
    assert ncm["partial_molar_volume"] == pytest.approx(omega, rel=1e-3)
    assert ncm["molar_volume"] == pytest.approx(na * lat("volume", 1.0), rel=1e-3)


def test_estimates_are_listed():
    assert set(catalog()["NCM523"].estimates()) == {"youngs_modulus", "poissons_ratio"}
    assert catalog()["LLZO"].estimates() == []


# --------------------------------------------------------------------------- require()
def test_require_names_material_missing_entry_and_physics():
    with pytest.raises(MaterialError) as err:
        catalog()["LRLO"].require(["diffusivity", "molar_mass"], context="particle stress")
    text = str(err.value)
    assert "'LRLO'" in text and "diffusivity" in text and "particle stress" in text
    assert "molar_mass" not in text.split("needed by")[0]  # it has that one
    assert isinstance(err.value, KeyError)  # old callers catching KeyError still work
    with pytest.raises(MaterialError, match="lattice eigenstrain"):
        catalog()["LRLO"].require("lattice_eigenstrain")
    with pytest.raises(MaterialError, match=r"'NCM523' lacks specific_heat, thermal_conduct"):
        catalog()["NCM523"].require("heat")
    with pytest.raises(MaterialError, match="has no property 'specific_heat'"):
        catalog()["NCM523"]["specific_heat"]


def test_require_passes_and_stand_ins():
    ncm = catalog()["NCM523"]
    assert ncm.require("lattice_eigenstrain") is ncm
    assert ncm.has("elastic_stiffness") and "elastic_stiffness" not in ncm.tensors
    assert catalog()["Cu"].require("heat").name == "Cu"
    assert set(REQUIREMENTS["heat"]) == set(REQUIRED)
    assert "NCM523" in materials_for("lattice_eigenstrain")
    assert "LRLO" not in materials_for("lattice_eigenstrain")
    assert "LiMn2O4" in materials_for("isotropic_swelling")


def test_resolve_unknown_material():
    with pytest.raises(MaterialError, match="unknown material 'unobtainium'"):
        resolve("unobtainium")


def test_strain_points_for_solver_tables():
    ncm = catalog()["NCM523"]
    x, ea, ec = ncm.strain_points("lattice")
    assert np.allclose(x, [1.0, 1.7, 2.0]) and ea[0] == 0.0 and ec[0] == 0.0
    x2, ea2, ec2 = ncm.strain_points("two_phase")
    assert np.allclose(x2, [1.0, 2.0])
    assert np.allclose([ea2[-1], ec2[-1]], [ea[-1], ec[-1]])


def test_scalars_within_override_bounds_and_describe():
    from batteryfx.materials.library import PROPERTY_BOUNDS, PROPERTY_DIMENSIONS

    assert set(PROPERTY_BOUNDS) == set(PROPERTY_DIMENSIONS)
    for mat in catalog().values():
        for key, prop in mat.properties.items():
            lo, hi, _, _, strict = PROPERTY_BOUNDS[key]
            assert (lo < prop.si < hi) if strict else (lo <= prop.si <= hi), (mat.name, key)
        text = "\n".join(mat.describe())
        assert mat.name in text and all(name in text for _, name, _ in mat.entries())


def test_lattice_eigenstrain_tensor():
    ncm = catalog()["NCM523"]
    e = ncm.lattice_eigenstrain(2.0)
    eps_a, eps_c = ncm.lattice_strain(2.0)
    assert e.shape == (3, 3) and np.allclose(e, np.diag([eps_a, eps_a, eps_c]))
    assert ncm.lattice_eigenstrain([1.0, 1.5, 2.0]).shape == (3, 3, 3)
    assert np.allclose(ncm.lattice_eigenstrain(2.0, table="two_phase"), e)
