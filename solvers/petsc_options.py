"""batteryfx's default PETSc options per solver, under a stable options prefix per problem
(``heat_``, ``chem_``, ``mech_``): the defaults go into the options database only where the
user has not set an option, other live problems' defaults are hidden while a problem reads the
database (no leaks between problems), and a problem's defaults are removed again when it is
destroyed, leaving the user's options. Shared by every solver module."""

from __future__ import annotations

from contextlib import contextmanager

from petsc4py import PETSc

#: options batteryfx put into the database: full name -> (number of live problems that set
#: it, the value set). An option under the prefix that is not here, or whose value in the
#: database differs, is the user's: never overwritten or removed
_DEFAULTS_SET: dict[str, tuple[int, str]] = {}


def _set_defaults(prefix: str, defaults: dict) -> tuple[list[str], dict[str, str]]:
    """Put ``defaults`` (keys without the prefix) into the PETSc options database where the
    user has not set them; returns (names batteryfx set, {key: value} of every option under
    the prefix that the user set)."""
    opts = PETSc.Options()
    user = {name.removeprefix(prefix): value for name, value in opts.getAll().items()
            if name.startswith(prefix) and not _is_default(name, value)}
    owned = []
    for key, value in defaults.items():
        if key in user:
            continue
        name = prefix + key
        opts[name] = value
        count = _DEFAULTS_SET[name][0] if name in _DEFAULTS_SET else 0
        _DEFAULTS_SET[name] = (count + 1, opts.getString(name))
        owned.append(name)
    return owned, user


def _is_default(name: str, value: str | None) -> bool:
    """Whether the database's ``value`` of ``name`` is the one batteryfx put there."""
    return name in _DEFAULTS_SET and _DEFAULTS_SET[name][1] == value


def _unset_defaults(names: list[str]) -> None:
    """Remove the defaults of one problem again (those no other live problem set)."""
    opts = PETSc.Options()
    for name in names:
        if name not in _DEFAULTS_SET:
            continue
        count, value = _DEFAULTS_SET[name]
        if count > 1:
            _DEFAULTS_SET[name] = (count - 1, value)
            continue
        del _DEFAULTS_SET[name]
        if opts.hasName(name) and opts.getString(name) == value:  # else the user's by now
            opts.delValue(name)


@contextmanager
def _without_defaults_of_others(prefix: str, mine: list[str]):
    """Hide the defaults other live problems set (and this one did not) while this problem
    reads the database, so that no option leaks from one problem into another."""
    opts = PETSc.Options()
    hidden = {name: value for name, (_, value) in _DEFAULTS_SET.items()
              if name.startswith(prefix) and name not in mine and opts.hasName(name)
              and opts.getString(name) == value}
    for name in hidden:
        opts.delValue(name)
    try:
        yield
    finally:
        for name, value in hidden.items():
            opts[name] = value


def read_options(obj, prefix: str, defaults: dict, owned: list[str]) -> dict:
    """Put ``defaults`` into the database where the user has not set them (their names are
    appended to ``owned``, for :func:`_unset_defaults` when the problem is destroyed), let the
    PETSc object ``obj`` (KSP, SNES, ...) read its options with other problems' defaults
    hidden, and return the options the user set under ``prefix``."""
    names, user = _set_defaults(prefix, defaults)
    owned += names
    with _without_defaults_of_others(prefix, names):
        obj.setFromOptions()
    return user


def new_ksp(comm, prefix: str, defaults: dict, owned: list[str],
            operator: PETSc.Mat | None = None) -> tuple[PETSc.KSP, dict]:
    """A KSP under ``prefix`` (operator set before the options are read, when given)
    configured by :func:`read_options`; an iterative one starts from the previous solution.
    Returns (ksp, the user's options)."""
    ksp = PETSc.KSP().create(comm)
    ksp.setOptionsPrefix(prefix)
    if operator is not None:
        ksp.setOperators(operator)
    user = read_options(ksp, prefix, defaults, owned)
    if ksp.getType() != PETSc.KSP.Type.PREONLY:
        ksp.setInitialGuessNonzero(True)
    return ksp, user
