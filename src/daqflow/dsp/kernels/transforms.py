"""Batched FFTs along the last axis: FFTW (through pyFFTW, the ``fast`` extra) when it is
installed, else ``scipy.fft``; both give the same results to floating-point rounding.

FFTW with a plan made once per shape and dtype (``FFTW_ESTIMATE``: ~0.2 ms, no timing runs at
start-up) runs a batch of 8 complex64 1024-point transforms about 3x faster than ``scipy.fft``
here. A plan holds its own input and output arrays and is not safe to call from two threads
at once, so each kernel makes its own `Transforms` (a kernel runs in one task or thread). A
plan serves batches of more than 16 rows up to a multiple of four (the rows beyond are
transformed and unused), so chunk lengths that vary need few plans; the least recently used
go first.

The backend is chosen when a `Transforms` is made: ``DAQFLOW_FFT=scipy`` in the environment
selects ``scipy.fft`` even with pyFFTW installed (``DAQFLOW_FFT=fftw`` requires pyFFTW).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import fft as scipy_fft

BACKENDS = ("fftw", "scipy")
ENVIRONMENT = "DAQFLOW_FFT"
MAX_PLANS = 64  # plans kept per Transforms (one per batch shape), the least recently used go
MAX_PLAN_BYTES = 64 << 20  # and at most this much in their arrays
LARGE_BATCH_BYTES = 4 << 20  # larger batches go to scipy.fft: their plans would crowd out
# the others (a plan holds two such arrays) and its per-call overhead is negligible there
EXACT_ROWS = 16  # batches up to this many rows get a plan of their own size; larger ones
ROWS = 4  # one for a multiple of this many rows: fewer plans when batch sizes vary
FFTW_DTYPES = frozenset(np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128))


def _pyfftw_builders() -> Any | None:
    # pyFFTW's package imports its dask interface whenever dask is installed: 0.17 s of
    # dask.array that daqflow never uses. A None in sys.modules makes that optional import
    # fail as if dask were absent; `import pyfftw.interfaces.dask_fft` still works later.
    # (not once dask is imported: a program that uses it may be importing it in a thread)
    blocked = "dask" not in sys.modules and "pyfftw" not in sys.modules
    if blocked:
        sys.modules["dask.array.fft"] = None  # type: ignore[assignment]
    try:
        from pyfftw import builders
    except ImportError:
        return None
    finally:
        if blocked and sys.modules.get("dask.array.fft", 0) is None:
            del sys.modules["dask.array.fft"]
    return builders


def chosen_backend() -> str:
    """"fftw" or "scipy": what a `Transforms` made now uses (see the module docstring)."""
    wanted = os.environ.get(ENVIRONMENT, "").strip().lower()
    if wanted and wanted not in BACKENDS:
        raise ValueError(f"{ENVIRONMENT}={wanted!r}: expected one of {', '.join(BACKENDS)}")
    if wanted == "scipy":
        return "scipy"  # (pyFFTW not even imported)
    if _pyfftw_builders() is not None:
        return "fftw"
    if wanted == "fftw":
        raise ValueError(f"{ENVIRONMENT}=fftw needs pyFFTW: pip install 'daqflow[fast]'")
    return "scipy"


class Transforms:
    """FFTs of the rows of 2-D arrays (or of 1-D arrays), along the last axis.

    Each method returns a new array the caller owns, unless ``scratch=True``: then the result
    may be the plan's own output array, overwritten by the next call of the same method with
    the same shape (for results used up within one step of a kernel).

    Args:
        backend: "fftw" or "scipy"; None: `chosen_backend()`.
    """

    def __init__(self, backend: str | None = None):
        self.backend = chosen_backend() if backend is None else backend
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self._builders = _pyfftw_builders() if self.backend == "fftw" else None
        if self.backend == "fftw" and self._builders is None:
            raise ValueError("backend 'fftw' needs pyFFTW: pip install 'daqflow[fast]'")
        self._plans: dict[tuple[Any, ...], Any] = {}  # in order of last use
        self._plan_bytes = 0
        self.plans_made = 0

    def fft(self, a: np.ndarray, *, scratch: bool = False) -> np.ndarray:
        """Complex FFT of each row."""
        return self._run("fft", scipy_fft.fft, a, None, scratch)

    def ifft(self, a: np.ndarray, *, scratch: bool = False, scaled: bool = True) -> np.ndarray:
        """Inverse complex FFT of each row, scaled by 1/n (``scaled=False``: not scaled, for a
        caller that folds 1/n into its own factors)."""
        return self._run("ifft", scipy_fft.ifft, a, None, scratch, scaled)

    def rfft(self, a: np.ndarray, *, scratch: bool = False) -> np.ndarray:
        """FFT of each real row: the n//2 + 1 non-negative frequency bins."""
        return self._run("rfft", scipy_fft.rfft, a, None, scratch)

    def irfft(self, a: np.ndarray, n: int, *, scratch: bool = False, scaled: bool = True
              ) -> np.ndarray:
        """Real rows of ``n`` samples from their n//2 + 1 bins, scaled by 1/n (``scaled``: as
        for `ifft`)."""
        return self._run("irfft", scipy_fft.irfft, a, n, scratch, scaled)

    def _run(self, kind: str, fallback: Callable[..., np.ndarray], a: np.ndarray, n: int | None,
             scratch: bool, scaled: bool = True) -> np.ndarray:
        if (self._builders is None or a.size == 0 or a.dtype not in FFTW_DTYPES
                or (a.dtype.kind == "c") != (kind != "rfft")):  # real rows to fft: scipy's way
            return fallback(a, n, axis=-1, norm=None if scaled else "forward")
        rows = a.shape[0] if a.ndim == 2 else None
        shape = a.shape if rows is None else _batch(rows, a.shape[1])
        if a.itemsize * math.prod(shape) > LARGE_BATCH_BYTES:
            return fallback(a, n, axis=-1, norm=None if scaled else "forward")
        key = (kind, shape, a.dtype, n)
        plans = self._plans
        plan = plans.pop(key, None)
        if plan is None:
            plan = self._plan(kind, shape, a.dtype, n)
        plans[key] = plan  # now the most recently used
        if rows is None:
            plan.input_array[...] = a  # never hand FFTW the caller's array: it may keep it
        else:
            plan.input_array[:rows] = a  # (the rows after: left over, transformed, unused)
        plan.execute()
        out = plan.output_array if rows is None else plan.output_array[:rows]
        if scaled and kind in ("ifft", "irfft"):  # FFTW's inverse is unscaled
            out *= out.real.dtype.type(1.0 / out.shape[-1])
        return out if scratch else out.copy()

    def _plan(self, kind: str, shape: tuple[int, ...], dtype: np.dtype, n: int | None) -> Any:
        """A new plan for an array of ``shape``, room made for it (least recently used first)."""
        assert self._builders is not None
        make = getattr(self._builders, kind)
        plan = make(np.empty(shape, dtype), n=n, axis=-1, planner_effort="FFTW_ESTIMATE", threads=1)
        size = _nbytes(plan)
        plans = self._plans
        while plans and (len(plans) >= MAX_PLANS or self._plan_bytes + size > MAX_PLAN_BYTES):
            self._plan_bytes -= _nbytes(plans.pop(next(iter(plans))))
        self._plan_bytes += size
        self.plans_made += 1
        return plan


def _batch(rows: int, columns: int) -> tuple[int, int]:
    """The shape of the plan for ``rows`` rows (see the module docstring)."""
    return (rows if rows <= EXACT_ROWS else -(-rows // ROWS) * ROWS), columns


def _nbytes(plan: Any) -> int:
    return int(plan.input_array.nbytes + plan.output_array.nbytes)
