"""Coupon builder: hexahedra only, exact layer volumes and marker areas (graded or not), the same
on 2 ranks."""

from __future__ import annotations

from mpi4py import MPI

import pytest

from batteryfx.case import CouponGeometry
from batteryfx.geometry_args import build_case_geometry

pytestmark = pytest.mark.mpi

SPEC = {
    "kind": "coupon", "size": ["10 um", "8 um"], "mesh_size": "2 um", "gap": "3 um",
    "hot_spot": {"size": ["1 um", "2 um"], "center": ["4 um", "5 um"]},
    "stacks": [
        {"name": "a", "layers": [{"name": "x", "material": "Ag", "thickness": "0.5 um"},
                                 {"name": "y", "material": "polyimide", "thickness": "7 um"}]},
        {"name": "b", "layers": [{"name": "z", "material": "Cu", "thickness": "8 um"}]},
    ],
}


@pytest.mark.parametrize("hot_mesh", [None, "0.25 um"])
def test_volumes_and_areas(hot_mesh):
    spec = dict(SPEC, hot_spot=dict(SPEC["hot_spot"], mesh_size=hot_mesh))
    g = build_case_geometry(CouponGeometry.model_validate(spec), MPI.COMM_WORLD)
    assert g.mesh.topology.cell_type.name == "hexahedron"
    um2, um3 = 1e-12, 1e-18
    expected = {
        "a/x": 80 * 0.5 * um3, "a/y": 80 * 7 * um3, "a": 80 * 7.5 * um3, "b/z": 80 * 8 * um3,
        "a/bottom": 80 * um2, "a/top": 78 * um2, "a/hot_spot": 2 * um2,
        "a/sides": 2 * (10 + 8) * 7.5 * um2, "b/sides": 2 * (10 + 8) * 8 * um2,
        "hot_spot": 4 * um2, "bottom": 160 * um2,
    }
    for name, value in expected.items():
        assert g.measure(name) == pytest.approx(value, rel=1e-10), name
    cells = g.num_cells_global()
    if hot_mesh is None:
        # in-plane breaks x: 0 3.5 4.5 10 -> 2+1+3 cells; y: 0 4 6 8 -> 2+1+1; 2 cells/layer
        assert cells == 6 * 4 * (2 + 2) + 6 * 4 * 2
    else:
        assert cells > 4 * (6 * 4 * (2 + 2) + 6 * 4 * 2)  # refined around the patch
    assert g.layers[1].z0 == pytest.approx(0.5e-6) and g.layers[1].z1 == pytest.approx(7.5e-6)
