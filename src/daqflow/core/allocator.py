"""The C heap set for streams of large arrays (glibc): freed chunks are reused, not faulted in.

A block that makes a new array per chunk (a copy, a filter's output) frees one of the same
size a few chunks later. glibc serves arrays above its mmap threshold (128 KiB at first,
raised as such arrays are freed, at most 32 MiB) with fresh pages from the kernel, and gives
the top of its heap back once more than twice that threshold is free there; a stream of
512 KiB chunks then often page-faults its arrays in again: 128 faults, ~0.2 ms per array
here. Fixed thresholds keep such arrays in the heap and the heap's freed memory in the
process (up to `TRIM_THRESHOLD`), so the next chunk reuses it (10 copies of 65536-sample
complex64 chunks: 2.6 -> 3.1x GNU Radio, benchmarks/README.md).

`tune_for_streaming` applies them once per process, when a graph first runs.
``DAQFLOW_MALLOC=system`` in the environment leaves the C library's own behaviour, and so
does any setting of glibc's own there (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``,
``GLIBC_TUNABLES``: e.g. Dask's workers start with a trim threshold of their own).
"""

from __future__ import annotations

import ctypes
import os
import threading

ENVIRONMENT = "DAQFLOW_MALLOC"
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (<malloc.h>)
MMAP_THRESHOLD = 32 << 20  # bytes: arrays below come from the heap (glibc's largest setting)
TRIM_THRESHOLD = 128 << 20  # bytes of freed heap kept in the process, not given back

_lock = threading.Lock()
_applied: bool | None = None  # None: not tried yet


def tune_for_streaming() -> bool:
    """Set glibc's heap thresholds (see the module docstring), once per process; True if they
    are set (False: not glibc, ``DAQFLOW_MALLOC=system``, or glibc's heap set by the user).

    Raises:
        ValueError: ``DAQFLOW_MALLOC`` is neither "system" nor "streaming" (nor empty).
    """
    global _applied
    wanted = os.environ.get(ENVIRONMENT, "").strip().lower()
    if wanted not in ("", "system", "streaming"):
        raise ValueError(f"{ENVIRONMENT}={wanted!r}: expected 'streaming' (the default) or "
                         "'system' (the C library's own heap settings)")
    with _lock:
        if _applied is None:
            _applied = wanted != "system" and not _set_by_user() and _set_thresholds()
        return _applied


def _set_by_user() -> bool:
    """Whether glibc's heap is configured in the environment already (the user's word)."""
    names = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_",
             "MALLOC_MMAP_MAX_")
    return any(name in os.environ for name in names) or "malloc" in os.environ.get(
        "GLIBC_TUNABLES", "")


def _set_thresholds() -> bool:
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
    except (ValueError, OSError, AttributeError):  # not glibc (or not a POSIX system)
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
