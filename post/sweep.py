"""The report of a parameter sweep (batteryfx/sweep.py): reads the members' output folders
(summary.json), never solver objects.

sweep.json: ``key``, and per member its label, value (as written and, when it has one, its SI
magnitude), folder and results: the probes' summary numbers (``probes`` of summary.json:
final / max / min values, threshold times ...) and the physics' ``headline`` numbers.
``ratio_to_first``: each result over the first member's. sweep.md: the same as tables, one
row per result, one column per member. Figures: each
headline number and each probe's max (or final) value vs the swept value
(figures/sweep_results.png).
"""

from __future__ import annotations

import json
import math
from pathlib import Path


def _magnitude(value) -> float | None:
    """The SI magnitude of a swept value (a number, or a string with units)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        from batteryfx.units import registry

        q = registry().Quantity(str(value))
        return float(q.to_base_units().magnitude)
    except Exception:  # not a quantity (a material name, a layer preset ...)
        return None


def _results(summary: dict) -> dict[str, float]:
    """Flat {name: number} of a member's summary: headline numbers, then probe numbers."""
    out: dict[str, float] = {}
    for key, value in (summary.get("headline") or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
    for probe, numbers in (summary.get("probes") or {}).items():
        for key, value in numbers.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[f"{probe}.{key}"] = float(value)
    return out


def write_tables(key: str, folders: list[tuple[str, object, Path]], dest: Path) -> dict:
    """sweep.json and sweep.md in ``dest`` from the members' folders."""
    members = []
    for label, value, folder in folders:
        summary = json.loads((Path(folder) / "summary.json").read_text())
        members.append({"label": label, "value": value, "value_si": _magnitude(value),
                        "folder": str(folder), "results": _results(summary)})
    first = members[0]["results"] if members else {}
    for m in members:
        m["ratio_to_first"] = {n: (v / first[n] if first.get(n) not in (None, 0.0) else None)
                               for n, v in m["results"].items() if n in first}
    result = {"key": key, "members": members}
    (dest / "sweep.json").write_text(json.dumps(result, indent=2, allow_nan=False,
                                                default=str) + "\n")
    (dest / "sweep.md").write_text(markdown(result))
    return result


def markdown(result: dict) -> str:
    members = result["members"]
    names: list[str] = []
    for m in members:
        names += [n for n in m["results"] if n not in names]

    def fmt(v):
        return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) \
            else f"{v:.4g}"

    head = f"| result | {' | '.join(str(m['value']) for m in members)} |"
    lines = [f"# Sweep of `{result['key']}`", "",
             "Members: " + ", ".join(f"`{m['label']}` ({m['folder']})" for m in members), "",
             head, "|" + "---|" * (len(members) + 1)]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(fmt(m["results"].get(n)) for m in members) + " |")
    if len(members) > 1:
        lines += ["", f"Ratios to the first member (`{members[0]['label']}`):", "",
                  head, "|" + "---|" * (len(members) + 1)]
        for n in names:
            lines.append(f"| {n} | " + " | ".join(
                fmt(m.get("ratio_to_first", {}).get(n)) for m in members) + " |")
    return "\n".join(lines) + "\n"


def write_figures(result: dict, folder: Path) -> list[Path]:
    """figures/sweep_results.png: each headline number and each probe's max (or final)
    value vs the swept value (by member when the values are not numbers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    members = result["members"]
    numeric = all(m["value_si"] is not None for m in members)
    xs = [m["value_si"] if numeric else k for k, m in enumerate(members)]
    names: list[str] = []
    for m in members:
        for n in m["results"]:
            if n in names:
                continue
            if "." not in n or n.split(".", 1)[1].startswith("max_") or (
                    n.split(".", 1)[1].startswith("final_")
                    and not any(x.startswith(n.split(".")[0] + ".max_") for x in m["results"])):
                names.append(n)
    names = names[:12]
    if not names:
        return []
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, n in zip(axes.ravel(), names, strict=False):
        ys = [m["results"].get(n, float("nan")) for m in members]
        ax.plot(xs, ys, "o-")
        ax.set_title(n, fontsize=9)
        ax.grid(alpha=0.3)
        ax.set_xticks(xs, [str(m["value"]) if numeric else m["label"] for m in members],
                      rotation=30, fontsize=7)
        ax.set_xlabel(result["key"], fontsize=8)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    fig.tight_layout()
    out = folder / "figures" / "sweep_results.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return [out]
