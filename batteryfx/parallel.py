"""MPI helpers: rank-0 work whose failure reaches every rank (so nothing hangs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batteryfx.errors import BatteryfxError


def on_rank0(comm, fn: Callable[..., Any], *args, what: str = "", **kwargs) -> Any:
    """Call ``fn`` on rank 0 only and broadcast its result; an exception there is raised on
    every rank as a BatteryfxError with the same message and exit code (collective)."""
    result, failure = None, None
    if comm.rank == 0:
        try:
            result = fn(*args, **kwargs)
        except BatteryfxError as exc:
            failure = (str(exc), exc.exit_code)
        except Exception as exc:  # noqa: BLE001 - anything on rank 0 must reach the others
            failure = (f"{what or fn.__name__} failed: {type(exc).__name__}: {exc}", 1)
    failure, result = comm.bcast((failure, result), root=0)
    if failure is not None:
        error = BatteryfxError(failure[0])
        error.exit_code = failure[1]
        raise error
    return result
