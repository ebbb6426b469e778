"""Streaming IIR filtering with second-order sections (``scipy.signal.sosfilt`` + carried state)."""

from __future__ import annotations

import numpy as np

from .base import Samplewise


def check_sos(sos: object) -> np.ndarray:
    array = np.asarray(sos, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 6 or array.shape[0] < 1:
        raise ValueError(f"sos must have shape (sections, 6), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("sos must be finite numbers")
    if np.any(array[:, 3] == 0):
        raise ValueError("sos: every section needs a0 != 0")
    return array


class IirState(Samplewise):
    """IIR filter over a stream: exact continuation across chunks (sosfilt's ``zi``).

    Filters along the first (time) axis, each channel of (n, channels) samples on its own.
    Computes in double precision and returns the input's dtype (integers: float32), so
    complex64 stays complex64 without losing the filter's accuracy.
    """

    def __init__(self, sos: object):
        self.sos = check_sos(sos)
        self._zi: np.ndarray | None = None
        self._level: np.ndarray | None = None  # start in steady state at this input (see settle)

    def reset(self) -> None:
        self._zi = None
        self._level = None

    def settle(self, level: np.ndarray | float) -> None:
        """Start (the next sample) as if the input had always been ``level`` (one value per
        channel): the steady state of ``scipy.signal.sosfilt_zi``, not zero."""
        self._zi = None
        self._level = np.asarray(level)

    def process(self, x: np.ndarray) -> np.ndarray:
        from scipy import signal  # here, not at import: scipy.signal's import takes 0.6 s

        dtype = np.dtype(np.float32) if x.dtype.kind in "iub" else x.dtype
        work = np.complex128 if dtype.kind == "c" else np.float64
        shape = (self.sos.shape[0], 2, *x.shape[1:])
        if self._zi is None or self._zi.dtype != work or self._zi.shape != shape:
            if self._level is not None:
                unit = signal.sosfilt_zi(self.sos).reshape(self.sos.shape[0], 2, *(1,) * (x.ndim - 1))
                self._zi = (unit * self._level).astype(work)
                self._level = None
            else:
                self._zi = np.zeros(shape, work)
        if len(x) == 0:
            return np.empty(x.shape, dtype)
        y, self._zi = signal.sosfilt(self.sos, x.astype(work, copy=False), axis=0, zi=self._zi)
        return y.astype(dtype, copy=False)
