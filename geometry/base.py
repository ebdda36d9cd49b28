"""The Geometry record every builder returns and every solver takes, the plan a builder makes
without meshing (what validation needs), the registry entry of a builder and its error type.

A builder (one module per geometry family, e.g. :mod:`batteryfx.geometry.coupon`) provides a
frozen dataclass of typed arguments (its ``Spec``), ``plan(spec) -> Plan`` (markers, bounding
boxes, layer table and a cell estimate, no mesh) and ``build(spec, comm) -> Geometry``. It takes
no case objects and raises :class:`GeometryError`, whose ``field`` names the spec field at fault
(``stacks[0].layers[1].z``); the shell (:mod:`batteryfx.geometry_args`) turns a case section
into a spec and a GeometryError back into a CaseError naming the case key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from batteryfx.errors import BatteryfxError

if TYPE_CHECKING:  # (planning and validating a case need no DOLFINx)
    import dolfinx

#: an axis-aligned box ((x0, y0, z0), (x1, y1, z1)) in metres
Box = tuple[tuple[float, float, float], tuple[float, float, float]]


class GeometryError(BatteryfxError):
    """Builder arguments a builder cannot mesh, or a mesher failure.

    ``field`` is the path of the offending argument in the builder's spec (e.g.
    ``stacks[0].layers[1].z``, ``hot_spot.size``; "" when no single argument is at fault) and
    ``value`` its value; the message says what is allowed. Exit code 2 (bad input)."""

    exit_code = 2

    def __init__(self, message: str, field: str = "", value: object = None):
        self.field, self.value, self.reason = field, value, message
        super().__init__(f"{field}: {message}" if field else message)


@dataclass(frozen=True)
class Marker:
    """A named region: the mesh tags it covers and their topological dimension."""

    tags: tuple[int, ...]
    dim: int


@dataclass(frozen=True)
class Layer:
    """One row of the layer table: ``material`` fills ``z0 <= z <= z1`` (m) of ``stack``.

    ``mix``: for a homogenised block, the (material, thickness m) of the layers it stands for
    (``material`` is then "homogenised"); the physics derives effective properties from it.
    ``props``: (property, SI value) overriding the material's for this row only."""

    stack: str
    name: str
    material: str
    z0: float
    z1: float
    cells: int
    tag: int
    mix: tuple[tuple[str, float], ...] = ()
    #: property overrides of this row (SI; e.g. the conductivity of a thin layer standing for
    #: a thermal contact resistance)
    props: tuple[tuple[str, float], ...] = ()

    @property
    def thickness(self) -> float:
        return self.z1 - self.z0


@dataclass
class Geometry:
    """Mesh, cell/facet tags, named markers and (for layered cells) the layer table.

    Coordinates are in metres. ``markers`` maps a name to its tags; composite names (e.g.
    ``top`` over every stack) map to several tags.
    """

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags
    facet_tags: dolfinx.mesh.MeshTags
    markers: dict[str, Marker]
    layers: list[Layer] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    #: bounding box of each stack (or part) by name, in metres
    boxes: dict[str, Box] = field(default_factory=dict)
    #: the mesh is 1/copies of the object by mirror symmetry (e.g. 4: a quarter cell):
    #: totals a case gives for the whole object (a source's watts) are divided by it and
    #: integrals over markers multiplied by it
    copies: int = 1

    def entities(self, name: str) -> np.ndarray:
        """Local indices of the mesh entities (cells or facets) of a marker."""
        marker = self.markers[name]
        tags = self.cell_tags if marker.dim == self.mesh.topology.dim else self.facet_tags
        return tags.indices[np.isin(tags.values, marker.tags)]

    def measure(self, name: str) -> float:
        """Volume (m^3) of a cell marker, or area (m^2) of a facet marker (collective)."""
        from mpi4py import MPI

        import ufl
        from dolfinx import fem

        marker = self.markers[name]
        mesh = self.mesh
        kind, data = ("dx", self.cell_tags) if marker.dim == mesh.topology.dim \
            else ("ds", self.facet_tags)
        m = ufl.Measure(kind, domain=mesh, subdomain_data=data)
        local = fem.assemble_scalar(fem.form(fem.Constant(mesh, 1.0) * m(tuple(marker.tags))))
        return mesh.comm.allreduce(local, op=MPI.SUM)

    def num_cells_global(self) -> int:
        imap = self.mesh.topology.index_map(self.mesh.topology.dim)
        return imap.size_global


@dataclass(frozen=True)
class Plan:
    """What a builder will make, computed without meshing (fast for any size): the markers
    (name -> tags, dim), the bounding box of each stack, the layer table and the number of
    cells (an estimate at most ``MAX_ESTIMATE`` of the builder)."""

    markers: dict[str, Marker]
    boxes: dict[str, Box]
    layers: tuple[Layer, ...]
    cells: int
    #: the mesh is 1/copies of the object by mirror symmetry (see :attr:`Geometry.copies`)
    copies: int = 1


@dataclass(frozen=True)
class Builder:
    """A registry entry (:data:`batteryfx.geometry.BUILDERS`): the spec type of a geometry
    kind, ``plan(spec) -> Plan`` and ``build(spec, comm) -> Geometry``."""

    kind: str
    spec_type: type
    plan: Callable[[Any], Plan]
    build: Callable[[Any, Any], Geometry]
    #: ``budget(spec) -> [(name, component, material, thickness m, area m^2)]``, the sheets of
    #: a cell for its mass budget (None: the geometry is not a cell)
    budget: Callable[[Any], list] | None = None
