"""AM and FM demodulation kernels."""

from __future__ import annotations

import numpy as np


def real_dtype(dtype: np.dtype) -> np.dtype:
    """float32 for complex64 (and smaller), float64 for complex128."""
    return np.dtype(np.float64) if np.dtype(dtype) in (np.complex128, np.float64) else np.dtype(np.float32)


def demod_am(x: np.ndarray) -> np.ndarray:
    """Envelope |x| (float in the input's precision)."""
    return np.abs(x).astype(real_dtype(x.dtype), copy=False)


class FmState:
    """Quadrature FM discriminator: y[n] = angle(x[n] * conj(x[n-1])) * rate / (2*pi*deviation).

    The first sample of a stream (or after a gap: `reset`) has no predecessor: its output is 0.

    Args:
        deviation: peak frequency deviation in Hz (output 1.0 at +deviation).
    """

    def __init__(self, deviation: float):
        if not deviation > 0:
            raise ValueError(f"deviation must be > 0 Hz, got {deviation!r}")
        self.deviation = float(deviation)
        self._last: complex | None = None

    def reset(self) -> None:
        self._last = None

    def process(self, x: np.ndarray, rate: float) -> np.ndarray:
        out = real_dtype(x.dtype)
        if len(x) == 0:
            return np.empty(0, out)
        previous = np.empty_like(x)
        previous[1:] = x[:-1]
        previous[0] = x[0] if self._last is None else self._last
        self._last = x[-1]
        phase = np.angle(x * np.conj(previous))
        return (phase * (rate / (2 * np.pi * self.deviation))).astype(out, copy=False)
