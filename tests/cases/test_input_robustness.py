"""Every bad input is one line on stderr starting with "batteryfx: error:", exit code 2, no
traceback: one regression test per defect found in review (unreadable files, overflowing
sizes, --set paths, long or multi-line echoes, unphysical values)."""

from __future__ import annotations

import os
import time

import pytest
import tomli_w

from batteryfx.case import dump_case, load_case, parse_case, read_toml
from batteryfx.cli import bundled_cases, main
from tests.helpers import expect_one_error

CASE = str(bundled_cases()["coupon_pi_ag_vs_cu"])


def validate(*sets: str) -> list[str]:
    return ["validate", CASE, *[a for s in sets for a in ("--set", s)]]


# --------------------------------------------------------------------------- overflow
@pytest.mark.parametrize("setting, key", [
    ("geometry.mesh_size=1e-300", "geometry.mesh_size"),
    ("geometry.stacks[1].layers[0].thickness=1e300", "geometry.stacks[1].layers[0].thickness"),
    ("time.end=1e308", "time.end"),
])
def test_overflowing_sizes(capfd, setting, key):
    expect_one_error(capfd, validate(setting), key, "must be at")


def test_huge_toml_integer(capfd):
    expect_one_error(capfd, validate("geometry.gap=" + "9" * 400), "geometry.gap", "finite")


def test_cell_estimate_is_fast_for_a_huge_coupon(capfd):
    """The graded hot-spot divisions are counted by bisection: no minutes-long loop."""
    start = time.perf_counter()
    expect_one_error(capfd, validate('geometry.size=["10 m", "10 m"]',
                                     'geometry.hot_spot.center=["5 m", "5 m"]'), "cells")
    assert time.perf_counter() - start < 10


# --------------------------------------------------------------------------- unreadable files
def test_not_utf8(tmp_path, capfd):
    path = tmp_path / "latin1.toml"
    path.write_bytes('title = "Größe"\n'.encode("latin-1"))
    expect_one_error(capfd, ["validate", str(path)], "not UTF-8")


@pytest.mark.parametrize("command", ["validate", "run"])
def test_folder_as_case(tmp_path, capfd, command):
    expect_one_error(capfd, [command, str(tmp_path)], "is a folder")


def test_empty_case_name(capfd):
    expect_one_error(capfd, ["validate", ""], "bundled")


def test_deeply_nested_toml(tmp_path, capfd):
    path = tmp_path / "deep.toml"
    path.write_text('title = "x"\nv = ' + "[" * 3000 + "]" * 3000 + "\n")
    expect_one_error(capfd, ["validate", str(path)], "nested more than")
    path.write_text('title = "x"\nv = ' + "[" * 100 + "]" * 100 + "\n")  # parses, too deep
    expect_one_error(capfd, ["validate", str(path)], "nested more than")


def test_deeply_nested_set_value(capfd):
    expect_one_error(capfd, validate("title=" + "[" * 3000 + "]" * 3000), "nested more than")


def test_symlink_loop(tmp_path, capfd):
    path = tmp_path / "loop.toml"
    path.symlink_to(path)
    expect_one_error(capfd, ["validate", str(path)], "cannot read")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_endless_file(capfd):
    expect_one_error(capfd, ["validate", "/dev/zero"], "larger than")


def test_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + open(CASE, "rb").read())
    assert read_toml(path)["title"]


# --------------------------------------------------------------------------- --set paths
@pytest.mark.parametrize("setting, text", [
    ("title.x.y=1", "title is not a table"),
    ("geometry.stacks[-1].name=x", "key.path=value"),
    ("geometry.stacks[7].name=x", "has 2 entries"),
    ("geometry[0]=1", "geometry is not a list"),
    ("=1", "key.path=value"),
    ("no_equals_sign", "key.path=value"),
])
def test_bad_set_paths(capfd, setting, text):
    expect_one_error(capfd, validate(setting), text)


def test_set_value_is_one_toml_value(capfd):
    """Text after the value (here a table header) makes it a string, not an ignored tail."""
    expect_one_error(capfd, validate('time.end="1 ms"\n[geometry]'), "time.end")


# --------------------------------------------------------------------------- echoes
def test_newline_in_key(tmp_path, capfd):
    data = read_toml(CASE)
    data["geometry"]["co\nlour\u2028x"] = "red\nblue"
    path = tmp_path / "key.toml"
    path.write_text(tomli_w.dumps(data))
    line = expect_one_error(capfd, ["validate", str(path)], "unknown key")
    assert "\\n" in line


def test_newline_in_set_key(capfd):
    expect_one_error(capfd, validate("geometry.co\nlour=1"), "key.path=value")


def test_long_name_is_clipped(capfd):
    line = expect_one_error(capfd, validate("geometry.stacks[0].name=" + "a" * 100_000),
                            "geometry.stacks[0].name", "...")
    assert len(line) < 300


def test_long_unknown_material_is_clipped(capfd):
    expect_one_error(capfd, validate("geometry.stacks[0].layers[0].material=" + "x" * 100_000),
                     "unknown material", "...")


# --------------------------------------------------------------------------- mesher limits
def test_sub_nanometre_layer(capfd):
    expect_one_error(capfd, validate("geometry.stacks[0].layers[0].thickness=1e-12"),
                     "geometry.stacks[0].layers[0].thickness", "at least 1e-9 m")


@pytest.mark.parametrize("setting", ['geometry.hot_spot.size=["0.1 nm", "1 um"]',
                                     'geometry.hot_spot.mesh_size="0.1 nm"',
                                     'geometry.max_cell_thickness="0.1 nm"'])
def test_sub_nanometre_mesh_features(capfd, setting):
    expect_one_error(capfd, validate(setting), "at least 1e-9 m")


def test_feature_too_small_for_the_model_extent(capfd):
    """A 1 nm layer in a 1 m coupon: Gmsh (tolerance 1e-10 of the extent) would crash."""
    expect_one_error(capfd, validate(
        'geometry.size=["1 m", "1 m"]', 'geometry.gap="0.1 m"', 'geometry.mesh_size="0.2 m"',
        'geometry.max_cell_thickness="1 m"', 'geometry.hot_spot.size=["0.1 m", "0.1 m"]',
        'geometry.hot_spot.center=["0.5 m", "0.5 m"]', 'geometry.hot_spot.mesh_size="0.1 m"',
        'geometry.stacks[0].layers[0].thickness="1 nm"', "probes=[]", "figures={}"),
        "geometry.stacks[0].layers[0]", "model extent")


# --------------------------------------------------------------------------- cases NAME
@pytest.mark.parametrize("name", ["/etc/passwd", "../README.md", "no_such_case"])
def test_cases_prints_only_bundled_cases(capfd, name, tmp_path):
    expect_one_error(capfd, ["cases", name], "not a bundled case", "coupon_pi_ag_vs_cu")


def test_cases_folder(tmp_path, capfd):
    expect_one_error(capfd, ["cases", str(tmp_path)], "not a bundled case")


def test_cases_prints_a_bundled_case(capfd):
    assert main(["cases", "coupon_pi_ag_vs_cu"]) == 0
    assert "[geometry]" in capfd.readouterr().out


# --------------------------------------------------------------------------- units in a case
@pytest.mark.parametrize("setting, text", [
    ('geometry.mesh_size="5,5 um"', "decimal point"),
    ('geometry.mesh_size="um"', "a number is needed"),
    ('physics.initial_temperature="300 delta_degC"', "temperature difference"),
])
def test_unit_slips(capfd, setting, text):
    expect_one_error(capfd, validate(setting), setting.split("=")[0], text)


# --------------------------------------------------------------------------- physical bounds
CONVECTION = ('boundary_conditions=[{marker = "hot_spot", type = "temperature", value = "473 K"},'
              ' {marker = "bottom", type = "convection", h = 10, ambient = "%s"}]')


@pytest.mark.parametrize("setting, key, text", [
    ("physics.initial_temperature=1e300", "physics.initial_temperature", "at most 1e4 K"),
    ("physics.initial_temperature=1e-300", "physics.initial_temperature", "at least 1 K"),
    ("boundary_conditions[0].value=1e300", "boundary_conditions[0].value", "at most 1e4 K"),
    (CONVECTION % "1e-300 K", "boundary_conditions[1].ambient", "at least 1 K"),
])
def test_temperature_bounds(capfd, setting, key, text):
    expect_one_error(capfd, validate(setting), key, text, "battery materials")


@pytest.mark.parametrize("prop, value, text", [
    ("density", "1e300", "1 .. 1e5 kg/m^3"),
    ("density", "1e-300", "1 .. 1e5 kg/m^3"),
    ("thermal_conductivity", "1e300", "W/(m K)"),
    ("specific_heat", "1e-300", "J/(kg K)"),
    ("thermal_conductivity_in_plane", "0", "W/(m K)"),
    ("electrical_conductivity", "1e300", "S/m"),
    ("youngs_modulus", "1e300", "Pa"),
    ("poissons_ratio", "5", "-1 < nu < 0.5"),
    ("poissons_ratio", "0.5", "exclusive"),
])
def test_material_override_bounds(capfd, prop, value, text):
    expect_one_error(capfd, validate(f"materials.Cu.{prop}={value}"), f"materials.Cu.{prop}",
                     text)


def test_override_of_an_unused_material(capfd):
    expect_one_error(capfd, validate("materials.Li.density=534"), "materials.Li",
                     "not used by any layer; used: Ag, Cu, polyimide")


def test_library_within_override_bounds():
    from batteryfx.materials import library
    from batteryfx.materials.library import PROPERTY_BOUNDS, PROPERTY_DIMENSIONS

    assert set(PROPERTY_BOUNDS) == set(PROPERTY_DIMENSIONS)
    for mat in library().values():
        for key, prop in mat.properties.items():
            lo, hi, _, _, strict = PROPERTY_BOUNDS[key]
            assert (lo < prop.si < hi) if strict else (lo <= prop.si <= hi), (mat.name, key)


SOURCE = 'sources=[{type = "power_density", marker = "cu", value = "%s", start = "%s"}]'


def test_source_after_the_end(capfd):
    expect_one_error(capfd, validate(SOURCE % ("1e9 W/m^3", "1 s")), "sources[0].start",
                     "time.end")


@pytest.mark.parametrize("setting, key, text", [
    (SOURCE % ("1e300 W/m^3", "0 s"), "sources[0].value", "1e15 W/m^3"),
    (SOURCE % ("-1e300 W/m^3", "0 s"), "sources[0].value", "magnitude"),
    ('boundary_conditions=[{marker = "hot_spot", type = "heat_flux", value = -1e300}]',
     "boundary_conditions[0].value", "1e10 W/m^2"),
    (CONVECTION.replace("h = 10", "h = 1e300") % "300 K", "boundary_conditions[1].h",
     "1e7 W/(m^2 K)"),
    ('time.dt_initial="1e-20 s"', "time.dt_initial", "1 ps"),
    ('geometry.stacks[0].layers[1].z=["0.5 um", "1e300 um"]', "geometry.stacks[0].layers[1].z",
     "10 m"),
])
def test_magnitude_bounds(capfd, setting, key, text):
    expect_one_error(capfd, validate(setting), key, text)


def test_reduce_only_for_marker_probes(capfd):
    expect_one_error(capfd, validate('probes[0].reduce="max"'), "probes[0].reduce",
                     "only for a marker probe")


def test_reduce_default_and_dump_round_trip():
    case = load_case(CASE, ['probes[5].reduce="max"'])
    assert [p.reduce for p in case.probes] == [None] * 4 + ["mean", "max"]
    import tomllib

    assert parse_case(tomllib.loads(dump_case(case))) == case


def test_bundled_cases_validate(capfd):
    for name in bundled_cases():
        assert main(["validate", name]) == 0, capfd.readouterr().err


@pytest.mark.mpi
@pytest.mark.parametrize("argv", [
    validate("geometry.mesh_size=1e-300"),
    validate("time.end=1e308"),
    validate("title.x.y=1"),
    validate('geometry.stacks[-1].name=x'),
    validate('geometry.mesh_size="5,5 um"'),
    validate("physics.initial_temperature=1e300"),
    ["validate", "/tmp"],
    ["validate", ""],
    ["cases", "/etc/passwd"],
    ["validate", "/dev/zero"],
    ["run", CASE, "--stop-after-steps", "many"],
])
def test_once_per_run_not_once_per_rank(capfd, argv):
    """Under mpiexec the error is printed by rank 0 only (one line), and every rank exits 2."""
    expect_one_error(capfd, argv)
