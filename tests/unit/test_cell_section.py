"""The cell-section builder (geometry/cell_section.py): layer and pattern breaks are mesh
nodes, markers measure what the spec says, 1D / 2D / 3D, serial and on 2 ranks; bad specs
name their field."""

from __future__ import annotations

from mpi4py import MPI

import pytest

from batteryfx.geometry import GeometryError, build_geometry, plan_geometry
from batteryfx.geometry.cell_section import CellSectionSpec, Pattern, SectionLayer

pytestmark = pytest.mark.mpi
UM = 1e-6
LAYERS = (SectionLayer("separator", 25 * UM, 10), SectionLayer("cathode", 60 * UM, 12))


def test_1d_layers_and_faces():
    g = build_geometry(CellSectionSpec(LAYERS), MPI.COMM_WORLD)
    assert g.mesh.topology.dim == 1 and g.num_cells_global() == 22
    assert g.measure("separator") == pytest.approx(25 * UM, rel=1e-12)
    assert g.measure("cathode") == pytest.approx(60 * UM, rel=1e-12)
    assert g.measure("anode") == pytest.approx(1.0) and g.measure("counter") == pytest.approx(1.0)
    assert g.measure("outer") == pytest.approx(2.0)


@pytest.mark.parametrize("dim, fraction", [(2, 0.3), (3, 0.25)])
def test_patterned_anode(dim, fraction):
    """Active area = fraction x face area exactly (the pattern edges are nodes)."""
    width, depth = 60 * UM, 40 * UM
    spec = CellSectionSpec(LAYERS[:1], dimension=dim, width=width,
                           depth=depth if dim == 3 else None, cells_across=12,
                           pattern=Pattern(20 * UM, fraction))
    g = build_geometry(spec, MPI.COMM_WORLD)
    face = width * (depth if dim == 3 else 1.0)
    assert g.measure("anode") == pytest.approx(face, rel=1e-12)
    assert g.measure("anode_active") == pytest.approx(fraction * face, rel=1e-10)
    assert g.measure("anode_blocked") == pytest.approx((1 - fraction) * face, rel=1e-10)
    assert g.measure("counter") == pytest.approx(face, rel=1e-12)
    assert g.measure("separator") == pytest.approx(25 * UM * face, rel=1e-12)
    assert set(plan_geometry(spec).markers) == set(g.markers)


@pytest.mark.parametrize("kw, field", [
    ({"dimension": 4}, "dimension"),
    ({"dimension": 2}, "width"),
    ({"dimension": 1, "width": 1e-5}, "width"),
    ({"dimension": 2, "width": 50 * UM, "pattern": Pattern(20 * UM, 0.5)}, "pattern.period"),
    ({"dimension": 2, "width": 40 * UM, "pattern": Pattern(20 * UM, 1.5)},
     "pattern.active_fraction"),
    ({"pattern": Pattern(20 * UM, 0.5)}, "pattern"),
])
def test_bad_specs_name_the_field(kw, field):
    with pytest.raises(GeometryError) as err:
        plan_geometry(CellSectionSpec(LAYERS, **kw))
    assert err.value.field == field
