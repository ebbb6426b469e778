"""Numerically controlled oscillator: frequency shift by exp(2j*pi*f*n/rate), n absolute."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

#: bytes of oscillator tables kept per oscillator for start phases that repeat, and their count
TABLE_BYTES = 8 << 20
MAX_TABLES = 64
#: start phases remembered while waiting for one to come back
MAX_SEEN = 1024


def mixed_dtype(dtype: np.dtype) -> np.dtype:
    """complex64 for single-precision (and integer) input, complex128 for double."""
    dtype = np.dtype(dtype)
    if dtype in (np.float64, np.complex128):
        return np.dtype(np.complex128)
    return np.dtype(np.complex64)


class NcoState:
    """y[n] = x[n] * exp(2j*pi*freq*n/rate) with n the absolute sample index.

    The phase comes from the index itself (not from an accumulator), so a gap in the stream
    keeps the oscillator where a real one would be. It is exact: freq/rate is kept as a
    fraction num/den of integers, and the phase of sample n is (num*n mod den)/den cycles,
    rounded once to float64, however far the stream has run.

    The oscillator table for a chunk length is computed once (float64, then rounded to the
    output precision); a chunk costs that table times x, times its start phase. A start
    phase that comes back (freq/rate a simple fraction, e.g. -0.8 MHz at 8 MS/s: exactly
    -1/10 cycle per sample, and 8192-sample chunks: every 5 chunks) gets its own table with the phase applied
    (in float64, rounded once), so such a chunk costs one multiply.

    Args:
        freq: shift in Hz (negative moves the spectrum down).
        rate: sample rate in Hz, for `work` (``process`` is given it per call).
    """

    stride = (1, 1)

    def __init__(self, freq: float, rate: float | None = None):
        self.freq = float(freq)
        self.rate = rate
        self._key: tuple[int, float, np.dtype] | None = None
        self._table: np.ndarray | None = None  # exp(2j*pi*step*n), output precision
        self._wide: np.ndarray | None = None  # the same in complex128
        self._ratio: tuple[float, int, int] | None = None  # (rate, num, den): freq/rate = num/den
        self._rotated: dict[int, np.ndarray] = {}  # start phase -> table * exp(2j*pi*phase)
        self._seen: set[int] = set()  # start phases met once
        self._last: tuple[np.dtype, int, float, np.dtype] | None = None  # (in, len, rate, out)

    def phase(self, index: int, rate: float) -> tuple[int, int]:
        """(num*index mod den, den): sample ``index`` is at that many den-ths of a cycle."""
        ratio = self._ratio
        if ratio is None or ratio[0] != rate:
            exact = Fraction(float(self.freq)) / Fraction(float(rate))  # (numpy scalars too)
            ratio = self._ratio = (rate, exact.numerator, exact.denominator)
        return (ratio[1] * int(index)) % ratio[2], ratio[2]  # Python ints: never overflow

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
        last = self._last
        if last is not None and last[0] is x.dtype and last[1] == len(x) and last[2] == rate:
            dtype, table = last[3], self._table  # (as the chunk before: the common case)
        else:
            dtype = mixed_dtype(x.dtype)
            table = self._base(len(x), self.freq / float(rate), dtype)  # (float32 rate: float64)
            self._last = (x.dtype, len(x), rate, dtype)
        num, den = self.phase(index, rate)
        rotated = self._rotated.get(num)
        if rotated is None:
            rotated = self._rotate(num, den, dtype)
        if rotated is not None:
            return np.multiply(x, rotated, dtype=dtype)
        y = np.multiply(x, table, dtype=dtype)
        y *= dtype.type(np.exp(2j * np.pi * (num / den)))  # the first sample's phase
        return y

    def _base(self, length: int, step: float, dtype: np.dtype) -> np.ndarray:
        """The table exp(2j*pi*step*n), n = 0..length-1 (step: cycles per sample); a new one
        forgets the tables of start phases."""
        key = (length, step, dtype)
        table = self._table
        if key != self._key or table is None:
            wide = np.exp(2j * np.pi * step * np.arange(length))
            table = self._table = wide.astype(dtype, copy=False)
            # kept (for rotated tables) only if one fits in TABLE_BYTES
            self._wide = wide if length * dtype.itemsize <= TABLE_BYTES else None
            self._key = key
            self._rotated, self._seen = {}, set()
        return table

    def _rotate(self, num: int, den: int, dtype: np.dtype) -> np.ndarray | None:
        """The table for start phase num/den cycles if that phase was met before and there
        is room for it, else None (the phase is noted)."""
        seen, wide = self._seen, self._wide
        if wide is None:
            return None
        if num not in seen:
            if len(seen) >= MAX_SEEN:
                seen.clear()
            seen.add(num)
            return None
        rotated = self._rotated
        if len(rotated) >= min(MAX_TABLES, TABLE_BYTES // max(1, len(wide) * dtype.itemsize)):
            return None
        table = (wide * np.exp(2j * np.pi * (num / den))).astype(dtype, copy=False)
        rotated[num] = table
        return table
