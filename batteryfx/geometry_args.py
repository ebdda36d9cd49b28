"""The one place where a case's ``[geometry]`` section becomes builder arguments, and where a
builder's :class:`~batteryfx.geometry.GeometryError` becomes a :class:`CaseError` naming the
case key.

:data:`SPEC_FROM_CASE` maps ``geometry.kind`` to the function that translates that section into
the builder's spec; :data:`batteryfx.geometry.BUILDERS` picks the builder for the same kind. A
spec's field paths mirror the section's keys (``stacks[0].layers[1].z`` is
``geometry.stacks[0].layers[1].z``), so an error on a field names the case key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from batteryfx.errors import CaseError

if TYPE_CHECKING:
    from batteryfx.case import CouponGeometry
    from batteryfx.geometry import Geometry, GeometryError, Plan
    from batteryfx.geometry.coupon import CouponSpec

SECTION = "geometry"  # the case key of the geometry section


def coupon_spec_from_case(section: CouponGeometry, key: str = SECTION) -> CouponSpec:
    """The coupon builder's arguments from a ``kind = "coupon"`` section: layers given by
    ``thickness`` are stacked on the layer below, layers given by ``z`` keep their range."""
    from batteryfx.geometry.coupon import CouponLayer, CouponSpec, CouponStack, HotSpot

    stacks = []
    for i, stack in enumerate(section.stacks):
        layers, top = [], 0.0
        for j, layer in enumerate(stack.layers):
            where = f"{key}.stacks[{i}].layers[{j}]"
            if (layer.thickness is None) == (layer.z is None):
                raise CaseError(where, layer.name, "give exactly one of thickness or z = [z0, z1]")
            z0, z1 = layer.z if layer.z is not None else (top, top + layer.thickness)
            layers.append(CouponLayer(layer.name, layer.material, float(z0), float(z1),
                                      layer.cells))
            top = z1
        stacks.append(CouponStack(stack.name, tuple(layers)))
    hot = section.hot_spot
    hot_spot = None if hot is None else HotSpot(
        size=tuple(hot.size), center=None if hot.center is None else tuple(hot.center),
        mesh_size=hot.mesh_size)
    return CouponSpec(size=tuple(section.size), mesh_size=section.mesh_size,
                      stacks=tuple(stacks), max_cell_thickness=section.max_cell_thickness,
                      min_cells_per_layer=section.min_cells_per_layer, gap=section.gap,
                      grading=section.grading, hot_spot=hot_spot)


#: geometry kind -> translation of its case section into the builder's spec
SPEC_FROM_CASE: dict[str, Callable[[Any, str], Any]] = {"coupon": coupon_spec_from_case}


def geometry_spec(section, key: str = SECTION):
    """The builder arguments of a case's geometry section (CaseError naming the key)."""
    return SPEC_FROM_CASE[section.kind](section, key)


def case_error(exc: GeometryError, key: str = SECTION) -> CaseError | GeometryError:
    """A GeometryError on a spec field as the CaseError naming the case key; one not on a field
    (a mesher failure) is returned as it is."""
    if not exc.field:
        return exc
    return CaseError(f"{key}.{exc.field}", exc.value, exc.reason)


def plan_case_geometry(section, key: str = SECTION) -> tuple[Any, Plan]:
    """(spec, plan) of a case's geometry section without meshing; errors as CaseError."""
    from batteryfx.geometry import GeometryError, plan_geometry

    spec = geometry_spec(section, key)
    try:
        return spec, plan_geometry(spec)
    except GeometryError as exc:
        raise case_error(exc, key) from None


def build_case_geometry(section, comm, key: str = SECTION) -> Geometry:
    """Build the geometry of a case's geometry section; errors name the case key."""
    from batteryfx.geometry import GeometryError, build_geometry

    spec = geometry_spec(section, key)
    try:
        return build_geometry(spec, comm)
    except GeometryError as exc:
        raise case_error(exc, key) from None
