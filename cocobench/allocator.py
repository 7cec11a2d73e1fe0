"""The C allocator setting the `cocobench` command runs with (no torch import: it runs before every command)."""

from __future__ import annotations

import ctypes
import os
import sys


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse (Linux); True if it took the settings.

    A training step frees hundreds of MB (activations, and the keys and values each continuous-thought
    pass keeps for the backward) and allocates as much again in the next step. With glibc's defaults
    the freed top of the heap goes back to the OS, and the next step page-faults it in again, zero-
    filled: up to ~900 MB a Coconut step in `benchmarks/engine_speed.py`, and most of the time a
    latent step takes beyond a plain one there. Blocks up to 32 MB now come from the heap, which keeps
    its peak size. The `cocobench` command calls this at start; COCOBENCH_SYSTEM_MALLOC=1 opts out.
    """
    if sys.platform != "linux" or os.environ.get("COCOBENCH_SYSTEM_MALLOC"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's C library
    except (OSError, AttributeError):  # no mallopt (not glibc)
        return False
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc's <malloc.h>
    settings = ((M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 2**31 - 1), (M_TOP_PAD, 256 << 20))
    return all([mallopt(option, value) == 1 for option, value in settings])
