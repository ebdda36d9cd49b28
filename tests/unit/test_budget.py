"""Cell budget (batteryfx.budget): masses, fractions, Wh/kg and Wh/L against hand-computed
numbers; input checks."""

from __future__ import annotations

import pytest

from batteryfx.budget import BudgetLayer, areal_capacity_to_Ah, cell_budget


def _layers():
    # cathode: 3000 kg/m^3 x 50 um x 0.01 m^2 x 2 = 3.0 g
    # Cu:      9000 kg/m^3 x 10 um x 0.01 m^2 x 1 = 0.9 g
    # separator: 500 kg/m^3 x 20 um x 0.012 m^2 x 2 = 0.24 g
    return [
        BudgetLayer("coating", "cathode_active", "NCM", 50e-6, 0.01, 3000.0, 2),
        BudgetLayer("Cu", "anode_collector", "Cu", 10e-6, 0.01, 9000.0),
        BudgetLayer("sep", "separator", "PE", 20e-6, 0.012, 500.0, 2),
    ]


def test_layer_mass_and_volume():
    layer = BudgetLayer("Cu", "anode_collector", "Cu", 10e-6, 0.01, 8960.0, 3)
    assert layer.mass_kg == pytest.approx(3 * 8960.0 * 10e-6 * 0.01, rel=1e-14)  # 2.688 g
    assert layer.mass_kg == pytest.approx(2.688e-3, rel=1e-12)
    assert layer.volume_m3 == pytest.approx(3e-7, rel=1e-12)
    assert layer.areal_mass_kg_m2 == pytest.approx(0.0896, rel=1e-12)  # 8.96 mg/cm^2


def test_budget_hand_computed():
    """2 Ah x 3.7 V = 7.4 Wh over 3.0 + 0.9 + 0.24 + 1.86 (electrolyte) = 6.0 g = 1233.3 Wh/kg;
    stacked volume 1.0 + 0.1 + 0.48 cm^3 = 1.58 cm^3 (electrolyte not counted) = 4683.5 Wh/L."""
    out = cell_budget(_layers(), capacity_Ah=2.0, nominal_voltage_V=3.7,
                      extra_mass_kg={"electrolyte": 1.86e-3})
    m = out["mass_kg"]
    assert m["cathode_active"] == pytest.approx(3.0e-3, rel=1e-12)
    assert m["anode_collector"] == pytest.approx(0.9e-3, rel=1e-12)
    assert m["separator"] == pytest.approx(0.24e-3, rel=1e-12)
    assert m["electrolyte"] == pytest.approx(1.86e-3, rel=1e-12)
    assert m["total"] == pytest.approx(6.0e-3, rel=1e-12)
    frac = out["mass_fraction"]
    assert frac == pytest.approx({"cathode_active": 0.5, "anode_collector": 0.15,
                                  "separator": 0.04, "electrolyte": 0.31}, rel=1e-12)
    assert sum(frac.values()) == pytest.approx(1.0, rel=1e-14)
    assert out["energy_Wh"] == pytest.approx(7.4, rel=1e-14)
    assert out["capacity_Ah"] == 2.0
    assert out["specific_energy_Wh_per_kg"] == pytest.approx(7.4 / 6.0e-3, rel=1e-12)
    assert out["specific_energy_Wh_per_kg"] == pytest.approx(1233.33, abs=0.01)
    assert out["volume_L"] == pytest.approx(1.58e-3, rel=1e-12)
    assert out["energy_density_Wh_per_L"] == pytest.approx(7.4 / 1.58e-3, rel=1e-12)
    assert any("stacked volume" in s for s in out["assumptions"])


def test_outer_dimensions_and_tabs():
    """Outer dimensions 100 x 100 x 2 mm = 0.02 L -> 370 Wh/L; a tab adds mass, not volume;
    extra mass of an existing component adds to it."""
    layers = _layers() + [BudgetLayer("tab", "tab", "Al", 0.1e-3, 4e-4, 2700.0)]
    out = cell_budget(layers, capacity_Ah=2.0, nominal_voltage_V=3.7,
                      extra_mass_kg={"electrolyte": 1.86e-3, "tab": 0.05e-3},
                      outer_dimensions_m=(0.1, 0.1, 0.002))
    assert out["volume_L"] == pytest.approx(0.02, rel=1e-12)
    assert out["energy_density_Wh_per_L"] == pytest.approx(370.0, rel=1e-12)
    assert out["mass_kg"]["tab"] == pytest.approx(2700 * 0.1e-3 * 4e-4 + 0.05e-3, rel=1e-12)
    stacked = cell_budget(layers, capacity_Ah=2.0, nominal_voltage_V=3.7)
    assert stacked["volume_L"] == pytest.approx(1.58e-3, rel=1e-12)  # tab not counted


def test_areal_capacity_to_Ah():
    assert areal_capacity_to_Ah(1.0, 1e-4, 1) == pytest.approx(1e-3, rel=1e-14)  # 1 mAh
    # 26 double-sided 86 x 56 mm cathodes at 4 mAh/cm^2: 4 x 48.16 x 52 / 1000
    assert areal_capacity_to_Ah(4.0, 0.086 * 0.056, 52) == pytest.approx(10.01728, rel=1e-12)
    with pytest.raises(ValueError):
        areal_capacity_to_Ah(-1.0, 1e-4, 1)


@pytest.mark.parametrize("field, value", [("thickness_m", 0.0), ("area_m2", -1.0),
                                          ("density_kg_m3", float("nan")), ("count", 0),
                                          ("count", 1.5), ("component", "")])
def test_bad_layer(field, value):
    args = {"name": "x", "component": "separator", "material": "PE", "thickness_m": 1e-5,
            "area_m2": 1e-2, "density_kg_m3": 900.0, "count": 1, field: value}
    with pytest.raises(ValueError, match=field if field != "component" else "component"):
        BudgetLayer(**args)


def test_bad_budget_arguments():
    with pytest.raises(ValueError):
        cell_budget(_layers(), capacity_Ah=0.0, nominal_voltage_V=3.7)
    with pytest.raises(ValueError):
        cell_budget(_layers(), capacity_Ah=1.0, nominal_voltage_V=3.7,
                    extra_mass_kg={"electrolyte": -1.0})
    with pytest.raises(ValueError):
        cell_budget(_layers(), capacity_Ah=1.0, nominal_voltage_V=3.7,
                    outer_dimensions_m=(0.1, 0.1))
    with pytest.raises(ValueError):
        cell_budget([], capacity_Ah=1.0, nominal_voltage_V=3.7)


def test_no_dolfinx_needed():
    """The budget module imports no DOLFINx (it runs where only numpy/pydantic are)."""
    import subprocess
    import sys

    code = ("import sys, batteryfx.budget; "
            "sys.exit(1 if any(m == 'dolfinx' or m.startswith('dolfinx.') for m in sys.modules) "
            "else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
