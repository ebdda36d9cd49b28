"""Logging: concise console and OUT/log.txt on rank 0 only."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

LOGGER = logging.getLogger("batteryfx")


def setup(comm, quiet: bool = False) -> logging.Logger:
    """Console handler on rank 0 (INFO, or WARNING when quiet); other ranks stay silent."""
    LOGGER.handlers.clear()
    LOGGER.propagate = False
    LOGGER.setLevel(logging.INFO)
    if comm.rank == 0:
        h = logging.StreamHandler(sys.stderr)
        h.setLevel(logging.WARNING if quiet else logging.INFO)
        h.setFormatter(logging.Formatter("%(message)s"))
        LOGGER.addHandler(h)
        # keep what is logged before OUT/log.txt exists; add_file() writes it there first
        LOGGER.addHandler(logging.handlers.MemoryHandler(10000, flushLevel=logging.CRITICAL + 1))
    else:
        LOGGER.addHandler(logging.NullHandler())
    return LOGGER


def add_file(comm, path: Path) -> None:
    """Also log (with times) to ``path`` on rank 0."""
    if comm.rank == 0:
        h = logging.FileHandler(path, mode="a")
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        for memory in [m for m in LOGGER.handlers if isinstance(m, logging.handlers.MemoryHandler)]:
            memory.setTarget(h)
            memory.flush()
            LOGGER.removeHandler(memory)
            memory.close()
        LOGGER.addHandler(h)


def close() -> None:
    for h in list(LOGGER.handlers):
        h.close()
        LOGGER.removeHandler(h)
