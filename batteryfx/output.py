"""The output folder: built in ``OUT.partial/`` and moved into ``OUT/`` when the run succeeds,
so an interrupted or crashed run never leaves a folder that looks finished.

Nothing that batteryfx did not write is ever removed. Every output folder carries a manifest,
``batteryfx-manifest.json``, listing the files the run wrote (``state = "complete"``; a folder
being built or replaced says ``"partial"`` / ``"replacing"``). The rules:

- ``OUT`` that does not exist, or is an empty folder: the run's files go there.
- ``OUT`` with a batteryfx manifest: only the files that manifest lists are replaced; files a
  user added are kept, unless they sit where batteryfx writes (``OUTPUT_PATTERNS``), in which
  case the run is refused before anything is written.
- any other ``OUT`` (no manifest: a project folder, an output of an older batteryfx, a file),
  the current folder or one of its parents, or a folder holding the case file: refused.
- ``OUT.partial`` (an interrupted run) with a checkpoint: continued with ``--restart OUT``;
  without a checkpoint (killed before the first one): a fresh run takes it over and says so.
  A ``.partial`` folder without the manifest, or holding files batteryfx does not write, is
  refused.
"""

from __future__ import annotations

import csv
import datetime
import errno
import fnmatch
import json
import os
import socket
import stat
from pathlib import Path, PurePosixPath

from batteryfx.errors import CaseError
from batteryfx.log import LOGGER
from batteryfx.parallel import on_rank0

SUBDIRS = ("fields", "figures", "checkpoint")
MANIFEST = "batteryfx-manifest.json"
LOCK = "batteryfx.lock"
#: The files batteryfx writes (paths relative to OUT, fnmatch patterns; [0-9] is one digit).
#: A new output file or figure must be added here, or runs refuse to write it over a file.
TOP_FILES = (MANIFEST, MANIFEST + ".tmp", LOCK, "case.resolved.toml", "summary.json",
             "summary.json.tmp", "probes.csv", "probes.csv.tmp", "log.txt")
OUTPUT_PATTERNS = (*TOP_FILES,
                   "fields/fields_[0-9][0-9][0-9][0-9].vtkhdf",
                   "fields/fields_[0-9][0-9][0-9][0-9][0-9].vtkhdf",
                   "fields/fields.vtkhdf.series", "fields/fields.vtkhdf.series.tmp",
                   "fields/fields.vtkhdf", "fields/fields.vtkhdf.tmp",
                   "figures/temperature_cut_[xyz].png", "figures/probes.png",
                   "figures/particle_clip.png", "figures/grain_boundary_tractions.png",
                   "fields/grain_boundaries.npz", "figures/electrolyte_profiles.png",
                   "figures/electrolyte_map.png",
                   "checkpoint/state.npz", "checkpoint/state.tmp.npz",
                   # batteryfx compare's report folder
                   "compare.json", "compare.md", "figures/compare_probes.png",
                   "figures/compare_cut.png", "figures/compare_cut.gif",
                   "figures/compare_flux_split.png",
                   # a sweep's report folder (batteryfx/sweep.py)
                   "sweep.json", "sweep.md", "figures/sweep_results.png")
CHECKPOINT = Path("checkpoint") / "state.npz"
_HELD_LOCKS: dict[str, int] = {}  # lock file -> open descriptor (rank 0 of a running run)


def partial_of(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def final_of(path: Path) -> Path:
    name = path.name.removesuffix(".partial")
    return path.with_name(name) if name else path.parent  # ("/" and ".partial": no name)


def is_output_path(rel: str) -> bool:
    """True when ``rel`` (a path relative to OUT, with '/') is one batteryfx writes: it
    matches OUTPUT_PATTERNS and stays inside OUT (no '..', not absolute)."""
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or "\\" in rel or any(p in ("..", ".") for p in parts) \
            or "//" in rel:
        return False
    return any(fnmatch.fnmatchcase(rel, p) for p in OUTPUT_PATTERNS)


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a batteryfx output folder, or None when there is none (or it is not
    one of ours)."""
    path = Path(folder) / MANIFEST
    try:
        if path.is_symlink() or not path.is_file():
            return None
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("tool") != "batteryfx" \
            or not isinstance(data.get("files"), list) \
            or not all(isinstance(f, str) and is_output_path(f) for f in data["files"]):
        return None  # (a hand-edited list naming anything else is not trusted)
    return data


def write_manifest(folder: Path, state: str, files: list[str]) -> None:
    """Write ``folder/batteryfx-manifest.json`` atomically (rank 0 only)."""
    from batteryfx import __version__

    data = {"tool": "batteryfx", "version": __version__, "state": state,
            "written": datetime.datetime.now().isoformat(timespec="seconds"),
            "files": sorted(set(files))}
    _atomic_write(Path(folder) / MANIFEST, json.dumps(data, indent=1) + "\n")


def record_files(folder: Path, paths: list[Path]) -> None:
    """Add files written into a finished output folder (e.g. figures) to its manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return
    rel = [Path(p).resolve().relative_to(folder.resolve()).as_posix() for p in paths]
    write_manifest(folder, manifest.get("state", "complete"), manifest["files"] + rel)


def files_below(folder: Path, with_dirs: bool = False) -> list[str]:
    """Every file (or symbolic link) below ``folder``, relative, with '/' separators (and
    every folder too with ``with_dirs``); linked folders are not followed."""
    out = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        rel_root = Path(root).relative_to(folder)
        out += [(rel_root / f).as_posix() for f in files]
        out += [(rel_root / d).as_posix() for d in dirs
                if with_dirs or (Path(root) / d).is_symlink()]
    return sorted(out)


def _odd(path: Path, in_place: bool) -> bool:
    """Not a plain file batteryfx could have written: a link, folder, FIFO or device, or (when
    the file would be written in place, ``in_place``) a file with other hard links."""
    st = os.lstat(path)
    return not stat.S_ISREG(st.st_mode) or (in_place and st.st_nlink > 1)


def _not_ours(folder: Path, listed: set[str] | None, in_place: bool = False) -> list[str]:
    """Entries below ``folder`` batteryfx would write over or remove but did not write: links,
    folders and other non-files at output paths, and (when ``listed`` is given) unlisted files
    at output paths; with ``listed`` None (a .partial), anything that is not an output path.
    ``in_place``: also files with several hard links (appending to log.txt, or drawing a
    figure over one, would change the other names' content too)."""
    bad = []
    for rel in files_below(folder, with_dirs=True):
        path = folder / rel
        if rel in SUBDIRS and path.is_dir() and not path.is_symlink():
            continue
        odd = _odd(path, in_place)
        if listed is None:
            if not is_output_path(rel) or odd:
                bad.append(rel)
        elif is_output_path(rel) and (odd or rel not in listed):
            bad.append(rel)
    return bad


def describe_checkpoint(partial: Path) -> str:
    """What an interrupted run left: its last checkpoint (step, time, when) and probes.csv."""
    ckpt = partial / CHECKPOINT
    if not ckpt.exists():
        return "no checkpoint (stopped before the first one)"
    text = "a checkpoint"
    try:
        import numpy as np

        with np.load(ckpt) as data:
            state = json.loads(str(data["state"]))
        when = datetime.datetime.fromtimestamp(ckpt.stat().st_mtime).isoformat(timespec="seconds")
        text = (f"a checkpoint at step {state['stepper']['step']}, "
                f"t = {state['stepper']['t']:.6g} s (written {when})")
        rows = _count_rows(partial / "probes.csv")
        if rows is not None and rows > state.get("probe_rows", rows):
            text += f"; probes.csv has {rows - state['probe_rows']} rows past it (dropped)"
    except Exception as exc:  # noqa: BLE001 - a description must not fail
        text += f" that cannot be read ({type(exc).__name__})"
    return text


def _count_rows(path: Path) -> int | None:
    try:
        with open(path, newline="") as fh:
            return max(sum(1 for _ in fh) - 1, 0)
    except OSError:
        return None


class OutputDir:
    """Paths of one run's outputs. The checks run on rank 0 before anything is written (their
    errors reach every rank); creation and the final move happen on rank 0."""

    def __init__(self, out: Path, comm, restart: bool = False, case_path: Path | None = None):
        self.out = final_of(Path(os.path.abspath(out)))
        if not self.out.name:  # "/" or ".partial": nothing to name the .partial after
            raise CaseError("--restart" if restart else "--out", str(out), "name the output "
                            "folder itself (not the root or a .partial folder), e.g. out/NAME")
        self.partial = partial_of(self.out)
        self.comm = comm
        self.restart = restart
        self.takeover = False  # a fresh run replaces a .partial folder without a checkpoint
        self.found = on_rank0(comm, self._check, Path(out), case_path, what="checking --out")

    # ------------------------------------------------------------------ checks (rank 0)
    def _check(self, given: Path, case_path: Path | None) -> str | None:
        key = "--restart" if self.restart else "--out"
        out, partial = self.out, self.partial
        named_partial = str(given).rstrip("/").endswith(".partial")
        if not out.name or out.name.startswith(".") or (named_partial and not self.restart):
            raise CaseError(key, str(given), "name the output folder itself (not a .partial "
                            "folder, a hidden name or the root), e.g. out/NAME")
        cwd = Path.cwd().resolve()
        real = out.resolve() if out.exists() else out
        if real == cwd or real in cwd.parents:
            raise CaseError(key, str(given), "is the current folder or one of its parents; "
                            "choose a separate output folder, e.g. out/NAME")
        if case_path is not None:
            case_real = Path(case_path).resolve()
            if real in case_real.parents:
                raise CaseError(key, str(given), f"holds the case file {case_path}; choose a "
                                "separate output folder, e.g. out/NAME")
        self._check_final(key, given)
        if partial.is_symlink() or (partial.exists() and not partial.is_dir()):
            raise CaseError(key, str(given), f"{partial.name} exists and is not a folder "
                            "batteryfx made; move it away")
        if partial.exists():
            self._check_partial(key, given)
            self._lock(key, given)  # held until the run ends: no second run writes here
        if self.restart:
            if not partial.exists():
                raise CaseError(key, str(given), f"no interrupted run to continue "
                                f"({partial.name} does not exist); start it without --restart")
            if not (partial / CHECKPOINT).exists():
                raise CaseError(key, str(given), f"{partial.name} has no checkpoint (the run "
                                "stopped before its first one); start it afresh with --out")
            return f"{partial.name}: {describe_checkpoint(partial)}"
        if partial.exists():
            if (partial / CHECKPOINT).exists():
                raise CaseError(key, str(given), f"{partial.name} is an interrupted run with "
                                f"{describe_checkpoint(partial)}; continue it with --restart "
                                f"{out} or delete {partial.name}")
            self.takeover = True
            return f"{partial.name}: an interrupted run with no checkpoint; starting afresh"
        return None

    def _lock(self, key: str, given: Path) -> None:
        """An exclusive lock on OUT.partial/batteryfx.lock, held by rank 0 for the rest of the
        run (the operating system drops it when the process ends, kill -9 included): a second
        run into the same OUT is refused while this one lives."""
        import fcntl

        path = self.partial / LOCK
        old = _HELD_LOCKS.pop(str(path), None)
        if old is not None:  # an earlier run of this process (runs in one process are serial)
            os.close(old)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            raise CaseError(key, str(given), f"{self.partial.name}/{LOCK} cannot be opened "
                            f"({exc.strerror}); move {self.partial.name} away") from None
        if _odd(path, True):  # a FIFO, or a hard link to a file of the user's
            os.close(fd)
            raise CaseError(key, str(given), f"{self.partial.name}/{LOCK} is not a file "
                            f"batteryfx made; move {self.partial.name} away")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                LOGGER.warning(f"warning: this file system does not lock files ({exc.strerror})"
                               f"; make sure no other run writes {self.partial.name}")
            else:
                holder = os.read(fd, 200).decode(errors="replace").strip() or "a process"
                os.close(fd)
                raise CaseError(key, str(given), f"another batteryfx run ({holder}) is "
                                f"writing {self.partial.name}; wait for it to end, or choose "
                                "another folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        _HELD_LOCKS[str(path)] = fd
        self._lock_path = path

    def _unlock(self) -> None:
        fd = _HELD_LOCKS.pop(str(getattr(self, "_lock_path", "")), None)
        if fd is not None:
            os.close(fd)

    def _check_final(self, key: str, given: Path) -> None:
        """OUT must be absent, an empty folder, or a batteryfx output (manifest) without user
        files where this run writes."""
        out = self.out
        if out.is_symlink() and not out.exists():
            raise CaseError(key, str(given), "is a broken symbolic link; choose another folder")
        if not out.exists():
            return
        if not out.is_dir():
            raise CaseError(key, str(given), "exists and is not a folder; choose another")
        _check_subdirs(key, given, out)
        manifest = read_manifest(out)
        present = files_below(out)
        if manifest is None:
            if present or any(out.iterdir()):
                raise CaseError(key, str(given), "exists and is not a batteryfx output folder "
                                f"(no valid {MANIFEST}); nothing in it is replaced: choose "
                                "another folder, or an empty one")
            return
        clash = _not_ours(out, set(manifest["files"]) | {MANIFEST, LOCK})
        if clash:
            raise CaseError(key, str(given), f"holds {clash[0]!r}, which batteryfx did not write "
                            "but would overwrite; move it (files elsewhere in the folder are "
                            "kept)")

    def _check_partial(self, key: str, given: Path) -> None:
        partial = self.partial
        _check_subdirs(key, given, partial)
        present = [f for f in files_below(partial, with_dirs=True) if f not in SUBDIRS]
        if set(present) <= {MANIFEST + ".tmp", LOCK} and not any(
                _odd(partial / f, True) for f in present):
            return  # killed between creating the folder and writing its manifest
        if read_manifest(partial) is None:
            raise CaseError(key, str(given), f"{partial.name} exists but is not a batteryfx "
                            f"folder (no {MANIFEST}); move it away")
        foreign = _not_ours(partial, None, in_place=True)
        if foreign:
            raise CaseError(key, str(given), f"{partial.name} holds {foreign[0]!r}, which "
                            "batteryfx did not write; move it away")

    # ------------------------------------------------------------------ writing (rank 0)
    def create(self) -> None:
        """Make OUT.partial (and OUT's parent folders), or take over a .partial without a
        checkpoint (keeping its lock); the manifest is written first, so a .partial is always
        recognisable."""
        def mkdirs():
            if self.takeover:
                _remove_listed(self.partial, [f for f in files_below(self.partial) if f != LOCK])
            elif not self.restart:
                self.out.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self.partial.mkdir()
                except FileExistsError:
                    raise CaseError("--out", str(self.out), f"{self.partial.name} appeared "
                                    "meanwhile (another run is starting there); wait for it or "
                                    "choose another folder") from None
                self._lock("--out", self.out)
            if not self.restart:
                write_manifest(self.partial, "partial", [])
            for sub in SUBDIRS:
                (self.partial / sub).mkdir(exist_ok=True)

        on_rank0(self.comm, mkdirs, what=f"creating {self.partial}")

    def release(self) -> None:
        """Drop the lock on OUT.partial (a run stopped as asked; collective)."""
        on_rank0(self.comm, self._unlock, what="releasing the lock")

    def __truediv__(self, name: str) -> Path:
        return self.partial / name

    def finalize(self) -> Path:
        """Move the files of OUT.partial into OUT (collective). An older batteryfx output in
        OUT loses exactly the files its manifest lists; anything else in OUT is kept."""
        on_rank0(self.comm, self._finalize, what=f"moving {self.partial} to {self.out}")
        return self.out

    def _finalize(self) -> None:
        out, partial = self.out, self.partial
        # figures drawn into the .partial (plot --partial) are not this run's results: the
        # run draws its own from OUT
        _remove_listed(partial, [f for f in files_below(partial) if f.startswith("figures/")])
        # the checkpoint moves first: killed in here, a .partial without it is taken over
        # by a fresh run instead of being restarted from a half-moved state
        new = sorted((f for f in files_below(partial) if f not in (MANIFEST, LOCK)),
                     key=lambda f: (not f.startswith("checkpoint/"), f))
        kept = (f"; the results are kept in {partial.name}: fix that, then `batteryfx run CASE "
                f"--restart {out}` finishes the move")
        if not out.exists():  # one rename; the manifest lists the files before it
            write_manifest(partial, "partial", new)
            os.replace(partial, out)
            (out / LOCK).unlink(missing_ok=True)
            write_manifest(out, "complete", new)
            self._unlock()
            return
        if not out.is_dir() or out.is_symlink() and not out.resolve().is_dir():
            raise CaseError("--out", str(out), f"is no longer a folder{kept}")
        _check_subdirs("--out", out, out)
        old = read_manifest(out)
        if old is None and any(out.iterdir()):  # checked at the start; OUT changed since
            raise CaseError("--out", str(out), f"is no longer a batteryfx output folder{kept}")
        listed = set(old["files"]) if old else set()
        clash = _not_ours(out, listed | {MANIFEST, LOCK})
        if clash:
            raise CaseError("--out", str(out), f"{clash[0]!r} appeared there during the run"
                            + kept)
        # OUT keeps a manifest at every moment, so a crash here leaves a folder batteryfx
        # recognises (and does not take for finished)
        write_manifest(out, "replacing", sorted(listed | set(new)))
        _remove_listed(out, sorted(listed - {MANIFEST}))
        for rel in new:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            if not _inside(out, out / rel):  # a folder linked away during the run
                raise CaseError("--out", str(out), f"{Path(rel).parent} is no longer a folder "
                                f"inside it{kept}")
            os.replace(partial / rel, out / rel)
        write_manifest(out, "complete", new)
        _remove_listed(partial, [MANIFEST, LOCK])
        self._unlock()


def _check_subdirs(key: str, given: Path, folder: Path) -> None:
    """The folders batteryfx writes into must be real folders inside ``folder`` (a symbolic
    link there would send its files elsewhere)."""
    for sub in SUBDIRS:
        path = folder / sub
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise CaseError(key, str(given), f"{folder.name}/{sub} is a link or a file, not a "
                            "folder batteryfx made; move it away")


def _inside(folder: Path, path: Path) -> bool:
    """``path``'s folder, links resolved, is ``folder`` or below it (so removing ``path``
    cannot reach outside through a linked folder)."""
    root = folder.resolve()
    parent = path.parent.resolve()
    return parent == root or root in parent.parents


def _remove_listed(folder: Path, files: list[str]) -> None:
    """Remove the listed files below ``folder`` (never following links), then the folders
    left empty by that, ``folder`` itself included; nothing else is touched."""
    dirs = set()
    # the manifest goes last: killed in here, the folder is still recognisably batteryfx's
    for rel in sorted(files, key=lambda f: f.startswith(MANIFEST)):
        path = folder / rel
        if not is_output_path(rel) or not _inside(folder, path):
            continue
        if path.is_symlink() or path.is_file():
            path.unlink()
        parent = Path(rel).parent
        while parent != Path("."):
            dirs.add(parent)
            parent = parent.parent
    for sub in [*(SUBDIRS), *sorted(dirs, key=lambda d: -len(d.parts))]:
        path = folder / sub
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()
    if folder.name.endswith(".partial") and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def check_plottable(folder: Path, allow_partial: bool, comm) -> str | None:
    """Refuse (one-line CaseError) a folder ``batteryfx plot`` cannot honestly draw: not a
    batteryfx output, an unfinished run (unless ``allow_partial``; then a warning text is
    returned), an invalid case.resolved.toml or summary.json, nothing to draw."""
    return on_rank0(comm, _check_plottable, Path(folder), allow_partial,
                    what=f"checking {folder}")


def _check_plottable(folder: Path, allow_partial: bool) -> str | None:
    from batteryfx.case import parse_case, read_toml

    if not folder.is_dir():
        raise CaseError("OUT", str(folder), "no such output folder")
    manifest = read_manifest(folder)
    if manifest is None:
        raise CaseError("OUT", str(folder), f"not a batteryfx output folder (no {MANIFEST})")
    note = None
    unfinished = manifest.get("state") != "complete" or folder.name.endswith(".partial")
    listed = None if unfinished else set(manifest["files"]) | {MANIFEST, LOCK}
    _check_subdirs("OUT", folder, folder)
    clash = _not_ours(folder, listed, in_place=True)
    if clash:  # figures are drawn over output paths only: never over a file of the user's
        raise CaseError("OUT", str(folder), f"holds {clash[0]!r}, which batteryfx did not "
                        "write but would overwrite; move it")
    if unfinished:
        what = (f"an unfinished run ({describe_checkpoint(folder)})"
                if folder.name.endswith(".partial") else "an incomplete output folder (a run "
                "stopped while finishing it; run the case into it again)")
        if not allow_partial:
            raise CaseError("OUT", str(folder), f"is {what}; finish it with `batteryfx run "
                            f"CASE --restart {final_of(folder)}`, or draw what it has with "
                            "`batteryfx plot --partial`")
        note = f"{folder} is {what}: the figures show it only as far as it got"
    try:
        parse_case(read_toml(folder / "case.resolved.toml"))
    except CaseError as exc:
        raise CaseError("OUT", str(folder / "case.resolved.toml"),
                        f"is not a valid case ({exc})") from None
    if note is None:
        try:
            summary = json.loads((folder / "summary.json").read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            summary = None
        if not isinstance(summary, dict):
            raise CaseError("OUT", str(folder / "summary.json"), "missing or not valid JSON")
    has_probes = _count_rows(folder / "probes.csv")
    if not has_probes and not any((folder / "fields").glob("*.vtkhdf")):
        raise CaseError("OUT", str(folder), "has neither probes nor fields to draw")
    return note


class ProbeWriter:
    """probes.csv: one row per step (t in s, then each probe in K); rank 0 writes.

    On restart the first ``keep_rows`` data rows (the count saved in the checkpoint) are kept
    and whatever was written after the checkpoint, a torn last line included, is dropped."""

    def __init__(self, path: Path, names: list[str], comm, keep_rows: int | None = None,
                 units: list[str] | None = None):
        self.comm = comm
        self.fh = None
        self.rows = 0
        units = units or ["K"] * len(names)
        header = ["time_s"] + [f"{n}_{u}" for n, u in zip(names, units, strict=True)]
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
    on_rank0(comm, _atomic_write, path, json.dumps(data, indent=2) + "\n",
             what=f"writing {path}")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def log_found(found: str | None) -> None:
    if found:
        LOGGER.info(f"found {found}")
