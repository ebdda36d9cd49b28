"""Geometry builders (Gmsh on rank 0, then distributed). Each returns a :class:`Geometry`.

:data:`BUILDERS` maps a geometry kind to its :class:`Builder`: the typed argument dataclass
(``spec_type``), ``plan(spec)`` (markers, boxes, layer table, cell count; no mesh) and
``build(spec, comm)``. Builders take no case objects; :mod:`batteryfx.geometry_args` turns a
case's ``[geometry]`` section into a spec.
"""

from batteryfx.geometry import cell_section, coupon, particles, pouch
from batteryfx.geometry.base import Box, Builder, Geometry, GeometryError, Layer, Marker, Plan

__all__ = ["BUILDERS", "Box", "Builder", "Geometry", "GeometryError", "Layer", "Marker", "Plan",
           "build_geometry", "plan_geometry"]

#: geometry kind -> builder
BUILDERS: dict[str, Builder] = {
    "coupon": Builder("coupon", coupon.CouponSpec, coupon.plan, coupon.build),
    "pouch": Builder("pouch", pouch.PouchSpec, pouch.plan, pouch.build, pouch.budget_rows),
    # a section through a cell along x (1D / 2D / 3D) for the electrolyte
    "cell_section": Builder("cell_section", cell_section.CellSectionSpec, cell_section.plan,
                            cell_section.build),
    # electrode particles (geometry/particles.py): one spec per kind, shared plan / build
    **{spec.kind: Builder(spec.kind, spec, particles.plan, particles.build)
       for spec in (particles.SphereSpec, particles.EllipsoidSpec, particles.CoreShellSpec,
                    particles.PolycrystalSpec, particles.ParticleInMatrixSpec,
                    particles.MeshFileSpec)},
}


def _builder(spec) -> Builder | None:
    builder = BUILDERS.get(getattr(spec, "kind", None))
    return builder if builder is not None and isinstance(spec, builder.spec_type) else None


def plan_geometry(spec) -> Plan:
    """What the builder of ``spec`` will make, without meshing (GeometryError if it cannot)."""
    builder = _builder(spec)
    if builder is None:
        raise TypeError(f"not a geometry spec: {type(spec).__name__}")
    return builder.plan(spec)


def build_geometry(spec, comm) -> Geometry:
    """Build the geometry of a spec (e.g. a :class:`~batteryfx.geometry.coupon.CouponSpec`);
    a case's ``[geometry]`` section goes through
    :func:`batteryfx.geometry_args.build_case_geometry` instead."""
    builder = _builder(spec)
    if builder is None:
        raise TypeError(f"not a geometry spec: {type(spec).__name__}")
    return builder.build(spec, comm)
