"""The output folder: built in ``OUT.partial/`` and renamed to ``OUT/`` when the run succeeds,
so an interrupted or crashed run never leaves a folder that looks finished."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

from batteryfx.errors import CaseError
from batteryfx.parallel import on_rank0

SUBDIRS = ("fields", "figures", "checkpoint")


def partial_of(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def final_of(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".partial"))


class OutputDir:
    """Paths of one run's outputs; creation and the final rename happen on rank 0."""

    def __init__(self, out: Path, comm, restart: bool = False):
        self.out = final_of(Path(out).resolve())
        self.partial = partial_of(self.out)
        self.comm = comm
        self.restart = restart
        if restart and not (self.partial / "checkpoint" / "state.npz").exists():
            raise CaseError("--restart", str(out),
                            f"no interrupted run to continue ({self.partial}/checkpoint missing)")
        if not restart and self.out.exists() and not (self.out / "case.resolved.toml").exists():
            raise CaseError("--out", str(self.out),
                            "exists and is not a batteryfx output folder (it would be replaced); "
                            "choose another folder")
        if not restart and self.partial.exists():
            raise CaseError("--out", str(self.out),
                            f"{self.partial.name} exists from an interrupted run; continue it "
                            f"with --restart {self.out} or delete it")

    def create(self) -> None:
        def mkdirs():
            for sub in SUBDIRS:
                (self.partial / sub).mkdir(parents=True, exist_ok=True)

        on_rank0(self.comm, mkdirs, what=f"creating {self.partial}")

    def __truediv__(self, name: str) -> Path:
        return self.partial / name

    def finalize(self) -> Path:
        """Rename OUT.partial -> OUT (replacing an older batteryfx output); collective."""
        def rename():
            if self.out.exists():
                shutil.rmtree(self.out)
            os.replace(self.partial, self.out)

        on_rank0(self.comm, rename, what=f"renaming {self.partial}")
        return self.out


class ProbeWriter:
    """probes.csv: one row per step (t in s, then each probe in K); rank 0 writes.

    On restart the first ``keep_rows`` data rows (the count saved in the checkpoint) are kept
    and whatever was written after the checkpoint, a torn last line included, is dropped."""

    def __init__(self, path: Path, names: list[str], comm, keep_rows: int | None = None):
        self.comm = comm
        self.fh = None
        self.rows = 0
        header = ["time_s"] + [f"{n}_K" for n in names]
        self.rows = on_rank0(comm, self._open, path, header, keep_rows,
                             what=f"opening {path.name}")

    def _open(self, path: Path, header: list[str], keep_rows: int | None) -> int:
        rows: list[list[str]] = []
        if keep_rows:
            with open(path, newline="") as fh:
                reader = csv.reader(fh)
                next(reader, None)
                for row in reader:
                    if len(rows) == keep_rows:
                        break
                    rows.append(row)
            if len(rows) < keep_rows or any(len(r) != len(header) for r in rows):
                raise ValueError(f"{path} has fewer complete rows than its checkpoint")
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="") as fh:
            csv.writer(fh).writerows([header, *rows])
        os.replace(tmp, path)
        self.fh = open(path, "a", newline="")
        self.writer = csv.writer(self.fh)
        return len(rows)

    def write(self, t: float, values) -> None:
        self.rows += 1
        if self.fh is not None:
            self.writer.writerow([repr(float(t))] + [repr(float(v)) for v in values])

    def flush(self) -> None:
        if self.fh is not None:
            self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def write_json(path: Path, data: dict, comm) -> None:
    on_rank0(comm, path.write_text, json.dumps(data, indent=2) + "\n", what=f"writing {path}")
