"""Geometry builders (Gmsh on rank 0, then distributed). Each returns a :class:`Geometry`."""

from batteryfx.geometry.base import Geometry, Layer, Marker

__all__ = ["Geometry", "Layer", "Marker", "build_geometry"]


def build_geometry(spec, comm) -> Geometry:
    """Build the geometry a case's ``[geometry]`` section describes."""
    if spec.kind == "coupon":
        from batteryfx.geometry.coupon import build

        return build(spec, comm)
    raise ValueError(f"unknown geometry kind {spec.kind!r}")  # pragma: no cover (schema)
