"""The internal short's circuit (batteryfx/physics/circuit.py) against a tight numerical
solution of ds/dt = -V(s) / (R Q), dE/dt = V(s)^2 / R, and the case keys that build it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from batteryfx.case import parse_case
from batteryfx.errors import CaseError
from batteryfx.physics.circuit import ShortCircuit

SOC, VOLT = [0.0, 0.3, 1.0], [3.4, 3.7, 4.2]
Q, R_INT, R_SHORT = 0.385 * 3600, 0.08, 0.01


def _ode():
    r = R_INT + R_SHORT

    def rhs(_, y):
        v = np.interp(y[0], SOC, VOLT)
        return [-v / (r * Q), v * v / r]

    return rhs


def test_piecewise_linear_ocv_matches_the_ode():
    c = ShortCircuit(SOC, VOLT, R_INT, R_SHORT, Q, start=0.5)
    # the exact end: sum over segments of Q R ln(V_k / V_k-1) / slope
    r = R_INT + R_SHORT
    t_end = Q * r * (np.log(4.2 / 3.7) / (0.5 / 0.7) + np.log(3.7 / 3.4) / (0.3 / 0.3))
    assert c.end == pytest.approx(0.5 + t_end, rel=1e-13)
    assert c.energy == pytest.approx(Q * (0.5 * (3.4 + 3.7) * 0.3 + 0.5 * (3.7 + 4.2) * 0.7),
                                     rel=1e-13)
    times = [0.1, 3.0, 10.0, 25.0, t_end - 1e-3]
    sol = solve_ivp(_ode(), [0, t_end], [1.0, 0.0], rtol=1e-12, atol=1e-12, t_eval=times,
                    method="DOP853")
    for k, t in enumerate(times):
        assert c.soc(t + 0.5) == pytest.approx(sol.y[0, k], rel=1e-8, abs=1e-10)
        assert c.delivered(t + 0.5) == pytest.approx(sol.y[1, k], rel=1e-8)
        assert c.current(t + 0.5) == pytest.approx(np.interp(sol.y[0, k], SOC, VOLT) / 0.09,
                                                   rel=1e-8)
    assert c.current(0.4) == 0.0 and c.current(c.end + 1) == 0.0
    assert c.delivered(c.end + 5) == pytest.approx(c.energy, rel=1e-14)
    # the sources' integral is the energy over the step / the initial power
    assert c.integral(2.0, 7.0) * c.initial_power == pytest.approx(
        c.delivered(7.0) - c.delivered(2.0), rel=1e-14)


def test_constant_voltage_is_the_closed_form():
    c = ShortCircuit([1.0], [4.2], R_INT, R_SHORT, Q)
    i = 4.2 / 0.09
    assert c.end == pytest.approx(Q / i, rel=1e-14)
    assert c.delivered(3.0) == pytest.approx(i * i * 0.09 * 3.0, rel=1e-13)
    assert c.shape(5.0) == 1.0


def _short(**kw):
    """The bundled nail case with its source replaced."""
    from batteryfx.case import read_toml
    from batteryfx.cli import bundled_cases

    data = read_toml(bundled_cases()["pouch_nail_piag_vs_cu"])
    data["sources"] = [{"type": "internal_short", "marker": "nail",
                        "internal_resistance": "80 mohm", "short_resistance": "10 mohm",
                        "capacity": "0.385 A*h", **kw}]
    return parse_case(data).sources[0]


def test_library_ocv_window():
    """NCM811 vs Li over sto 0.305 -> 0.95: V(1) = U(0.305) ~ 4.2 V, V(0) = U(0.95)."""
    from batteryfx.materials import catalog

    src = _short(ocv={"material": "NCM811", "stoichiometry": [0.305, 0.95]})
    soc, volts = src.ocv.table()
    table = catalog()["NCM811"].table("ocv")
    assert soc[0] == 0.0 and soc[-1] == 1.0
    assert volts[-1] == pytest.approx(table("U", 0.305)) and volts[-1] == pytest.approx(
        4.2, abs=0.01)
    assert volts[0] == pytest.approx(table("U", 0.95))
    c = src.circuit()
    mean_v = c.energy / (0.385 * 3600)
    assert 3.6 < mean_v < 4.0  # below the constant-4.2 V budget


@pytest.mark.parametrize("kw, key", [
    ({"ocv": {"soc": [0, 1], "voltage": ["3.5 V", "4.2 V"]}, "open_circuit_voltage": "4 V"},
     "sources"),
    ({"ocv": {"soc": [0, 1], "voltage": ["3.5 V"]}}, "sources"),
    ({"ocv": {"soc": [1, 0], "voltage": ["3.5 V", "4 V"]}}, "sources"),
    ({"ocv": {"material": "NCM811"}}, "sources"),
    ({"open_circuit_voltage": "4 V", "initial_soc": 0.5}, "sources"),
])
def test_bad_ocv_inputs(kw, key):
    with pytest.raises(CaseError) as err:
        _short(**kw)
    assert err.value.key.startswith(key)


@pytest.mark.parametrize("ocv, key, text", [
    ({"material": "Unobtainium", "stoichiometry": [0.3, 0.9]}, "sources[0].ocv.material",
     "library"),
    ({"material": "Cu", "stoichiometry": [0.3, 0.9]}, "sources[0].ocv.material", "no 'ocv'"),
    ({"material": "NCM811", "stoichiometry": [0.1, 0.9]}, "sources[0].ocv.stoichiometry",
     "range"),
])
def test_library_ocv_checked_with_the_case(ocv, key, text):
    with pytest.raises(CaseError) as err:
        _short(ocv=ocv)
    assert err.value.key == key and text in str(err.value)
