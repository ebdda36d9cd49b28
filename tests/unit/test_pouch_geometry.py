"""Pouch builder: the preset layer table of the paper's 0.36 Ah cell, exact layer / region /
tab volumes and face areas on hexahedra (1 and 2 ranks), homogenised effective properties, and
one-line errors naming the case key."""

from __future__ import annotations

from mpi4py import MPI

import numpy as np
import pytest

from batteryfx.case import PouchGeometry
from batteryfx.errors import CaseError
from batteryfx.geometry_args import build_case_geometry, plan_case_geometry, pouch_spec_from_case

UM, MM = 1e-6, 1e-3
BASE = {"kind": "pouch", "laminate": False, "mesh_size": "5 mm"}


def _section(**kw):
    return PouchGeometry.model_validate({**BASE, **kw})


def test_paper_cell_layer_table():
    """3 PI-Ag-20Li anodes (outer ones single-sided), 2 NCM811 cathodes: 4 unit cells."""
    spec = pouch_spec_from_case(_section(unit="piag_20li_ncm811", cathodes=2))
    names = [la.name for la in spec.layers]
    assert names[:5] == ["a0/ag_bottom", "a0/pi", "a0/ag_top", "a0/li_top", "s0"]
    assert sum(la.component == "anode_collector" for la in spec.layers) == 9  # 3 x Ag/PI/Ag
    assert sum(la.component == "anode_active" for la in spec.layers) == 4
    assert sum(la.component == "cathode_active" for la in spec.layers) == 4
    assert sorted({la.unit for la in spec.layers} - {0}) == [1, 2, 3, 4]
    # unit 2 = cathode c0's top coating, separator s1 and anode a1's lower Li
    assert [la.name for la in spec.layers if la.unit == 2] == ["c0/ncm811_top", "s1",
                                                               "a1/li_bottom"]
    total = sum(la.thickness for la in spec.layers)
    # 3 x 8 (PI-Ag) + 4 x 20 (Li) + 4 x 16 (sep) + 2 x (2 x 60 + 12) (cathodes) um
    assert total == pytest.approx((3 * 8 + 4 * 20 + 4 * 16 + 2 * 132) * UM)
    cu = pouch_spec_from_case(_section(unit="cu_0li_ncm811", outer_anodes="double_sided"))
    assert not any(la.component == "anode_active" for la in cu.layers)
    assert sum(la.material == "Cu" for la in cu.layers) == 3


@pytest.mark.mpi
def test_volumes_areas_regions_and_tabs():
    sec = _section(unit="piag_20li_ncm811", cathodes=1, max_cell_thickness="40 um",
                   tabs=[{"name": "tab", "electrode": "anode", "span": ["10 mm", "20 mm"],
                          "length": "8 mm"}],
                   regions=[{"name": "hot", "size": ["3 mm", "2 mm"], "center": ["25 mm",
                             "20 mm"], "layers": ["a1/li_bottom"], "mesh_size": "1 mm"},
                            {"name": "nail", "size": ["2 mm", "2 mm"],
                             "center": ["40 mm", "30 mm"]}])
    g = build_case_geometry(sec, MPI.COMM_WORLD)
    assert g.mesh.topology.cell_name() == "hexahedron"
    foot_a, foot_c, sep = 58 * 45 * MM**2, 56 * 43 * MM**2, 60 * 47 * MM**2
    tab_in_collector = 10 * MM * (1 * MM + 8 * MM)  # gap to the envelope + length
    assert g.measure("a0/pi") == pytest.approx(7 * UM * (foot_a + tab_in_collector), rel=1e-9)
    assert g.measure("c0/al") == pytest.approx(12 * UM * foot_c, rel=1e-9)
    assert g.measure("s0") == pytest.approx(16 * UM * sep, rel=1e-9)
    assert g.measure("hot") == pytest.approx(3 * 2 * MM**2 * 20 * UM, rel=1e-9)
    h = sum(la.thickness for la in pouch_spec_from_case(sec).layers)
    assert g.measure("nail") == pytest.approx(4 * MM**2 * h, rel=1e-9)
    assert g.measure("unit1") + g.measure("unit2") == pytest.approx(
        2 * (20 * UM * foot_a + 16 * UM * sep + 60 * UM * foot_c), rel=1e-9)
    assert g.measure("cell") == pytest.approx(sep * h + 10 * 8 * MM**2 * 16 * UM, rel=1e-9)
    assert g.measure("bottom") == pytest.approx(sep, rel=1e-9)
    assert g.measure("top") == pytest.approx(sep, rel=1e-9)
    assert g.measure("tabs") > 2 * 10 * 8 * MM**2
    # the filler fills the envelope around the smaller footprints
    filler = g.measure("filler")
    expect = sum(la.thickness for la in pouch_spec_from_case(sec).layers
                 if la.component != "separator") * sep - 2 * 8 * UM * foot_a \
        - 2 * 20 * UM * foot_a - (2 * 60 + 12) * UM * foot_c
    tab_strip = 10 * MM * 1 * MM * 2 * 8 * UM  # collector tab strips inside the envelope gap
    assert filler == pytest.approx(expect - tab_strip, rel=1e-6)


def test_plan_matches_build_and_grading():
    sec = _section(mesh_size="4 mm", grading=1.2,
                   regions=[{"name": "hot", "size": ["1 mm", "1 mm"], "mesh_size": "0.2 mm",
                             "layers": ["a1"]}])
    spec, plan = plan_case_geometry(sec)
    from batteryfx.geometry.pouch import axis_nodes

    x = axis_nodes(spec, 0)
    dx = np.diff(x)
    assert dx.min() == pytest.approx(0.2 * MM, rel=0.05) and dx.max() <= 4 * MM * (1 + 1e-9)
    assert np.all(dx[1:] / dx[:-1] < 1.2 * 1.1) and np.all(dx[:-1] / dx[1:] < 1.2 * 1.1)
    g = build_case_geometry(sec, MPI.COMM_SELF)
    assert g.num_cells_global() <= plan.cells
    assert set(g.markers) == set(plan.markers)
    assert set(np.unique(g.cell_tags.values)) <= {t for m in plan.markers.values()
                                                  if m.dim == 3 for t in m.tags}


def test_homogenised_properties():
    """k_in = sum(k t)/sum(t), k_through = sum(t)/sum(t/k), rho c_p by thickness
    (shared/PHYSICS.md B: Ag 0.5 / PI 7 / Ag 0.5 um gives k_in ~ 54, k_through ~ 0.14)."""
    from batteryfx.geometry.base import Layer
    from batteryfx.materials import resolve
    from batteryfx.physics.heat import layer_properties

    mats = {n: resolve(n) for n in ("Ag", "polyimide")}
    mix = (("Ag", 0.5e-6), ("polyimide", 7e-6), ("Ag", 0.5e-6))
    (k_in, k_z, rc), = layer_properties([Layer("p", "s", "homogenised", 0, 8e-6, 1, 1, mix)],
                                        mats).values()
    kag, kpi = mats["Ag"]["thermal_conductivity"], mats["polyimide"]["thermal_conductivity"]
    assert k_in == pytest.approx((kag * 1e-6 + kpi * 7e-6) / 8e-6)
    assert k_z == pytest.approx(8e-6 / (1e-6 / kag + 7e-6 / kpi))
    assert 40 < k_in < 60 and 0.1 < k_z < 0.16
    rcs = {n: m["density"] * m["specific_heat"] for n, m in mats.items()}
    assert rc == pytest.approx((rcs["Ag"] * 1e-6 + rcs["polyimide"] * 7e-6) / 8e-6)
    sec = _section(mode="homogenised", homogenised_cells=4,
                   regions=[{"name": "hot", "size": ["2 mm", "2 mm"], "layers": ["a1"]}])
    spec, plan = plan_case_geometry(sec)
    assert {r.material for r in plan.layers} == {"homogenised"}
    assert all(r.mix == tuple((la.material, la.thickness) for la in spec.layers)
               for r in plan.layers)


@pytest.mark.parametrize("kw, key", [
    ({"unit": "gold_ncm811"}, "geometry.unit"),
    ({"regions": [{"name": "r", "size": ["2 mm", "2 mm"], "center": ["1 mm", "1 mm"],
                   "layers": ["a1/pi"]}]}, "geometry.regions[0].center"),
    ({"regions": [{"name": "r", "size": ["2 mm", "2 mm"], "layers": ["a9"]}]},
     "geometry.regions[0].layers[0]"),
    ({"mode": "homogenised", "tabs": [{"name": "t", "electrode": "anode",
                                       "span": ["1 mm", "5 mm"], "length": "5 mm"}]},
     "geometry.tabs[0]"),
    ({"filler": "unobtainium"}, "geometry.filler"),
    ({"separator_size": ["50 mm", "47 mm"]}, "geometry.separator_size"),
])
def test_errors_name_the_key(kw, key):
    with pytest.raises(CaseError) as info:
        plan_case_geometry(_section(**kw))
    assert info.value.key == key, str(info.value)


def test_tab_inner_end_adds_no_grid_line():
    """A tab overlaps its foil a little inside the envelope (so that they join); that inner
    end must not become a grid line across the whole pouch (it made a 45 um strip of cells
    of aspect ratio ~80 and graded cells around it: 134 k instead of 84 k dofs on the hot-spot
    case), while the tab's side edges and outer end stay grid lines."""
    from batteryfx.case import load_case
    from batteryfx.cli import bundled_cases
    from batteryfx.geometry import pouch
    from batteryfx.geometry_args import plan_case_geometry

    case = load_case(bundled_cases()["pouch_hotspot_piag_vs_cu"])
    spec, _ = plan_case_geometry(case.geometry)
    env = pouch.envelope(spec)
    ys, xs = pouch._breaks(spec, 1), pouch._breaks(spec, 0)
    for tab in spec.tabs:
        assert not any(abs(y - tab.rect.y0) < 1e-12 for y in ys), tab.rect.y0
        assert tab.rect.y0 < env.y1 < tab.rect.y1
        assert any(abs(y - tab.rect.y1) < 1e-12 for y in ys)
        assert any(abs(x - tab.rect.x0) < 1e-12 for x in xs)
        assert any(abs(x - tab.rect.x1) < 1e-12 for x in xs)


# --------------------------------------------------------------------------- symmetry planes
#: two tabs that are each other's mirror image in x = 30 mm, on the anode collectors
MIRRORED_TABS = [{"name": "left", "electrode": "anode", "span": ["8 mm", "18 mm"],
                  "length": "6 mm"},
                 {"name": "right", "electrode": "anode", "span": ["42 mm", "52 mm"],
                  "length": "6 mm"}]


@pytest.mark.mpi
def test_symmetry_quarter_and_half_models():
    """A centred nail and mirrored tabs: the quarter (half) model is exactly the part of the
    full mesh at x, y >= the centre (cell count / 4, volumes / 4); its cut faces are the
    facet marker "symmetry", not in "outer"; geometry.copies tells the physics."""
    kw = dict(unit="piag_20li_ncm811", cathodes=1, mesh_size="6 mm",
              regions=[{"name": "nail", "size": ["4 mm", "4 mm"], "mesh_size": "1 mm"}])
    _, full = plan_case_geometry(_section(**kw))
    _, quarter = plan_case_geometry(_section(**kw, symmetry=["x", "y"]))
    assert quarter.cells * 4 == full.cells and quarter.copies == 4 and full.copies == 1
    assert "symmetry" not in full.markers
    sym = quarter.markers["symmetry"]
    assert sym.dim == 2 and not set(sym.tags) & set(quarter.markers["outer"].tags)
    g = build_case_geometry(_section(**kw, symmetry=["x", "y"]), MPI.COMM_WORLD)
    assert g.copies == 4 and g.info["symmetry"]["planes_m"] == pytest.approx(
        {"x": 30 * MM, "y": 23.5 * MM}, rel=1e-12)
    assert g.num_cells_global() == quarter.cells
    h = sum(la.z1 - la.z0 for la in g.layers if la.stack == "pouch" and la.name != "filler")
    assert g.measure("nail") == pytest.approx(4 * 4 * MM**2 * h / 4, rel=1e-9)
    assert g.measure("a0/pi") == pytest.approx(7 * UM * 58 * 45 * MM**2 / 4, rel=1e-9)
    # the symmetry faces: on x = 30 mm over y = 23.5 .. 47 mm, on y = 23.5 mm over
    # x = 30 .. 60 mm, each the stack height high
    assert g.measure("symmetry") == pytest.approx((30 + 23.5) * MM * h, rel=1e-9)
    # a half model with two mirrored tabs keeps one of them, clipped by nothing
    half = build_case_geometry(_section(**kw, tabs=MIRRORED_TABS, symmetry=["x"]),
                               MPI.COMM_WORLD)
    whole = build_case_geometry(_section(**kw, tabs=MIRRORED_TABS), MPI.COMM_WORLD)
    assert "tabs" in half.markers and half.copies == 2
    assert half.measure("tabs") == pytest.approx(whole.measure("tabs") / 2, rel=1e-9)
    assert half.measure("cell") == pytest.approx(whole.measure("cell") / 2, rel=1e-9)


@pytest.mark.parametrize("kw, key", [
    (dict(regions=[{"name": "hot", "size": ["2 mm", "2 mm"], "center": ["20 mm", "23.5 mm"]}],
          symmetry=["x"]), "geometry.regions[0].center"),
    (dict(tabs=[{"name": "t", "electrode": "anode", "span": ["8 mm", "18 mm"],
                 "length": "6 mm"}], symmetry=["x"]), "geometry.tabs[0].rect"),
    # a tab centred on x = 30 mm is its own mirror image, but not on the y plane's other side
    (dict(tabs=[{"name": "t", "electrode": "anode", "span": ["25 mm", "35 mm"],
                 "length": "6 mm"}], symmetry=["y"]), "geometry.tabs[0].rect"),
])
def test_symmetry_errors_name_the_key(kw, key):
    with pytest.raises(CaseError) as err:
        plan_case_geometry(_section(unit="piag_20li_ncm811", cathodes=1, **kw))
    assert err.value.key == key, err.value
    # a centred tab is fine with the x plane
    if key == "geometry.tabs[0].rect" and kw["symmetry"] == ["y"]:
        plan_case_geometry(_section(unit="piag_20li_ncm811", cathodes=1,
                                    **{**kw, "symmetry": ["x"]}))
