"""Figures of an electrolyte run (physics.model = "electrolyte"), from its output files only:
the salt concentration across the cell at the output times (figures/electrolyte_profiles.png;
1D: c(x); 2D / 3D: c(x) along the line through the middle of the section, and a map of the
last time for 2D / 3D, figures/electrolyte_map.png). Rank 0, off-screen."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from batteryfx.series import FIELDS_FILE

#: files written (relative to OUT)
FILES = ("figures/electrolyte_profiles.png", "figures/electrolyte_map.png")


def _points_values(grid, name: str) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(grid.points), np.asarray(grid.point_data[name])


def profile_figure(out: Path, case: dict, series) -> Path | None:
    """c(x) (mol/m^3) at every output time; x in um from the Li electrode. In 2D / 3D the
    nodes on the mid-line (y, z at the section's middle, nearest node row) are shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from batteryfx.post.figures import _read_vtkhdf

    if not series:
        return None
    path = Path(out) / "fields" / FIELDS_FILE
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    cmap = plt.get_cmap("viridis")
    for k, (step, t) in enumerate(series):
        grid = _read_vtkhdf(path, step)
        x, c = _points_values(grid, "concentration")
        keep = np.ones(len(x), bool)
        for d in (1, 2):
            span = x[:, d].max() - x[:, d].min()
            if span > 0:
                mid = 0.5 * (x[:, d].max() + x[:, d].min())
                dist = np.abs(x[:, d] - mid)
                keep &= dist <= dist.min() + 1e-9 * span
        order = np.argsort(x[keep, 0])
        ax.plot(x[keep, 0][order] * 1e6, c[keep][order], color=cmap(k / max(len(series) - 1, 1)),
                label=f"t = {t:.4g} s")
    ax.set_xlabel("x from the Li electrode (um)")
    ax.set_ylabel("salt concentration (mol/m^3)")
    ax.set_title(case.get("title", ""), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    dest = Path(out) / FILES[0]
    fig.savefig(dest, dpi=120)
    plt.close(fig)
    return dest


def map_figure(out: Path, case: dict, series) -> Path | None:
    """The concentration on the section at the last output time (2D / 3D only)."""
    if not series or int(case.get("geometry", {}).get("dimension", 3)) < 2:
        return None
    from batteryfx.post.figures import _offscreen, _read_vtkhdf

    _offscreen()
    import pyvista as pv

    pv.OFF_SCREEN = True
    step, t = series[-1]
    grid = _read_vtkhdf(Path(out) / "fields" / FIELDS_FILE, step).scale(1e6, inplace=False)
    plotter = pv.Plotter(off_screen=True, window_size=(900, 600), border=False)
    plotter.add_mesh(grid, scalars="concentration", cmap="viridis",
                     scalar_bar_args={"title": "c (mol/m^3)", "vertical": True,
                                      "position_x": 0.85, "position_y": 0.1})
    plotter.add_text(f"salt concentration, t = {t:.4g} s (lengths in um; Li electrode at "
                     "x = 0)", position="upper_left", font_size=10, color="black")
    plotter.set_background("white")
    if int(case["geometry"].get("dimension", 3)) == 2:
        plotter.view_xy()
    else:
        plotter.view_isometric()
    dest = Path(out) / FILES[1]
    plotter.screenshot(str(dest))
    plotter.close()
    return dest
