"""Reading the transient fields file without DOLFINx (post-processing runs with h5py and
PyVista alone, e.g. ``batteryfx plot`` on a laptop); :mod:`batteryfx.fields` writes it."""

from __future__ import annotations

from pathlib import Path

#: the transient VTKHDF file of a run's output times, in ``OUT/fields/``
FIELDS_FILE = "fields.vtkhdf"


def read_series(folder: Path) -> list[tuple[int, float]]:
    """(step, time) of every output time in ``folder/fields.vtkhdf`` ([] without it)."""
    import h5py

    path = folder / FIELDS_FILE
    if not path.exists():
        return []
    with h5py.File(path, "r") as f:
        times = f["VTKHDF/Steps/Values"][:]
    return [(i, float(t)) for i, t in enumerate(times)]


def field_arrays(folder: Path) -> dict[str, tuple[str, int]]:
    """The arrays of ``folder/fields.vtkhdf``: name -> (``"point"`` (P1, per node) or
    ``"cell"`` (DG0, per cell), number of components); {} without the file."""
    import h5py

    path = folder / FIELDS_FILE
    if not path.exists():
        return {}
    out = {}
    with h5py.File(path, "r") as f:
        for group, kind in (("PointData", "point"), ("CellData", "cell")):
            for name, d in f["VTKHDF"].get(group, {}).items():
                out[name] = (kind, 1 if d.ndim == 1 else int(d.shape[1]))
    return out
