"""Figures of a particle chemo-mechanics run (physics.model = "chemomech"), from its output
files only: the particle clipped open at the last output time, coloured by the concentration
and by the von Mises stress (cell values), side by side. Rank 0, off-screen."""

from __future__ import annotations

from pathlib import Path

from batteryfx.series import FIELDS_FILE

#: files written (relative to OUT)
FILES = ("figures/particle_clip.png", "figures/grain_boundary_tractions.png")


def particle_clip_figure(out: Path, case: dict, series) -> Path | None:
    """Concentration (mol/m^3) and von Mises stress (MPa) on the particle clipped by the
    plane through its centre normal to ``figures.cut_normal`` (default y), last output time;
    a whole octant model is shown as it is."""
    from batteryfx.post.figures import _offscreen, _read_vtkhdf

    if not series:
        return None
    _offscreen()
    import pyvista as pv

    pv.OFF_SCREEN = True
    step, t = series[-1]
    grid = _read_vtkhdf(Path(out) / "fields" / FIELDS_FILE, step)
    normal = case.get("figures", {}).get("cut_normal", "y")
    octant = bool(case.get("geometry", {}).get("octant", False))
    shown = grid if octant else grid.clip(normal=normal, origin=(0.0, 0.0, 0.0), invert=False)
    shown = shown.scale(1e6, inplace=False)  # m -> um
    panels = [("concentration", "c (mol/m^3)", "viridis", 1.0)]
    if "von_mises" in grid.cell_data:
        panels.append(("von_mises", "von Mises (MPa)", "inferno", 1e-6))
    plotter = pv.Plotter(off_screen=True, shape=(1, len(panels)),
                         window_size=(700 * len(panels), 620), border=False)
    for col, (name, title, cmap, factor) in enumerate(panels):
        plotter.subplot(0, col)
        data = shown.copy()
        if name in data.cell_data:
            data.cell_data[name] = data.cell_data[name] * factor
        else:
            data.point_data[name] = data.point_data[name] * factor
        plotter.add_mesh(data, scalars=name, cmap=cmap, show_edges=False, lighting=True,
                         scalar_bar_args={"title": title, "vertical": True,
                                          "position_x": 0.85, "position_y": 0.1})
        plotter.add_text(f"{name.replace('_', ' ')}   t = {t:.4g} s", position="upper_left",
                         font_size=11, color="black")
        plotter.add_text("lengths in um" + ("; octant model" if octant else
                                           f"; clipped at {normal} = 0"),
                         position="lower_left", font_size=8, color="grey")
        plotter.show_axes()
        # look at the cut faces (an octant's symmetry planes, or the clip plane): the interior
        if octant:
            plotter.view_vector((-1.0, -1.0, -0.7), viewup=(0, 0, 1))
        else:
            view = {"x": (-1.0, -0.3, 0.4), "y": (-0.3, -1.0, 0.4), "z": (-0.3, 0.4, -1.0)}
            plotter.view_vector(view[normal], viewup=(0, 0, 1) if normal != "z" else (0, 1, 0))
    plotter.set_background("white")
    path = Path(out) / FILES[0]
    plotter.screenshot(str(path))
    plotter.close()
    return path


def grain_boundary_figure(out: Path) -> Path | None:
    """The grain boundaries of a polycrystal coloured by their normal traction (MPa; tension
    positive) at the end of the run, from fields/grain_boundaries.npz: the half y <= 0 and
    the whole set side by side."""
    import numpy as np

    from batteryfx.post.figures import _offscreen

    src = Path(out) / "fields" / "grain_boundaries.npz"
    if not src.exists():
        return None
    data = np.load(src)
    tri = data["triangles"] * 1e6  # m -> um
    if not len(tri):
        return None
    _offscreen()
    import pyvista as pv

    pv.OFF_SCREEN = True
    points = tri.reshape(-1, 3)
    faces = np.hstack([np.full((len(tri), 1), 3), np.arange(3 * len(tri)).reshape(-1, 3)])
    mesh = pv.PolyData(points, faces.ravel())
    mesh.cell_data["normal traction (MPa)"] = data["normal_Pa"] * 1e-6
    lim = float(np.abs(mesh.cell_data["normal traction (MPa)"]).max()) or 1.0
    centroid_y = tri[:, :, 1].mean(axis=1)
    half = mesh.extract_cells(np.flatnonzero(centroid_y <= 0.0))
    plotter = pv.Plotter(off_screen=True, shape=(1, 2), window_size=(1400, 620), border=False)
    for col, (shown, label) in enumerate(((half, "grain boundaries with y <= 0"),
                                          (mesh, "all grain boundaries"))):
        plotter.subplot(0, col)
        plotter.add_mesh(shown, scalars="normal traction (MPa)", cmap="coolwarm",
                         clim=(-lim, lim), show_edges=False, lighting=False,
                         scalar_bar_args={"title": "t_n (MPa)", "vertical": True,
                                          "position_x": 0.88, "position_y": 0.1})
        plotter.add_text(f"{label}, t = {float(data['time_s']):.4g} s (tension > 0)",
                         position="upper_left", font_size=10, color="black")
        plotter.add_text("lengths in um", position="lower_left", font_size=8, color="grey")
        plotter.view_vector((-0.3, -1.0, 0.4), viewup=(0, 0, 1))
    plotter.set_background("white")
    path = Path(out) / FILES[1]
    path.parent.mkdir(exist_ok=True)
    plotter.screenshot(str(path))
    plotter.close()
    return path
