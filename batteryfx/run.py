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
from batteryfx.case import Case, TemperatureBC, dump_case, load_case, read_toml
from batteryfx.errors import BatteryfxError, CaseError, SolverDiverged
from batteryfx.log import LOGGER, add_file
from batteryfx.output import OutputDir, ProbeWriter, log_found, record_files, write_json
from batteryfx.parallel import on_rank0


@dataclass
class RunResult:
    """``out``: the output folder (OUT, or OUT.partial for a run stopped on request with
    --stop-after-steps: ``complete`` False and ``message`` says how to continue it)."""

    out: Path
    summary: dict
    complete: bool = True
    message: str = ""
    figures: list[Path] = field(default_factory=list)


def layer_properties(rows, mats: dict) -> dict[int, tuple[float, float, float]]:
    """(k in-plane, k through-plane (W/(m K)), rho c_p (J/(m^3 K))) per cell tag of a layer
    table; a homogenised row (``mix``) gets the thickness-weighted parallel / series rules:
    k_in = sum(k_i t_i) / sum(t_i), k_through = sum(t_i) / sum(t_i / k_i),
    rho c_p = sum(rho_i c_i t_i) / sum(t_i) (shared/PHYSICS.md B)."""

    def own(name):
        m = mats[name]
        k = m["thermal_conductivity"]
        k_in = m["thermal_conductivity_in_plane"] if "thermal_conductivity_in_plane" in \
            m.properties else k
        return k_in, k, m["density"] * m["specific_heat"]

    out = {}
    for row in rows:
        if not row.mix:
            k_in, k, rc = own(row.material)
            props = dict(row.props)
            out[row.tag] = (props.get("thermal_conductivity_in_plane", k_in),
                            props.get("thermal_conductivity", k), rc)
            continue
        total = sum(t for _, t in row.mix)
        parts = [(own(name), t) for name, t in row.mix]
        out[row.tag] = (sum(p[0] * t for p, t in parts) / total,
                        total / sum(t / p[1] for p, t in parts),
                        sum(p[2] * t for p, t in parts) / total)
    return out


def heat_sources(case: Case, geometry) -> list:
    """The case's sources as volumetric sources (W/m^3 over [start, end)): a total power over
    its marker's volume; an internal short as I^2 R_short in its region and I^2 R_int over the
    spread marker until the stored energy is spent."""
    from batteryfx.solvers import heat

    out = []
    for s in case.sources:
        if s.type == "power_density":
            out.append(heat.VolumeSource(s.marker, s.value, s.start, s.end))
        elif s.type == "power":
            out.append(heat.VolumeSource(s.marker, s.value / geometry.measure(s.marker),
                                         s.start, s.end))
        elif s.type == "internal_short":
            i2 = s.current() ** 2
            end = s.end()
            out.append(heat.VolumeSource(
                s.marker, i2 * s.short_resistance / geometry.measure(s.marker),
                s.start, end))
            if s.internal_resistance > 0:
                out.append(heat.VolumeSource(
                    s.spread_marker, i2 * s.internal_resistance
                    / geometry.measure(s.spread_marker), s.start, end))
    return out


def build_problem(case: Case, geometry):
    """The heat problem of a case: per-layer (or homogenised orthotropic) k and rho c_p,
    conditions and sources."""
    from batteryfx.geometry_args import materials_for
    from batteryfx.solvers import heat

    mats = materials_for(case, geometry.layers)
    props = layer_properties(geometry.layers, mats)
    k_in = {tag: p[0] for tag, p in props.items()}
    k_z = {tag: p[1] for tag, p in props.items()}
    if k_in == k_z:
        k = heat.cellwise(geometry, k_z, "conductivity")
    else:
        k = (heat.cellwise(geometry, k_in, "conductivity_in_plane"),
             heat.cellwise(geometry, k_z, "conductivity_through_plane"))
    rc = heat.cellwise(geometry, {tag: p[2] for tag, p in props.items()}, "heat_capacity")
    conditions = []
    for bc in case.boundary_conditions:
        if bc.type == "temperature":
            conditions.append(heat.FixedTemperature(bc.marker, bc.value))
        elif bc.type == "convection":
            conditions.append(heat.Convection(bc.marker, bc.h, bc.ambient))
        elif bc.type == "radiation":
            conditions.append(heat.Radiation(bc.marker, bc.emissivity, bc.ambient))
        elif bc.type == "heat_flux":
            conditions.append(heat.HeatFlux(bc.marker, bc.value))
    sources = heat_sources(case, geometry)
    ph = case.physics
    return heat.HeatProblem(
        geometry, k, rc, initial_temperature=ph.initial_temperature, conditions=conditions,
        sources=sources, scheme=ph.scheme, theta=ph.theta, solver=ph.solver, rtol=ph.rtol,
        mass_lumping=ph.mass_lumping,
    )


def reference_temperature(case: Case) -> float | None:
    """The highest fixed temperature of the case (reference of the rise fractions)."""
    temps = [bc.value for bc in case.boundary_conditions if isinstance(bc, TemperatureBC)]
    return max(temps) if temps else None


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
    problem = build_problem(case, geometry)
    probes = Probes(case.probes, geometry, problem.T, problem.probe_integrands())
    node_map = NodeMap(problem.V)
    LOGGER.info(f"mesh: {geometry.num_cells_global()} hexahedra, {problem.num_dofs} dofs "
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
                              {"temperature": problem.T})
        series.append((name, stepper.t))
    if restart is not None:
        state = load_checkpoint(checkpoint, node_map, problem.T)
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
        save_checkpoint(checkpoint, node_map, problem.T, {
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

    _sanity_report(problem)
    summary = _summary(case, case_path, geometry, problem, stepper, comm,
                       wall=time.perf_counter() - wall0, loop_time=loop_time,
                       outdir=outdir, dolfinx_version=dolfinx_version)
    write_json(outdir / "summary.json", summary, comm)
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


#: summary.json's energy_balance.drift_rel above this is reported as a warning (a direct
#: solver gives ~1e-14; an iterative one about its rtol)
ENERGY_DRIFT_WARN = 1e-8


def _sanity_report(problem) -> None:
    """Warn when the energy balance drifts or the maximum principle is violated (collective
    numbers; rank 0 logs)."""
    balance = problem.energy_balance()
    if balance["drift_rel"] > ENERGY_DRIFT_WARN:
        LOGGER.warning(f"warning: energy balance drift {balance['drift_rel']:.3g} of the heat "
                       f"(stored {balance['stored_J']:.6g} J, put in {balance['net_input_J']:.6g}"
                       " J); the solve may be inaccurate: try physics.solver = 'direct' or a "
                       "smaller physics.rtol")
    excess = problem.max_principle_excess()
    if excess is not None and excess > problem.max_principle_tolerance():
        lo, hi = problem.bounds
        LOGGER.warning(f"warning: the temperature left [{lo:.6g}, {hi:.6g}] K (initial, fixed "
                       f"and ambient temperatures; no sources) by {excess:.3g} K: a maximum-"
                       "principle violation from the mesh (elongated hexahedra at a sudden hot "
                       "spot) or physics.mass_lumping = false; refine in-plane near the hot spot")


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


def _summary(case, case_path, geometry, problem, stepper, comm, *, wall, loop_time, outdir,
             dolfinx_version) -> dict:
    from batteryfx.post.probes import probe_results, read_probes, read_units

    t_ref = reference_temperature(case)

    def results_from_csv():
        t, series = read_probes(outdir / "probes.csv")
        fractions = {p.name: p.rise_fractions for p in case.probes}
        thresholds = {p.name: p.thresholds for p in case.probes}
        return probe_results(t, series, fractions, case.physics.initial_temperature, t_ref,
                             thresholds, read_units(outdir / "probes.csv"))

    results = on_rank0(comm, results_from_csv, what="probe results")
    iterations = comm.allreduce(problem.iterations, op=MPI.MAX)
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
        "factorizations": problem.factorizations,
        "linear_iterations": iterations,
        "solver": problem.solver,
        "scheme": case.physics.scheme,
        "positivity_fallback_steps": problem.fallback_steps,
        "energy_balance": _energy_summary(problem.energy_balance()),
        "max_principle": _max_principle_summary(problem),
        "initial_temperature_K": case.physics.initial_temperature,
        "reference_temperature_K": t_ref,
        "geometry": {"kind": case.geometry.kind,
                     "stack_boxes_m": {k: [list(lo), list(hi)]
                                       for k, (lo, hi) in geometry.boxes.items()},
                     "cells_per_layer": geometry.info.get("cells_per_layer", {})},
        "probes": results,
        "cell_budget": _budget(case),
    }


def _budget(case) -> dict | None:
    from batteryfx.geometry_args import case_cell_budget

    return case_cell_budget(case)


def _energy_summary(balance: dict) -> dict:
    """summary.json's energy balance: stored heat, what was put in, their drift."""
    keys = ("stored_J", "net_input_J", "loads_J", "fixed_temperature_J", "drift_J", "drift_rel")
    return {k: balance[k] for k in keys}


def _max_principle_summary(problem) -> dict | str:
    excess = problem.max_principle_excess()
    if excess is None:
        return "not applicable (sources or heat fluxes)"
    lo, hi = problem.bounds
    return {"bounds_K": [lo, hi], "excess_K": excess,
            "tolerance_K": problem.max_principle_tolerance(),
            "violated": bool(excess > problem.max_principle_tolerance())}
