"""Geometry builders behind the registry: tags for any number of layers (> 100 per stack),
plan == build without meshing, GeometryError naming the spec field and the shell turning it into
a CaseError naming the case key."""

from __future__ import annotations

from mpi4py import MPI

import numpy as np
import pytest
import ufl
from dolfinx import fem

from batteryfx.case import CouponGeometry
from batteryfx.errors import CaseError
from batteryfx.geometry import BUILDERS, GeometryError, build_geometry, plan_geometry
from batteryfx.geometry.coupon import CouponLayer, CouponSpec, CouponStack, HotSpot
from batteryfx.geometry_args import coupon_spec_from_case, plan_case_geometry

WIDTH = 2e-6
# the old tags 100 (i + 1) + j + 1 gave layer 101 of stack 0 the tag of layer 1 of stack 1.
# (Gmsh's geo extrusion costs grow with the number of entities: keep the in-plane mesh 1 hex)
N_LAYERS = (105, 3)


def _thickness(j: int) -> float:
    return (1 + j % 3) * 1e-8  # 10, 20, 30 nm


def _tall_spec() -> CouponSpec:
    stacks = []
    for i, n in enumerate(N_LAYERS):
        rows, top = [], 0.0
        for j in range(n):
            rows.append(CouponLayer(f"l{j}", "Cu" if j % 2 else "polyimide", top,
                                    top + _thickness(j), 1))
            top += _thickness(j)
        stacks.append(CouponStack(f"s{i}", tuple(rows)))
    return CouponSpec(size=(WIDTH, WIDTH), mesh_size=WIDTH, stacks=tuple(stacks))


def test_tags_unique_for_many_layers():
    spec = _tall_spec()
    plan = plan_geometry(spec)
    cell_tags = [m.tags[0] for name, m in plan.markers.items()
                 if m.dim == 3 and "/" in name]
    facet_tags = [m.tags[0] for name, m in plan.markers.items()
                  if m.dim == 2 and "/" in name]
    assert len(cell_tags) == sum(N_LAYERS) == len(set(cell_tags))
    assert len(facet_tags) == 3 * len(N_LAYERS)  # bottom, top, sides == len(set(facet_tags))
    assert not set(cell_tags) & set(facet_tags)  # a tag names one marker, whatever its dim
    assert [r.tag for r in plan.layers] == sorted(cell_tags)
    assert set(plan.markers["s0"].tags).isdisjoint(plan.markers["s1"].tags)
    assert plan.cells == sum(N_LAYERS)  # one hexahedron in-plane, one per layer
    hot = plan_geometry(CouponSpec(size=spec.size, mesh_size=spec.mesh_size, stacks=spec.stacks,
                                   hot_spot=HotSpot(size=(WIDTH / 2, WIDTH / 2))))
    assert len(hot.markers) == len(plan.markers) + 3  # s0/hot_spot, s1/hot_spot, hot_spot
    assert hot.cells == 3 * 3 * sum(N_LAYERS)  # tiles at the patch edges
    hot_tags = [m.tags[0] for name, m in hot.markers.items() if "/" in name]
    assert len(hot_tags) == len(set(hot_tags))
    top = sum(_thickness(j) for j in range(N_LAYERS[1]))
    assert plan.boxes["s1"][1][2] == pytest.approx(top, rel=1e-12)


def _volume(geometry, tags) -> float:
    dx = ufl.Measure("dx", domain=geometry.mesh, subdomain_data=geometry.cell_tags)
    one = fem.Constant(geometry.mesh, 1.0)
    local = fem.assemble_scalar(fem.form(one * dx(tuple(tags))))
    return geometry.mesh.comm.allreduce(local, op=MPI.SUM)


@pytest.mark.mpi
def test_many_layers_build_exact_volumes():
    spec = _tall_spec()
    plan = plan_geometry(spec)
    g = build_geometry(spec, MPI.COMM_WORLD)
    assert g.markers == plan.markers and g.boxes == plan.boxes
    assert list(g.layers) == list(plan.layers)
    comm = g.mesh.comm
    present = comm.allgather(np.unique(g.cell_tags.values))
    assert set(np.concatenate(present)) == {r.tag for r in plan.layers}
    assert g.num_cells_global() == plan.cells
    for i, stack in enumerate(spec.stacks):
        for j, layer in enumerate(stack.layers):
            expected = WIDTH**2 * (layer.z1 - layer.z0)
            got = _volume(g, g.markers[f"s{i}/l{j}"].tags)
            assert got == pytest.approx(expected, rel=1e-9), (i, j)
        height = stack.layers[-1].z1
        assert _volume(g, g.markers[f"s{i}"].tags) == pytest.approx(WIDTH**2 * height,
                                                                     rel=1e-9)
    ds = ufl.Measure("ds", domain=g.mesh, subdomain_data=g.facet_tags)
    one = fem.Constant(g.mesh, 1.0)
    top = comm.allreduce(fem.assemble_scalar(fem.form(one * ds(g.markers["top"].tags))))
    assert top == pytest.approx(2 * WIDTH**2, rel=1e-9)


def test_registry_and_errors_name_fields():
    assert BUILDERS["coupon"].spec_type is CouponSpec and CouponSpec.kind == "coupon"
    spec = _tall_spec()
    s0 = spec.stacks[0]
    bad = list(s0.layers)
    bad[3] = CouponLayer("l3", "Cu", bad[3].z0 - 5e-9, bad[3].z1)
    broken = CouponSpec(size=spec.size, mesh_size=spec.mesh_size,
                        stacks=(CouponStack("s0", tuple(bad)), spec.stacks[1]))
    with pytest.raises(GeometryError, match="overlaps layer 'l2'") as info:
        plan_geometry(broken)
    assert info.value.field == "stacks[0].layers[3].z" and info.value.exit_code == 2
    same_names = CouponSpec(size=spec.size, mesh_size=spec.mesh_size,
                            stacks=(s0, CouponStack("s0", s0.layers)))
    with pytest.raises(GeometryError, match="unique") as info:
        plan_geometry(same_names)
    assert info.value.field == "stacks[1].name"


def test_shell_translates_section_and_errors():
    section = CouponGeometry.model_validate({
        "kind": "coupon", "size": ["10 um", "8 um"], "mesh_size": "2 um",
        "hot_spot": {"size": ["1 um", "2 um"], "center": ["9.9 um", "4 um"]},
        "stacks": [{"name": "a", "layers": [
            {"name": "x", "material": "Ag", "thickness": "0.5 um"},
            {"name": "y", "material": "polyimide", "z": ["0.5 um", "7.5 um"], "cells": 3}]}],
    })
    spec = coupon_spec_from_case(section)
    x, y = spec.stacks[0].layers
    assert (x.z0, x.cells, y.z0, y.z1, y.cells) == (0.0, None, 0.5e-6, 7.5e-6, 3)
    assert x.z1 == pytest.approx(0.5e-6, rel=1e-15)
    with pytest.raises(CaseError) as info:
        plan_case_geometry(section)  # the hot spot crosses the edge
    assert info.value.key == "geometry.hot_spot" and "inside" in str(info.value)
