"""Command line: ``batteryfx run | validate | plot | compare | materials | cases``.

``main(argv) -> int`` is testable without a subprocess. Errors in the input are one line on
stderr (rank 0) with exit code 2; nothing is written for them.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path

from batteryfx import __version__
from batteryfx.errors import BatteryfxError


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="batteryfx",
        description="Finite-element battery safety and chemo-mechanics (DOLFINx 0.11).",
    )
    p.add_argument("--version", action="version", version=f"batteryfx {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a case (a .toml file or a bundled case name)")
    r.add_argument("case")
    r.add_argument("--out", help="output folder (default: out/<case name>)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help='override a case value, e.g. --set geometry.mesh_size="1 um"')
    r.add_argument("--restart", metavar="OUT",
                   help="continue the interrupted run in OUT.partial from its checkpoint")
    r.add_argument("--stop-after-steps", type=int, metavar="N",
                   help="stop after N time steps with a checkpoint (continue with --restart)")
    r.add_argument("--no-figures", action="store_true", help="skip the figures")
    r.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")

    v = sub.add_parser("validate", help="check a case file without running it")
    v.add_argument("case")
    v.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    pl = sub.add_parser("plot", help="(re)make the figures of an output folder")
    pl.add_argument("out")
    pl.add_argument("--partial", action="store_true",
                    help="also draw an interrupted or running run (OUT.partial), with a warning")

    cp = sub.add_parser("compare", help="two finished runs side by side (e.g. PI-Ag vs Cu): "
                        "threshold times, probe histories, cross-sections, animation")
    cp.add_argument("a", metavar="OUT_A")
    cp.add_argument("b", metavar="OUT_B")
    cp.add_argument("--out", help="report folder (default: out/compare_<A>_vs_<B>)")

    b = sub.add_parser("budget", help="mass, capacity, Wh/kg and Wh/L of a case's cell "
                       "(its [cell] section), without running it")
    b.add_argument("case")
    b.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    m = sub.add_parser("materials", help="list the materials library, or show one material")
    m.add_argument("name", nargs="?")

    c = sub.add_parser("cases", help="list the bundled cases, or print one")
    c.add_argument("name", nargs="?")
    return p


def bundled_cases() -> dict[str, Path]:
    """The cases shipped with batteryfx: name (file name without .toml) -> path, sorted."""
    folder = resources.files("batteryfx.cases")
    return {e.name.removesuffix(".toml"): Path(str(e))
            for e in sorted(folder.iterdir(), key=lambda e: e.name)
            if e.name.endswith(".toml") and e.is_file()}


def _case_path(name: str) -> Path:
    """The case file for a CLI argument: an existing file (or any *.toml path, so that a
    missing one is reported by the loader), else a bundled case name."""
    from batteryfx.errors import CaseError

    cases = bundled_cases()
    bundled = f"bundled: {', '.join(cases)}"
    if not name.strip() or "\0" in name:
        raise CaseError("case", name, f"expected a case file or a bundled case name; {bundled}")
    path = Path(name)
    if path.is_dir():
        if name in cases:
            return cases[name]
        raise CaseError("case", name, "is a folder, not a case file")
    if path.exists() or path.is_symlink() or path.suffix == ".toml":
        return path
    if name in cases:
        return cases[name]
    raise CaseError("case", name, f"no such file or bundled case; {bundled}")


class _ArgumentError(BatteryfxError):
    """A command-line usage error (one line, exit 2)."""

    exit_code = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        where = self.prog.removeprefix("batteryfx").strip() or "command line"
        raise _ArgumentError(f"{where}: {' '.join(message.split())[:300]} (see --help)")


def main(argv: list[str] | None = None) -> int:
    from mpi4py import MPI

    from batteryfx import log

    comm = MPI.COMM_WORLD
    try:
        args = _parser().parse_args(argv)
    except BatteryfxError as exc:
        if comm.rank == 0:
            print(f"batteryfx: error: {exc}", file=sys.stderr)
        return exc.exit_code
    log.setup(comm, quiet=getattr(args, "quiet", False))
    try:
        return _dispatch(args, comm)
    except BatteryfxError as exc:
        if comm.rank == 0:
            print(f"batteryfx: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stdout = open(os.devnull, "w")  # (no second error when Python flushes at exit)
        return 0
    except Exception as exc:  # a bug, not bad input: one line, and no rank left waiting
        if os.environ.get("BATTERYFX_DEBUG"):
            raise
        print(f"batteryfx: internal error{f' on rank {comm.rank}' if comm.size > 1 else ''}: "
              f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]} (please report it; "
              "BATTERYFX_DEBUG=1 shows the traceback)", file=sys.stderr)
        if comm.size > 1:
            comm.Abort(1)
        return 1
    finally:
        log.close()


def _dispatch(args, comm) -> int:
    out = print if comm.rank == 0 else (lambda *a, **k: None)
    if args.command == "run":
        from batteryfx.run import run

        if args.restart is not None and args.out is not None:
            from batteryfx.errors import CaseError

            raise CaseError("--out", args.out, "give either --out or --restart OUT (which "
                            "continues OUT.partial into OUT), not both")
        sweep = _sweep_of(_case_path(args.case), args.overrides)
        if sweep is not None and args.restart is None and args.stop_after_steps is None:
            from batteryfx.sweep import run_sweep

            final, result, paths = run_sweep(_case_path(args.case), args.out, args.overrides,
                                              figures=not args.no_figures,
                                              progress=not args.quiet, comm=comm)
            for m in result["members"]:
                out(f"member:  {m['folder']}  ({sweep.key} = {m['value']})")
            out(f"report:  {final / 'sweep.md'}")
            for f in paths:
                out(f"figure:  {f}")
            return 0
        if sweep is not None:
            from batteryfx.errors import CaseError

            raise CaseError("--restart" if args.restart is not None else "--stop-after-steps",
                            args.restart or args.stop_after_steps,
                            "a sweep runs its members whole (a member stopped midway: run the "
                            "sweep again, finished members are reused); for one member use "
                            f"--set sweep.member=LABEL --set {sweep.key}=VALUE")
        result = run(_case_path(args.case), out=args.out, overrides=args.overrides,
                     restart=args.restart, stop_after_steps=args.stop_after_steps,
                     figures=not args.no_figures, progress=not args.quiet, comm=comm)
        if not result.complete:  # stopped as asked (--stop-after-steps): not an error
            if args.quiet:  # (otherwise the log has said it)
                out(result.message)
            return 0
        out(f"results: {result.out}")
        for f in result.figures:
            out(f"figure:  {f}")
        return 0
    if args.command == "validate":
        from batteryfx.case import load_case
        from batteryfx.geometry_args import plan_case_geometry

        case = load_case(_case_path(args.case), args.overrides)
        _, plan = plan_case_geometry(case.geometry)
        out(f"{args.case}: valid ({case.geometry.kind}, {len(plan.layers)} layers, "
            f"about {plan.cells} cells, {len(case.boundary_conditions)} boundary conditions, "
            f"{len(case.probes)} probes, end time {case.time.end:g} s)")
        return 0
    if args.command == "plot":
        from batteryfx import check_dolfinx
        from batteryfx.errors import EnvironmentProblem
        from batteryfx.output import check_plottable
        from batteryfx.run import figures_on_rank0

        try:  # imported on every rank: PETSc's start-up is collective
            check_dolfinx()
            import batteryfx.geometry  # noqa: F401  (what validating the saved case imports)
        except EnvironmentProblem:
            if comm.size > 1:
                raise
            # a post-processing install (PyVista, no DOLFINx): the figures need none

        folder = Path(args.out)
        note = check_plottable(folder, args.partial, comm)
        if note:
            from batteryfx.log import LOGGER

            LOGGER.warning(f"warning: {note}")
        paths = figures_on_rank0(folder, comm, what=f"figures of {folder}")
        if not paths:
            from batteryfx.errors import CaseError

            raise CaseError("OUT", str(folder), "nothing to draw (figures.probe_plot off and "
                            "no fields)")
        for path in paths:
            out(f"figure:  {path}")
        return 0
    if args.command == "budget":
        from batteryfx.case import load_case
        from batteryfx.errors import CaseError
        from batteryfx.geometry_args import case_cell_budget

        case = load_case(_case_path(args.case), args.overrides)
        budget = case_cell_budget(case)
        if budget is None:
            raise CaseError("cell", None, "the case has no [cell] section (areal_capacity, "
                            "nominal_voltage) to make a budget from")
        out(f"{case.title}")
        for comp, kg in budget["mass_kg"].items():
            out(f"  mass {comp:20s} {kg * 1e3:10.4g} g  "
                + (f"({100 * budget['mass_fraction'][comp]:.1f} %)" if comp != "total" else ""))
        out(f"  capacity {budget['capacity_Ah']:.4g} Ah, energy {budget['energy_Wh']:.4g} Wh, "
            f"{budget['specific_energy_Wh_per_kg']:.4g} Wh/kg, "
            f"{budget['energy_density_Wh_per_L']:.4g} Wh/L")
        for note in budget["assumptions"]:
            out(f"  - {note}")
        return 0
    if args.command == "compare":
        return _compare(args, comm, out)
    if args.command == "materials":
        return _materials(args.name, out)
    if args.command == "cases":
        cases = bundled_cases()
        if args.name is not None:  # only a bundled case, never any other file
            name = args.name.removesuffix(".toml")
            if name not in cases:
                from batteryfx.errors import CaseError

                raise CaseError("cases", args.name,
                                f"not a bundled case; bundled: {', '.join(cases)}")
            out(cases[name].read_text(encoding="utf-8"), end="")
            return 0
        import tomllib

        for name, path in sorted(cases.items()):
            title = tomllib.loads(path.read_text()).get("title", "")
            out(f"{name:28s} {title}")
        return 0
    raise AssertionError(args.command)  # pragma: no cover


def _sweep_of(case_path, overrides):
    """The case's [sweep] section when the case is a whole sweep (not one member), else None."""
    from batteryfx.case import load_case

    case = load_case(case_path, list(overrides))
    return case.sweep if case.sweep is not None and case.sweep.member is None else None


def _compare(args, comm, out) -> int:
    """The comparison report of two finished runs (tables first, then figures into the
    finished report folder, as a run does)."""
    from batteryfx.output import OutputDir, record_files
    from batteryfx.parallel import on_rank0
    from batteryfx.post import compare

    a, b = Path(args.a), Path(args.b)
    for folder in (a, b):
        on_rank0(comm, compare.load_run, folder, what=f"reading {folder}")
    report = Path(args.out) if args.out else Path("out") / f"compare_{a.name}_vs_{b.name}"
    outdir = OutputDir(report, comm)
    outdir.create()
    result = on_rank0(comm, compare.write_tables, a, b, outdir.partial, what="the comparison")
    final = outdir.finalize()

    def figures():
        paths = compare.write_figures(a, b, final)
        record_files(final, paths + [final / "compare.json", final / "compare.md"])
        return paths

    paths = on_rank0(comm, figures, what=f"comparison figures (the tables in {final} are "
                     "complete)")
    for row in result["rows"]:
        if row["ratio_B_over_A"] is not None:
            out(f"{row['probe']:24s} {row['quantity']:28s} A {row['A']:<10.4g} "
                f"B {row['B']:<10.4g} B/A {row['ratio_B_over_A']:.3g}")
    out(f"report: {final / 'compare.md'}")
    for path in paths:
        out(f"figure:  {path}")
    return 0


def _materials(name: str | None, out) -> int:
    """The thermal library as a table, the other materials (particles, solid electrolytes)
    by what they carry; ``NAME``: every entry with its source."""
    from batteryfx.errors import CaseError
    from batteryfx.materials import catalog, library

    lib, every = library(), catalog()
    if name is None:
        out(f"{'name':26s} {'k W/(m K)':>10s} {'rho kg/m3':>10s} {'cp J/(kg K)':>11s}  description")
        for key, mat in sorted(lib.items()):
            out(f"{key:26s} {mat['thermal_conductivity']:10.4g} {mat['density']:10.4g} "
                f"{mat['specific_heat']:11.4g}  {mat.description}")
        others = sorted(set(every) - set(lib))
        if others:
            out("\nparticle and electrolyte materials (mechanics, lattice, transport):")
            for key in others:
                out(f"{key:26s} {', '.join(every[key].inventory())}")
        out("\n`batteryfx materials NAME` shows every entry with its source.")
        return 0
    if name not in every:
        raise CaseError("materials", name, f"unknown material; the library has: "
                        f"{', '.join(sorted(every))}")
    for line in every[name].describe():
        out(line)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
