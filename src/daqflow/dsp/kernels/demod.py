"""AM and FM demodulation kernels."""

from __future__ import annotations

import numpy as np

from .base import Samplewise


def real_dtype(dtype: np.dtype) -> np.dtype:
    """float32 for complex64 (and smaller), float64 for complex128."""
    return np.dtype(np.float64) if np.dtype(dtype) in (np.complex128, np.float64) else np.dtype(np.float32)


def demod_am(x: np.ndarray) -> np.ndarray:
    """Envelope |x| (float in the input's precision)."""
    return np.abs(x).astype(real_dtype(x.dtype), copy=False)


def check_deviation(deviation: object) -> float:
    """The FM peak deviation in Hz, checked (> 0)."""
    if isinstance(deviation, bool) or not isinstance(deviation, int | float | np.integer | np.floating) \
            or not deviation > 0:
        raise ValueError(f"deviation must be > 0 Hz, got {deviation!r}")
    return float(deviation)


class FmState(Samplewise):
    """Quadrature FM discriminator: y[n] = angle(x[n] * conj(x[n-1])) * rate / (2*pi*deviation).

    The first sample of a stream (or after a gap: `reset`) has no predecessor: its output is 0.

    Args:
        deviation: peak frequency deviation in Hz (output 1.0 at +deviation).
        rate: sample rate in Hz, for `work` (``process`` is given it per call).
    """

    def __init__(self, deviation: float, rate: float | None = None):
        self.deviation = check_deviation(deviation)
        self.rate = rate
        self._last: complex | None = None

    def reset(self) -> None:
        self._last = None

    def work(self, x: np.ndarray, index: int) -> tuple[np.ndarray, int]:
        if self.rate is None:
            raise ValueError("FmState.work needs the rate: FmState(deviation, rate)")
        return self.process(x, self.rate), index

    def process(self, x: np.ndarray, rate: float) -> np.ndarray:  # type: ignore[override]
        out = real_dtype(x.dtype)
        if len(x) == 0:
            return np.empty(0, out)
        previous = np.empty_like(x)
        previous[1:] = x[:-1]
        previous[0] = x[0] if self._last is None else self._last
        self._last = x[-1]
        phase = np.angle(x * np.conj(previous))
        return (phase * (rate / (2 * np.pi * self.deviation))).astype(out, copy=False)
