"""Physics registry: ``physics.model`` -> :class:`~batteryfx.physics.base.PhysicsModel`.

Adding a physics: a module here with its section, condition/source types, quantities and a
``PhysicsModel`` subclass registered at import, one import line below, its solver in
``solvers/``, a case and tests. The case schema and the run loop pick it up from the registry.
"""

from __future__ import annotations

from batteryfx.physics import (  # noqa: F401  (register "chemomech", "electrolyte", "heat")
    chemomech,
    electrolyte,
    heat,
)
from batteryfx.physics.base import REGISTRY, PhysicsModel, Quantity, physics_of, register

__all__ = ["REGISTRY", "PhysicsModel", "Quantity", "physics_of", "register"]
