"""The electrolyte physics and case sweeps through the CLI: the bundled Li-stripping rate sweep
(reduced) against the steady closed form, serial = 2 ranks, a rerun that reuses the finished
members, a run that stops when the salt is used up, and bad input naming the key."""

from __future__ import annotations

import json
import math

from mpi4py import MPI

import numpy as np
import pytest

from batteryfx.cli import main
from tests.helpers import assert_ranks_agree, bundled_case_with, expect_one_error

pytestmark = pytest.mark.mpi
comm = MPI.COMM_WORLD
F, R = 96485.33212, 8.314462618
T = 298.15
#: constant properties (the linear path): LiPF6 in EC:EMC at 1 M (materials/data)
D, KAPPA, TPLUS, C0 = 1.7694e-10, 0.9487, 0.2594, 1000.0
L, EPS = 25e-6, 0.4
REDUCED = ["physics.concentration_dependent=false", 'time.end="30 s"', 'time.dt_max="2 s"',
           "time.growth=1.3", 'outputs.field_times=["1 s"]']


def _steady(i: float) -> dict:
    """Steady Li | Li cell, constant properties: linear profile about c0 (salt conserved)."""
    d_eff, k_eff = D * EPS**1.5, KAPPA * EPS**1.5
    half = (1 - TPLUS) * i * L / (2 * F * d_eff)
    ca, cc = C0 + half, C0 - half
    return {"ca": ca, "cc": cc, "eta": 2 * R * T / F * (1 - TPLUS) * math.log(ca / cc),
            "ohmic": i * L / k_eff}


def test_strip_sweep_against_the_steady_state(shared_tmp):
    """Each member's electrode concentrations, concentration overpotential and ohmic drop at
    30 s (20 x the slowest relaxation time, 1.4 s) equal the steady closed form; the report
    lists every member; a second run of the same sweep reuses the finished members."""
    case = bundled_case_with("strip_rate_sweep", REDUCED, shared_tmp / "strip.toml")
    out = shared_tmp / "strip"
    assert main(["run", str(case), "--out", str(out), "-q", "--no-figures"]) == 0
    report = json.loads((out / "sweep.json").read_text())
    assert [m["label"] for m in report["members"]] == ["i1", "i3", "i5"]
    for m, i in zip(report["members"], (10.0, 30.0, 50.0), strict=True):
        exact, r = _steady(i), m["results"]
        assert m["value_si"] == pytest.approx(i)
        assert r["li_surface.final_mol_m3"] == pytest.approx(exact["ca"], rel=1e-9)
        assert r["counter_surface.final_mol_m3"] == pytest.approx(exact["cc"], rel=1e-9)
        assert r["eta_conc.final_V"] == pytest.approx(exact["eta"], rel=1e-7)
        assert r["ohmic.final_V"] == pytest.approx(exact["ohmic"], rel=1e-9)
    assert "| eta_conc.final_V |" in (out / "sweep.md").read_text()
    member = shared_tmp / "strip_i3" / "summary.json"
    before = member.stat().st_mtime_ns
    comm.Barrier()
    assert main(["run", str(case), "--out", str(out), "-q", "--no-figures"]) == 0
    assert member.stat().st_mtime_ns == before  # reused, not run again
    assert (out / "sweep.json").exists()


def test_one_member_on_one_and_two_ranks(shared_tmp):
    """A member (sweep.member set) is an ordinary run: the same probes on 1 and 2 ranks."""
    case = bundled_case_with("strip_rate_sweep", REDUCED + [
        "sweep.member=i5", 'physics.protocol.current_density="5 mA/cm^2"',
        "geometry.layers[0].cells=40"], shared_tmp / "member.toml")
    par = assert_ranks_agree(case, shared_tmp / "ranks", rel=1e-10)
    assert par["probes"]["li_surface"]["final_mol_m3"] == pytest.approx(_steady(50.0)["ca"],
                                                                        rel=1e-9)


def test_run_stops_when_the_salt_is_used_up(shared_tmp):
    """400 um of glass fibre at 10 mA/cm^2: the steady drop (1.4 x c0 across) cannot be
    carried; the run ends at the depletion time with complete outputs and says why."""
    case = bundled_case_with("strip_rate_sweep", REDUCED + [
        "sweep.member=i10", 'physics.protocol.current_density="10 mA/cm^2"',
        'geometry.layers[0].thickness="400 um"', "physics.regions.separator.porosity=0.9",
        'time.end="10 min"', 'time.dt_max="5 s"'], shared_tmp / "deplete.toml")
    out = shared_tmp / "deplete"
    assert main(["run", str(case), "--out", str(out), "-q", "--no-figures"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert "used up" in s["stopped_early"]
    t_dep = s["headline"]["depletion_time_s"]
    assert 0 < t_dep <= s["end_time_s"] < 600
    assert s["end_time_s"] - t_dep < 5.0  # the step that crossed zero
    assert s["probes"]["counter_surface"]["min_mol_m3"] < 50.0


@pytest.mark.parametrize("setting, key, text", [
    ("physics.electrolyte=Unobtainium", "physics.electrolyte", "unknown material"),
    ("physics.anode=left", "physics.anode", "facet marker"),
    ("physics.regions.cathode.porosity=0.3", "physics.regions.cathode", "volume marker"),
    ('physics.protocol.start="40 min"', "physics.protocol", "no current"),
    ("physics.properties.transference_number=1.5", "physics.properties.transference_number",
     "less than 1"),
    ('sweep.values=["1 mA/cm^2", "3 K", "5 mA/cm^2"]', "sweep.values", "wrong dimension"),
    ('physics.kinetics="butler_volmer"', "physics.exchange_current_density", "needed"),
    ('physics.counter_capacity="3 mA*h/cm^2"', "physics.counter_capacity", "counter_ocv"),
    ('physics.cutoff_voltage="1 A"', "physics.cutoff_voltage", "dimension"),
])
def test_bad_electrolyte_cases(shared_tmp, capfd, setting, key, text):
    case = bundled_case_with("strip_rate_sweep", [setting], shared_tmp / "bad.toml")
    out = shared_tmp / "bad_out"
    expect_one_error(capfd, ["run", str(case), "--out", str(out)], key, text)
    assert not out.exists() and not (shared_tmp / "bad_out_i1").exists()


def test_kinetic_overpotential_and_interrupt_split(shared_tmp):
    """With an exchange current density the charge-transfer overpotential of both Li
    electrodes is reported ((2RT/F) asinh(i / (2 i0 sqrt(c_s / c0))) each); across an
    interrupt the ohmic and kinetic parts vanish with the current while the concentration
    overpotential only relaxes (recorded per interrupt)."""
    case = bundled_case_with("strip_rate_sweep", REDUCED + [
        "sweep.member=i3", 'physics.protocol.current_density="3 mA/cm^2"',
        'physics.exchange_current_density="1 mA/cm^2"',
        'physics.protocol.interrupt_every="20 s"', 'physics.protocol.interrupt_duration="1 s"',
        'time.end="21.5 s"', 'time.dt_max="0.25 s"'], shared_tmp / "kin.toml")
    out = shared_tmp / "kin"
    assert main(["run", str(case), "--out", str(out), "-q", "--no-figures"]) == 0
    s = json.loads((out / "summary.json").read_text())
    (event,) = s["interrupts"]
    ca = event["kinetic_overpotential_off_V"]
    rt = 2 * R * T / F
    exact = _steady(30.0)
    kin = rt * (math.asinh(30.0 / (2 * 10.0 * math.sqrt(exact["ca"] / C0)))
                + math.asinh(30.0 / (2 * 10.0 * math.sqrt(exact["cc"] / C0))))
    assert ca == pytest.approx(kin, rel=1e-6)
    assert event["ohmic_drop_off_V"] == pytest.approx(exact["ohmic"], rel=1e-9)
    assert event["concentration_overpotential_off_V"] == pytest.approx(exact["eta"], rel=1e-6)
    # after 1 s off (tau = 1.4 s) part of the concentration overpotential is left
    assert 0.3 < event["relaxed_fraction"] < 0.9
    assert s["headline"]["interrupt_fast_V"] == pytest.approx(kin + exact["ohmic"], rel=1e-6)


def test_strip_to_the_cutoff_voltage(shared_tmp):
    """Li | Cu stripping with Butler-Volmer kinetics and a finite Li inventory (reduced to
    0.01 mA*h/cm^2 at 3 mA/cm^2: 12 s): the run stops at the 1 V cut-off, at the closed
    form inventory / current (the overpotential rises only in the last 0.1 %), with the
    stripped capacity = the plated one; before, the cell voltage is minus the sum of the
    ohmic, concentration and both kinetic overpotentials."""
    case = bundled_case_with("strip_to_cutoff", [
        'physics.anode_capacity="0.01 mA*h/cm^2"', 'time.end="20 s"', 'time.dt_max="1 s"',
        "time.growth=1.5", 'outputs.field_times=["1 s"]', "geometry.layers[0].cells=25"],
        shared_tmp / "cutoff.toml")
    out = shared_tmp / "cutoff"
    assert main(["run", str(case), "--out", str(out), "-q", "--no-figures"]) == 0
    s = json.loads((out / "summary.json").read_text())
    head = s["headline"]
    assert "cut-off 1 V" in s["stopped_early"]
    assert head["cutoff_time_s"] == pytest.approx(0.01 * 36000 / 30.0, rel=1e-8)
    assert head["capacity_at_cutoff_mAh_cm2"] == pytest.approx(0.01, rel=1e-8)
    assert head["stripped_fraction"] == pytest.approx(1.0, rel=1e-8)
    assert s["end_time_s"] < 13.0 and abs(head["cell_voltage_end_V"]) >= 1.0
    rows = np.genfromtxt(out / "probes.csv", delimiter=",", names=True)
    names = rows.dtype.names
    v = rows[[n for n in names if n.startswith("cell_voltage")][0]]
    parts = sum(rows[[n for n in names if n.startswith(p)][0]]
                for p in ("eta_li", "eta_conc"))
    eta_c = rows[[n for n in names if n.startswith("eta_counter")][0]]
    ohmic = s["results"]["ohmic_drop_V"]  # steady after ~1 s (tau = 1.4 s / 20 x)
    mid = (rows["time_s"] > 8.0) & (rows["time_s"] < 11.0)
    assert mid.any()
    # V = -(ohmic + eta_conc + eta_li - eta_counter); the ohmic drop is constant here
    assert np.allclose(v[mid], -(parts[mid] - eta_c[mid]) - ohmic, rtol=1e-6, atol=1e-9)
    assert s["kinetic_newton_iterations"] > 0


def test_patterned_anode_with_butler_volmer(shared_tmp):
    """The bundled patterned anode (Li piles on 30 % of the face) with Butler-Volmer
    kinetics, reduced: the current concentrates towards the pile edges (peak above the
    mean on the piles), the mean on the piles is the nominal current / 0.3, serial = 2
    ranks."""
    case = bundled_case_with("strip_patterned_anode", [
        'time.end="2 s"', 'time.dt_max="0.5 s"', 'outputs.field_times=["1 s"]',
        "geometry.layers[0].cells=16", "geometry.cells_across=24"], shared_tmp / "pat.toml")
    par = assert_ranks_agree(case, shared_tmp / "pat_ranks", rel=1e-10)
    r = par["results"]
    assert r["anode_current_density_A_m2"] == pytest.approx(30.0 / 0.3, rel=1e-9)
    assert r["anode_current_density_peak_A_m2"] > 1.001 * r["anode_current_density_A_m2"]
    assert par["headline"]["cell_voltage_end_V"] < -par["headline"][
        "kinetic_overpotential_end_V"] < 0
