"""Figures from an output folder: PyVista cut planes of the temperature field at a few times,
and the probe time series (matplotlib). Rank-0, off-screen, no X server needed."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np

from batteryfx.fields import read_series
from batteryfx.post.probes import read_probes

UM = 1e6  # figures are drawn in micrometres


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
    if series:
        written.append(cut_plane_figure(out, case, summary, series))
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


def _read_vtkhdf(path: Path):
    import pyvista as pv
    import vtk

    reader = vtk.vtkHDFReader()
    reader.SetFileName(str(path))
    reader.Update()
    grid = pv.wrap(reader.GetOutput())
    grid.points = grid.points * UM
    return grid


def cut_plane_figure(out: Path, case: dict, summary: dict, series) -> Path:
    """One panel per time: the temperature on the cut plane, all coupons side by side."""
    _offscreen()
    import pyvista as pv

    pv.OFF_SCREEN = True
    fig = case.get("figures", {})
    normal = fig.get("cut_normal", "y")
    times = _pick_times([t for _, t in series], fig.get("times"))
    files = {t: n for n, t in series}
    boxes = summary.get("geometry", {}).get("stack_boxes_m", {})
    t0 = case["physics"]["initial_temperature"]
    t_ref = summary.get("reference_temperature_K")
    grids = [_read_vtkhdf(out / "fields" / files[t]) for t in times]
    lo = min(float(g["temperature"].min()) for g in grids)
    hi = max(float(g["temperature"].max()) for g in grids)
    clim = [min(t0, lo), max(t_ref or hi, hi)]
    origin = fig.get("cut_origin")
    if origin is None and boxes:  # the middle of the first stack (not the gap between two)
        lo, hi = next(iter(boxes.values()))
        origin = [(a + b) / 2 * UM for a, b in zip(lo, hi, strict=True)]
    elif origin is None:
        origin = list(np.array(grids[0].bounds).reshape(3, 2).mean(axis=1))
    else:
        origin = [o * UM for o in origin]
    plotter = pv.Plotter(off_screen=True, shape=(len(times), 1),
                         window_size=(1400, 330 * len(times)), border=False)
    for row, (t, grid) in enumerate(zip(times, grids, strict=True)):
        plotter.subplot(row, 0)
        cut = grid.slice(normal=normal, origin=origin)
        plotter.add_mesh(cut, scalars="temperature", cmap="inferno", clim=clim, lighting=False,
                         show_scalar_bar=(row == len(times) - 1),
                         scalar_bar_args={"title": "T (K)", "vertical": True,
                                          "position_x": 0.9, "position_y": 0.1})
        plotter.add_mesh(cut.extract_feature_edges(), color="grey", line_width=1)
        plotter.add_text(f"t = {t:.3g} s", position="upper_left", font_size=11, color="black")
        for name, (blo, bhi) in boxes.items():
            centre = [(blo[0] + bhi[0]) / 2 * UM, (blo[1] + bhi[1]) / 2 * UM, bhi[2] * UM]
            if normal == "y":
                centre[1] = origin[1]
            plotter.add_point_labels([centre], [name], font_size=12, point_size=1,
                                     shape_opacity=0.0, always_visible=True,
                                     text_color="black", show_points=False)
        {"x": plotter.view_yz, "y": plotter.view_xz, "z": plotter.view_xy}[normal]()
        plotter.enable_parallel_projection()
        b = np.array(cut.bounds).reshape(3, 2)
        across, up = {"x": (1, 2), "y": (0, 2), "z": (0, 1)}[normal]
        half_w, half_h = np.ptp(b[across]) / 2, np.ptp(b[up]) / 2
        aspect = 1400 / 330 * 0.8  # panel width / height, leaving room for the colour bar
        plotter.camera.parallel_scale = 1.2 * max(half_h, half_w / aspect)
    plotter.set_background("white")
    path = out / "figures" / f"temperature_cut_{normal}.png"
    plotter.screenshot(str(path))
    plotter.close()
    return path


def probe_figure(out: Path, case: dict, summary: dict) -> Path:
    """Every probe's temperature against time (log time axis by default)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, series = read_probes(out / "probes.csv")
    fig_opts = case.get("figures", {})
    fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    positive = t > 0
    for name, v in series.items():
        ax.plot(t[positive], v[positive], label=name)
    t_ref = summary.get("reference_temperature_K")
    t0 = case["physics"]["initial_temperature"]
    if t_ref is not None:
        ax.axhline(t0 + 0.5 * (t_ref - t0), color="grey", ls=":", lw=1,
                   label="50 % of the source rise")
    if fig_opts.get("log_time_axis", True):
        ax.set_xscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("temperature (K)")
    ax.set_title(case.get("title", ""), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    path = out / "figures" / "probes.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
