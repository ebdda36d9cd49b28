"""The Geometry record every builder returns and every solver takes."""

from __future__ import annotations

from dataclasses import dataclass, field

import dolfinx
import numpy as np


@dataclass(frozen=True)
class Marker:
    """A named region: the mesh tags it covers and their topological dimension."""

    tags: tuple[int, ...]
    dim: int


@dataclass(frozen=True)
class Layer:
    """One row of the layer table: ``material`` fills ``z0 <= z <= z1`` (m) of ``stack``."""

    stack: str
    name: str
    material: str
    z0: float
    z1: float
    cells: int
    tag: int

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

    def entities(self, name: str) -> np.ndarray:
        """Local indices of the mesh entities (cells or facets) of a marker."""
        marker = self.markers[name]
        tags = self.cell_tags if marker.dim == self.mesh.topology.dim else self.facet_tags
        return tags.indices[np.isin(tags.values, marker.tags)]

    def num_cells_global(self) -> int:
        imap = self.mesh.topology.index_map(self.mesh.topology.dim)
        return imap.size_global
