"""Parameter sweeps: one ordinary run per value of a case key, then a report.

A case with a ``[sweep]`` section (``key``, ``values``, optional ``labels``) run as
``batteryfx run CASE --out OUT`` runs member ``label`` as the case with ``--set key=value``
into ``OUT_<label>`` (a complete output folder of its own: summary.json, probes.csv, fields,
figures; the same safety rules as any run) and then writes the sweep report into OUT
(sweep.json, sweep.md, figures/sweep_*.png; :mod:`batteryfx.post.sweep`). Every member's case
is validated before the first one runs. A member whose folder already holds a finished run of
the same resolved case is reused (so a sweep stopped midway continues where it stopped);
any other existing folder is refused as for a single run.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from mpi4py import MPI

from batteryfx.case import dump_case, load_case
from batteryfx.log import LOGGER
from batteryfx.output import OutputDir, record_files
from batteryfx.parallel import on_rank0


def _toml_value(value) -> str:
    """A value as the right-hand side of ``--set key=...`` (TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string


def members(case_path: Path, overrides: list[str]) -> list[tuple[str, object, list[str]]]:
    """(label, value, overrides of the member run) per member; every member case validated
    (CaseError naming the sweep's key and value on the first bad one)."""
    from batteryfx.errors import CaseError

    case = load_case(case_path, list(overrides))
    sweep = case.sweep
    out = []
    for label, value in zip(sweep.member_labels(), sweep.values, strict=True):
        extra = [f"{sweep.key}={_toml_value(value)}", f"sweep.member={_toml_value(label)}"]
        try:
            load_case(case_path, list(overrides) + extra)
        except CaseError as exc:
            raise CaseError(f"sweep.values ({sweep.key} = {value!r})", exc.value,
                            f"member {label!r}: {exc}") from None
        out.append((label, value, extra))
    return out


def _finished_same(folder: Path, case_path: Path, overrides: list[str]) -> bool:
    """True if ``folder`` holds a finished run of exactly this member case."""
    summary, resolved = folder / "summary.json", folder / "case.resolved.toml"
    if not (summary.is_file() and resolved.is_file()):
        return False
    try:
        saved = tomllib.loads(resolved.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return saved == tomllib.loads(dump_case(load_case(case_path, list(overrides))))


def run_sweep(case_path: Path, out: Path | None, overrides: list[str], figures: bool = True,
              progress: bool = True, comm=MPI.COMM_WORLD):
    """Run every member, then the report; returns (report folder, report dict, figures)."""
    from batteryfx.post import sweep as report
    from batteryfx.run import run

    case_path = Path(case_path)
    plan = members(case_path, overrides)
    case = load_case(case_path, list(overrides))
    out = Path(out) if out is not None else Path("out") / case_path.stem
    # the report folder is checked (refused if it is not ours) before any member runs
    outdir = OutputDir(out, comm, case_path=case_path)
    folders = []
    for k, (label, value, extra) in enumerate(plan):
        folder = out.parent / f"{out.name}_{label}"
        folders.append((label, value, folder))
        reuse = comm.bcast(_finished_same(folder, case_path, overrides + extra)
                           if comm.rank == 0 else None, root=0)
        LOGGER.info(f"sweep member {k + 1}/{len(plan)}: {case.sweep.key} = {value} -> {folder}"
                    + (" (finished before: reused)" if reuse else ""))
        if not reuse:
            run(case_path, out=folder, overrides=list(overrides) + extra, figures=figures,
                progress=progress, comm=comm)
    outdir.create()
    result = on_rank0(comm, report.write_tables, case.sweep.key, folders, outdir.partial,
                      what="the sweep report")
    final = outdir.finalize()
    paths: list[Path] = []
    if figures:
        def draw():
            made = report.write_figures(result, final)
            record_files(final, made + [final / "sweep.json", final / "sweep.md"])
            return made

        paths = on_rank0(comm, draw, what=f"sweep figures (the tables in {final} are complete)")
    return final, result, paths
