"""The pouch hot-spot case through the CLI at CI size: both collectors run, PI-Ag delays the
crossing of its collector, the comparison report is written; 1 vs 2 ranks agree to 1e-8; a
restart from a checkpoint agrees with the uninterrupted run."""

from __future__ import annotations

import json

from mpi4py import MPI

import pytest

from batteryfx.cli import main
from tests.helpers import assert_ranks_agree, bundled_case_with

comm = MPI.COMM_WORLD
#: CI size of cases/pouch_hotspot_piag_vs_cu.toml: coarse in-plane, short
REDUCED_POUCH = ["geometry.mesh_size=10 mm", "geometry.regions[0].mesh_size=1 mm",
                 "geometry.max_cell_thickness=60 um", "time.end=0.3 s", "time.dt_max=0.1 s",
                 "time.growth=2", "outputs.field_times=[0.01, 0.1, 0.3]",
                 "figures.times=[0.01, 0.1, 0.3]"]
PROBES_2UNITS = ["probes=[{name='unit2_max', marker='unit2', reduce='max', thresholds=[353.15, "
                 "393.15]}, {name='unit4_max', marker='unit4', reduce='max', thresholds=[353.15, "
                 "393.15]}, {name='unit2_heat', marker='unit2', quantity='heat'}, "
                 "{name='flux_through', marker='anode_collectors', quantity='flux_through'}, "
                 "{name='flux_in_plane', marker='anode_collectors', quantity='flux_in_plane'}]"]


def _reduced(shared_tmp, unit: str, extra: list[str] = ()):
    return bundled_case_with("pouch_hotspot_piag_vs_cu",
                             REDUCED_POUCH + PROBES_2UNITS + [f"geometry.unit={unit}", *extra],
                             shared_tmp / f"pouch_{unit}{len(extra)}.toml")


@pytest.mark.mpi
def test_piag_vs_cu_and_compare(shared_tmp, capfd):
    outs = {}
    for unit in ("piag_20li_ncm811", "cu_20li_ncm811"):
        outs[unit] = shared_tmp / unit
        assert main(["run", str(_reduced(shared_tmp, unit)), "--out", str(outs[unit]),
                     "-q"]) == 0
    s = {u: json.loads((o / "summary.json").read_text()) for u, o in outs.items()}
    # the hot spot sits in a1's upper Li (unit 3): unit 2 lies across a1's collector, unit 4
    # across the separator (the same for both collectors)
    p, c = s["piag_20li_ncm811"]["probes"], s["cu_20li_ncm811"]["probes"]
    t_piag, t_cu = p["unit2_max"]["time_to_80C_s"], c["unit2_max"]["time_to_80C_s"]
    assert isinstance(t_cu, float) and (isinstance(t_piag, str) or t_piag > 3 * t_cu), \
        (t_piag, t_cu)
    t4 = p["unit4_max"]["time_to_80C_s"], c["unit4_max"]["time_to_80C_s"]
    assert t4[0] == pytest.approx(t4[1], rel=0.3), t4
    assert s["piag_20li_ncm811"]["energy_balance"]["drift_rel"] < 1e-8
    # more heat has crossed into unit cell 2 through Cu than through PI-Ag (J, integrated)
    assert c["unit2_heat"]["final_J"] > 1.2 * p["unit2_heat"]["final_J"] > 0
    assert p["flux_through"]["max_W_m2"] > 0
    report = shared_tmp / "report"
    assert main(["compare", str(outs["piag_20li_ncm811"]), str(outs["cu_20li_ncm811"]),
                 "--out", str(report)]) == 0
    for name in ("compare.json", "compare.md", "figures/compare_probes.png",
                 "figures/compare_cut.png", "figures/compare_cut.gif",
                 "figures/compare_flux_split.png"):
        assert (report / name).exists(), name
    result = json.loads((report / "compare.json").read_text())
    rows = result["rows"]
    # the heat-flow split in the anode collectors (volume-mean |q| along vs across them;
    # measured 0.93 PI-Ag, 0.98 Cu: the PI film, 7 of the 8 um, carries little heat either
    # way, so the share says less about blocking than unit2_heat above)
    split = result["heat_flow_split"]
    share = {k: split[k]["anode_collectors"]["in_plane_share_time_mean"] for k in "AB"}
    assert all(0.5 < v < 1 for v in share.values()), share
    assert "Heat-flow split" in (report / "compare.md").read_text()
    assert any(r["probe"] == "unit2_max" and r["quantity"] == "time_to_80C_s" for r in rows)
    assert any(r["probe"] == "unit2_heat" and r["quantity"] == "max_J" and r["ratio_B_over_A"]
               for r in rows)
    # a second compare into the same report folder replaces it; a run folder is not a report
    assert main(["compare", str(outs["piag_20li_ncm811"]), str(outs["cu_20li_ncm811"]),
                 "--out", str(report)]) == 0
    assert main(["compare", str(shared_tmp / "missing"), str(outs["cu_20li_ncm811"]),
                 "--out", str(shared_tmp / "r2")]) == 2


@pytest.mark.mpi
def test_pouch_ranks_and_restart(shared_tmp):
    """All ranks vs one rank to 1e-8; stopped after 6 steps and restarted = uninterrupted.
    With the direct solver: the iterative default (CG + block-Jacobi ICC, whose blocks are
    the ranks' parts) agrees only to its tolerance (measured 3e-8 on the collectors' mean
    through-plane flux at rtol 1e-12)."""
    case = _reduced(shared_tmp, "piag_20li_ncm811", ["physics.solver=direct"])
    par = assert_ranks_agree(case, shared_tmp)
    cut = shared_tmp / "cut"
    assert main(["run", str(case), "--out", str(cut), "--no-figures", "-q",
                 "--stop-after-steps", "6"]) == 0
    assert main(["run", str(case), "--restart", str(cut), "--no-figures", "-q"]) == 0
    again = json.loads((cut / "summary.json").read_text())
    for name, res in par["probes"].items():
        for key, value in res.items():
            # temperatures to 1e-10 (parallel MUMPS round-off ~1e-12 K/K); stored heat and
            # fluxes are differences / gradients of T, which amplify that round-off by about
            # T / (T - T0) ~ 300 (measured 2.8e-10 on unit2_heat): 1e-8
            rel = 1e-10 if key.endswith("_K") or key.startswith("time_") else 1e-8
            assert value == pytest.approx(again["probes"][name][key], rel=rel), (name, key)


@pytest.mark.mpi
def test_nail_case_runs(shared_tmp):
    """The nail case at CI size: max probes on volume markers without a volume condition,
    the short's heat is all there (adiabatic for 0.2 s: cell_mean rise x heat capacity =
    I^2 (R_int + R_short) t to 1 %), and summary.json carries the cell budget."""
    from batteryfx.cli import bundled_cases

    out = shared_tmp / "nail"
    sets = ["geometry.mesh_size=10 mm", "geometry.regions[0].mesh_size=1.5 mm",
            "geometry.max_cell_thickness=60 um", "time.end=0.2 s", "time.dt_max=0.05 s",
            "outputs.field_times=[0.1]", "figures.times=[0.1]",
            "boundary_conditions[0].h=0 W/(m^2*K)"]
    args = ["run", str(bundled_cases()["pouch_nail_piag_vs_cu"]), "--out", str(out), "-q",
            "--no-figures"]
    assert main(args + [f"--set={s}" for s in sets]) == 0
    s = json.loads((out / "summary.json").read_text())
    short = s["internal_shorts"][0]
    # V_oc(s) of NCM811 from 4.20 V: in 0.2 s the cell loses 0.7 % of its charge
    assert short["current_start_A"] == pytest.approx(4.2 / 0.09, rel=1e-3)
    assert 0.99 < short["state_of_charge_end"] < 0.999
    assert short["empty_at_s"] == pytest.approx(32.6, rel=0.01)
    assert s["energy_balance"]["loads_J"] == pytest.approx(short["energy_delivered_J"],
                                                           rel=1e-9)
    assert short["energy_delivered_J"] == pytest.approx(4.2**2 / 0.09 * 0.2, rel=3e-3)
    assert s["probes"]["nail_max"]["max_K"] > s["probes"]["unit1_max"]["max_K"] > 298.0
    budget = s["cell_budget"]
    assert budget["capacity_Ah"] == pytest.approx(0.3853, rel=1e-3)
    assert 300 < budget["specific_energy_Wh_per_kg"] < 400


@pytest.mark.mpi
def test_nail_quarter_model_equals_full(shared_tmp):
    """geometry.symmetry = ["x", "y"] on the centred nail: the quarter model's mesh is the
    full mesh's quarter (nail 3 mm / 0.5 mm cells: the centre lines are grid lines), so the
    discrete solutions agree to the solver's round-off: every probe (max, mean, a point,
    a stored-heat integral for the whole cell) and the energy balance to 1e-9; the short's
    watts are for the whole cell; the cell budget is the whole cell's; the cut figure on the
    symmetry plane is drawn."""
    from batteryfx.cli import bundled_cases

    sets = ["geometry.mesh_size=10 mm", "geometry.regions[0].mesh_size=0.5 mm",
            "geometry.max_cell_thickness=60 um", "time.end=0.2 s", "time.dt_max=0.1 s",
            "physics.solver=direct", "outputs.field_times=[0.2]", "figures.times=[0.2]",
            "probes=[{name='nail_max', marker='nail', reduce='max'}, {name='unit2_mean', "
            "marker='unit2'}, {name='unit2_heat', marker='unit2', quantity='heat'}, "
            "{name='pt', point=[0.04, 0.03, 0.3e-3]}]"]
    s = {}
    for name, extra in (("full", ["geometry.symmetry=[]"]),
                        ("quarter", ["geometry.symmetry=['x', 'y']"])):
        out = shared_tmp / f"nail_{name}"
        args = ["run", str(bundled_cases()["pouch_nail_piag_vs_cu"]), "--out", str(out), "-q"]
        assert main(args + [f"--set={x}" for x in sets + extra]) == 0
        s[name] = json.loads((out / "summary.json").read_text())
    full, quarter = s["full"], s["quarter"]
    assert quarter["cells"] * 4 == full["cells"]
    assert quarter["geometry"]["symmetry"]["copies"] == 4
    assert "symmetry" not in full["geometry"]
    for probe, values in full["probes"].items():
        for key, value in values.items():
            if isinstance(value, float):
                assert quarter["probes"][probe][key] == pytest.approx(value, rel=1e-9), \
                    (probe, key)
    for key in ("stored_J", "net_input_J", "loads_J"):
        assert quarter["energy_balance"][key] == pytest.approx(full["energy_balance"][key],
                                                               rel=1e-9), key
    assert quarter["internal_shorts"] == full["internal_shorts"]
    assert quarter["cell_budget"] == full["cell_budget"]
    assert (shared_tmp / "nail_quarter" / "figures" / "temperature_cut_y.png").exists()
