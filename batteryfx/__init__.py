"""batteryfx: finite-element multiphysics for lithium-battery safety and electrode chemo-mechanics.

Importing this package first imports ``dolfinx_solver`` when the binary DOLFINx wheel is
installed (it must be imported before ``dolfinx``/``petsc4py`` so that MPI is loaded in the right
order). With a conda-forge or site-module DOLFINx the import is skipped.
"""

from __future__ import annotations

import importlib.util

__version__ = "0.1.0"

if importlib.util.find_spec("dolfinx_solver") is not None:
    import dolfinx_solver  # noqa: F401  (orders MPI ahead of the DOLFINx/PETSc bindings)

DOLFINX_SUPPORTED = ((0, 11), (0, 12))  # [lower, upper) on (major, minor)


def check_dolfinx() -> str:
    """Return the DOLFINx version, raising a clear error when it is missing or unsupported."""
    from batteryfx.errors import EnvironmentProblem

    try:
        import dolfinx
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise EnvironmentProblem(
            "DOLFINx is not importable: install the wheel with `pip install -e .[wheel]` or load "
            f"a DOLFINx 0.11 module / conda env ({exc})"
        ) from exc
    major, minor = (int(p) for p in dolfinx.__version__.split(".")[:2])
    lo, hi = DOLFINX_SUPPORTED
    if not lo <= (major, minor) < hi:
        raise EnvironmentProblem(
            f"DOLFINx {dolfinx.__version__} found; batteryfx needs >= {lo[0]}.{lo[1]}, "
            f"< {hi[0]}.{hi[1]}"
        )
    return dolfinx.__version__
