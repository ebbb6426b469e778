"""Windows and windowed-sinc FIR design in numpy, so start-up need not import scipy.signal.

Importing ``scipy.signal`` takes about 0.6 s (it pulls in scipy.stats, scipy.interpolate, ...):
most of the time from ``import daqflow`` to a first chunk. The designs daqflow uses most are
computed here with the same operations as scipy.signal (scipy 1.17), so the values are the same
to float64 rounding:

- `get_window`: hann, hamming, blackman, boxcar / rectangular (and scipy's short names), kaiser
  as ``("kaiser", beta)`` or a bare beta; periodic (``fftbins=True``) or symmetric;
- `firwin`: such a window, ``pass_zero`` True or False, scaled (scipy's defaults);
- `kaiserord` and `kaiser_beta`.

Anything else (other windows, ``"_symmetric"`` names, non-integer lengths, refusals) is handed
to ``scipy.signal``, imported then: its results and its error messages are what you get.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from scipy import special  # cheap: scipy.fft has imported it already

# window name (scipy's aliases) -> coefficients of a * cos(k * x), k = 0, 1, ... (general_cosine)
_COSINE_TERMS: dict[str, tuple[float, ...]] = {
    **dict.fromkeys(("hann", "han"), (0.5, 1.0 - 0.5)),
    **dict.fromkeys(("hamming", "hamm", "ham"), (0.54, 1.0 - 0.54)),
    **dict.fromkeys(("blackman", "black", "blk"), (0.42, 0.50, 0.08)),
}
_BOXCAR = frozenset(("boxcar", "box", "ones", "rect", "rectangular"))
_KAISER = frozenset(("kaiser", "ksr"))
_MAX_BETA = 700.0  # i0(beta) overflows near 713: left to scipy


def scipy_signal() -> Any:
    """``scipy.signal``, imported at the first call (0.6 s: not at ``import daqflow``). A block
    whose kernel needs it calls this when the block is described, so that a running graph
    never stops for the import (a real-time source would lose samples meanwhile)."""
    from scipy import signal

    return signal


def _number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _kaiser_beta_of(window: object) -> Any:
    """The beta of a Kaiser window given as ``("kaiser", beta)`` or a bare number, else None."""
    if isinstance(window, tuple) and len(window) == 2 and isinstance(window[0], str) \
            and window[0] in _KAISER:
        beta = window[1]
    elif _number(window):
        beta = float(window)  # as scipy: a bare number is a Kaiser beta
    else:
        return None
    return beta if _number(beta) and abs(float(beta)) <= _MAX_BETA else None


def _cosine_window(terms: tuple[float, ...], m: int) -> np.ndarray:
    """scipy's general_cosine: ``m`` points (symmetric)."""
    x = np.linspace(-np.pi, np.pi, m, dtype=np.float64)
    w = np.zeros(m, dtype=np.float64)
    for k, a in enumerate(np.asarray(terms, dtype=np.float64)):
        w += a * np.cos(k * x)
    return w


def _kaiser_window(beta: Any, m: int) -> np.ndarray:
    """scipy's kaiser: ``m`` points (symmetric)."""
    n = np.arange(0, m, dtype=np.float64)
    alpha = (m - 1) / 2.0
    return (special.i0(beta * np.sqrt(1 - ((n - alpha) / alpha) ** 2.0))
            / special.i0(np.asarray(beta, dtype=np.float64)))


def _boxcar(m: int) -> np.ndarray:
    return np.ones(m, dtype=np.float64)


def _window_maker(window: object) -> Callable[[int], np.ndarray] | None:
    """A function of the length making ``window`` (symmetric), if it is one made here."""
    if isinstance(window, str):
        if window in _COSINE_TERMS:
            return partial(_cosine_window, _COSINE_TERMS[window])
        return _boxcar if window in _BOXCAR else None
    beta = _kaiser_beta_of(window)
    return None if beta is None else partial(_kaiser_window, beta)


def _numpy_window(window: object, nx: int, sym: bool) -> np.ndarray | None:
    """The window of ``nx`` samples if made here, else None (scipy's to make)."""
    make = _window_maker(window)
    if make is None:
        return None
    if nx == 1:
        return np.ones(1, dtype=np.float64)
    return make(nx) if sym else make(nx + 1)[:-1]  # periodic: one more point, the last dropped


def get_window(window: Any, nx: int, fftbins: bool = True) -> np.ndarray:
    """``scipy.signal.get_window(window, nx, fftbins)``: ``nx`` samples of a window, periodic
    (for spectra, ``fftbins=True``) or symmetric (for filter design, ``fftbins=False``).

    Args:
        window: a name (``"hann"``), a tuple (``("kaiser", 8.6)``) or a Kaiser beta.
        nx: window length in samples (int > 0).
        fftbins: periodic if True, symmetric if False.
    """
    if isinstance(nx, int | np.integer) and not isinstance(nx, bool) and nx > 0 and isinstance(fftbins, bool):
        values = _numpy_window(window, int(nx), not fftbins)
        if values is not None:
            return values
    return scipy_signal().get_window(window, nx, fftbins=fftbins)


def _bands(cutoff: Any, numtaps: int, pass_zero: bool) -> np.ndarray | None:
    """firwin's pass bands as (left, right) rows in fractions of Nyquist, or None when scipy
    would refuse the arguments (it then says why)."""
    edges = np.atleast_1d(np.asarray(cutoff, dtype=np.float64))
    if edges.ndim != 1 or edges.size == 0 or edges.min() <= 0 or edges.max() >= 1 \
            or np.any(edges[1:] - edges[:-1] <= 0):
        return None
    pass_nyquist = (edges.size % 2 == 0) == pass_zero
    if pass_nyquist and numtaps % 2 == 0:
        return None
    edges = np.concatenate((np.zeros(int(pass_zero)), edges, np.ones(int(pass_nyquist))))
    return edges.reshape(-1, 2)


def firwin(numtaps: int, cutoff: Any, window: Any = "hamming", pass_zero: bool = True) -> np.ndarray:
    """``scipy.signal.firwin(numtaps, cutoff, window=window, pass_zero=pass_zero)``: windowed-sinc
    FIR taps, unit gain at the middle of the first pass band (at DC for a low-pass).

    Args:
        numtaps: number of taps (odd if the response at Nyquist is not zero).
        cutoff: band edge(s) as fractions of the Nyquist frequency, in (0, 1), increasing.
        window: any window `get_window` takes (symmetric here).
        pass_zero: True if the first band (from 0) passes (low-pass), False if it stops.
    """
    bands = None
    if isinstance(numtaps, int | np.integer) and not isinstance(numtaps, bool) and numtaps >= 1 \
            and (pass_zero is True or pass_zero is False):
        try:
            bands = _bands(cutoff, int(numtaps), bool(pass_zero))
        except (TypeError, ValueError):
            bands = None
    if bands is None:
        return scipy_signal().firwin(numtaps, cutoff, window=window, pass_zero=pass_zero)
    m = np.arange(0, int(numtaps), dtype=np.float64) - 0.5 * (numtaps - 1)
    h: Any = 0
    for left, right in bands:
        h += right * np.sinc(right * m)
        h -= left * np.sinc(left * m)
    h *= get_window(window, int(numtaps), fftbins=False)
    left, right = bands[0]
    middle = 0.0 if left == 0 else 1.0 if right == 1 else 0.5 * (left + right)
    h /= np.sum(h * np.cos(np.pi * m * middle))
    return h


def kaiser_beta(atten_db: float) -> float:
    """``scipy.signal.kaiser_beta``: the Kaiser window's beta for a stop band ``atten_db`` dB down."""
    if atten_db > 50:
        return 0.1102 * (atten_db - 8.7)
    if atten_db > 21:
        return 0.5842 * (atten_db - 21) ** 0.4 + 0.07886 * (atten_db - 21)
    return 0.0


def kaiserord(ripple: float, width: float) -> tuple[int, float]:
    """``scipy.signal.kaiserord``: (number of taps, beta) of a Kaiser-window FIR with stop-band
    attenuation ``ripple`` dB (>= 8) and a transition ``width`` as a fraction of Nyquist."""
    atten = abs(ripple)
    if atten < 8:
        return scipy_signal().kaiserord(ripple, width)  # refuses, in scipy's words
    numtaps = (atten - 7.95) / 2.285 / (np.pi * width) + 1
    return math.ceil(numtaps), kaiser_beta(atten)


__all__ = ["firwin", "get_window", "kaiser_beta", "kaiserord"]
