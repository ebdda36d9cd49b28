"""Electrode particles for Li diffusion and chemo-mechanics (shared/PHYSICS.md C): a sphere, an
ellipsoid, a core-shell particle, a polycrystalline secondary particle (Voronoi grains with
random crystal orientations), a particle bonded in a solid-electrolyte matrix, and meshes
imported from a file.

One Spec per kind, not one Spec with a ``shape`` field: the kinds take different arguments
(semi-axes, a core and a shell, a grain count and a seed, a matrix, a file path) and a single
Spec would carry fields that mean nothing for most shapes and would have to be checked
against the shape by hand. One Spec per kind maps 1:1 onto a discriminated union of case
sections keyed by ``kind`` (the registry key), and each Spec's fields are exactly the case keys.
What the kinds share (mesh sizes, surface refinement, element order, the octant) has the same
field name in every Spec.

=======================  ==================================================================
kind                     Spec
=======================  ==================================================================
``sphere``               :class:`SphereSpec` (``radius``)
``ellipsoid``            :class:`EllipsoidSpec` (``semi_axes``)
``core_shell``           :class:`CoreShellSpec` (``core_radius``, ``shell_thickness``)
``polycrystal``          :class:`PolycrystalSpec` (``radius``, ``grains``, ``seed``)
``particle_in_matrix``   :class:`ParticleInMatrixSpec` (a sphere or core-shell particle in
                         a cube or sphere of matrix)
``mesh_file``            :class:`MeshFileSpec` (a Gmsh ``.msh`` or anything meshio reads)
=======================  ==================================================================

Sphere, ellipsoid, core-shell and particle-in-matrix take ``octant = True``: the part in
x, y, z >= 0 (the 1/8 of a body symmetric about the three coordinate planes), its cut faces
tagged ``symmetry_x`` (x = 0), ``symmetry_y``, ``symmetry_z``.

Units: SI throughout, lengths in metres. The particle is centred on the origin.

Markers. Cells: ``particle`` (the whole particle: its only volume, or core + shell, or all
grains), ``core``, ``shell``, ``grain1`` ... ``grainN``, ``matrix``. Facets: ``surface`` (the
particle's outer surface; in a matrix it is the bonded particle-matrix interface, interior
facets), ``interface`` (core-shell interface, interior), ``grain_boundaries`` (between any two
grains, interior), ``outer`` (the outer boundary of the matrix), ``symmetry_x|y|z``. Cell tags
are 1, 2, ... in the order core/particle, shell, grains, matrix; facet tags follow after the
last cell tag in the order of :data:`FACET_KINDS`, so no tag names two markers. Imported meshes
take their markers from the file's physical groups.

Meshes: Gmsh (OpenCASCADE kernel) on rank 0, tetrahedra of order ``order`` (1 or 2),
distributed by ``dolfinx.io.gmsh.model_to_mesh``. The cell size is ``mesh_size`` inside the
particle and ``surface_mesh_size`` at its surface (and at a core-shell interface), growing
linearly over ``surface_refinement_width`` (a Gmsh Distance + Threshold field). Meshes with
interior facet markers are distributed with shared-facet ghosting, so an interior facet on a
process boundary has both its cells (and its tag) on each rank that sees it and ``dS`` works.
Gmsh models every shape scaled to size ~1 (OpenCASCADE tolerances are absolute, ~1e-7 in
model units) and the mesh is scaled back to metres after distribution.

Polycrystal: grain centres are drawn uniformly in the ball (rejection keeps them at least
``min_seed_spacing`` times the mean grain size apart); each Voronoi cell is clipped to a
cube in numpy (convex clipping by the bisector planes, no scipy), built as a convex OCC solid
(half-space cuts of a box if its polygons are degenerate), intersected with the ball, and the
grains are fragmented into one conforming model. Orientations are uniform on SO(3)
(Shoemake's quaternions). Both come from ``numpy.random.default_rng`` seeded with
``(seed, 0)`` (centres) and ``(seed, 1)`` (orientations), so a seed gives the same grains on
every machine and rank count. The grains are :attr:`ParticleGeometry.grains` (grain tag ->
:class:`Grain`) and ``info["grains"]``.

The Gmsh -> DOLFINx path is that of :mod:`batteryfx.geometry.coupon`; every builder raises
:class:`GeometryError` naming the spec field at fault.
"""

from __future__ import annotations

import math
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np

from batteryfx.geometry.base import Box, Geometry, GeometryError, Marker, Plan

#: facet marker kinds, in the order their tags are numbered (after the last cell tag)
FACET_KINDS = ("surface", "interface", "grain_boundaries", "outer",
               "symmetry_x", "symmetry_y", "symmetry_z")
#: facet markers made of interior facets (two cells each) when present
INTERIOR_KINDS = ("interface", "grain_boundaries")
MAX_ESTIMATE = 10**18
#: smallest feature relative to the model extent (Gmsh merges points closer than that)
REL_FEATURE = 1e-6
#: volume of a Gmsh tetrahedron of nominal size h, over h^3 (measured: 0.15 to 0.26 for
#: the shapes here; used by the cell estimate only)
_TET_VOLUME = 0.18
MATRIX_SHAPES = ("box", "sphere")
MESH_SUFFIX = ".msh"


# --------------------------------------------------------------------------- arguments
@dataclass(frozen=True)
class SphereSpec:
    """A sphere of ``radius`` (m) centred on the origin.

    Mesh (all m): ``mesh_size`` inside, ``surface_mesh_size`` at the surface (None: no
    refinement), growing over ``surface_refinement_width`` (None: a quarter of the radius);
    ``order`` 1 or 2 (curved tetrahedra); ``octant``: only x, y, z >= 0."""

    kind: ClassVar[str] = "sphere"
    radius: float
    mesh_size: float
    surface_mesh_size: float | None = None
    surface_refinement_width: float | None = None
    order: int = 1
    octant: bool = False


@dataclass(frozen=True)
class EllipsoidSpec:
    """An ellipsoid with ``semi_axes`` (a, b, c) (m) along x, y, z, centred on the origin.
    Mesh fields as :class:`SphereSpec` (the refinement width default: a quarter of the
    smallest semi-axis)."""

    kind: ClassVar[str] = "ellipsoid"
    semi_axes: tuple[float, float, float]
    mesh_size: float
    surface_mesh_size: float | None = None
    surface_refinement_width: float | None = None
    order: int = 1
    octant: bool = False


@dataclass(frozen=True)
class CoreShellSpec:
    """A spherical core of ``core_radius`` (m) in a shell (coating) ``shell_thickness`` (m)
    thick: volumes ``core``, ``shell`` (and ``particle`` = both), facets ``interface`` (core /
    shell, interior) and ``surface``. ``surface_mesh_size`` applies at both spherical faces;
    for k cells through a thin shell set it to at most shell_thickness / k. Other fields as
    :class:`SphereSpec`."""

    kind: ClassVar[str] = "core_shell"
    core_radius: float
    shell_thickness: float
    mesh_size: float
    surface_mesh_size: float | None = None
    surface_refinement_width: float | None = None
    order: int = 1
    octant: bool = False


@dataclass(frozen=True)
class PolycrystalSpec:
    """A secondary particle of ``radius`` (m) made of ``grains`` Voronoi grains (volumes
    ``grain1`` ... and ``particle``; facets ``grain_boundaries`` (interior) and ``surface``).
    ``seed`` (int >= 0) fixes the grain centres and orientations; ``min_seed_spacing``
    (dimensionless) keeps centres at least that fraction of the mean grain size
    (4/3 pi R^3 / grains)^(1/3) apart. Mesh fields as :class:`SphereSpec`; ``mesh_size``
    should be well below the grain size."""

    kind: ClassVar[str] = "polycrystal"
    radius: float
    grains: int
    mesh_size: float
    seed: int = 0
    min_seed_spacing: float = 0.5
    surface_mesh_size: float | None = None
    surface_refinement_width: float | None = None
    order: int = 1


@dataclass(frozen=True)
class ParticleInMatrixSpec:
    """A sphere of ``radius`` (m) bonded in a solid-electrolyte matrix: a cube
    [-matrix_extent, matrix_extent]^3 (``matrix_shape = "box"``) or a sphere of radius
    ``matrix_extent`` (m) around it. ``shell_thickness`` (m) > 0 coats the sphere (then
    ``radius`` is the core radius: volumes ``core``, ``shell``). Volumes ``particle`` and
    ``matrix``; facets ``surface`` (the bonded particle-matrix interface, interior),
    ``interface`` (core / shell, with a shell) and ``outer`` (the matrix boundary).

    Mesh (m): as :class:`SphereSpec` in the particle; in the matrix the size grows from the
    surface size at the interface to ``matrix_mesh_size`` (None: ``mesh_size``)."""

    kind: ClassVar[str] = "particle_in_matrix"
    radius: float
    matrix_extent: float
    mesh_size: float
    matrix_shape: str = "box"
    shell_thickness: float = 0.0
    matrix_mesh_size: float | None = None
    surface_mesh_size: float | None = None
    surface_refinement_width: float | None = None
    order: int = 1
    octant: bool = False


@dataclass(frozen=True)
class MeshFileSpec:
    """A mesh read from ``path``: a Gmsh ``.msh`` (its named physical groups become the
    markers; an unnamed group of dimension 3 or 2 becomes ``volume<tag>`` or ``facet<tag>``),
    or any volume mesh meshio reads (its tetrahedra, and triangles as facets, with the region
    ids of the integer cell data ``cell_data``, default the first of ``gmsh:physical``,
    ``medit:ref``, ``cell_tags``; without one every cell is ``particle``). Coordinates are
    multiplied by ``scale`` (to metres: 1e-6 for a file in micrometres).

    Read as ``dolfinx.io.gmsh.read_from_msh`` does (``gmsh.merge`` on rank 0, then
    ``model_to_mesh``), but inside this module's Gmsh session (read_from_msh initialises and
    finalises Gmsh itself), with unnamed groups named, point and curve groups dropped and
    shared-facet ghosting (the file may tag interior facets)."""

    kind: ClassVar[str] = "mesh_file"
    path: str
    scale: float = 1.0
    cell_data: str | None = None


ParticleSpec = (SphereSpec | EllipsoidSpec | CoreShellSpec | PolycrystalSpec
                | ParticleInMatrixSpec | MeshFileSpec)


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Grain:
    """One grain of a polycrystal: its cell tag and marker name, its Voronoi centre (m) and
    its crystal orientation: ``rotation`` R maps crystal-frame components to the sample
    (mesh) frame, v_sample = R v_crystal (so R[:, 2] is the c-axis); ``euler`` are the Bunge
    (z-x-z) angles (phi1, Phi, phi2) in radians with R = Rz(phi1) Rx(Phi) Rz(phi2)."""

    tag: int
    name: str
    center: tuple[float, float, float]
    rotation: tuple[tuple[float, float, float], ...]
    euler: tuple[float, float, float]

    @property
    def matrix(self) -> np.ndarray:
        return np.array(self.rotation)

    def as_dict(self) -> dict:
        return {"tag": self.tag, "name": self.name, "center_m": list(self.center),
                "rotation": [list(r) for r in self.rotation], "euler_bunge_rad": list(self.euler)}


@dataclass
class ParticleGeometry(Geometry):
    """A :class:`Geometry` with the grains of a polycrystal (grain tag -> :class:`Grain`;
    empty for the other kinds) and the names of the facet markers made of interior facets.
    :meth:`measure` also integrates interior facet markers (``dS``)."""

    grains: dict[int, Grain] = field(default_factory=dict)
    interior_facets: tuple[str, ...] = ()

    def measure(self, name: str) -> float:
        """Volume (m^3) of a cell marker, or area (m^2) of a facet marker, exterior or
        interior facets (each counted once; collective)."""
        from mpi4py import MPI

        import ufl
        from dolfinx import fem

        marker = self.markers[name]
        mesh = self.mesh
        one = fem.Constant(mesh, 1.0)
        if marker.dim == mesh.topology.dim:
            forms = [one * ufl.Measure("dx", domain=mesh, subdomain_data=self.cell_tags)(
                marker.tags)]
        else:
            ds = ufl.Measure("ds", domain=mesh, subdomain_data=self.facet_tags)
            dS = ufl.Measure("dS", domain=mesh, subdomain_data=self.facet_tags)
            forms = [one * ds(marker.tags), one * dS(marker.tags)]
        local = sum(fem.assemble_scalar(fem.form(f)) for f in forms)
        return mesh.comm.allreduce(local, op=MPI.SUM)


# --------------------------------------------------------------------------- checks
def _number(field_name: str, value, *, positive: bool = True) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise GeometryError("must be a number (SI units)", field_name, value) from None
    if not math.isfinite(x) or (positive and not x > 0):
        raise GeometryError("must be a positive finite number (SI units)", field_name, value)
    return x


def _check_mesh_fields(spec, length: float) -> None:
    """mesh_size, surface_mesh_size, surface_refinement_width and order of any particle spec;
    ``length`` is the smallest particle dimension (m)."""
    h = _number("mesh_size", spec.mesh_size)
    if h > 2 * length:
        raise GeometryError(f"must be at most twice the particle size {length:g} m", "mesh_size",
                            spec.mesh_size)
    if spec.surface_mesh_size is not None:
        hs = _number("surface_mesh_size", spec.surface_mesh_size)
        if hs > h:
            raise GeometryError(f"must not exceed mesh_size ({h:g} m)", "surface_mesh_size",
                                spec.surface_mesh_size)
        if hs < REL_FEATURE * length:
            raise GeometryError(f"is below {REL_FEATURE:g} of the particle size",
                                "surface_mesh_size", spec.surface_mesh_size)
    if spec.surface_refinement_width is not None:
        _number("surface_refinement_width", spec.surface_refinement_width)
    if spec.order not in (1, 2) or isinstance(spec.order, bool):
        raise GeometryError("must be 1 or 2", "order", spec.order)
    if h < REL_FEATURE * length:
        raise GeometryError(f"is below {REL_FEATURE:g} of the particle size", "mesh_size", h)


def _check_feature(field_name: str, size: float, extent: float, value=None) -> None:
    if size < REL_FEATURE * extent:
        raise GeometryError(f"a feature of {size:.3g} m is too small next to the model extent "
                            f"of {extent:.3g} m (at least {REL_FEATURE:.0e} of it)", field_name,
                            size if value is None else value)


def check(spec) -> None:
    """GeometryError (naming the spec field) for arguments the builder cannot mesh."""
    if isinstance(spec, SphereSpec):
        r = _number("radius", spec.radius)
        _check_mesh_fields(spec, r)
    elif isinstance(spec, EllipsoidSpec):
        axes = spec.semi_axes
        if not isinstance(axes, tuple | list) or len(axes) != 3:
            raise GeometryError("needs three semi-axes (a, b, c) in m", "semi_axes", axes)
        for i, a in enumerate(axes):
            _number(f"semi_axes[{i}]", a)
        for i, a in enumerate(axes):
            _check_feature(f"semi_axes[{i}]", float(a), max(map(float, axes)))
        _check_mesh_fields(spec, min(map(float, axes)))
    elif isinstance(spec, CoreShellSpec):
        rc = _number("core_radius", spec.core_radius)
        t = _number("shell_thickness", spec.shell_thickness)
        _check_feature("shell_thickness", t, rc + t)
        _check_feature("core_radius", rc, rc + t)
        _check_mesh_fields(spec, rc + t)
    elif isinstance(spec, PolycrystalSpec):
        r = _number("radius", spec.radius)
        if isinstance(spec.grains, bool) or not isinstance(spec.grains, int | np.integer) \
                or not 1 <= spec.grains <= 500:
            raise GeometryError("must be an integer from 1 to 500", "grains", spec.grains)
        if isinstance(spec.seed, bool) or not isinstance(spec.seed, int | np.integer) \
                or spec.seed < 0:
            raise GeometryError("must be an integer >= 0", "seed", spec.seed)
        s = _number("min_seed_spacing", spec.min_seed_spacing, positive=False)
        if not 0 <= s <= 0.8:
            raise GeometryError("must be from 0 to 0.8 (fraction of the mean grain size)",
                                "min_seed_spacing", spec.min_seed_spacing)
        _check_mesh_fields(spec, r)
        grain_centers(spec)  # GeometryError when the centres cannot be placed
    elif isinstance(spec, ParticleInMatrixSpec):
        r = _number("radius", spec.radius)
        t = _number("shell_thickness", spec.shell_thickness, positive=False)
        if t < 0:
            raise GeometryError("must be >= 0 (0: no shell)", "shell_thickness", t)
        if t > 0:
            _check_feature("shell_thickness", t, r + t)
        if spec.matrix_shape not in MATRIX_SHAPES:
            raise GeometryError(f"must be one of {', '.join(MATRIX_SHAPES)}", "matrix_shape",
                                spec.matrix_shape)
        w = _number("matrix_extent", spec.matrix_extent)
        if not w > (r + t) * (1 + 1e-3):
            raise GeometryError(f"must exceed the particle's outer radius {r + t:g} m (the "
                                "matrix half-width or radius)", "matrix_extent",
                                spec.matrix_extent)
        _check_feature("matrix_extent", w - (r + t), w)
        if spec.matrix_mesh_size is not None:
            hm = _number("matrix_mesh_size", spec.matrix_mesh_size)
            if hm > 2 * w:
                raise GeometryError(f"must be at most twice matrix_extent ({w:g} m)",
                                    "matrix_mesh_size", hm)
        _check_mesh_fields(spec, r + t)
    elif isinstance(spec, MeshFileSpec):
        path = Path(str(spec.path))
        if not path.is_file():
            raise GeometryError("no such file", "path", spec.path)
        _number("scale", spec.scale)
    else:
        raise GeometryError(f"not a particle spec: {type(spec).__name__}", "kind",
                            getattr(spec, "kind", None))


# --------------------------------------------------------------------------- plan
def volume_roles(spec) -> list[str]:
    """Names of the tagged volumes in cell-tag order (tag = position + 1)."""
    if isinstance(spec, SphereSpec | EllipsoidSpec):
        return ["particle"]
    if isinstance(spec, CoreShellSpec):
        return ["core", "shell"]
    if isinstance(spec, PolycrystalSpec):
        return [f"grain{i + 1}" for i in range(spec.grains)]
    if isinstance(spec, ParticleInMatrixSpec):
        return (["core", "shell"] if spec.shell_thickness > 0 else ["particle"]) + ["matrix"]
    raise TypeError(type(spec).__name__)


def facet_kinds(spec) -> list[str]:
    """The facet markers of a spec (in the order of :data:`FACET_KINDS`)."""
    kinds = {"surface"}
    if isinstance(spec, CoreShellSpec) or (isinstance(spec, ParticleInMatrixSpec)
                                           and spec.shell_thickness > 0):
        kinds.add("interface")
    if isinstance(spec, PolycrystalSpec) and spec.grains > 1:
        kinds.add("grain_boundaries")
    if isinstance(spec, ParticleInMatrixSpec):
        kinds.add("outer")
    if getattr(spec, "octant", False):
        kinds |= {"symmetry_x", "symmetry_y", "symmetry_z"}
    return [k for k in FACET_KINDS if k in kinds]


def interior_kinds(spec) -> tuple[str, ...]:
    """Facet markers of a spec made of interior facets."""
    kinds = [k for k in facet_kinds(spec) if k in INTERIOR_KINDS]
    if isinstance(spec, ParticleInMatrixSpec):
        kinds.insert(0, "surface")
    return tuple(kinds)


def marker_table(spec) -> dict[str, Marker]:
    """Every marker the builder makes (name -> tags, dimension), without meshing."""
    roles = volume_roles(spec)
    markers = {name: Marker((i + 1,), 3) for i, name in enumerate(roles)}
    particle = tuple(i + 1 for i, name in enumerate(roles) if name != "matrix")
    markers["particle"] = Marker(particle, 3)
    for k, kind in enumerate(facet_kinds(spec)):
        markers[kind] = Marker((len(roles) + k + 1,), 2)
    return markers


def outer_radius(spec) -> float:
    """Radius of the sphere around the particle (m)."""
    if isinstance(spec, EllipsoidSpec):
        return max(map(float, spec.semi_axes))
    if isinstance(spec, CoreShellSpec):
        return spec.core_radius + spec.shell_thickness
    if isinstance(spec, ParticleInMatrixSpec):
        return spec.radius + spec.shell_thickness
    return spec.radius


def model_extent(spec) -> float:
    """Half-width of the model's bounding cube (m)."""
    if isinstance(spec, ParticleInMatrixSpec):
        return spec.matrix_extent
    return outer_radius(spec)


def bounding_boxes(spec) -> dict[str, Box]:
    """Axis-aligned boxes of ``particle`` (and ``matrix``), in metres."""
    if isinstance(spec, EllipsoidSpec):
        half = tuple(float(a) for a in spec.semi_axes)
    else:
        half = (outer_radius(spec),) * 3
    lo = (0.0, 0.0, 0.0) if getattr(spec, "octant", False) else tuple(-a for a in half)
    boxes = {"particle": (lo, half)}
    if isinstance(spec, ParticleInMatrixSpec):
        w = spec.matrix_extent
        boxes["matrix"] = ((0.0,) * 3 if spec.octant else (-w,) * 3, (w,) * 3)
    return boxes


def sizes(spec) -> tuple[float, float, float]:
    """(mesh_size, surface size, refinement width) in m, defaults filled."""
    h = float(spec.mesh_size)
    hs = float(spec.surface_mesh_size) if spec.surface_mesh_size is not None else h
    if spec.surface_refinement_width is not None:
        width = float(spec.surface_refinement_width)
    elif isinstance(spec, EllipsoidSpec):
        width = 0.25 * min(map(float, spec.semi_axes))
    else:
        width = 0.25 * outer_radius(spec)
    return h, hs, width


def _matrix_sizes(spec: ParticleInMatrixSpec) -> tuple[float, float]:
    """(matrix_mesh_size, distance from the particle over which it is reached) in m."""
    hm = float(spec.matrix_mesh_size) if spec.matrix_mesh_size is not None \
        else float(spec.mesh_size)
    gap = spec.matrix_extent - outer_radius(spec)
    return hm, max(sizes(spec)[2], 0.5 * gap)


def _threshold(d: np.ndarray, h_near: float, h_far: float, width: float) -> np.ndarray:
    return h_near + (h_far - h_near) * np.clip(d / width, 0.0, 1.0)


def estimate_cells(spec) -> int:
    """Number of tetrahedra the builder will make, roughly (measured 0.6 to 1.2 times the
    actual count), from the size field integrated over the volume (no mesh). At most
    MAX_ESTIMATE."""
    if isinstance(spec, MeshFileSpec):
        return _file_summary(spec)[2]
    h, hs, width = sizes(spec)
    if isinstance(spec, EllipsoidSpec):
        a, b, c = map(float, spec.semi_axes)
        r_eq, vol_factor = (a * b * c) ** (1 / 3), 1.0
    else:
        r_eq, vol_factor = outer_radius(spec), 1.0
    # the particle in spherical shells at depth d below the surface
    d = np.linspace(0.0, r_eq, 2001)
    hd = _threshold(d, hs, h, width)
    if isinstance(spec, CoreShellSpec | ParticleInMatrixSpec) and \
            getattr(spec, "shell_thickness", 0) > 0:
        t = spec.shell_thickness
        hd = np.minimum(hd, _threshold(np.abs(d - t), hs, h, width))
    density = 4 * math.pi * (r_eq - d) ** 2 / (_TET_VOLUME * hd**3)
    cells = vol_factor * _trapezoid(density, d)
    if isinstance(spec, ParticleInMatrixSpec):
        hm, reach = _matrix_sizes(spec)
        w = spec.matrix_extent
        rmax = w * (3**0.5 if spec.matrix_shape == "box" else 1.0)
        r = np.linspace(r_eq, rmax, 2001)
        # fraction of the sphere of radius r inside the cube (exact for r <= w, a smooth
        # interpolation to 0 at the corner beyond)
        if spec.matrix_shape == "box":
            frac = np.where(r <= w, 1.0, np.clip((rmax - r) / (rmax - w), 0, 1) ** 2)
        else:
            frac = np.ones_like(r)
        hr = _threshold(r - r_eq, hs, hm, reach)
        cells += _trapezoid(frac * 4 * math.pi * r**2 / (_TET_VOLUME * hr**3), r)
    if getattr(spec, "octant", False):
        cells /= 8
    return int(min(max(cells, 1.0), MAX_ESTIMATE))


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))


def plan(spec) -> Plan:
    """Markers, bounding boxes and a cell estimate, without meshing (GeometryError as
    :func:`check`). For a mesh file, the markers are read from the file."""
    check(spec)
    if isinstance(spec, MeshFileSpec):
        markers, box, cells = _file_summary(spec)
        return Plan(markers=markers, boxes={"particle": box}, layers=(), cells=cells)
    return Plan(markers=marker_table(spec), boxes=bounding_boxes(spec), layers=(),
                cells=estimate_cells(spec))


# --------------------------------------------------------------------------- polycrystal
def grain_centers(spec: PolycrystalSpec) -> np.ndarray:
    """Voronoi centres (grains x 3, m), uniform in the ball, at least min_seed_spacing times
    the mean grain size apart; deterministic for ``seed``."""
    rng = np.random.default_rng([int(spec.seed), 0])
    n = int(spec.grains)
    dmin = spec.min_seed_spacing * (4 / 3 * math.pi / n) ** (1 / 3)  # in the unit ball
    points: list[np.ndarray] = []
    tries = 0
    while len(points) < n:
        tries += 1
        if tries > 2000 * n:
            raise GeometryError(f"cannot place {n} grain centres {dmin * spec.radius:.3g} m "
                                "apart; lower it", "min_seed_spacing", spec.min_seed_spacing)
        p = rng.uniform(-1.0, 1.0, 3)
        if p @ p >= 1.0:
            continue
        if points and np.min(np.linalg.norm(np.asarray(points) - p, axis=1)) < dmin:
            continue
        points.append(p)
    return float(spec.radius) * np.asarray(points)


def random_rotations(n: int, seed: int) -> np.ndarray:
    """n rotation matrices uniform on SO(3) (Shoemake 1992, from unit quaternions);
    deterministic for ``seed``."""
    rng = np.random.default_rng([int(seed), 1])
    u1, u2, u3 = rng.uniform(0.0, 1.0, (3, n))
    x = np.sqrt(1 - u1) * np.sin(2 * np.pi * u2)
    y = np.sqrt(1 - u1) * np.cos(2 * np.pi * u2)
    z = np.sqrt(u1) * np.sin(2 * np.pi * u3)
    w = np.sqrt(u1) * np.cos(2 * np.pi * u3)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], axis=1)


def bunge_euler(rot: np.ndarray) -> tuple[float, float, float]:
    """Bunge angles (phi1, Phi, phi2) (rad) with rot = Rz(phi1) Rx(Phi) Rz(phi2)."""
    Phi = math.acos(max(-1.0, min(1.0, rot[2, 2])))
    if abs(math.sin(Phi)) < 1e-12:
        return math.atan2(rot[1, 0], rot[0, 0]) % (2 * math.pi), Phi, 0.0
    phi1 = math.atan2(rot[0, 2], -rot[1, 2]) % (2 * math.pi)
    phi2 = math.atan2(rot[2, 0], rot[2, 1]) % (2 * math.pi)
    return phi1, Phi, phi2


def euler_matrix(phi1: float, Phi: float, phi2: float) -> np.ndarray:
    """Rz(phi1) Rx(Phi) Rz(phi2) (Bunge convention, angles in rad)."""
    def rz(a):
        c, s = math.cos(a), math.sin(a)
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])

    c, s = math.cos(Phi), math.sin(Phi)
    rx = np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])
    return rz(phi1) @ rx @ rz(phi2)


def grain_table(spec: PolycrystalSpec) -> dict[int, Grain]:
    """The grains (tag -> :class:`Grain`) of a polycrystal spec, without meshing."""
    centers = grain_centers(spec)
    rots = random_rotations(spec.grains, spec.seed)
    return {i + 1: Grain(i + 1, f"grain{i + 1}", tuple(float(v) for v in centers[i]),
                         tuple(tuple(float(v) for v in row) for row in rots[i]),
                         bunge_euler(rots[i]))
            for i in range(spec.grains)}


def voronoi_cells(centers: np.ndarray, half: float) -> list[list[tuple[int, np.ndarray]]]:
    """The Voronoi cell of each centre within the cube [-half, half]^3 as its faces
    (neighbour index or -1 for a cube face, polygon vertices in order); convex clipping in
    numpy, neighbours nearest first, stopping once a bisector can no longer reach the cell."""
    n = len(centers)
    cells = []
    for i in range(n):
        faces = _cube_faces(half)
        dist = np.linalg.norm(centers - centers[i], axis=1)
        reach = math.inf
        for j in np.argsort(dist):
            if j == i:
                continue
            if dist[j] > 2 * reach:
                break
            normal = centers[j] - centers[i]
            offset = normal @ (centers[i] + centers[j]) / 2
            faces = _clip(faces, normal, offset, int(j))
            reach = float(np.max(np.linalg.norm(np.concatenate([p for _, p in faces])
                                                 - centers[i], axis=1)))
        tol = 1e-12 * half * half
        cells.append([(fid, poly) for fid, poly in faces if _polygon_area(poly) > tol])
    return cells


def voronoi_neighbours(centers: np.ndarray, half: float) -> list[list[int]]:
    """For each centre, the centres whose bisector plane bounds its Voronoi cell inside the
    cube [-half, half]^3."""
    return [sorted({fid for fid, _ in cell if fid >= 0})
            for cell in voronoi_cells(centers, half)]


def _cube_faces(h: float) -> list[tuple[int, np.ndarray]]:
    c = np.array([[x, y, z] for z in (-h, h) for y in (-h, h) for x in (-h, h)])
    quads = [(0, 2, 6, 4), (1, 5, 7, 3), (0, 4, 5, 1), (2, 3, 7, 6), (0, 1, 3, 2),
             (4, 6, 7, 5)]
    return [(-1, c[list(q)]) for q in quads]


def _clip(faces, normal: np.ndarray, offset: float, fid: int):
    """Clip a convex polyhedron (faces as (id, polygon)) to normal . x <= offset; the cut
    adds a face with id ``fid``."""
    out, cut = [], []
    scale = max(1e-300, float(np.linalg.norm(normal)))
    for face_id, poly in faces:
        s = (poly @ normal - offset) / scale
        kept = []
        for k in range(len(poly)):
            p, q, sp, sq = poly[k], poly[(k + 1) % len(poly)], s[k], s[(k + 1) % len(poly)]
            if sp <= 0:
                kept.append(p)
            if (sp < 0 < sq) or (sq < 0 < sp):
                x = p + (q - p) * (sp / (sp - sq))
                kept.append(x)
                cut.append(x)
            elif sp == 0:
                cut.append(p)
        if len(kept) >= 3:
            out.append((face_id, np.asarray(kept)))
    if len(cut) >= 3:
        pts = np.asarray(cut)
        centre = pts.mean(axis=0)
        e1 = pts[np.argmax(np.linalg.norm(pts - centre, axis=1))] - centre
        e1 /= max(np.linalg.norm(e1), 1e-300)
        e2 = np.cross(normal / scale, e1)
        ang = np.arctan2((pts - centre) @ e2, (pts - centre) @ e1)
        out.append((fid, pts[np.argsort(ang)]))
    return out


def _polygon_area(poly: np.ndarray) -> float:
    c = poly.mean(axis=0)
    return 0.5 * float(np.linalg.norm(sum(np.cross(poly[k] - c, poly[(k + 1) % len(poly)] - c)
                                          for k in range(len(poly)))))


# --------------------------------------------------------------------------- gmsh
@contextmanager
def _gmsh_session():
    """Gmsh initialised (and finalised afterwards if it was not before), quiet."""
    import gmsh

    here = not gmsh.isInitialized()
    if here:
        gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    try:
        yield gmsh
    finally:
        if here:
            gmsh.finalize()


def _halfspace_box(occ, normal: np.ndarray, point: np.ndarray, size: float) -> int:
    """An OCC box standing for the half-space normal . (x - point) >= 0 within ``size``."""
    b = occ.addBox(0.0, -size, -size, 2 * size, 2 * size, 2 * size)
    n = normal / np.linalg.norm(normal)
    axis = np.cross([1.0, 0.0, 0.0], n)
    s = float(np.linalg.norm(axis))
    if s > 1e-12:
        occ.rotate([(3, b)], 0, 0, 0, *axis, math.atan2(s, n[0]))
    elif n[0] < 0:
        occ.rotate([(3, b)], 0, 0, 0, 0, 0, 1, math.pi)
    occ.translate([(3, b)], *point)
    return b


def _occ_polyhedron(occ, faces: list[tuple[int, np.ndarray]], tol: float) -> int:
    """A convex OCC solid bounded by planar polygons (vertices closer than tol merged)."""
    points: list[np.ndarray] = []
    point_tags: list[int] = []
    lines: dict[tuple[int, int], int] = {}

    def vertex(p: np.ndarray) -> int:
        for k, q in enumerate(points):
            if np.linalg.norm(p - q) < tol:
                return k
        points.append(p)
        point_tags.append(occ.addPoint(*map(float, p)))
        return len(points) - 1

    surfaces = []
    for _, poly in faces:
        ids = [vertex(p) for p in poly]
        ids = [a for k, a in enumerate(ids) if a != ids[k - 1]]
        if len(set(ids)) < 3:
            continue
        loop = []
        for a, b in zip(ids, ids[1:] + ids[:1], strict=True):
            key = (min(a, b), max(a, b))
            if key not in lines:
                lines[key] = occ.addLine(point_tags[key[0]], point_tags[key[1]])
            loop.append(lines[key])
        surfaces.append(occ.addPlaneSurface([occ.addCurveLoop(loop)]))
    return occ.addVolume([occ.addSurfaceLoop(surfaces)])


def _ball(occ, spec) -> int:
    if isinstance(spec, EllipsoidSpec):
        v = occ.addSphere(0, 0, 0, 1.0)
        occ.dilate([(3, v)], 0, 0, 0, *map(float, spec.semi_axes))
        return v
    return occ.addSphere(0, 0, 0, outer_radius(spec))


def _shapes(gmsh, spec) -> list[tuple[str, list[tuple[int, int]]]]:
    """The OCC volumes of a spec as (role, dimtags), innermost (highest priority) first;
    overlapping shapes are split by the fragment that follows."""
    occ = gmsh.model.occ
    if isinstance(spec, SphereSpec | EllipsoidSpec):
        return [("particle", [(3, _ball(occ, spec))])]
    if isinstance(spec, CoreShellSpec):
        return [("core", [(3, occ.addSphere(0, 0, 0, spec.core_radius))]),
                ("shell", [(3, _ball(occ, spec))])]
    if isinstance(spec, ParticleInMatrixSpec):
        shapes = [("particle" if spec.shell_thickness == 0 else "core",
                   [(3, occ.addSphere(0, 0, 0, spec.radius))])]
        if spec.shell_thickness > 0:
            shapes.append(("shell", [(3, _ball(occ, spec))]))
        w = spec.matrix_extent
        m = occ.addBox(-w, -w, -w, 2 * w, 2 * w, 2 * w) if spec.matrix_shape == "box" \
            else occ.addSphere(0, 0, 0, w)
        shapes.append(("matrix", [(3, m)]))
        return shapes
    if isinstance(spec, PolycrystalSpec):
        centers = grain_centers(spec)
        r = float(spec.radius)
        cells = voronoi_cells(centers, 1.05 * r)
        solids = []
        for i, c in enumerate(centers):
            try:  # the convex Voronoi cell as an OCC solid
                solids.append((3, _occ_polyhedron(occ, cells[i], 1e-9 * r)))
            except Exception:  # noqa: BLE001 - degenerate polygons: cut half-spaces instead
                vol = [(3, occ.addBox(-2 * r, -2 * r, -2 * r, 4 * r, 4 * r, 4 * r))]
                for j in sorted({fid for fid, _ in cells[i] if fid >= 0}):
                    box = _halfspace_box(occ, centers[j] - c, (c + centers[j]) / 2, 4 * r)
                    vol, _ = occ.cut(vol, [(3, box)])
                if len(vol) != 1:
                    raise RuntimeError(f"Voronoi cell {i + 1} is {len(vol)} solids") from None
                solids.append(vol[0])
        # every cell with the ball at once (the cells stay separate solids)
        _, pieces = occ.intersect(solids, [(3, occ.addSphere(0, 0, 0, r))])
        shapes = []
        for i in range(len(centers)):
            vol = [dt for dt in pieces[i] if dt[0] == 3]
            if not vol:
                raise RuntimeError(f"grain {i + 1} vanished")
            shapes.append((f"grain{i + 1}", vol))
        return shapes
    raise TypeError(type(spec).__name__)


def _gmsh_model(gmsh, spec, markers: dict[str, Marker]) -> None:
    """The particle as a Gmsh OCC model with named physical groups, meshed (this rank)."""
    gmsh.model.add(spec.kind)
    occ = gmsh.model.occ
    extent = model_extent(spec)
    shapes = _shapes(gmsh, spec)
    if getattr(spec, "octant", False):
        big = 2.0 * extent
        clipped = []
        for role, dts in shapes:
            box = occ.addBox(0, 0, 0, big, big, big)
            out, _ = occ.intersect(dts, [(3, box)])
            clipped.append((role, out))
        shapes = clipped
    inputs = [(role, dt) for role, dts in shapes for dt in dts]
    if len(inputs) > 1:
        out, out_map = occ.fragment([dt for _, dt in inputs], [])
    else:
        out, out_map = [inputs[0][1]], [[inputs[0][1]]]
    occ.synchronize()
    role_of: dict[int, str] = {}
    for (role, _), pieces in zip(inputs, out_map, strict=True):
        for dim, tag in pieces:
            if dim == 3 and tag not in role_of:
                role_of[tag] = role
    volumes = [t for d, t in out if d == 3]
    if set(volumes) != set(role_of):
        raise RuntimeError("fragment left volumes without a role")
    groups: dict[str, list[int]] = {}
    for tag, role in role_of.items():
        groups.setdefault(role, []).append(tag)
    for role, tags in groups.items():
        gmsh.model.addPhysicalGroup(3, sorted(tags), markers[role].tags[0], name=role)
    if set(groups) != set(volume_roles(spec)):
        raise RuntimeError(f"volumes {sorted(groups)} != {volume_roles(spec)}")

    # classify the surfaces by the volumes on either side and the symmetry planes
    tol = 1e-5 * extent  # OCC bounding boxes are enlarged by ~1e-7
    facets: dict[str, list[int]] = {}
    for _, s in gmsh.model.getEntities(2):
        up, _ = gmsh.model.getAdjacencies(2, s)
        roles = sorted(role_of[v] for v in up)
        box = gmsh.model.getBoundingBox(2, s)
        kind = None
        for axis, name in enumerate(("symmetry_x", "symmetry_y", "symmetry_z")):
            if abs(box[axis]) < tol and abs(box[axis + 3]) < tol:
                kind = name
        if kind is None:
            if len(roles) == 2:
                if "matrix" in roles:
                    kind = "surface"
                elif roles == ["core", "shell"]:
                    kind = "interface"
                else:
                    kind = "grain_boundaries"
            else:
                kind = "outer" if roles == ["matrix"] else "surface"
        facets.setdefault(kind, []).append(s)
    if set(facets) != set(facet_kinds(spec)):
        raise RuntimeError(f"surfaces {sorted(facets)} != planned {facet_kinds(spec)}")
    for kind, tags in facets.items():
        gmsh.model.addPhysicalGroup(2, sorted(tags), markers[kind].tags[0], name=kind)

    _size_fields(gmsh, spec, facets, groups)
    gmsh.option.setNumber("Mesh.ElementOrder", 1)
    gmsh.model.mesh.generate(3)
    if spec.order == 2:
        gmsh.model.mesh.setOrder(2)
    types = list(gmsh.model.mesh.getElementTypes(3))
    if types != [4 if spec.order == 1 else 11]:
        raise RuntimeError(f"the mesh has element types {types}, not tetrahedra")


def _size_fields(gmsh, spec, facets: dict[str, list[int]], groups: dict[str, list[int]]):
    """Distance + Threshold size fields: surface size at the particle surface (and core-shell
    interface), mesh_size inside, matrix_mesh_size out in the matrix."""
    h, hs, width = sizes(spec)
    f = gmsh.model.mesh.field
    near = facets.get("surface", []) + facets.get("interface", [])
    sampling = int(min(400, max(20, math.ceil(4 * math.pi * outer_radius(spec) / hs))))
    dist = f.add("Distance")
    f.setNumbers(dist, "SurfacesList", near)
    f.setNumber(dist, "Sampling", sampling)
    inner = f.add("Threshold")
    f.setNumber(inner, "InField", dist)
    f.setNumber(inner, "SizeMin", hs)
    f.setNumber(inner, "SizeMax", h)
    f.setNumber(inner, "DistMin", 0.0)
    f.setNumber(inner, "DistMax", width)
    background = inner
    if isinstance(spec, ParticleInMatrixSpec):
        hm, reach = _matrix_sizes(spec)
        outer = f.add("Threshold")
        f.setNumber(outer, "InField", dist)
        f.setNumber(outer, "SizeMin", hs)
        f.setNumber(outer, "SizeMax", hm)
        f.setNumber(outer, "DistMin", 0.0)
        f.setNumber(outer, "DistMax", reach)
        parts = []
        for fld, vols in ((inner, [t for r, ts in groups.items() if r != "matrix" for t in ts]),
                          (outer, groups["matrix"])):
            restrict = f.add("Restrict")
            f.setNumber(restrict, "InField", fld)
            f.setNumbers(restrict, "VolumesList", vols)
            parts.append(restrict)
        background = f.add("Min")
        f.setNumbers(background, "FieldsList", parts)
    f.setAsBackgroundMesh(background)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    gmsh.option.setNumber("Mesh.MeshSizeMax", max(h, hs, getattr(spec, "matrix_mesh_size", 0)
                                                  or 0))


#: the length fields of the specs (scaled by :func:`normalized`)
_LENGTHS = ("radius", "core_radius", "shell_thickness", "matrix_extent", "mesh_size",
            "surface_mesh_size", "surface_refinement_width", "matrix_mesh_size")


def normalized(spec, unit: float):
    """The spec with every length divided by ``unit``: Gmsh models the particle at size ~1,
    where OpenCASCADE's absolute tolerances (1e-7) are harmless, and the mesh is scaled back
    to metres after distribution."""
    changes = {k: float(getattr(spec, k)) / unit for k in _LENGTHS
               if getattr(spec, k, None) is not None}
    if isinstance(spec, EllipsoidSpec):
        changes["semi_axes"] = tuple(float(a) / unit for a in spec.semi_axes)
    return replace(spec, **changes)


def _partitioner(comm, interior: bool):
    """Shared-facet ghosting when there are interior facet markers (None: the default)."""
    if comm.size == 1 or not interior:
        return None
    from dolfinx.mesh import GhostMode, create_cell_partitioner

    return create_cell_partitioner(GhostMode.shared_facet, 2)


def _to_dolfinx(gmsh, comm, make_model, interior: bool, what: str):
    """Run ``make_model(gmsh)`` on rank 0 and distribute the mesh (MeshData) over comm;
    a failure on rank 0 is raised as GeometryError on every rank."""
    from dolfinx.io import gmsh as gmshio

    error = None
    if comm.rank == 0:
        try:
            make_model(gmsh)
        except GeometryError as exc:
            error = (str(exc.reason), exc.field, exc.value)
        except Exception as exc:  # noqa: BLE001 - reported on every rank below
            error = (f"Gmsh could not {what}: {exc}", "", None)
    error = comm.bcast(error, root=0)
    if error is not None:
        if comm.rank == 0 and gmsh.model.list():
            gmsh.model.remove()
        raise GeometryError(*error)
    try:
        data = gmshio.model_to_mesh(gmsh.model if comm.rank == 0 else None, comm, 0, gdim=3,
                                    partitioner=_partitioner(comm, interior))
    except RuntimeError as exc:
        raise GeometryError(f"cannot {what}: {exc}") from exc
    finally:
        if comm.rank == 0:
            gmsh.model.remove()
    return data


def build(spec, comm) -> ParticleGeometry:
    """Build the particle mesh with Gmsh on rank 0 and distribute it over ``comm``."""
    if isinstance(spec, MeshFileSpec):
        return _build_file(spec, comm)
    p = plan(spec)
    interior = interior_kinds(spec)
    unit = model_extent(spec)
    scaled = normalized(spec, unit)
    with _gmsh_session() as gmsh:
        data = _to_dolfinx(gmsh, comm, lambda g: _gmsh_model(g, scaled, p.markers),
                           bool(interior), f"mesh the {spec.kind}")
    data.mesh.geometry.x[:] *= unit
    h, hs, width = sizes(spec)
    info = {"kind": spec.kind, "cells": int(data.mesh.topology.index_map(3).size_global),
            "cells_estimate": p.cells, "mesh_size_m": h, "surface_mesh_size_m": hs,
            "surface_refinement_width_m": width, "order": spec.order,
            "interior_facets": list(interior)}
    grains = grain_table(spec) if isinstance(spec, PolycrystalSpec) else {}
    if grains:
        info["grains"] = [g.as_dict() for g in grains.values()]
        info["seed"] = int(spec.seed)
    return ParticleGeometry(data.mesh, data.cell_tags, data.facet_tags, dict(p.markers),
                            [], info, boxes=dict(p.boxes), grains=grains,
                            interior_facets=interior)


def write_msh(spec, path: str | Path, comm=None) -> Path:
    """Mesh a particle spec with Gmsh as :func:`build` does and write it to ``path`` (a Gmsh
    ``.msh``, coordinates in metres, the markers as named physical groups), on rank 0 of
    ``comm`` (None: this process only). For inspection, or to edit the mesh and import it
    again with :class:`MeshFileSpec`."""
    p = plan(spec)
    unit = model_extent(spec)
    error = None
    if comm is None or comm.rank == 0:
        with _gmsh_session() as gmsh:
            try:
                _gmsh_model(gmsh, normalized(spec, unit), p.markers)
                gmsh.model.mesh.affineTransform([unit, 0, 0, 0, 0, unit, 0, 0, 0, 0, unit, 0])
                gmsh.write(str(path))
            except Exception as exc:  # noqa: BLE001 - reported on every rank
                error = f"Gmsh could not mesh the {spec.kind}: {exc}"
            finally:
                gmsh.model.remove()
    if comm is not None:
        error = comm.bcast(error, root=0)
    if error:
        raise GeometryError(error)
    return Path(path)


# --------------------------------------------------------------------------- mesh files
_CELL_DATA_KEYS = ("gmsh:physical", "medit:ref", "cell_tags")


def _meshio_to_msh(spec: MeshFileSpec, out: str) -> None:
    """Convert a meshio-readable volume mesh to a Gmsh 2.2 .msh with physical groups."""
    import meshio

    try:
        m = meshio.read(spec.path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
        raise GeometryError(f"meshio cannot read it: {exc}", "path", spec.path) from exc
    keys = [spec.cell_data] if spec.cell_data is not None else \
        [k for k in _CELL_DATA_KEYS if k in m.cell_data]
    key = keys[0] if keys else None
    if key is not None and key not in m.cell_data:
        raise GeometryError(f"no such cell data; the file has {sorted(m.cell_data)}",
                            "cell_data", spec.cell_data)
    cells, phys = [], []
    for k, block in enumerate(m.cells):
        if block.type not in ("tetra", "triangle"):
            continue
        cells.append((block.type, block.data))
        if key is not None:
            phys.append(np.asarray(m.cell_data[key][k], dtype=np.int64).reshape(-1))
        else:
            phys.append(np.ones(len(block.data), dtype=np.int64) if block.type == "tetra"
                        else np.full(len(block.data), 2, dtype=np.int64))
    if not any(t == "tetra" for t, _ in cells):
        raise GeometryError("has no tetrahedra", "path", spec.path)
    field_data = {name: np.asarray(v).reshape(-1)[:2] for name, v in m.field_data.items()
                  if np.asarray(v).size >= 2}
    if key is None:
        field_data = {"particle": np.array([1, 3]), "surface": np.array([2, 2])}
    out_mesh = meshio.Mesh(m.points, cells,
                           cell_data={"gmsh:physical": phys, "gmsh:geometrical": phys},
                           field_data=field_data)
    meshio.write(out, out_mesh, file_format="gmsh22", binary=False)


@contextmanager
def _msh_path(spec: MeshFileSpec):
    """The path of a .msh holding the spec's mesh (converted by meshio into a temporary file
    when it is not one)."""
    if Path(spec.path).suffix.lower() == MESH_SUFFIX:
        yield str(spec.path)
        return
    fd, tmp = tempfile.mkstemp(suffix=MESH_SUFFIX)
    os.close(fd)
    try:
        _meshio_to_msh(spec, tmp)
        yield tmp
    finally:
        os.unlink(tmp)


def _load_msh(gmsh, spec: MeshFileSpec) -> dict[str, Marker]:
    """Merge the file into a new Gmsh model; its markers (physical groups by name)."""
    with _msh_path(spec) as path:
        gmsh.model.add("mesh_file")
        try:
            gmsh.merge(path)
        except Exception as exc:  # noqa: BLE001 - bad input
            raise GeometryError(f"Gmsh cannot read it: {exc}", "path", spec.path) from exc
    if not len(gmsh.model.mesh.getElementTypes(3)):
        raise GeometryError("has no volume (3D) elements", "path", spec.path)
    groups = gmsh.model.getPhysicalGroups()
    if not any(d == 3 for d, _ in groups):
        for d, t in groups:
            gmsh.model.removePhysicalGroups([(d, t)])
        gmsh.model.addPhysicalGroup(3, [t for _, t in gmsh.model.getEntities(3)], 1,
                                    name="particle")
        groups = gmsh.model.getPhysicalGroups()
    markers: dict[str, Marker] = {}
    for dim, tag in groups:
        if dim not in (2, 3):
            continue
        name = gmsh.model.getPhysicalName(dim, tag) or f"{'volume' if dim == 3 else 'facet'}{tag}"
        if name in markers:
            raise GeometryError(f"physical group name {name!r} is used twice", "path", spec.path)
        markers[name] = Marker((int(tag),), dim)
    for dim, tag in groups:  # model_to_mesh takes the groups of every dimension: keep 2, 3
        if dim not in (2, 3):
            gmsh.model.removePhysicalGroups([(dim, tag)])
    return markers


def _file_summary(spec: MeshFileSpec) -> tuple[dict[str, Marker], Box, int]:
    """Markers, bounding box (m) and tetrahedron count of a mesh file (read, not built)."""
    with _gmsh_session() as gmsh:
        current = gmsh.model.getCurrent() if gmsh.model.list() else None
        try:
            markers = _load_msh(gmsh, spec)
            x = gmsh.model.mesh.getNodes()[1].reshape(-1, 3) * float(spec.scale)
            cells = sum(len(t) for t in gmsh.model.mesh.getElements(3)[1])
        finally:
            gmsh.model.remove()
            if current:
                gmsh.model.setCurrent(current)
    box = (tuple(float(v) for v in x.min(axis=0)), tuple(float(v) for v in x.max(axis=0)))
    return markers, box, int(cells)


def _build_file(spec: MeshFileSpec, comm) -> ParticleGeometry:
    check(spec)
    holder: dict = {}

    def make(gmsh):
        holder["markers"] = _load_msh(gmsh, spec)

    with _gmsh_session() as gmsh:
        data = _to_dolfinx(gmsh, comm, make, True, f"import {spec.path}")
    markers = comm.bcast(holder.get("markers"), root=0)
    mesh = data.mesh
    if float(spec.scale) != 1.0:
        mesh.geometry.x[:] *= float(spec.scale)
    x = mesh.geometry.x
    from mpi4py import MPI

    lo = np.array(x.min(axis=0) if len(x) else np.full(3, np.inf), dtype=np.float64)
    hi = np.array(x.max(axis=0) if len(x) else np.full(3, -np.inf), dtype=np.float64)
    comm.Allreduce(MPI.IN_PLACE, lo, op=MPI.MIN)
    comm.Allreduce(MPI.IN_PLACE, hi, op=MPI.MAX)
    cell_tags, facet_tags = data.cell_tags, data.facet_tags
    if facet_tags is None:
        from dolfinx.mesh import meshtags

        facet_tags = meshtags(mesh, 2, np.empty(0, np.int32), np.empty(0, np.int32))
        markers = {k: v for k, v in markers.items() if v.dim == 3}
    interior = _interior_facet_markers(mesh, facet_tags, markers)
    info = {"kind": "mesh_file", "path": str(spec.path), "scale": float(spec.scale),
            "cells": int(mesh.topology.index_map(3).size_global),
            "interior_facets": list(interior)}
    return ParticleGeometry(mesh, cell_tags, facet_tags, markers, [], info,
                            boxes={"particle": (tuple(map(float, lo)), tuple(map(float, hi)))},
                            interior_facets=interior)


def _interior_facet_markers(mesh, facet_tags, markers) -> tuple[str, ...]:
    """Facet markers whose facets have two cells (collective)."""
    from mpi4py import MPI

    mesh.topology.create_connectivity(2, 3)
    f2c = mesh.topology.connectivity(2, 3)
    names = []
    for name, m in sorted(markers.items()):
        if m.dim != 2:
            continue
        idx = facet_tags.indices[np.isin(facet_tags.values, m.tags)]
        n = sum(len(f2c.links(i)) == 2 for i in idx)
        if mesh.comm.allreduce(int(n), op=MPI.SUM) > 0:
            names.append(name)
    return tuple(names)
