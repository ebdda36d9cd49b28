"""probes.csv reading and the scalar results derived from it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from batteryfx.quantities import unit_suffixes


def read_probes(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(time_s, {probe name: values in the probe's unit}) from probes.csv."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        data = np.array([[float(v) for v in row] for row in reader if row], dtype=float)
    data = data.reshape(-1, len(header))
    names = [_split(h)[0] for h in header[1:]]
    return data[:, 0], {n: data[:, i + 1] for i, n in enumerate(names)}


def _split(column: str) -> tuple[str, str]:
    for suffix in unit_suffixes():
        if column.endswith(suffix):
            return column.removesuffix(suffix), suffix[1:]
    return column, ""


def read_units(path: Path) -> dict[str, str]:
    """{probe name: unit} from probes.csv's header ("K", "J", "W_m2", "Pa", ...)."""
    with open(path, newline="") as fh:
        header = next(csv.reader(fh))
    return dict(_split(h) for h in header[1:])


def crossing_time(t: np.ndarray, v: np.ndarray, target: float, rising: bool = True):
    """First time v reaches ``target`` (linear interpolation between samples), or None."""
    s = (v - target) if rising else (target - v)
    idx = np.flatnonzero(s >= 0)
    if not len(idx):
        return None
    i = idx[0]
    if i == 0:
        return float(t[0])
    frac = -s[i - 1] / (s[i] - s[i - 1])
    return float(t[i - 1] + frac * (t[i] - t[i - 1]))


def threshold_key(kelvin: float) -> str:
    """summary.json key of a threshold temperature: ``time_to_80C_s`` for 353.15 K."""
    return f"time_to_{kelvin - 273.15:.4g}C_s".replace("-", "minus")


def probe_results(t, series: dict[str, np.ndarray], fractions: dict[str, list[float]],
                  t_initial: float, t_reference: float | None,
                  thresholds: dict[str, list[float]] | None = None,
                  units: dict[str, str] | None = None) -> dict:
    """Per probe: final, max and time of max; for each rise fraction f the time to reach
    T0 + f (T_ref - T0), "not reached (end time ... s)", or "undefined ..." when T_ref = T0;
    for each threshold temperature (K) the first time the probe reaches it
    (:func:`threshold_key`), or "not reached (end time ... s)".

    The time of the maximum is the first time within 1e-6 of the probe's range below the
    maximum, so a plateau (e.g. at the hot-spot temperature) does not pick a round-off wiggle.
    """
    out = {}
    for name, v in series.items():
        unit = (units or {}).get(name, "K")
        ok = np.isfinite(v)
        if not ok.any():  # (e.g. ln c of a used-up electrolyte): nothing to report
            out[name] = {f"final_{unit}": None, f"max_{unit}": None, "time_of_max_s": None,
                         f"min_{unit}": None}
            continue
        vf = v[ok]
        tol = 1e-6 * max(float(np.ptp(vf)), 1e-300)
        k = int(np.flatnonzero(ok & (v >= vf.max() - tol))[0])
        res = {f"final_{unit}": float(v[-1]) if ok[-1] else None,
               f"max_{unit}": float(vf.max()), "time_of_max_s": float(t[k]),
               f"min_{unit}": float(vf.min())}
        if unit != "K":
            out[name] = res
            continue
        for f in fractions.get(name, []):
            key = f"time_to_{round(100 * f):d}pct_rise_s"
            if t_reference is None or abs(t_reference - t_initial) <= 1e-12 * t_initial:
                res[key] = ("undefined (the reference temperature equals the initial "
                            "temperature: there is no rise)")
                continue
            target = t_initial + f * (t_reference - t_initial)
            tc = crossing_time(t, v, target, rising=t_reference >= t_initial)
            res[key] = tc if tc is not None else f"not reached (end time {t[-1]:.6g} s)"
        for kelvin in (thresholds or {}).get(name, []):
            tc = crossing_time(t, v, kelvin, rising=True)
            res[threshold_key(kelvin)] = tc if tc is not None else \
                f"not reached (end time {t[-1]:.6g} s)"
        out[name] = res
    return out
