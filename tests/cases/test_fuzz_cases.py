"""Property-based fuzzing of case files and --set (hypothesis).

Every bundled case is mutated at random key paths (values replaced, deleted or inserted: numbers
including 0, negative, huge and tiny ones, nan and inf, strings with units, garbage, unicode,
newlines, long strings, lists, nested tables) and random --set strings are added. Whatever the
input, ``batteryfx validate`` exits 0 or 2, and on 2 prints exactly one line starting with
"batteryfx: error:" (shorter than 500 characters): never a traceback, never another exit code.
Serial only; ``make test-slow`` runs the long version.
"""

from __future__ import annotations

import copy
import json
import math
import re

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batteryfx.case import read_toml
from batteryfx.cli import bundled_cases, main

BASES = {name: read_toml(path) for name, path in sorted(bundled_cases().items())}

UNITS = ["um", "nm", "m", "mm", "K", "degC", "delta_degC", "degF", "s", "ms", "us", "ns",
         "W/m^3", "W/m^2", "W/(m^2*K)", "W/(m*K)", "kg/m^3", "J/(kg*K)", "S/m", "GPa", "C",
         "m**2", "m^-1", "1/s", "", "**2", "^9^9", "* 10**10**10"]
ODD_STRINGS = ["nan", "inf", "-inf K", "NaN um", "", " ", "um", "5,5 um", "1e999 m", "-0 um",
               "300 delta_degC", "10**10**10 m", "\n", "a\nb", "tab\there", "\x00", "\u2028",
               "é", "Größe", "😀", "[]", "{}", "x" * 5000, "1 um" * 100, "hot_spot", "cu/bottom",
               "Cu", "polyimide", "temperature", "convection", "mean", "max", "y"]
NAMES = ["title", "geometry", "kind", "size", "mesh_size", "max_cell_thickness", "gap",
         "grading", "hot_spot", "center", "stacks", "layers", "name", "material", "thickness",
         "z", "cells", "materials", "density", "poissons_ratio", "physics",
         "initial_temperature", "theta", "boundary_conditions", "type", "marker", "value", "h",
         "ambient", "sources", "start", "end", "time", "dt_initial", "dt_max", "growth",
         "hold_steps", "probes", "point", "reduce", "rise_fractions", "outputs", "field_times",
         "figures", "cut_origin", "times", "Cu", "Ag", "Li", "a\nb", "", "é"]

EXTREMES = [0, -1, 2**63 - 1, 10**30, -(10**30), 10**400, 0.0, -0.0, 1e-300, 1e300, -1e300,
            5e-324, 1.7e308, 1e-9, 1e-12, 1e9, math.nan, math.inf, -math.inf]
numbers = st.one_of(
    st.sampled_from(EXTREMES),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1, 2, 1000, 0.5, 0.999, 1.0, 1.25, 10.0]),
)
quantities = st.builds(
    lambda n, u: f"{n} {u}",
    st.one_of(st.floats(allow_nan=True, allow_infinity=True),
              st.integers(-(10**6), 10**6), st.sampled_from([0.5, 8, 1e-9, 1e300, 1e-300])),
    st.sampled_from(UNITS),
)
scalars = st.one_of(numbers, quantities, st.sampled_from(ODD_STRINGS),
                    st.text(max_size=30), st.booleans())
keys = st.one_of(st.sampled_from(NAMES), st.text(max_size=10))
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(keys, children, max_size=4)),
    max_leaves=8,
)


def _paths(node, prefix=()):
    """Every key path of a case (tuples of str keys and int indices)."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        yield prefix + (key,)
        if isinstance(value, dict | list):
            yield from _paths(value, prefix + (key,))


def _get(node, path):
    for key in path:
        node = node[key]
    return node


def _path_text(path) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def _inline(value) -> str:
    """A value as one line of TOML (as typed after --set KEY=)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {_inline(v)}"
                           for k, v in value.items()) + "}"


MARKERS = ["hot_spot", "top", "bottom", "sides", "cu", "cu/cu", "cu/bottom", "cu/hot_spot",
           "pi_ag", "pi_ag/pi", "pi_ag/ag_top", "pi_ag/sides", "nowhere"]
QUANTITY = re.compile(r"^\s*[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?\s*(\S.*)$")


def _similar(original):
    """Values of the same kind as ``original`` (so that more inputs reach the cross checks)."""
    if isinstance(original, bool):
        return st.booleans()
    if isinstance(original, int | float):
        return numbers
    if isinstance(original, str) and (m := QUANTITY.match(original)):
        unit = m.group(1)
        return st.one_of(st.builds(lambda n: f"{n} {unit}", numbers), quantities, numbers)
    if isinstance(original, str):
        return st.one_of(st.sampled_from(MARKERS + ODD_STRINGS), st.text(max_size=20))
    if isinstance(original, list) and original and not isinstance(original[0], dict | list):
        return st.lists(_similar(original[0]), max_size=5)
    return values


temperatures = st.one_of(quantities, numbers, st.sampled_from(["473 K", "300 delta_degC"]))
sections = st.one_of(
    st.tuples(st.just("sources"), st.lists(st.fixed_dictionaries(
        {"type": st.sampled_from(["power_density", "heat"]), "marker": st.sampled_from(MARKERS),
         "value": st.one_of(quantities, numbers)},
        optional={"start": st.one_of(quantities, numbers), "end": st.one_of(quantities, numbers)},
    ), max_size=2)),
    st.tuples(st.just("materials"), st.dictionaries(
        st.sampled_from(["Cu", "Ag", "polyimide", "Li", "unobtainium"]),
        st.dictionaries(st.sampled_from(["density", "specific_heat", "thermal_conductivity",
                                         "thermal_conductivity_in_plane", "youngs_modulus",
                                         "electrical_conductivity", "poissons_ratio", "colour"]),
                        st.one_of(numbers, quantities), max_size=2), max_size=2)),
    st.tuples(st.just("boundary_conditions"), st.lists(st.one_of(
        st.fixed_dictionaries({"type": st.just("temperature"), "marker": st.sampled_from(MARKERS),
                               "value": temperatures}),
        st.fixed_dictionaries({"type": st.just("convection"), "marker": st.sampled_from(MARKERS),
                               "h": st.one_of(numbers, quantities), "ambient": temperatures}),
        st.fixed_dictionaries({"type": st.just("heat_flux"), "marker": st.sampled_from(MARKERS),
                               "value": st.one_of(numbers, quantities)}),
    ), max_size=3)),
    st.tuples(st.just("probes"), st.lists(st.fixed_dictionaries(
        {"name": st.sampled_from(["p", "q", "p"])},
        optional={"marker": st.sampled_from(MARKERS), "point": st.lists(numbers, max_size=4),
                  "reduce": st.sampled_from(["mean", "max", "min", "sum"]),
                  "rise_fractions": st.lists(numbers, max_size=2)},
    ), max_size=3)),
)


@st.composite
def mutated_cases(draw):
    """(case dictionary, --set strings): a bundled case with 1 to 3 random mutations."""
    data = copy.deepcopy(BASES[draw(st.sampled_from(sorted(BASES)))])
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        paths = list(_paths(data))
        kind = draw(st.sampled_from(["similar", "similar", "similar", "replace", "delete",
                                     "insert", "duplicate", "section"]))
        if kind == "section" or not paths:
            name, value = draw(sections)
            data[name] = value
            continue
        path = draw(st.sampled_from(paths[::-1]))  # leaves first
        parent, key = _get(data, path[:-1]), path[-1]
        if kind == "similar":
            parent[key] = draw(_similar(parent[key]))
        elif kind == "delete":
            del parent[key]
        elif kind == "insert" and isinstance(parent[key], dict):
            parent[key][draw(keys)] = draw(values)
        elif kind == "insert" and isinstance(parent[key], list):
            parent[key].insert(draw(st.integers(0, len(parent[key]))), draw(values))
        elif kind == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            parent[key] = draw(values)
    leaves = list(_paths(data))[::-1]
    known = [_path_text(p) for p in leaves] or ["title"]
    set_strings = st.one_of(
        st.builds(lambda p, v: f"{_path_text(p)}={_inline(v)}", st.sampled_from(leaves),
                  st.sampled_from(leaves).flatmap(lambda p: _similar(_get(data, p))))
        if leaves else st.just("title=x"),
        st.builds(lambda p, v: f"{p}={_inline(v)}", st.sampled_from(known), values),
        st.builds(lambda p, v: f"{p}={v}", st.sampled_from(known), st.text(max_size=20)),
        st.builds(lambda p, k, v: f"{p}.{k}={_inline(v)}", st.sampled_from(known), keys,
                  scalars),
        st.text(max_size=30),
    )
    n_sets = draw(st.sampled_from([0, 0, 1, 2]))
    return data, draw(st.lists(set_strings, min_size=n_sets, max_size=n_sets))


def _validate_reports_cleanly(tmp_path, capfd, data, sets) -> int:
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):  # not TOML-able: not a case file anyone can write
        return -1
    path = tmp_path / "fuzzed.toml"
    path.write_text(text, encoding="utf-8")
    capfd.readouterr()
    code = main(["validate", str(path), *[a for s in sets for a in ("--set", s)]])
    out, err = capfd.readouterr()
    context = f"sets={sets!r}\n{text[:3000]}"
    assert "Traceback" not in err, f"{err[-3000:]}\n{context}"
    assert code in (0, 2), f"exit {code}: {err[-3000:]}\n{context}"
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, f"{err[:3000]}\n{context}"
        assert lines[0].startswith("batteryfx: error:"), f"{lines[0]}\n{context}"
        assert len(lines[0]) < 500, f"{len(lines[0])} characters: {lines[0]}\n{context}"
    return code


FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow,
                                                      HealthCheck.data_too_large])


@settings(FUZZ, max_examples=200)
@given(case=mutated_cases())
def test_fuzzed_cases_exit_0_or_one_line(tmp_path, capfd, case):
    _validate_reports_cleanly(tmp_path, capfd, *case)


@pytest.mark.slow
@settings(FUZZ, max_examples=2500)
@given(case=mutated_cases())
def test_fuzzed_cases_exit_0_or_one_line_long(tmp_path, capfd, case):
    _validate_reports_cleanly(tmp_path, capfd, *case)


def test_unmutated_bundled_cases_are_valid(tmp_path, capfd):
    for data in BASES.values():
        assert _validate_reports_cleanly(tmp_path, capfd, data, []) == 0
