"""The pipeline: case -> geometry -> materials -> problem -> time stepper -> outputs -> post.

Everything that can reject the input (case validation, geometry, probe location) happens before
the output folder is created, so a bad case writes nothing.
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mpi4py import MPI

from batteryfx import __version__, check_dolfinx
from batteryfx.case import Case, dump_case, load_case, read_toml
from batteryfx.errors import BatteryfxError, CaseError, SolverDiverged
from batteryfx.log import LOGGER, add_file
from batteryfx.output import OutputDir, ProbeWriter, log_found, record_files, write_json
from batteryfx.parallel import on_rank0
from batteryfx.physics import physics_of


@dataclass
class RunResult:
    """``out``: the output folder (OUT, or OUT.partial for a run stopped on request with
    --stop-after-steps: ``complete`` False and ``message`` says how to continue it)."""

    out: Path
    summary: dict
    complete: bool = True
    message: str = ""
    figures: list[Path] = field(default_factory=list)


def build_problem(case: Case, geometry):
    """The problem of a case on its built geometry, by its physics (``physics.model``)."""
    return physics_of(case).build(case, geometry)


def run(case_path: str | Path, out: str | Path | None = None, overrides: list[str] = (),
        restart: str | Path | None = None, stop_after_steps: int | None = None,
        figures: bool = True, progress: bool = True, comm=MPI.COMM_WORLD) -> RunResult:
    """Run a case; returns the final output folder and the summary."""
    from batteryfx.fields import (
        NodeMap,
        load_checkpoint,
        save_checkpoint,
        truncate_fields,
        write_snapshot,
    )
    from batteryfx.geometry_args import build_case_geometry
    from batteryfx.probes import Probes
    from batteryfx.solvers.timestepping import TimeStepper

    wall0 = time.perf_counter()
    case_path = Path(case_path)
    case = load_case(case_path, list(overrides))
    dolfinx_version = check_dolfinx()
    if restart is not None:
        outdir = OutputDir(Path(restart), comm, restart=True, case_path=case_path)
        saved = on_rank0(comm, _read_saved_case, outdir / "case.resolved.toml",
                         what="reading the interrupted run's case")
        if saved != tomllib.loads(dump_case(case)):
            raise CaseError("--restart", str(restart),
                            "the case (with --set overrides) differs from the interrupted run's "
                            "case.resolved.toml; restart with the same case and overrides")
    else:
        out = Path(out) if out is not None else Path("out") / case_path.stem
        outdir = OutputDir(out, comm, case_path=case_path)

    LOGGER.info(f"batteryfx {__version__} (DOLFINx {dolfinx_version}) on {comm.size} rank(s): "
                f"{case.title}")
    log_found(outdir.found)
    t_geo = time.perf_counter()
    geometry = build_case_geometry(case.geometry, comm)  # GeometryError -> CaseError
    physics = physics_of(case)
    problem = physics.build(case, geometry)
    probes = Probes(case.probes, geometry, physics.probe_sources(problem), physics.quantities,
                    physics.primary)
    state_fields = physics.checkpoint_fields(problem)  # what a checkpoint holds, by name
    node_map = NodeMap(next(iter(state_fields.values())).function_space)
    LOGGER.info(f"mesh: {geometry.num_cells_global()} cells, {problem.num_dofs} dofs "
                f"({time.perf_counter() - t_geo:.1f} s)")

    field_times = sorted(set(case.outputs.field_times)) if case.outputs.fields else []
    stepper = TimeStepper(case.time.end, case.time.dt_initial, case.time.dt_max,
                          case.time.growth, targets=field_times + problem.breakpoints(),
                          hold_steps=case.time.hold_steps,
                          tolerance=case.time.tolerance if case.time.adaptive else None)
    outdir.create()
    add_file(comm, outdir / "log.txt")
    on_rank0(comm, (outdir / "case.resolved.toml").write_text, dump_case(case),
             what="writing case.resolved.toml")
    checkpoint = outdir / "checkpoint" / "state.npz"
    series: list[tuple[str, float]] = []

    def snapshot():
        """Fields at the current time appended to fields/fields.vtkhdf (collective)."""
        name = write_snapshot(outdir / "fields", len(series), stepper.t, node_map,
                              physics.fields(problem))
        series.append((name, stepper.t))
    if restart is not None:
        state = load_checkpoint(checkpoint, node_map, state_fields)
        stepper.restore(state["stepper"])
        problem.t = stepper.t
        problem.restore(state["problem"])
        series = state["series"]
        try:
            on_rank0(comm, truncate_fields, outdir / "fields", len(series),
                     what="truncating fields/fields.vtkhdf to the checkpoint")
        except BatteryfxError as exc:  # e.g. killed while appending a step: start it again
            LOGGER.warning(f"warning: {exc}; fields/fields.vtkhdf starts again at t = "
                           f"{stepper.t:.6g} s (its earlier snapshots are lost; probes.csv "
                           "and the results are complete)")
            on_rank0(comm, (outdir / "fields" / "fields.vtkhdf").unlink, missing_ok=True,
                     what="removing the damaged fields/fields.vtkhdf")
            series = []
            if case.outputs.fields:
                snapshot()
        writer = ProbeWriter(outdir / "probes.csv", probes.names, comm,
                             keep_rows=state["probe_rows"], units=probes.units)
        LOGGER.info(f"restarted from {checkpoint} at t = {stepper.t:.6g} s "
                    f"(step {stepper.step})")
    else:
        writer = ProbeWriter(outdir / "probes.csv", probes.names, comm, units=probes.units)
        writer.write(0.0, probes.values())
        if case.outputs.fields:  # the initial state, then field_times and the end
            snapshot()

    def save_state():
        writer.flush()
        save_checkpoint(checkpoint, node_map, state_fields, {
            "stepper": stepper.state(), "problem": problem.state(),
            "probe_rows": writer.rows, "series": series})

    bar = _progress(stepper, progress and comm.rank == 0)
    steps_here = 0
    t_loop = time.perf_counter()
    while not stepper.done:
        dt, hit = stepper.next()
        try:
            problem.step(dt)
            accepted = _accepted(stepper, dt, problem)
        except BatteryfxError as exc:  # diverged or unphysical: say where, keep the partial
            writer.close()
            if bar is not None:
                bar.close()
            exc.args = (f"step {stepper.step + 1}: {exc} (the run up to its last checkpoint "
                        f"is in {outdir.partial})",)
            raise
        if not accepted:  # an adaptive stepper rejected the step: take it back, retry
            problem.undo()
            continue
        stepper.advance(dt, hit)
        problem.t = stepper.t  # exact target times (no round-off drift)
        writer.write(stepper.t, probes.values())
        steps_here += 1
        bar.update(stepper.t - bar.n) if bar is not None else None
        at_field_time = hit is not None and hit in field_times
        if at_field_time:
            snapshot()
        if at_field_time or stepper.step % case.outputs.checkpoint_every == 0:
            save_state()
        stop_reason = getattr(problem, "stop_reason", None)
        if stop_reason:  # the physics cannot go on (e.g. the salt is used up): end here
            LOGGER.warning(f"the run ends at t = {stepper.t:.6g} s before time.end: "
                           f"{stop_reason}")
            break
        if stop_after_steps is not None and steps_here >= stop_after_steps and not stepper.done:
            save_state()
            writer.close()
            if bar is not None:
                bar.close()
            problem.destroy()
            outdir.release()
            message = (f"stopped after {steps_here} steps at t = {stepper.t:.6g} s as asked "
                       f"(checkpoint in {outdir.partial}); continue with: batteryfx run "
                       f"{case_path} --restart {outdir.out}")
            LOGGER.info(message)
            return RunResult(outdir.partial, {}, complete=False, message=message)
    if bar is not None:
        bar.close()
    loop_time = time.perf_counter() - t_loop
    if case.outputs.fields and (not series or series[-1][1] != stepper.t):
        snapshot()
    save_state()
    writer.close()

    physics.report(problem)
    summary = _summary(case, case_path, geometry, physics, problem, stepper, comm,
                       wall=time.perf_counter() - wall0, loop_time=loop_time,
                       outdir=outdir, dolfinx_version=dolfinx_version)
    write_json(outdir / "summary.json", summary, comm)
    physics.write_outputs(case, problem, outdir / ".")
    for name, res in summary["probes"].items():
        for key, value in res.items():
            if key.startswith("time_to_"):
                text = f"{value:.4g} s" if isinstance(value, float) else value
                LOGGER.info(f"{name}: {key.removesuffix('_s').replace('_', ' ')} = {text}")
    problem.destroy()
    final = outdir.finalize()  # the results are complete: figures are drawn from OUT
    drawn = figures_on_rank0(final, comm) if figures and case.figures.enabled else []
    for path in drawn:
        LOGGER.info(f"figure: {path.name}")
    LOGGER.info(f"done in {time.perf_counter() - wall0:.1f} s: {final}")
    return RunResult(final, summary, figures=drawn)


def _accepted(stepper, dt: float, problem) -> bool:
    """Whether the step just taken stands: always without adaptivity; else by the problem's
    error estimate (SolverDiverged when the step would have to collapse)."""
    if not stepper.adaptive:
        return True
    try:
        return stepper.accept(dt, problem.error_estimate())
    except ValueError as exc:
        raise SolverDiverged(f"{exc}: the solution changes faster than any step can follow "
                             "(a discontinuous source?); try a larger time.tolerance") from None


def figures_on_rank0(folder: Path, comm, what: str | None = None) -> list[Path]:
    """Figures on rank 0 (PyVista is not MPI-aware), added to the folder's manifest; errors
    there reach every rank."""
    from batteryfx.post.figures import make_figures

    def draw():
        paths = make_figures(folder)
        record_files(folder, paths)
        return paths

    return on_rank0(comm, draw, what=what or f"figures (the results in {folder} are "
                                             "complete; retry with `batteryfx plot`)")


def _read_saved_case(path: Path) -> dict:
    """The interrupted run's case.resolved.toml as a dict (a CaseError if it is unreadable)."""
    if not path.is_file():
        raise CaseError("--restart", str(path.parent), "has no case.resolved.toml; start "
                        "the run afresh")
    return read_toml(path)


def _progress(stepper, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=stepper.end, initial=stepper.t, unit="s", unit_scale=True,
                desc="time", leave=False, mininterval=0.5, disable=None,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.3g}/{total:.3g} s "
                           "[{elapsed}<{remaining}]")


def _summary(case, case_path, geometry, physics, problem, stepper, comm, *, wall, loop_time,
             outdir, dolfinx_version) -> dict:
    from batteryfx.post.probes import probe_results, read_probes, read_units

    start, reference = physics.probe_reference(case)

    def results_from_csv():
        t, series = read_probes(outdir / "probes.csv")
        fractions = {p.name: p.rise_fractions for p in case.probes}
        thresholds = {p.name: p.thresholds for p in case.probes}
        return probe_results(t, series, fractions, start, reference, thresholds,
                             read_units(outdir / "probes.csv"))

    results = on_rank0(comm, results_from_csv, what="probe results")
    return {
        "batteryfx_version": __version__,
        "dolfinx_version": dolfinx_version,
        "case_title": case.title,
        "case_file": str(case_path),
        "ranks": comm.size,
        "wall_time_s": round(wall, 3),
        "time_loop_s": round(loop_time, 3),
        "dofs": problem.num_dofs,
        "cells": geometry.num_cells_global(),
        "time_steps": stepper.step,
        "rejected_steps": stepper.rejected,
        "end_time_s": stepper.t,
        "stopped_early": getattr(problem, "stop_reason", None),
        "physics": physics.name,
        **physics.summary(case, problem),
        "geometry": {"kind": case.geometry.kind,
                     "stack_boxes_m": {k: [list(lo), list(hi)]
                                       for k, (lo, hi) in geometry.boxes.items()},
                     "cells_per_layer": geometry.info.get("cells_per_layer", {}),
                     **({"symmetry": geometry.info["symmetry"]}
                        if "symmetry" in geometry.info else {})},
        "probes": results,
        "cell_budget": _budget(case),
    }


def _budget(case) -> dict | None:
    from batteryfx.geometry_args import case_cell_budget

    return case_cell_budget(case)
