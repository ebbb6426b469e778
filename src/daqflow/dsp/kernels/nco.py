"""Numerically controlled oscillator: frequency shift by exp(2j*pi*f*n/rate), n absolute."""

from __future__ import annotations

import numpy as np


def mixed_dtype(dtype: np.dtype) -> np.dtype:
    """complex64 for single-precision (and integer) input, complex128 for double."""
    dtype = np.dtype(dtype)
    if dtype in (np.float64, np.complex128):
        return np.dtype(np.complex128)
    return np.dtype(np.complex64)


class NcoState:
    """y[n] = x[n] * exp(2j*pi*freq*n/rate) with n the absolute sample index.

    The phase comes from the index itself (not from an accumulator), so a gap in the stream
    keeps the oscillator where a real one would be. The oscillator table for a chunk length
    is computed once (float64, then rounded to the output precision).

    Args:
        freq: shift in Hz (negative moves the spectrum down).
        rate: sample rate in Hz, for `work` (``process`` is given it per call).
    """

    stride = (1, 1)

    def __init__(self, freq: float, rate: float | None = None):
        self.freq = float(freq)
        self.rate = rate
        self._key: tuple[int, float, np.dtype] | None = None
        self._table: np.ndarray | None = None
        self._exact: tuple[float, np.longdouble] | None = None

    def _cycles(self, index: int, rate: float) -> float:
        """frac(freq * index / rate) in extended precision (x87 long double where numpy has
        it): the phase keeps its precision however far the stream has run."""
        if self._exact is None or self._exact[0] != rate:
            self._exact = (rate, np.longdouble(self.freq) / np.longdouble(rate))
        return float((self._exact[1] * np.longdouble(index)) % 1)

    def reset(self) -> None:
        """Nothing to forget: the phase follows the index."""

    def output_rate(self, rate: float) -> float:
        return rate

    def work(self, x: np.ndarray, index: int) -> tuple[np.ndarray, int]:
        """`process` at the rate given when made; the output starts at ``index``."""
        if self.rate is None:
            raise ValueError("NcoState.work needs the rate: NcoState(freq, rate)")
        return self.process(x, index, self.rate), index

    def process(self, x: np.ndarray, index: int, rate: float) -> np.ndarray:
        dtype = mixed_dtype(x.dtype)
        step = self.freq / rate  # cycles per sample
        key = (len(x), step, dtype)
        table = self._table
        if key != self._key or table is None:
            table = np.exp(2j * np.pi * step * np.arange(len(x))).astype(dtype)
            self._table, self._key = table, key
        start = np.exp(2j * np.pi * self._cycles(index, rate))  # phase of the first sample
        y = np.multiply(x, table, dtype=dtype)
        y *= dtype.type(start)
        return y
