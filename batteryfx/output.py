"""The output folder: built in ``OUT.partial/`` and renamed to ``OUT/`` when the run succeeds,
so an interrupted or crashed run never leaves a folder that looks finished."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

from batteryfx.errors import CaseError

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
        if not restart and self.partial.exists():
            raise CaseError("--out", str(self.out),
                            f"{self.partial.name} exists from an interrupted run; continue it "
                            f"with --restart {self.out} or delete it")

    def create(self) -> None:
        if self.comm.rank == 0:
            for sub in SUBDIRS:
                (self.partial / sub).mkdir(parents=True, exist_ok=True)
        self.comm.Barrier()

    def __truediv__(self, name: str) -> Path:
        return self.partial / name

    def finalize(self) -> Path:
        """Rename OUT.partial -> OUT (replacing an older OUT); collective."""
        if self.comm.rank == 0:
            if self.out.exists():
                shutil.rmtree(self.out)
            os.replace(self.partial, self.out)
        self.comm.Barrier()
        return self.out


class ProbeWriter:
    """probes.csv: one row per step (t in s, then each probe in K); rank 0 writes."""

    def __init__(self, path: Path, names: list[str], comm, resume_at: float | None = None):
        self.comm = comm
        self.fh = None
        if comm.rank != 0:
            return
        header = ["time_s"] + [f"{n}_K" for n in names]
        rows = []
        if resume_at is not None and path.exists():
            with open(path, newline="") as fh:
                reader = csv.reader(fh)
                next(reader, None)
                rows = [r for r in reader if r and float(r[0]) <= resume_at * (1 + 1e-12)]
        self.fh = open(path, "w", newline="")
        self.writer = csv.writer(self.fh)
        self.writer.writerow(header)
        self.writer.writerows(rows)
        self.fh.flush()

    def write(self, t: float, values) -> None:
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
    if comm.rank == 0:
        path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
