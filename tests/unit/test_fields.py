"""Node map, checkpoints and probes on a small layered column (also on 2 ranks)."""

from __future__ import annotations

from mpi4py import MPI

import numpy as np
import pytest
from dolfinx import fem

from batteryfx.case import ProbeSpec
from batteryfx.fields import NodeMap, load_checkpoint, save_checkpoint
from batteryfx.probes import Probes
from tests.helpers import column

pytestmark = pytest.mark.mpi


def _linear(x):
    return 1.0 + 2.0 * x[0] + 3.0 * x[1] + 5.0 * x[2]


def test_node_map_and_checkpoint_roundtrip(shared_tmp):
    geometry = column([("Cu", 1.0, 4), ("Ag", 0.5, 3)], width=1.0)
    V = fem.functionspace(geometry.mesh, ("Lagrange", 1))
    u = fem.Function(V)
    u.interpolate(_linear)
    nm = NodeMap(V)
    x = geometry.mesh.geometry.x[: nm.num_owned]
    np.testing.assert_allclose(nm.owned_node_values(u), _linear(x.T), rtol=1e-14)
    path = shared_tmp / "state.npz"
    save_checkpoint(path, nm, u, {"t": 0.25})
    w = fem.Function(V)
    state = load_checkpoint(path, nm, w)
    assert state == {"t": 0.25}
    np.testing.assert_allclose(w.x.array, u.x.array, rtol=1e-14)  # ghosts: owner values
    # a checkpoint written on all ranks loads on one rank (rank-count independent)
    if MPI.COMM_WORLD.rank == 0:
        g1 = column([("Cu", 1.0, 4), ("Ag", 0.5, 3)], width=1.0, comm=MPI.COMM_SELF)
        V1 = fem.functionspace(g1.mesh, ("Lagrange", 1))
        w1 = fem.Function(V1)
        load_checkpoint(path, NodeMap(V1), w1)
        xx = V1.tabulate_dof_coordinates()
        np.testing.assert_allclose(w1.x.array, _linear(xx.T), rtol=1e-14)
    MPI.COMM_WORLD.Barrier()


def test_probes_point_mean_max():
    geometry = column([("Cu", 1.0, 4), ("Ag", 0.5, 3)], width=1.0)
    V = fem.functionspace(geometry.mesh, ("Lagrange", 1))
    u = fem.Function(V)
    u.interpolate(_linear)
    specs = [
        ProbeSpec(name="p", point=[0.3, 0.7, 1.2]),
        ProbeSpec(name="bottom_mean", marker="bottom"),
        ProbeSpec(name="top_max", marker="top", reduce="max"),
        ProbeSpec(name="layer_mean", marker="s/l1"),
        ProbeSpec(name="all_min", marker="s", reduce="min"),
    ]
    values = Probes(specs, geometry, u).values()
    expected = [_linear(np.array([0.3, 0.7, 1.2])),
                1.0 + 1.0 + 1.5,             # mean over z = 0 of 1 + 2x + 3y
                1.0 + 2.0 + 3.0 + 5.0 * 1.5,  # max on z = 1.5
                1.0 + 1.0 + 1.5 + 5.0 * 1.25,  # mean over the Ag layer (z 1..1.5)
                1.0]
    np.testing.assert_allclose(values, expected, rtol=1e-12)
