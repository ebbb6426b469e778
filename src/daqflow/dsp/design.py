"""Filter design on scipy.signal: FIR taps that remember the sample rate they were made for."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import signal


class Taps(np.ndarray):
    """FIR coefficients (a float64 ndarray) with ``rate``: the sample rate in Hz they were
    designed for, or None. Filter blocks check it against the stream's rate."""

    rate: float | None

    def __new__(cls, coefficients: Any, rate: float | None = None) -> Taps:
        obj = np.asarray(coefficients).view(cls)
        obj.rate = rate
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.rate = getattr(obj, "rate", None)


def _check(numtaps: int, rate: float | None) -> None:
    if not isinstance(numtaps, int | np.integer) or numtaps < 1:
        raise ValueError(f"numtaps must be an int >= 1, got {numtaps!r}")
    if rate is not None and not rate > 0:
        raise ValueError(f"rate must be > 0 Hz, got {rate!r}")


def _cutoff_error(cutoff: float, nyq: float, rate: float | None) -> str:
    if rate is None and cutoff > 1:
        return (f"cutoff={cutoff!r} looks like Hz: give the sample rate (rate=... Hz), or the "
                "cutoff as a fraction of Nyquist in (0, 1)")
    return f"cutoff must be in (0, {nyq:g}){' Hz' if rate else ''}, got {cutoff!r}"


def _nyquist(rate: float | None) -> float:
    return rate / 2 if rate is not None else 1.0


def lowpass(numtaps: int, cutoff: float, rate: float | None = None, window: Any = "hamming") -> Taps:
    """Low-pass FIR taps (``scipy.signal.firwin``), unit gain at DC.

    Args:
        numtaps: number of taps.
        cutoff: -6 dB frequency in Hz if ``rate`` is given, else as a fraction of Nyquist (0..1).
        rate: sample rate in Hz the taps are for.
        window: any window ``scipy.signal.get_window`` knows.

    >>> taps = lowpass(31, 100e3, rate=1e6)
    >>> len(taps), round(float(taps.sum()), 6), taps.rate
    (31, 1.0, 1000000.0)
    """
    _check(numtaps, rate)
    nyq = _nyquist(rate)
    if not 0 < cutoff < nyq:
        raise ValueError(_cutoff_error(cutoff, nyq, rate))
    return Taps(signal.firwin(numtaps, cutoff / nyq, window=window), rate)


def highpass(numtaps: int, cutoff: float, rate: float | None = None, window: Any = "hamming") -> Taps:
    """High-pass FIR taps (``scipy.signal.firwin``, ``pass_zero=False``); ``numtaps`` must be odd.

    Args: as `lowpass`.
    """
    _check(numtaps, rate)
    if numtaps % 2 == 0:
        raise ValueError(f"numtaps must be odd for a high-pass filter, got {numtaps}")
    nyq = _nyquist(rate)
    if not 0 < cutoff < nyq:
        raise ValueError(_cutoff_error(cutoff, nyq, rate))
    return Taps(signal.firwin(numtaps, cutoff / nyq, window=window, pass_zero=False), rate)


def bandpass(numtaps: int, low: float, high: float, rate: float | None = None,
             window: Any = "hamming") -> Taps:
    """Band-pass FIR taps passing ``low``..``high`` (Hz with ``rate``, else fraction of Nyquist).

    Args: as `lowpass`; ``low`` < ``high`` are the band edges.
    """
    _check(numtaps, rate)
    nyq = _nyquist(rate)
    if not 0 < low < high < nyq:
        raise ValueError(f"band edges must satisfy 0 < low < high < {nyq:g}, got low={low!r}, "
                         f"high={high!r}")
    return Taps(signal.firwin(numtaps, [low / nyq, high / nyq], window=window, pass_zero=False), rate)
