"""The seam between the shared run shell and one physics.

A physics is one :class:`PhysicsModel` object in :data:`REGISTRY`, keyed by the case's
``physics.model``. It brings its case section (the ``[physics]`` table, a pydantic model whose
``model`` field is the key), the boundary-condition and source types it accepts, its probe
quantities (with units), its cross-checks of a case, how it builds its problem from a
geometry and materials, the fields it writes and checkpoints, and its part of summary.json.
The run loop, outputs, checkpoints, restart, probes.csv and summary.json talk only to this
object and to the problem protocol below.

The problem a physics builds satisfies (duck-typed, see solvers/heat.py ``HeatProblem``):

- ``t`` (s), ``num_dofs``, ``iterations`` (linear iterations so far);
- ``step(dt)``: advance by dt (raises ``SolverDiverged`` / ``PhysicsViolation``);
- ``undo()``: take the last step back (adaptive rejection); ``error_estimate()`` (the local
  error of the last step, in the unit of the stepper's tolerance);
- ``breakpoints()``: times the steps must land on (source switches);
- ``state()`` / ``restore(state)``: JSON-able scalars carried through a checkpoint (the
  fields themselves are checkpointed through :meth:`PhysicsModel.fields`);
- ``destroy()``;
- optionally ``stop_reason``: None, or why the run cannot go on (e.g. the salt is used up):
  the run loop then ends at the current time with complete outputs (summary.json
  ``stopped_early``).

Modules here import no DOLFINx at module level (validating a case does not need it); the
``build`` methods import their solver when called.
"""

from __future__ import annotations

from typing import Any, ClassVar

from batteryfx.quantities import Quantity  # noqa: F401  (re-exported)

#: probe kinds (see :class:`~batteryfx.quantities.Quantity`)
PROBE_KINDS = ("field", "integral", "mean", "value")


class PhysicsModel:
    """One physics (subclass it and register an instance in :data:`REGISTRY`)."""

    #: the ``physics.model`` key
    name: ClassVar[str] = ""
    #: the ``[physics]`` section: a pydantic model with ``model: Literal[name]``
    section: ClassVar[type]
    #: boundary-condition and source types it accepts (pydantic models tagged by ``type``)
    conditions: ClassVar[tuple[type, ...]] = ()
    sources: ClassVar[tuple[type, ...]] = ()
    #: probe quantities; ``primary`` (a field) is what a probe without ``quantity`` reports
    quantities: ClassVar[dict[str, Quantity]] = {}
    primary: ClassVar[str] = ""

    def check(self, case, plan) -> None:
        """Cross-checks of the case that concern this physics (CaseError naming the key);
        ``plan`` is the geometry's plan (markers, boxes), no mesh."""

    def build(self, case, geometry) -> Any:
        """The problem of a case on a built geometry."""
        raise NotImplementedError

    def fields(self, problem) -> dict[str, Any]:
        """Functions written to the fields file and the checkpoints, by output name."""
        raise NotImplementedError

    def checkpoint_fields(self, problem) -> dict[str, Any]:
        """Functions a checkpoint stores (with ``problem.state()``); default: the fields."""
        return self.fields(problem)

    def probe_sources(self, problem) -> dict[str, Any]:
        """For every quantity: the function (``field``) or UFL expression (``integral`` /
        ``mean``) the probes evaluate."""
        raise NotImplementedError

    def probe_reference(self, case) -> tuple[float | None, float | None]:
        """(start value, reference value) of the primary field for the probes'
        ``rise_fractions`` (None, None when the physics has none)."""
        return None, None

    def summary(self, case, problem) -> dict:
        """This physics' entries of summary.json (collective)."""
        return {}

    def write_outputs(self, case, problem, folder) -> list:
        """Extra files of this physics written at the end of a run into ``folder`` (the run's
        OUT.partial; collective). Returns their paths; each must match OUTPUT_PATTERNS."""
        return []

    def report(self, problem) -> None:
        """End-of-run warnings (energy or mass balance, bounds), logged on rank 0."""


class WrappedProblem:
    """The run loop's view of a solver problem ``inner`` that already has ``t``, ``step``,
    ``undo``, ``error_estimate``, ``breakpoints``, ``state``, ``restore`` and ``destroy``:
    delegates them; a physics subclasses it for what it adds (derived fields, stop reasons,
    its own bookkeeping in the state)."""

    def __init__(self, inner, geometry):
        self.inner, self.geometry = inner, geometry

    @property
    def t(self) -> float:
        return self.inner.t

    @t.setter
    def t(self, value: float) -> None:
        self.inner.t = value

    @property
    def num_dofs(self) -> int:
        return self.inner.num_dofs

    @property
    def iterations(self) -> int:
        return self.inner.iterations

    def step(self, dt: float) -> None:
        self.inner.step(dt)

    def undo(self) -> None:
        self.inner.undo()

    def error_estimate(self):
        return self.inner.error_estimate()

    def breakpoints(self) -> list[float]:
        return self.inner.breakpoints()

    def state(self) -> dict:
        return self.inner.state()

    def restore(self, state: dict) -> None:
        self.inner.restore(state)

    def destroy(self) -> None:
        self.inner.destroy()


REGISTRY: dict[str, PhysicsModel] = {}


def register(model: PhysicsModel) -> PhysicsModel:
    if not model.name or model.name in REGISTRY:
        raise ValueError(f"physics model name {model.name!r} empty or taken")
    REGISTRY[model.name] = model
    return model


def physics_of(case) -> PhysicsModel:
    """The registered physics of a validated case."""
    return REGISTRY[case.physics.model]
