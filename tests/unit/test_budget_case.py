"""The cell budget of a pouch case (its [cell] section and layer table) against the budget
module's reproduction of the paper's 10 Ah comparison, and the CLI `budget` command."""

from __future__ import annotations

import pytest

from batteryfx.budget import paper_10ah_budget
from batteryfx.case import load_case
from batteryfx.cli import bundled_cases, main
from batteryfx.geometry_args import case_cell_budget


def _budget(unit: str) -> dict:
    case = load_case(bundled_cases()["cell_budget_10ah"], [f"geometry.unit={unit}"])
    return case_cell_budget(case)


def test_10ah_case_reproduces_the_module_budget():
    """Same capacity; specific energy within 3 % of the module's (which also weighs seals,
    adhesives and tab films); the PI-Ag-20Li gain is ~6 % over anode-free Cu and ~10 % over
    Cu-20Li in both."""
    case = {u: _budget(f"{u}_lrlo") for u in ("piag_20li", "cu_0li", "cu_20li")}
    module = {u: paper_10ah_budget(m) for u, m in (("piag_20li", "PI-Ag-20Li"),
                                                    ("cu_0li", "Cu-0Li"),
                                                    ("cu_20li", "Cu-20Li"))}
    for u in case:
        assert case[u]["capacity_Ah"] == pytest.approx(module[u]["capacity_Ah"], rel=1e-3)
        assert case[u]["specific_energy_Wh_per_kg"] == pytest.approx(
            module[u]["specific_energy_Wh_per_kg"], rel=0.03)
    se = {u: b["specific_energy_Wh_per_kg"] for u, b in case.items()}
    assert 1.04 < se["piag_20li"] / se["cu_0li"] < 1.08
    assert 1.08 < se["piag_20li"] / se["cu_20li"] < 1.12
    # the collector mass is where PI-Ag wins: 8 um Cu vs Ag 0.5 / PI 7 / Ag 0.5 um
    ratio = case["piag_20li"]["mass_kg"]["anode_collector"] / \
        case["cu_0li"]["mass_kg"]["anode_collector"]
    assert ratio == pytest.approx((2 * 0.5 * 10490 + 7 * 1420) / (8 * 8933), rel=0.03)


def test_budget_command(capfd):
    assert main(["budget", "pouch_hotspot_piag_vs_cu"]) == 0
    out = capfd.readouterr().out
    assert "Wh/kg" in out and "0.3853 Ah" in out
    assert main(["budget", "coupon_pi_ag_vs_cu"]) == 2


def test_electrolyte_per_capacity_is_bounded(capfd):
    """From a fuzzed case: electrolyte_per_capacity = 1.7e308 kg/C overflowed the electrolyte
    mass to inf and the budget raised an internal error; the schema bounds it (100 g/Ah) and
    the CLI answers with one line naming the key."""
    assert main(["budget", "pouch_hotspot_piag_vs_cu",
                 "--set", "cell.electrolyte_per_capacity=1.7e308"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cell.electrolyte_per_capacity" in err[0] and "100 g/Ah" in err[0]
    assert main(["budget", "pouch_hotspot_piag_vs_cu",
                 "--set", "cell.electrolyte_per_capacity='50 g/(A*h)'"]) == 0
