"""PETSc options of the heat solver: the stable prefix ``heat_``; options the user put into the
database before the problem was created win over batteryfx's defaults and stay after
destroy(); batteryfx's defaults do not leak from one problem into the next."""

from __future__ import annotations

from petsc4py import PETSc

import pytest

from batteryfx.solvers import petsc_options
from batteryfx.solvers.heat import OPTIONS_PREFIX, FixedTemperature, HeatProblem
from tests.helpers import column

pytestmark = pytest.mark.mpi


def _problem(solver: str, rtol: float = 1e-10) -> HeatProblem:
    geometry = column([("Cu", 2e-6, 2), ("polyimide", 4e-6, 4)], width=2e-6)
    return HeatProblem(geometry, 100.0, 3.4e6, initial_temperature=298.0,
                       conditions=[FixedTemperature("top", 400.0)], solver=solver, rtol=rtol)


def _heat_options() -> dict[str, str]:
    """heat_ options in the database that batteryfx did not put there (the user's)."""
    return {k: v for k, v in PETSc.Options().getAll().items()
            if k.startswith(OPTIONS_PREFIX) and not petsc_options._is_default(k, v)}


def test_user_options_win_and_stay():
    opts = PETSc.Options()
    opts["heat_ksp_type"] = "cg"
    opts["heat_pc_type"] = "jacobi"
    opts["heat_ksp_rtol"] = 1e-12
    try:
        problem = _problem("direct")  # default: preonly + MUMPS LU
        assert problem.ksp.getOptionsPrefix() == OPTIONS_PREFIX == "heat_"
        assert problem.ksp.getType() == "cg"
        assert problem.ksp.getPC().getType() == "jacobi"
        assert problem.ksp.getTolerances()[0] == pytest.approx(1e-12)
        assert problem.user_options == {"ksp_type": "cg", "pc_type": "jacobi",
                                        "ksp_rtol": "1e-12"}
        problem.step(1e-7)
        assert problem.ksp.getIterationNumber() > 1  # iterated, not a direct solve
        # batteryfx's, still on
        assert "heat_pc_factor_mat_solver_type" in petsc_options._DEFAULTS_SET
        problem.destroy()
        assert _heat_options() == {"heat_ksp_type": "cg", "heat_pc_type": "jacobi",
                                   "heat_ksp_rtol": "1e-12"}
    finally:
        for key in ("heat_ksp_type", "heat_pc_type", "heat_ksp_rtol"):
            opts.delValue(key)


def test_no_leaks_between_problems():
    before = dict(petsc_options._DEFAULTS_SET)
    first = _problem("cg_icc", rtol=1e-6)
    assert first.ksp.getType() == "cg" and first.ksp.getPC().getType() == "bjacobi"
    assert first.ksp.getTolerances()[0] == pytest.approx(1e-6)
    # created while the first one lives: its cg / ICC / rtol defaults must not leak in
    second = _problem("direct")
    assert second.ksp.getType() == "preonly" and second.ksp.getPC().getType() == "lu"
    assert second.ksp.getTolerances()[0] != pytest.approx(1e-6)
    assert second.user_options == {}
    second.step(1e-7)
    first.step(1e-7)
    assert first.ksp.getIterationNumber() > 0 and second.ksp.getIterationNumber() <= 1
    first.destroy()
    second.destroy()
    assert petsc_options._DEFAULTS_SET == before  # every default set by the two is gone again
    third = _problem("cg_gamg", rtol=1e-8)  # one after another: nothing left of the others
    assert third.ksp.getPC().getType() == "gamg"
    assert third.ksp.getTolerances()[0] == pytest.approx(1e-8)
    third.destroy()
    assert petsc_options._DEFAULTS_SET == before
    assert _heat_options() == {}
