"""Malformed case files: one line naming the key, the value and what is allowed; exit code 2;
no output folder (neither OUT nor OUT.partial)."""

from __future__ import annotations

import copy

from mpi4py import MPI

import pytest
import tomli_w

from batteryfx.case import read_toml
from batteryfx.cli import bundled_cases, main

BASE = read_toml(bundled_cases()["coupon_pi_ag_vs_cu"])


def _set(path, value):
    def edit(d):
        keys = path.split(".")
        node = d
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        if value is DELETE:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value
        return d
    return edit


DELETE = object()

BAD = {
    # name: (edit, key path expected in the message, text expected in the message)
    "missing_key": (_set("physics.initial_temperature", DELETE),
                    "physics.initial_temperature", "missing"),
    "unknown_key": (_set("geometry.colour", "red"), "geometry.colour", "unknown key"),
    "unknown_key_in_bc": (_set("boundary_conditions.0.valeu", "473 K"),
                          "boundary_conditions[0].valeu", "unknown key"),
    "wrong_dimension": (_set("geometry.stacks.0.layers.0.thickness", "8 K"),
                        "geometry.stacks[0].layers[0].thickness", "wrong dimension"),
    "negative_thickness": (_set("geometry.stacks.0.layers.1.thickness", "-7 um"),
                           "geometry.stacks[0].layers[1].thickness", "greater than 0"),
    "zero_thickness": (_set("geometry.stacks.1.layers.0.thickness", "0 um"),
                       "geometry.stacks[1].layers[0].thickness", "greater than 0"),
    "unknown_material": (_set("geometry.stacks.1.layers.0.material", "Unobtainium"),
                         "geometry.stacks[1].layers[0].material", "unknown material"),
    "overlapping_layers": (_set("geometry.stacks.0.layers.1", {
        "name": "pi", "material": "polyimide", "z": ["0.4 um", "7.5 um"]}),
        "geometry.stacks[0].layers[1].z", "overlaps"),
    "probe_outside": (_set("probes.0.point", ["50 um", "5 um", "0 um"]),
                      "probes[0].point", "outside the domain"),
    "negative_end_time": (_set("time.end", "-1 s"), "time.end", "greater than 0"),
    "unknown_marker": (_set("boundary_conditions.0.marker", "hotspot"),
                       "boundary_conditions[0].marker", "unknown boundary marker"),
    "unknown_bc_type": (_set("boundary_conditions.0.type", "radiative"),
                        "boundary_conditions[0].type", "expected one of"),
    "unparsable_quantity": (_set("geometry.mesh_size", "half a micron"),
                            "geometry.mesh_size", "cannot parse"),
    "field_time_after_end": (_set("outputs.field_times", ["1 s"]),
                             "outputs.field_times[0]", "time.end"),
    "unknown_override_property": (_set("materials", {"Cu": {"colour": "red"}}),
                                  "materials.Cu.colour", "unknown property"),
    "override_wrong_dimension": (_set("materials", {"Cu": {"thermal_conductivity": "5 kg"}}),
                                 "materials.Cu.thermal_conductivity", "wrong dimension"),
    "theta_out_of_range": (_set("physics.theta", 0.2), "physics.theta", "0.5"),
    "dt_larger_than_end": (_set("time.dt_initial", "1 s"), "time.dt_initial", "time.end"),
    "hot_spot_off_face": (_set("geometry.hot_spot.center", ["9.8 um", "5 um"]),
                          "geometry.hot_spot", "inside"),
    "hot_spot_sliver_at_edge": (_set("geometry.hot_spot.size", ["9.999 um", "1 um"]),
                                "geometry.hot_spot", "0.1 %"),
    "zero_gap": (_set("geometry.gap", "0 um"), "geometry.gap", "greater than 0"),
    "infinite_end_time": (_set("time.end", "inf s"), "time.end", "finite"),
    "infinite_override": (_set("materials", {"Cu": {"thermal_conductivity": "inf W/(m*K)"}}),
                          "materials.Cu.thermal_conductivity", "finite"),
    "below_absolute_zero": (_set("physics.initial_temperature", "-10 K"),
                            "physics.initial_temperature", "absolute zero"),
    "emissivity_above_one": (_set("boundary_conditions", [
        {"marker": "top", "type": "radiation", "emissivity": 1.5, "ambient": "298 K"}]),
        "boundary_conditions[0].emissivity", "less than or equal to 1"),
    "two_radiation_conditions_on_a_face": (_set("boundary_conditions", [
        {"marker": "top", "type": "radiation", "emissivity": 0.9, "ambient": "298 K"},
        {"marker": "top", "type": "convection", "h": "10 W/(m^2*K)", "ambient": "298 K"},
        {"marker": "cu/top", "type": "radiation", "emissivity": 0.5, "ambient": "298 K"}]),
        "boundary_conditions[2].marker", "overlaps boundary_conditions[0]"),
    "overlapping_conditions": (_set("boundary_conditions", [
        {"marker": "hot_spot", "type": "temperature", "value": "473 K"},
        {"marker": "cu/hot_spot", "type": "temperature", "value": "350 K"}]),
        "boundary_conditions[1].marker", "overlaps boundary_conditions[0]"),
    "reserved_layer_name": (_set("geometry.stacks.1.layers.0.name", "bottom"),
                            "geometry.stacks[1].layers[0].name", "reserved"),
    "mesh_far_too_fine": (_set("geometry.mesh_size", "1 nm"), "geometry.mesh_size", "cells"),
    "steps_far_too_many": (_set("time.dt_max", "1 ns"), "time.dt_initial", "steps"),
    "grading_not_above_one": (_set("geometry.grading", 1.0), "geometry.grading",
                              "greater than 1"),
    "sub_nanometre_layer": (_set("geometry.stacks.0.layers.0.thickness", "0.1 nm"),
                            "geometry.stacks[0].layers[0].thickness", "at least 1e-9 m"),
    "coupon_larger_than_10_m": (_set("geometry.size", ["1 km", "10 um"]), "geometry.size[0]",
                                "at most 10 m"),
    "decimal_comma": (_set("geometry.mesh_size", "0,5 um"), "geometry.mesh_size",
                      "decimal point"),
    "unit_without_number": (_set("geometry.mesh_size", "um"), "geometry.mesh_size",
                            "a number is needed"),
    "temperature_difference": (_set("physics.initial_temperature", "300 delta_degC"),
                               "physics.initial_temperature", "temperature difference"),
    "temperature_too_high": (_set("boundary_conditions.0.value", 1e300),
                             "boundary_conditions[0].value", "at most 1e4 K"),
    "temperature_too_low": (_set("physics.initial_temperature", 1e-300),
                            "physics.initial_temperature", "at least 1 K"),
    "override_out_of_range": (_set("materials", {"Cu": {"density": 1e300}}),
                              "materials.Cu.density", "1 .. 1e5 kg/m^3"),
    "poisson_ratio_above_half": (_set("materials", {"polyimide": {"poissons_ratio": 5}}),
                                 "materials.polyimide.poissons_ratio", "-1 < nu < 0.5"),
    "override_of_unused_material": (_set("materials", {"Li": {"density": "534 kg/m^3"}}),
                                    "materials.Li", "not used by any layer"),
    "source_after_end": (_set("sources", [{"type": "power_density", "marker": "cu",
                                           "value": "1e9 W/m^3", "start": "1 s"}]),
                         "sources[0].start", "time.end"),
    "power_density_absurd": (_set("sources", [{"type": "power_density", "marker": "cu",
                                               "value": "1e300 W/m^3"}]),
                             "sources[0].value", "1e15 W/m^3"),
    "reduce_on_point_probe": (_set("probes.0.reduce", "max"), "probes[0].reduce",
                              "only for a marker probe"),
    "name_too_long": (_set("geometry.stacks.0.name", "a" * 100_000), "geometry.stacks[0].name",
                      "at most 64 characters"),
}


@pytest.mark.mpi
@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_case_one_line_no_output(name, shared_tmp, capfd):
    edit, key, text = BAD[name]
    data = edit(copy.deepcopy(BASE))
    case = shared_tmp / f"{name}.toml"
    if MPI.COMM_WORLD.rank == 0:
        case.write_text(tomli_w.dumps(data))
    MPI.COMM_WORLD.Barrier()
    out = shared_tmp / "out"
    for argv in (["validate", str(case)], ["run", str(case), "--out", str(out)]):
        capfd.readouterr()
        assert main(argv) == 2
        err = capfd.readouterr().err
        if MPI.COMM_WORLD.rank == 0:
            lines = [line for line in err.splitlines() if line.strip()]
            assert len(lines) == 1, err
            assert key in lines[0] and text in lines[0], lines[0]
            assert "Traceback" not in err
        else:
            assert err == ""
        assert not out.exists() and not (shared_tmp / "out.partial").exists()


def test_out_folder_that_is_not_an_output_is_kept(shared_tmp, capfd):
    """--out pointing at an existing folder of the user's is refused, never replaced."""
    victim = shared_tmp / "thesis"
    if MPI.COMM_WORLD.rank == 0:
        victim.mkdir()
        (victim / "thesis.tex").write_text("precious")
    MPI.COMM_WORLD.Barrier()
    assert main(["run", "coupon_pi_ag_vs_cu", "--out", str(victim)]) == 2
    assert "not a batteryfx output folder" in capfd.readouterr().err or MPI.COMM_WORLD.rank
    assert (victim / "thesis.tex").read_text() == "precious"


def test_convection_and_radiation_may_share_a_face(tmp_path, capfd):
    """The one pair of conditions allowed on the same face (the fluxes add)."""
    data = copy.deepcopy(BASE)
    data["boundary_conditions"] += [
        {"marker": "top", "type": "radiation", "emissivity": 0.9, "ambient": "298 K"},
        {"marker": "cu/top", "type": "convection", "h": "10 W/(m^2*K)", "ambient": "300 K"}]
    case = tmp_path / "shared_face.toml"
    case.write_text(tomli_w.dumps(data))
    assert main(["validate", str(case)]) == 0, capfd.readouterr().err


def test_not_toml(tmp_path, capfd):
    case = tmp_path / "broken.toml"
    case.write_text("title = 'x'\n[geometry\n")
    assert main(["validate", str(case)]) == 2
    assert "not valid TOML" in capfd.readouterr().err


def test_set_override_reaches_validation(tmp_path, capfd):
    case = bundled_cases()["coupon_pi_ag_vs_cu"]
    assert main(["validate", str(case), "--set", 'geometry.mesh_size="-1 um"']) == 2
    assert "geometry.mesh_size" in capfd.readouterr().err
