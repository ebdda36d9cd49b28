"""Voltage protocols of the particle chemo-mechanics (solvers/chemomech.py VoltageProtocol):
cc / cv / rest segments through an open-circuit-voltage table, against closed forms.

* A cv hold on a sphere with constant D is Crank's sphere with a constant surface
  concentration: the uptake against 1 - 6/pi^2 sum exp(-n^2 pi^2 tau) / n^2 on two meshes.
* cc until a voltage limit: the switch time against the galvanostatic series (the time at
  which the surface concentration of the Zhang 2007 sphere reaches c(V_lim)), two meshes.
* Charge bookkeeping of a cc-cv-rest-cc cycle: exact.
* The same on 2 ranks as on one (``-m mpi``).
"""

from __future__ import annotations

import time

from mpi4py import MPI

import numpy as np
import pytest

from batteryfx.solvers.analytic_particle import sphere_fixed_surface_mean
from batteryfx.solvers.chemomech import (
    ChemoMechParams,
    ChemoMechProblem,
    FixedDisplacement,
    ProtocolSegment,
    Table,
    VoltageProtocol,
)
from tests.helpers import on_all_and_one_rank
from tests.verification.test_chemomech_sphere import (
    CMAX,
    EXACT,
    J0,
    SURFACE,
    T_R,
    X0,
    Y0,
    Z0,
    ZHANG,
    sphere,
)

pytestmark = pytest.mark.verification

#: a linear, falling OCV (a cathode-like U(x), x = c / c_max): U = 4.3 V - 1 V x
OCV = Table((0.0, 1.0), (4.3, 3.3))


def voltage_of(x: float) -> float:
    return 4.3 - x


def octant_problem(n: int, segments, comm=MPI.COMM_WORLD, c0: float = 0.0):
    data = sphere(n, octant=True, comm=comm)
    params = ChemoMechParams(ZHANG, c_max=CMAX, c_initial=c0, mass_lumping=True,
                             bounds_tolerance=0.1)
    conds = [VoltageProtocol(SURFACE, tuple(segments), OCV), FixedDisplacement(X0, 0),
             FixedDisplacement(Y0, 1), FixedDisplacement(Z0, 2)]
    return ChemoMechProblem(data.mesh, data.cell_tags, data.facet_tags, params, conds,
                            mechanics_every_step=False)


def cv_uptake_errors(n: int, dtau: float, taus=(0.05, 0.1, 0.2)) -> np.ndarray:
    x_hold = 0.4
    prob = octant_problem(n, [ProtocolSegment("cv", voltage=voltage_of(x_hold),
                                              until_time=1.0 * T_R)])
    errors = []
    for tau in taus:
        while prob.t < tau * T_R * (1 - 1e-9):
            prob.step(min(dtau * T_R, tau * T_R - prob.t))
        uptake = prob.quantities()["mean_concentration_mol_m3"] / (x_hold * CMAX)
        errors.append(abs(uptake - sphere_fixed_surface_mean(tau)))
    bal = prob.mass_balance()
    summary = prob.protocol_summary()["protocol"]
    prob.destroy()
    assert bal["drift_rel"] < 1e-12  # the cv Li is the content change
    assert summary["surface_voltage_V"] == pytest.approx(voltage_of(x_hold), abs=1e-12)
    return np.array(errors)


def test_cv_hold_is_crank_sphere():
    """A cv hold at U(0.4 c_max) from c = 0 (octant, lumped mass, BDF2 after a backward-Euler
    start): uptake vs Crank's series at tau = 0.05 / 0.1 / 0.2. Measured |error|: R/4,
    dtau = 0.005: 0.0116 / 0.00015 / 0.0039; R/8, dtau = 0.0025: 0.0025 / 0.0008 / 0.0016;
    the largest falls 4.6x when h and dt halve (rate 2.2; the coarse error changes sign near
    tau = 0.1, so the rate is taken on the largest)."""
    t0 = time.perf_counter()
    coarse = cv_uptake_errors(4, 0.005)
    fine = cv_uptake_errors(8, 0.0025)
    print(f"cv uptake |error|: R/4 {coarse}, R/8 {fine} ({time.perf_counter() - t0:.1f} s)")
    assert coarse.max() < 0.015 and fine.max() < 0.006, (coarse, fine)
    rate = np.log2(coarse.max() / fine.max())
    assert rate > 1.5, (coarse, fine, rate)


def switch_time(n: int, dtau: float, x_lim: float = 0.25) -> tuple[float, float]:
    """(switch time of cc-until-U(x_lim), the series' time) (s)."""
    from scipy.optimize import brentq

    prob = octant_problem(n, [ProtocolSegment("cc", flux=J0, until_voltage=voltage_of(x_lim)),
                              ProtocolSegment("rest", until_time=0.01 * T_R)])
    while not prob.protocol_finished:
        prob.step(dtau * T_R)
    ev = prob.protocol_events()
    prob.destroy()
    assert ev[0]["reason"] == "voltage"
    assert ev[0]["surface_voltage_V"] == pytest.approx(voltage_of(x_lim), abs=1e-8)
    exact = brentq(lambda t: EXACT.concentration(EXACT.radius, t) - x_lim * CMAX,
                   1e-3 * T_R, T_R, xtol=1e-12)
    return ev[0]["end_s"], exact


def test_cc_until_voltage_switch_time():
    """cc insertion (Zhang 2007 sphere, J0 = 2 A/m^2 / F) until U(c_s) = U(0.25 c_max): the
    switch time against the series time at which the sphere's surface reaches 0.25 c_max.
    The crossing inside a step is located to 1e-9 of the step, so the error is the
    discretisation's (the faceted surface's A/V and the surface mean of P1 c). Measured:
    series 252.92 s; R/4, dtau = 0.004: 261.37 s (3.3e-2); R/8, dtau = 0.002: 255.33 s
    (9.5e-3), rate 1.8."""
    t_c, exact = switch_time(4, 0.004)
    t_f, _ = switch_time(8, 0.002)
    e_c, e_f = abs(t_c - exact) / exact, abs(t_f - exact) / exact
    print(f"switch time: exact {exact:.4f} s; R/4 {t_c:.4f} s ({e_c:.2e}), R/8 {t_f:.4f} s "
          f"({e_f:.2e})")
    assert e_c < 0.05 and e_f < 0.02 and e_f < 0.6 * e_c, (e_c, e_f)


def test_charge_bookkeeping_of_a_cycle():
    """cc extraction to a voltage, cv to a current cut-off, rest, cc insertion to a lower
    voltage: each cc segment passes exactly J A (duration); every segment's Li is the content
    change; the total balance is exact; the cut-off current is the one asked for; a cc
    segment that starts at its limit ends at once."""
    c0 = 0.5 * CMAX
    cut = 0.1 * J0
    segs = [ProtocolSegment("cc", flux=-J0, until_voltage=voltage_of(0.35)),
            ProtocolSegment("cv", until_flux=cut, until_time=0.5 * T_R),
            ProtocolSegment("rest", until_time=0.02 * T_R),
            ProtocolSegment("cc", flux=-J0, until_voltage=voltage_of(0.5)),  # already there
            ProtocolSegment("cc", flux=J0, until_voltage=voltage_of(0.45))]
    prob = octant_problem(4, segs, c0=c0)
    while not prob.protocol_finished:
        prob.step(0.01 * T_R)
    ev = prob.protocol_events()
    area = prob._proto_area
    assert [e["reason"] for e in ev] == ["voltage", "current", "time", "at_limit", "voltage"]
    for e in (ev[0], ev[4]):
        j = -J0 if e is ev[0] else J0
        assert e["li_mol"] == pytest.approx(j * area * (e["end_s"] - e["start_s"]), rel=1e-10)
    assert ev[1]["current_end_A"] == pytest.approx(-cut * area * 96485.33212, rel=1e-6)
    assert ev[2]["li_mol"] == 0.0 and ev[3]["end_s"] == ev[3]["start_s"]
    total = sum(e["li_mol"] for e in ev)
    content = prob.li_content()
    start = c0 * prob.volume
    assert total == pytest.approx(content - start, rel=1e-10, abs=1e-12 * start)
    assert prob.mass_balance()["drift_rel"] < 1e-12
    # the cv Li is extraction, the surface held at 0.35 c_max
    assert ev[1]["li_mol"] < 0
    assert ev[1]["surface_stoichiometry"] == pytest.approx(0.35, abs=1e-12)
    # undo takes back the whole last step (segments included)
    t, q = prob.t, prob.li_content()
    prob.step(0.01 * T_R)
    prob.undo()
    assert prob.t == t and prob.li_content() == pytest.approx(q, rel=1e-14)
    prob.destroy()


def _cycle(comm) -> dict:
    segs = [ProtocolSegment("cc", c_rate=-2.0, until_voltage=voltage_of(0.3)),
            ProtocolSegment("cv", until_c_rate=0.5, until_time=0.2 * T_R),
            ProtocolSegment("cc", c_rate=2.0, until_voltage=voltage_of(0.5))]
    prob = octant_problem(4, segs, comm=comm, c0=0.5 * CMAX)
    while not prob.protocol_finished:
        prob.step(0.01 * T_R)
    prob.solve_mechanics()
    out = {f"{k}_{e['segment']}": e[k] for e in prob.protocol_events()
           for k in ("end_s", "li_mol", "surface_voltage_V")}
    out.update(prob.quantities())
    prob.destroy()
    return out


@pytest.mark.mpi
def test_protocol_ranks_agree():
    """cc-cv-cc on all ranks = on rank 0 alone (switch times, Li per segment, stresses)."""
    par, ser = on_all_and_one_rank(_cycle)
    assert par.keys() == ser.keys()
    for key, value in ser.items():
        assert par[key] == pytest.approx(value, rel=1e-8, abs=1e-8 * abs(value) + 1e-300), key
