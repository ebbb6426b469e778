"""Filter blocks: fir, fir_decimate, decimate, resample, iir.

Each checks its parameters when called (ValueError naming the parameter) and runs a kernel
from this package per chunk. Output k of a decimating filter is the full-rate filter output
at input sample k*factor, counted from the stream start (``scipy.signal.upfirdn``'s and GNU
Radio's convention). A gap in the input (an index jump) resets the filter: nothing is
filtered across it, and the output chunk after it carries ``meta["overflow"]`` (or
``meta["skipped"]`` when the input's gap was dropped on purpose, e.g. by `squelch`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core import Stream
from .driver import kernel_block
from .kernels.fir import FirState, ResampleState, check_factor, check_taps, load_libraries
from .kernels.iir import IirState, check_sos
from .kernels.windowing import firwin, scipy_signal

JIT_GRACE = 0.5  # seconds of input a filter runs on numpy while numba loads (FirState)


def _fir_kernel(rate: float, taps: np.ndarray, factor: int, up: int) -> FirState | ResampleState:
    grace = math.ceil(JIT_GRACE * rate)
    if up == 1:
        return FirState(taps, factor, numpy_first=grace)
    return ResampleState(taps, up, factor, numpy_first=grace * up)


def _iir_kernel(rate: float, sos: np.ndarray) -> IirState:
    return IirState(sos)


_fir = kernel_block("fir", accepts="chunk", produces="same", needs_samples=True)
_fir_decimate = _fir.renamed("fir_decimate")
_decimate = _fir.renamed("decimate")
_resample = _fir.renamed("resample")
_iir = kernel_block("iir", accepts="chunk", produces="same", needs_samples=True)


def fir(stream: Stream, taps: Any, **options: Any) -> Stream:
    """FIR filter: y[n] = sum_k taps[k] x[n-k]; rate, index, time unchanged.

    Args:
        stream: chunks of samples (real, complex or integer; integers give float32).
        taps: coefficients (e.g. from `lowpass`); taps that know their design rate are
            checked against the stream's.
        options: name=, buffer=, policy=, threaded= (see `daqflow.block`).

    The output dtype is the input's (complex64 stays complex64). Runs as overlap-save with
    batched FFTs (FFTW, else ``scipy.fft``; single-threaded, so it behaves the same on a busy
    machine).
    """
    designed = getattr(taps, "rate", None)  # (Taps from lowpass/...: checked against the stream)
    load_libraries(taps)  # its libraries imported now, while described, not in a run
    return _fir(stream, _fir_kernel, (check_taps(taps), 1, 1), "fir", designed, **options)


def fir_decimate(stream: Stream, taps: Any, factor: int, **options: Any) -> Stream:
    """FIR filter keeping every ``factor``-th output (polyphase: only kept outputs are computed).

    Output k is the filter output at input sample k*factor; rate is divided by ``factor``.

    Args:
        stream: chunks of samples.
        taps: filter coefficients (the anti-alias filter).
        factor: decimation (int >= 1).
        options: name=, buffer=, policy=, threaded=.
    """
    designed = getattr(taps, "rate", None)
    load_libraries(taps, factor)  # its libraries imported now, while described, not in a run
    return _fir_decimate(stream, _fir_kernel, (check_taps(taps), check_factor(factor), 1),
                         "fir_decimate", designed, **options)


def decimate(stream: Stream, factor: int, **options: Any) -> Stream:
    """Decimate by ``factor`` with an anti-alias low-pass FIR (the design of
    ``scipy.signal.decimate(ftype="fir")``: 20*factor+1 Hamming-windowed taps, cutoff at the
    new Nyquist frequency).

    Args:
        stream: chunks of samples.
        factor: decimation (int >= 1).
        options: name=, buffer=, policy=, threaded=.
    """
    factor = check_factor(factor)
    taps = firwin(20 * factor + 1, 1.0 / factor, window="hamming") if factor > 1 else [1.0]
    load_libraries(taps, factor)  # its libraries imported now, while described, not in a run
    return _decimate(stream, _fir_kernel, (np.asarray(taps), factor, 1), "decimate", None, **options)


def resample_taps(up: int, down: int) -> np.ndarray:
    """Default resampling filter: ``scipy.signal.resample_poly``'s design (Kaiser, beta 5,
    cutoff at the lower Nyquist frequency, half length 10*max(up, down)), with gain ``up``."""
    limit = max(up, down)
    if limit == 1:  # 1/1: nothing to filter (resample_poly passes the signal through)
        return np.ones(1)
    taps = firwin(2 * 10 * limit + 1, 1.0 / limit, window=("kaiser", 5.0))
    return taps * up


def resample(stream: Stream, up: int, down: int, taps: Any = None, **options: Any) -> Stream:
    """Rational resampling by ``up/down``: ``scipy.signal.upfirdn(taps, x, up, down)`` on a stream.

    Output k is at up-sampled position k*down (rate * up / down Hz). The filter delay is not
    removed (as upfirdn; unlike resample_poly).

    Args:
        stream: chunks of samples.
        up, down: integer factors (>= 1).
        taps: filter at the up-sampled rate (default `resample_taps`).
        options: name=, buffer=, policy=, threaded=.
    """
    up, down = check_factor(up, "up"), check_factor(down, "down")
    if taps is None:
        divisor = int(np.gcd(up, down))
        up, down = up // divisor, down // divisor
    taps = resample_taps(up, down) if taps is None else check_taps(taps)
    load_libraries(taps, down)  # its libraries imported now, while described, not in a run
    return _resample(stream, _fir_kernel, (np.asarray(taps), down, up), "resample", None, **options)


def iir(stream: Stream, sos: Any, **options: Any) -> Stream:
    """IIR filter from second-order sections (``scipy.signal.iirdesign(..., output="sos")``,
    ``butter(..., output="sos")``); state carried across chunks, dtype kept.

    Args:
        stream: chunks of samples.
        sos: (sections, 6) array.
        options: name=, buffer=, policy=, threaded=.
    """
    scipy_signal()  # now, while described: its kernel filters with scipy.signal
    return _iir(stream, _iir_kernel, (check_sos(sos),), "iir", None, **options)


__all__ = ["decimate", "fir", "fir_decimate", "iir", "resample", "resample_taps"]
