"""Figures from an output folder: PyVista cut planes of the temperature field at a few times,
and the probe time series (matplotlib). Rank-0, off-screen, no X server needed."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np

from batteryfx.post.probes import read_probes, read_units
from batteryfx.series import FIELDS_FILE, read_series

#: length units of the figures, smallest first: (name, metres)
LENGTH_UNITS = (("nm", 1e-9), ("um", 1e-6), ("mm", 1e-3), ("m", 1.0))


def length_unit(extent_m: float) -> tuple[str, float]:
    """(name, metres) of the unit in which a model of size ``extent_m`` reads below 1000
    (a 24 um coupon in um, a 58 mm pouch in mm, a 2 m module in m)."""
    for name, scale in LENGTH_UNITS:
        if extent_m / scale < 1000:
            return name, scale
    return LENGTH_UNITS[-1]


def model_extent(boxes: dict, bounds=None) -> float:
    """Largest side (m) of the box around all stack boxes (``stack_boxes_m`` of summary.json),
    else of ``bounds`` (xmin, xmax, ymin, ymax, zmin, zmax; m)."""
    if boxes:
        lo = np.min([b[0] for b in boxes.values()], axis=0)
        hi = np.max([b[1] for b in boxes.values()], axis=0)
        return float(np.max(hi - lo))
    if bounds is not None:
        return float(np.max(np.ptp(np.asarray(bounds, dtype=float).reshape(3, 2), axis=1)))
    return 1.0


def make_figures(out: Path) -> list[Path]:
    """Write OUT/figures/*.png from OUT's fields and probes; return the files written."""
    out = Path(out)
    case = tomllib.loads((out / "case.resolved.toml").read_text())
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() \
        else {}
    fig = case.get("figures", {})
    written = []
    (out / "figures").mkdir(exist_ok=True)
    series = read_series(out / "fields")
    model = case.get("physics", {}).get("model", "heat")
    if series and model == "heat":
        written.append(cut_plane_figure(out, case, summary, series))
    elif series and model == "chemomech":
        from batteryfx.post.particle_figures import grain_boundary_figure, particle_clip_figure

        written += [p for p in [particle_clip_figure(out, case, series),
                                grain_boundary_figure(out)] if p is not None]
    elif series and model == "electrolyte":
        from batteryfx.post.electrolyte_figures import map_figure, profile_figure

        written += [p for p in (profile_figure(out, case, series),
                                map_figure(out, case, series)) if p is not None]
    if fig.get("probe_plot", True) and (out / "probes.csv").exists():
        written.append(probe_figure(out, case, summary))
    return written


def _pick_times(available: list[float], wanted: list[float] | None, count: int = 4):
    """Snapshots nearest to ``wanted``, or up to ``count`` spread over the run (t > 0)."""
    if wanted:
        return sorted({min(available, key=lambda a, w=w: abs(a - w)) for w in wanted})
    positive = [a for a in available if a > 0] or available
    idx = np.unique(np.linspace(0, len(positive) - 1, min(count, len(positive))).round())
    return [positive[int(i)] for i in idx]


def _offscreen() -> None:
    """Render without an X server: VTK's EGL window instead of a failing X connection."""
    import os

    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


def _read_vtkhdf(path: Path, step: int):
    """The saved fields of output ``step`` of a transient VTKHDF file as a PyVista grid
    (coordinates in metres): P1 fields as point arrays, DG0 fields as cell arrays ((n,) or
    (n, components)), and the step's time as field data ``Time``."""
    import pyvista as pv
    import vtk

    reader = vtk.vtkHDFReader()
    reader.SetFileName(str(path))
    reader.UpdateInformation()
    reader.SetStep(step)
    reader.Update()
    return pv.wrap(reader.GetOutput()).copy()


def cut_plane_figure(out: Path, case: dict, summary: dict, series) -> Path:
    """One panel per time: the temperature on the cut plane, all coupons side by side."""
    _offscreen()
    import pyvista as pv

    pv.OFF_SCREEN = True
    fig = case.get("figures", {})
    normal = fig.get("cut_normal", "y")
    times = _pick_times([t for _, t in series], fig.get("times"))
    steps = {t: i for i, t in series}
    boxes = summary.get("geometry", {}).get("stack_boxes_m", {})
    t0 = case["physics"]["initial_temperature"]
    t_ref = summary.get("reference_temperature_K")
    grids = [_read_vtkhdf(out / "fields" / FIELDS_FILE, steps[t]) for t in times]
    view, cuts = cut_view(fig, boxes, grids)
    unit, scale, origin = view["unit"], 1.0 / view["metres"], view["origin"]
    across, up, stretch = view["across"], view["up"], view["stretch"]
    axis = "xyz".index(normal)
    lo = min(float(g["temperature"].min()) for g in grids)
    hi = max(float(g["temperature"].max()) for g in grids)
    clim = [min(t0, lo), max(t_ref or hi, hi)]
    plotter = pv.Plotter(off_screen=True, shape=(len(times), 1),
                         window_size=(1400, 330 * len(times)), border=False)
    for row, (t, cut) in enumerate(zip(times, cuts, strict=True)):
        plotter.subplot(row, 0)
        plotter.add_mesh(cut, scalars="temperature", cmap="inferno", clim=clim, lighting=False,
                         show_scalar_bar=(row == len(times) - 1),
                         scalar_bar_args={"title": "T (K)", "vertical": True,
                                          "position_x": 0.9, "position_y": 0.1})
        plotter.add_mesh(cut.extract_feature_edges(), color="grey", line_width=1)
        plotter.add_text(f"t = {t:.3g} s", position="upper_left", font_size=11, color="black")
        note = f"; {'xyz'[up]} stretched {stretch:.3g}x" if stretch != 1.0 else ""
        plotter.add_text(f"cut {normal} = {origin[axis]:.4g} {unit}; lengths in {unit}{note}",
                         position="lower_left", font_size=8, color="grey")
        cb = np.array(cut.bounds).reshape(3, 2)
        for name, (blo, bhi) in boxes.items():
            if not blo[axis] * scale <= origin[axis] <= bhi[axis] * scale:
                continue  # the box is not on the cut plane
            centre = [(blo[0] + bhi[0]) / 2 * scale, (blo[1] + bhi[1]) / 2 * scale,
                      bhi[2] * scale]
            centre[axis] = origin[axis]
            centre[across] = min(max(centre[across], cb[across][0]), cb[across][1])
            centre[up] = centre[up] * stretch
            plotter.add_point_labels([centre], [name], font_size=12, point_size=1,
                                     shape_opacity=0.0, always_visible=True,
                                     text_color="black", show_points=False)
        frame(plotter, cut, view, 1400 / 330, 1.2)
    plotter.set_background("white")
    path = out / "figures" / f"temperature_cut_{normal}.png"
    plotter.screenshot(str(path))
    plotter.close()
    return path


def cut_view(fig: dict, boxes: dict, grids: list) -> tuple[dict, list]:
    """The cut of each grid (fields in metres) as [figures] asks: plane ``cut_normal``
    through ``cut_origin`` (default: the middle of the first stack box, not the gap between
    two; else of the grid), in the length unit of the model's size, clipped to
    ``cut_window`` and stretched by ``z_scale`` (default :func:`vertical_exaggeration` of the
    first cut). Returns (view: normal, origin, across, up, window, stretch, unit, metres;
    the cuts)."""
    normal = fig.get("cut_normal", "y")
    unit, metres = length_unit(model_extent(boxes, grids[0].bounds))
    origin = fig.get("cut_origin")
    if origin is None and boxes:
        lo, hi = next(iter(boxes.values()))
        origin = [(a + b) / 2 for a, b in zip(lo, hi, strict=True)]
    elif origin is None:
        origin = list(np.array(grids[0].bounds).reshape(3, 2).mean(axis=1))
    origin = [o / metres for o in origin]
    across, up = {"x": (1, 2), "y": (0, 2), "z": (0, 1)}[normal]
    window = fig.get("cut_window")
    window = None if window is None else window / metres
    cuts = []
    for grid in grids:
        grid.points = grid.points / metres  # figures are drawn in `unit`
        cuts.append(clip_cut(grid.slice(normal=normal, origin=inside(grid, normal, origin)),
                             across, origin[across], window))
    stretch = vertical_exaggeration(cuts[0], across, up, fig.get("z_scale"))
    for cut in cuts:
        pts = cut.points.copy()
        pts[:, up] = pts[:, up] * stretch
        cut.points = pts
    view = {"normal": normal, "origin": origin, "across": across, "up": up, "window": window,
            "stretch": stretch, "unit": unit, "metres": metres}
    return view, cuts


def inside(grid, normal: str, origin) -> list[float]:
    """``origin`` moved along ``normal`` to just inside the grid's bounds (by 1e-6 of its
    extent): a cut on a boundary face (e.g. the symmetry plane of a half model) or beyond
    the grid would be empty."""
    axis = "xyz".index(normal)
    lo, hi = grid.bounds[2 * axis], grid.bounds[2 * axis + 1]
    eps = 1e-6 * (hi - lo)
    out = list(origin)
    out[axis] = min(max(out[axis], lo + eps), hi - eps)
    return out


def frame(plotter, cut, view: dict, panel_aspect: float, margin: float) -> None:
    """Look at a cut face-on (parallel projection), filling a panel of width / height
    ``panel_aspect`` (80 % of it: room for the colour bar) with ``margin`` around it."""
    {"x": plotter.view_yz, "y": plotter.view_xz, "z": plotter.view_xy}[view["normal"]]()
    plotter.enable_parallel_projection()
    b = np.array(cut.bounds).reshape(3, 2)
    half_w, half_h = np.ptp(b[view["across"]]) / 2, np.ptp(b[view["up"]]) / 2
    plotter.camera.parallel_scale = margin * max(half_h, half_w / (panel_aspect * 0.8))


def clip_cut(cut, across: int, centre: float, width: float | None):
    """The part of a cut within ``width`` (figure units) around ``centre`` along ``across``."""
    if width is None:
        return cut
    b = list(cut.bounds)
    b[2 * across] = max(b[2 * across], centre - width / 2)
    b[2 * across + 1] = min(b[2 * across + 1], centre + width / 2)
    return cut.clip_box(b, invert=False).extract_surface(algorithm="dataset_surface")


def vertical_exaggeration(cut, across: int, up: int, requested: float | None) -> float:
    """Stretch of the ``up`` axis: as requested, else 1 unless the cut is flatter than 1:6
    (a pouch cell 0.5 mm thick and 60 mm wide), then what makes it 1:6."""
    if requested is not None:
        return float(requested)
    b = np.array(cut.bounds).reshape(3, 2)
    width, height = np.ptp(b[across]), np.ptp(b[up])
    if height <= 0 or height * 6 >= width:
        return 1.0
    return float(width / (6 * height))


def probe_figure(out: Path, case: dict, summary: dict) -> Path:
    """Every probe against time (log time axis by default), one panel per unit: temperatures
    in K with the 50 % rise line of a heat run; stresses in MPa; the rest as written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, series = read_probes(out / "probes.csv")
    fig_opts = case.get("figures", {})
    positive = t > 0
    units = read_units(out / "probes.csv")
    heat = case.get("physics", {}).get("model", "heat") == "heat"
    # heat runs: temperatures only (stored heat and fluxes: batteryfx compare)
    shown = sorted({u for u in units.values() if u == "K" or not heat},
                   key=lambda u: (u != "K", u)) or ["K"]
    labels = {"K": "temperature (K)", "Pa": "stress (MPa)", "mol_m3": "c (mol/m^3)",
              "1": "state of charge", "J": "energy (J)", "mol": "Li (mol)",
              "W_m2": "mean heat flux (W/m^2)"}
    fig, axes = plt.subplots(1, len(shown), figsize=(8 * len(shown), 4.5), squeeze=False,
                             constrained_layout=True)
    for ax, unit in zip(axes[0], shown, strict=True):
        scale = 1e-6 if unit == "Pa" else 1.0
        for name, v in series.items():
            if units.get(name, "K") == unit:
                ax.plot(t[positive], scale * v[positive], label=name)
        if unit == "K" and heat:
            t_ref = summary.get("reference_temperature_K")
            t0 = case["physics"]["initial_temperature"]
            if t_ref is not None:
                ax.axhline(t0 + 0.5 * (t_ref - t0), color="grey", ls=":", lw=1,
                           label="50 % of the source rise")
        if fig_opts.get("log_time_axis", True):
            ax.set_xscale("log")
        ax.set_xlabel("time (s)")
        ax.set_ylabel(labels.get(unit, unit))
        ax.set_title(case.get("title", ""), fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    path = out / "figures" / "probes.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
