"""Errors that reach the user as one line, never as a traceback from deep inside DOLFINx."""

from __future__ import annotations


class BatteryfxError(Exception):
    """Base class: the message is shown to the user as is (one line)."""

    exit_code = 1


class CaseError(BatteryfxError):
    """A case file that is not valid: names the key path, the value and what is allowed."""

    exit_code = 2

    def __init__(self, key: str, value: object, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key or '<case>'} = {_short(value)}: {allowed}")


class SolverDiverged(BatteryfxError):
    """A solve did not converge; the message says what to try."""

    exit_code = 4


class EnvironmentProblem(BatteryfxError):
    """The software environment is missing something (DOLFINx, a PETSc package ...)."""

    exit_code = 5


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    return repr(value) if isinstance(value, str) else str(value)


def _short(value: object, limit: int = 80) -> str:
    text = _fmt(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
