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
        key_text = _clip(_printable(str(key)), KEY_LIMIT) if key else "<case>"
        text = _clip(_printable(str(allowed)), ALLOWED_LIMIT)
        super().__init__(f"{key_text} = {_short(value)}: {text}")


class SolverDiverged(BatteryfxError):
    """A solve did not converge; the message says what to try."""

    exit_code = 4


class PhysicsViolation(BatteryfxError):
    """The solution left the physically possible range (a temperature below 0 K or not
    finite); the message names the time, the step and the likely cause."""

    exit_code = 4


class EnvironmentProblem(BatteryfxError):
    """The software environment is missing something (DOLFINx, a PETSc package ...)."""

    exit_code = 5


#: Longest echo of the key, the value and the explanation in an error line (characters).
KEY_LIMIT, VALUE_LIMIT, ALLOWED_LIMIT = 80, 80, 300


def _fmt(value: object, budget: int = VALUE_LIMIT + 1, depth: int = 0) -> str:
    """Short text of a value; stops after about ``budget`` characters and 4 levels deep."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple | dict):
        if depth >= 4:
            return "[...]" if not isinstance(value, dict) else "{...}"
        items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        parts: list[str] = []
        used = 0
        for k, v in items:
            if used > budget:
                parts.append("...")
                break
            text = _fmt(v, budget - used, depth + 1)
            if k is not None:
                text = f"{_clip(_printable(str(k)), budget)}: {text}"
            parts.append(text)
            used += len(text) + 2
        inner = ", ".join(parts)
        return "{" + inner + "}" if isinstance(value, dict) else "[" + inner + "]"
    if isinstance(value, str):
        return repr(value[: budget + 1]) if len(value) > budget else repr(value)
    if isinstance(value, int) and abs(value) > 10**30:
        return f"{value:.6g}" if abs(value) < 10**300 else ("-" if value < 0 else "") + "1e300+"
    return _printable(str(value))


def _printable(text: str) -> str:
    """Control characters and line breaks as escapes, so that a message stays on one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value: object, limit: int = VALUE_LIMIT) -> str:
    text = _printable(_fmt(value))
    text = " ".join(text.split())
    return _clip(text, limit)
