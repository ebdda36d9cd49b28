"""Peak resident memory of a benchmark process (shared by the scripts in this folder)."""

from __future__ import annotations

import resource


def reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM, Linux) so that the next measurement's peak is
    its own; False where that is not possible (then :func:`peak_mb` is the lifetime peak)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_mb(comm) -> float:
    """Peak resident memory since the last :func:`reset_peak` (VmHWM), or since the start,
    summed over the ranks of ``comm`` (MB); the process's lifetime peak (ru_maxrss) where
    /proc is not available. Collective."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with open("/proc/self/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        pass
    return comm.allreduce(kb / 1024.0)
