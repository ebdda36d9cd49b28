"""``batteryfx compare OUT_A OUT_B``: two finished runs (e.g. the same pouch case with a PI-Ag and
a Cu anode collector) side by side, from their output folders only (no solver objects).

Writes into the report folder: ``compare.json`` and ``compare.md`` (every threshold / rise time
of the probes both runs share, with the ratio B / A; the peak of each probe; the cell budget of
each design when the runs have one), ``figures/compare_probes.png`` (probe histories, A solid,
B dashed), ``figures/compare_cut.png`` (cross-sections at matched output times, A over B),
``figures/compare_cut.gif`` (the cross-section animated over all matched times) and, when
both runs probe the mean heat flux along and across the same marker (probe quantities
``flux_in_plane`` and ``flux_through``), ``figures/compare_flux_split.png``: the in-plane share
q_in / (q_in + q_through) of each design over time (the heat-flow split).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np

from batteryfx.errors import CaseError
from batteryfx.post.probes import read_probes, read_units
from batteryfx.series import FIELDS_FILE, read_series

#: files the report writes (relative to the report folder)
REPORT_FILES = ("compare.json", "compare.md", "figures/compare_probes.png",
                "figures/compare_cut.png", "figures/compare_cut.gif",
                "figures/compare_flux_split.png")


def load_run(folder: Path) -> dict:
    """The parts of a finished output folder the comparison reads (CaseError if it is not
    one)."""
    folder = Path(folder)
    for name in ("summary.json", "case.resolved.toml", "probes.csv"):
        if not (folder / name).is_file():
            raise CaseError("compare", str(folder), f"not a finished batteryfx output folder "
                            f"(no {name}); run the case first")
    try:
        summary = json.loads((folder / "summary.json").read_text())
        case = tomllib.loads((folder / "case.resolved.toml").read_text())
        t, series = read_probes(folder / "probes.csv")
        units = read_units(folder / "probes.csv")
    except (ValueError, OSError) as exc:
        raise CaseError("compare", str(folder), f"unreadable output: {exc}") from None
    geo = case.get("geometry", {})
    label = geo.get("unit") or case.get("title") or folder.name
    return {"folder": folder, "summary": summary, "case": case, "t": t, "series": series,
            "units": units,
            "label": str(label), "fields": read_series(folder / "fields")}


def flux_pairs(run: dict) -> dict[str, tuple[str, str]]:
    """marker -> (in-plane probe, through-plane probe) of the run's heat-flux probes."""
    found: dict[str, dict[str, str]] = {}
    for p in run["case"].get("probes", []):
        if p.get("quantity") in ("flux_in_plane", "flux_through") and "marker" in p:
            found.setdefault(p["marker"], {})[p["quantity"]] = p["name"]
    return {m: (q["flux_in_plane"], q["flux_through"]) for m, q in found.items()
            if len(q) == 2 and all(n in run["series"] for n in q.values())}


def flux_split(run: dict) -> dict[str, dict]:
    """Per marker with both flux probes: the in-plane share q_in / (q_in + q_through) of the
    mean heat-flux magnitudes, time-averaged over the run (trapezoidal in t) and at its end."""
    out = {}
    t = run["t"]
    for marker, (n_in, n_z) in flux_pairs(run).items():
        q_in, q_z = run["series"][n_in], run["series"][n_z]
        total = q_in + q_z
        ok = (t > 0) & (total > 0)
        if ok.sum() < 2:
            continue
        share = q_in[ok] / total[ok]
        tt = t[ok]
        mean = float(np.sum(0.5 * (share[1:] + share[:-1]) * np.diff(tt)) / (tt[-1] - tt[0]))
        out[marker] = {"in_plane_share_time_mean": mean, "in_plane_share_end": float(share[-1])}
    return out


def compare_results(a: dict, b: dict) -> dict:
    """Per probe both runs have: each time_to_* result of A and B and the ratio B / A (None
    when either is not a number), and the maxima; plus each run's cell budget."""
    pa, pb = a["summary"].get("probes", {}), b["summary"].get("probes", {})
    rows = []
    for name in (n for n in pa if n in pb):
        for key in (k for k in pa[name] if k.startswith("time_to_") and k in pb[name]):
            va, vb = pa[name][key], pb[name][key]
            both = isinstance(va, (int, float)) and isinstance(vb, (int, float)) and va > 0
            rows.append({"probe": name, "quantity": key, "A": va, "B": vb,
                         "ratio_B_over_A": vb / va if both else None})
        for key in (k for k in pa[name] if k.startswith("max_") and k in pb[name]):
            va, vb = pa[name][key], pb[name][key]
            ratio = vb / va if key != "max_K" and va else None  # (no ratio of kelvins)
            rows.append({"probe": name, "quantity": key, "A": va, "B": vb,
                         "ratio_B_over_A": ratio})
    return {"A": {"folder": str(a["folder"]), "label": a["label"],
                  "title": a["case"].get("title", "")},
            "B": {"folder": str(b["folder"]), "label": b["label"],
                  "title": b["case"].get("title", "")},
            "rows": rows,
            "cell_budget": {"A": a["summary"].get("cell_budget"),
                            "B": b["summary"].get("cell_budget")},
            "heat_flow_split": {"A": flux_split(a), "B": flux_split(b)}}


def markdown(result: dict) -> str:
    """compare.md: the table of :func:`compare_results`."""
    a, b = result["A"], result["B"]

    def fmt(v):
        return f"{v:.4g}" if isinstance(v, (int, float)) else str(v)

    lines = [f"# {a['label']} (A) vs {b['label']} (B)", "",
             f"- A: {a['title']} ({a['folder']})", f"- B: {b['title']} ({b['folder']})", "",
             "| probe | quantity | A | B | B / A |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        ratio = "" if r["ratio_B_over_A"] is None else f"{r['ratio_B_over_A']:.3g}"
        lines.append(f"| {r['probe']} | {r['quantity']} | {fmt(r['A'])} | {fmt(r['B'])} | "
                     f"{ratio} |")
    split = result.get("heat_flow_split", {})
    shared = [m for m in split.get("A", {}) if m in split.get("B", {})]
    if shared:
        lines += ["", "## Heat-flow split (in-plane share q_in / (q_in + q_through))", "",
                  "| marker | A time-mean | B time-mean | A at end | B at end |",
                  "|---|---|---|---|---|"]
        for m in shared:
            sa, sb = split["A"][m], split["B"][m]
            lines.append(f"| {m} | {sa['in_plane_share_time_mean']:.3g} | "
                         f"{sb['in_plane_share_time_mean']:.3g} | "
                         f"{sa['in_plane_share_end']:.3g} | {sb['in_plane_share_end']:.3g} |")
    budgets = result["cell_budget"]
    if budgets["A"] and budgets["B"]:
        lines += ["", "## Cell budget", "", "| | A | B | B / A |", "|---|---|---|---|"]
        for key in ("capacity_Ah", "energy_Wh", "specific_energy_Wh_per_kg",
                    "energy_density_Wh_per_L"):
            va, vb = budgets["A"].get(key), budgets["B"].get(key)
            if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and va:
                lines.append(f"| {key} | {va:.4g} | {vb:.4g} | {vb / va:.3g} |")
        ma, mb = budgets["A"].get("mass_kg", {}), budgets["B"].get("mass_kg", {})
        for key in ma:
            if key in mb:
                lines.append(f"| mass {key} (g) | {1e3 * ma[key]:.4g} | {1e3 * mb[key]:.4g} | "
                             f"{mb[key] / ma[key] if ma[key] else float('nan'):.3g} |")
    return "\n".join(lines) + "\n"


def probe_figure(a: dict, b: dict, path: Path) -> Path:
    """Probe histories of both runs: same colour per probe, A solid, B dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in a["series"] if n in b["series"]]
    units = sorted({a["units"].get(n, "K") for n in names}, key=lambda u: u != "K")
    labels = {"K": "temperature (C)", "J": "stored heat (J)", "W_m2": "mean heat flux (W/m^2)"}
    fig, axes = plt.subplots(1, len(units), figsize=(9 * len(units), 5), squeeze=False,
                             constrained_layout=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, unit in zip(axes[0], units, strict=True):
        for i, name in enumerate(n for n in names if a["units"].get(n, "K") == unit):
            c = colours[i % len(colours)]
            for run, ls in ((a, "-"), (b, "--")):
                t, v = run["t"], run["series"][name]
                v = v - 273.15 if unit == "K" else v
                ax.plot(t[t > 0], v[t > 0], ls=ls, color=c, label=f"{name} ({run['label']})")
        ax.set_xscale("log")
        ax.set_xlabel("time (s)")
        ax.set_ylabel(labels.get(unit, unit))
        ax.set_title(f"{a['label']} (solid) vs {b['label']} (dashed)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def flux_split_figure(a: dict, b: dict, path: Path) -> Path | None:
    """The in-plane share of the heat flux over time, per marker both runs probe (A solid,
    B dashed); None when they share no flux pair."""
    pa, pb = flux_pairs(a), flux_pairs(b)
    markers = [m for m in pa if m in pb]
    if not markers:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), constrained_layout=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, m in enumerate(markers):
        for run, pairs, ls in ((a, pa, "-"), (b, pb, "--")):
            t = run["t"]
            q_in, q_z = (run["series"][n] for n in pairs[m])
            ok = (t > 0) & (q_in + q_z > 0)
            ax.plot(t[ok], q_in[ok] / (q_in[ok] + q_z[ok]), ls=ls,
                    color=colours[i % len(colours)], label=f"{m} ({run['label']})")
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("in-plane share of the heat flux  q_in / (q_in + q_through)")
    ax.set_title(f"heat-flow split: {a['label']} (solid) vs {b['label']} (dashed)",
                 fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def matched_times(a: dict, b: dict) -> list[tuple[float, int, int]]:
    """(t, step in A, step in B) for output times both runs have (t > 0, within 1e-9 rel)."""
    out = []
    for ia, ta in a["fields"]:
        for ib, tb in b["fields"]:
            if ta > 0 and abs(ta - tb) <= 1e-9 * max(abs(ta), abs(tb)):
                out.append((ta, ia, ib))
    return out


def _frame(plotter, cuts, labels, t, settings, clim, with_bar):
    """Fill the two rows of a plotter with the cuts of A and B at time t."""
    from batteryfx.post.figures import frame

    for row, (cut, label) in enumerate(zip(cuts, labels, strict=True)):
        plotter.subplot(row, 0)
        plotter.add_mesh(cut, scalars="temperature", cmap="inferno", clim=clim,
                         lighting=False, show_scalar_bar=with_bar and row == 1,
                         scalar_bar_args={"title": "T (K)", "vertical": True,
                                          "position_x": 0.9, "position_y": 0.1})
        plotter.add_text(f"{label}   t = {t:.3g} s", position="upper_left", font_size=10,
                         color="black")
        note = f"; {'xyz'[settings['up']]} x{settings['stretch']:.3g}" \
            if settings["stretch"] != 1.0 else ""
        plotter.add_text(f"lengths in {settings['unit']}{note}", position="lower_left",
                         font_size=8, color="grey")
        frame(plotter, cut, settings, 1200 / 300, 1.15)


def cut_figures(a: dict, b: dict, folder: Path) -> list[Path]:
    """compare_cut.png (up to 4 matched times, A over B each) and compare_cut.gif (all matched
    times); nothing when the runs share no output time."""
    from batteryfx.post.figures import _offscreen, _read_vtkhdf, cut_view

    times = matched_times(a, b)
    if not times:
        return []
    _offscreen()
    import pyvista as pv
    from PIL import Image

    pv.OFF_SCREEN = True
    boxes = a["summary"].get("geometry", {}).get("stack_boxes_m", {})
    grids = [_read_vtkhdf(run["folder"] / "fields" / FIELDS_FILE, step)
             for _, ia, ib in times for run, step in ((a, ia), (b, ib))]
    settings, flat = cut_view(a["case"].get("figures", {}), boxes, grids)
    cuts = [(t, flat[2 * k], flat[2 * k + 1]) for k, (t, _, _) in enumerate(times)]
    t0 = a["case"]["physics"]["initial_temperature"]
    hi = max(max(float(ca["temperature"].max()), float(cb["temperature"].max()))
             for _, ca, cb in cuts)
    clim = [t0, max(hi, t0 + 1e-6)]
    labels = [a["label"], b["label"]]
    pick = np.unique(np.linspace(0, len(cuts) - 1, min(4, len(cuts))).round().astype(int))
    frames = []
    for k, (t, ca, cb) in enumerate(cuts):
        plotter = pv.Plotter(off_screen=True, shape=(2, 1), window_size=(1200, 600),
                             border=False)
        _frame(plotter, [ca, cb], labels, t, settings, clim, with_bar=True)
        plotter.set_background("white")
        frames.append((k, plotter.screenshot(return_img=True)))
        plotter.close()
    written = []
    stills = [img for k, img in frames if k in set(pick.tolist())]
    png = folder / "figures" / "compare_cut.png"
    Image.fromarray(np.concatenate(stills, axis=0)).save(png)
    written.append(png)
    gif = folder / "figures" / "compare_cut.gif"
    images = [Image.fromarray(img).convert("P", palette=Image.Palette.ADAPTIVE)
              for _, img in frames]
    images[0].save(gif, save_all=True, append_images=images[1:], duration=700, loop=0)
    written.append(gif)
    return written


def write_tables(a_folder: Path, b_folder: Path, folder: Path) -> dict:
    """compare.json and compare.md into ``folder`` (which exists); returns the result."""
    a, b = load_run(a_folder), load_run(b_folder)
    result = compare_results(a, b)
    (folder / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
    (folder / "compare.md").write_text(markdown(result))
    return result


def write_figures(a_folder: Path, b_folder: Path, folder: Path) -> list[Path]:
    """The report's figures into ``folder``/figures; returns the files written."""
    a, b = load_run(a_folder), load_run(b_folder)
    (folder / "figures").mkdir(exist_ok=True)
    files = [probe_figure(a, b, folder / "figures" / "compare_probes.png")]
    split = flux_split_figure(a, b, folder / "figures" / "compare_flux_split.png")
    return files + ([split] if split else []) + cut_figures(a, b, folder)
