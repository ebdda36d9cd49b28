"""The materials library: every property has a unit and a source, values in sane SI ranges."""

from __future__ import annotations

import pytest

from batteryfx.materials import library, resolve

REQUIRED = ["Cu", "Al", "Ag", "polyimide", "Li", "separator_wet", "NCM811_composite",
            "electrolyte_LiPF6_EC_DMC"]


def test_required_materials_present():
    assert set(REQUIRED) <= set(library())


@pytest.mark.parametrize("name", sorted(library()))
def test_every_property_sourced(name):
    mat = library()[name]
    for key, prop in mat.properties.items():
        assert len(prop.source) > 20, (name, key)
        assert prop.si > 0 or key == "poissons_ratio", (name, key)


def test_values_against_physics_notes():
    """Spot checks against shared/PHYSICS.md B (lit. ranges)."""
    lib = library()
    assert 398 <= lib["Cu"]["thermal_conductivity"] <= 401
    assert lib["polyimide"]["thermal_conductivity"] == pytest.approx(0.12)
    assert lib["Ag"]["density"] == pytest.approx(10500, rel=0.01)
    # homogenised PI-Ag (0.5/7/0.5 um): k_in ~ 54, k_through ~ 0.14 W/(m K)
    k_ag, k_pi = lib["Ag"]["thermal_conductivity"], lib["polyimide"]["thermal_conductivity"]
    k_in = (k_ag * 1.0 + k_pi * 7.0) / 8.0
    k_through = 8.0 / (1.0 / k_ag + 7.0 / k_pi)
    assert k_in == pytest.approx(54, rel=0.02) and k_through == pytest.approx(0.137, rel=0.02)


def test_override():
    mat = resolve("Cu", {"thermal_conductivity": 100.0})
    assert mat["thermal_conductivity"] == 100.0
    assert "override" in mat.properties["thermal_conductivity"].source
    assert library()["Cu"]["thermal_conductivity"] != 100.0
