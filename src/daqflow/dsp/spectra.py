"""Spectral blocks: fft, spectrum, waterfall, magnitude2, to_db, calibrate.

Frames sit on a grid fixed to the stream start (see `frames`), so outputs do not depend on
chunking; frame and row indices count frames (rows) of the output stream, whose ``rate`` is
frames (rows) per second. ``meta["freqs"]`` is the frequency of each bin in Hz, shifted by
``meta["center_freq"]`` when the input has one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import Chunk, Stream, block
from .checks import check_int
from .driver import kernel_block
from .kernels import compiled
from .kernels.spectral import FftState, SpectrumState, WaterfallState, check_nfft, make_window
from .kernels.transforms import chosen_backend


def _fft_kernel(rate: float, nfft: int, window: Any, shift: bool) -> FftState:
    return FftState(nfft, window, shift, rate)


def _spectrum_kernel(rate: float, nfft: int, average: int, step: int, window: Any, rows: int
                     ) -> SpectrumState:
    if rows:
        return WaterfallState(nfft, rows, step, window, rate)
    return SpectrumState(nfft, average, step, window, rate)


_fft = kernel_block("fft", accepts="chunk", produces="complex", needs_samples=True, makes_frames=True)
_spectrum = kernel_block("spectrum", accepts="chunk", produces="float", needs_samples=True,
                         makes_frames=True)
_waterfall = _spectrum.renamed("waterfall")


def fft(stream: Stream, nfft: int, window: Any = None, shift: bool = False, **options: Any) -> Stream:
    """FFT of consecutive frames of ``nfft`` samples (GNU Radio's ``fft_vcc``), batched.

    Each output chunk holds the frames the input completed, shape (frames, nfft), complex;
    frame k covers input samples [k*nfft, (k+1)*nfft).

    Args:
        stream: chunks of samples.
        nfft: frame length in samples.
        window: None (rectangular), a ``scipy.signal.get_window`` name, or nfft values.
        shift: put 0 Hz in the middle (fftshift).
        options: name=, buffer=, policy=, threaded=.
    """
    nfft = check_nfft(nfft)
    make_window(window, nfft)
    chosen_backend()  # the FFT library imported now, while described, not in a run
    return _fft(stream, _fft_kernel, (nfft, window, bool(shift)), "fft", None, **options)


def _step(nfft: int, overlap: float) -> int:
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
    return max(1, round(nfft * (1 - overlap)))


def spectrum(stream: Stream, nfft: int, average: int = 1, overlap: float = 0.5,
             window: Any = "hann", **options: Any) -> Stream:
    """Welch-averaged power spectrum (``scipy.signal.welch(scaling="spectrum")``).

    Frames of ``nfft`` samples every nfft*(1-overlap) samples are windowed and transformed;
    each output row is the mean |FFT|^2 of ``average`` frames, scaled to power per bin (a
    complex tone of amplitude A shows A^2). Complex input gives all nfft bins, centred on
    0 Hz; real input the nfft//2+1 non-negative ones. Output chunks are (rows, bins) floats;
    ``meta["freqs"]`` in Hz (+ ``center_freq``).

    Args:
        stream: chunks of samples.
        nfft: frame length in samples.
        average: frames per output row.
        overlap: fraction of a frame shared with the next (0 <= overlap < 1).
        window: ``scipy.signal.get_window`` name, or nfft values.
        options: name=, buffer=, policy=, threaded=.
    """
    nfft = check_nfft(nfft)
    step = _step(nfft, overlap)
    average = check_int(average, "average", 1, "frames")
    make_window(window, nfft)
    chosen_backend()  # the FFT library imported now, while described, not in a run
    return _spectrum(stream, _spectrum_kernel, (nfft, average, step, window, 0), "spectrum", None,
                     **options)


def waterfall(stream: Stream, nfft: int, rows: int, overlap: float = 0.0, window: Any = "hann",
              **options: Any) -> Stream:
    """Power spectra stacked in time: images of ``rows`` consecutive spectra; output chunks
    have shape (images, rows, bins) (one sample = one image), ``meta["freqs"]`` per bin.

    Args:
        stream: chunks of samples.
        nfft: frame length in samples.
        rows: spectra per image.
        overlap: fraction of a frame shared with the next.
        window: as `spectrum`.
        options: name=, buffer=, policy=, threaded=.
    """
    nfft = check_nfft(nfft)
    rows = check_int(rows, "rows")
    step = _step(nfft, overlap)
    make_window(window, nfft)
    chosen_backend()  # the FFT library imported now, while described, not in a run
    return _waterfall(stream, _spectrum_kernel, (nfft, 1, step, window, rows), "waterfall", None,
                      **options)


@block(name="magnitude2", accepts="chunk", produces="float")
def magnitude2(chunk: Chunk) -> Chunk:
    """|x|^2 (power), float in the input's precision.

    >>> import numpy as np, daqflow as df
    >>> from daqflow.testing import run_block
    >>> run_block(magnitude2, [df.Chunk(np.array([3 + 4j], np.complex64), 1.0)])[0].data
    array([25.], dtype=float32)
    """
    data = chunk.data
    loop = compiled.ready_power()  # (once numba's loops are loaded: the same bits, 4x faster)
    if loop is not None and data.dtype == np.complex64 and data.flags.c_contiguous:
        power = np.empty(data.shape, np.float32)
        loop(data.reshape(-1).view(np.float32), power.reshape(-1))
    elif data.dtype.kind == "c":  # re^2 + im^2, each rounded: the same bits as data.real**2 + ...
        power = np.square(data.real)
        power += np.square(data.imag)
    else:
        power = np.square(data, dtype=_float(data))
    if data.ndim:  # a Chunk's data is read-only: so it makes no view of it
        power.flags.writeable = False
    return Chunk(power, chunk.rate, chunk.index, chunk.time, chunk.meta)


@block(name="to_db", accepts="real", produces="float")
def _to_db(chunk: Chunk, floor: float) -> Chunk:
    data = chunk.data
    dtype = _float(data)
    y = 10 * np.log10(np.maximum(data, floor, dtype=dtype))
    return Chunk(y.astype(dtype, copy=False), chunk.rate, chunk.index, chunk.time,
                 {**chunk.meta, "units": "dB"})


def to_db(stream: Stream, floor: float = 1e-20, **options: Any) -> Stream:
    """10*log10 of a power quantity (values below ``floor`` clip to it).

    Args:
        stream: real chunks of power (e.g. from `magnitude2` or `spectrum`).
        floor: smallest power considered (> 0), so silence gives a finite dB value.
        options: name=, buffer=, policy=, threaded=.
    """
    if not floor > 0:
        raise ValueError(f"floor must be > 0, got {floor!r}")
    return _to_db(stream, float(floor), **options)


@block(name="calibrate", accepts="chunk", produces="same")
def _calibrate(chunk: Chunk, gain: float, offset: float, curve: tuple[np.ndarray, np.ndarray] | None
               ) -> Chunk:
    data = chunk.data
    factor: Any = gain
    if curve is not None:
        freqs = chunk.meta.get("freqs")
        if freqs is None:
            raise ValueError("calibrate: curve= needs chunks with meta['freqs'] (a spectrum)")
        factor = gain * np.interp(freqs, curve[0], curve[1])
    dtype = _float(data) if data.dtype.kind != "c" else data.dtype
    y = (data * factor + offset).astype(dtype, copy=False)
    return Chunk(y, chunk.rate, chunk.index, chunk.time, chunk.meta)


def calibrate(stream: Stream, gain: float = 1.0, offset: float = 0.0,
              curve: tuple[Any, Any] | None = None, **options: Any) -> Stream:
    """y = x * gain * curve(f) + offset (pyrf's calibrate block).

    Args:
        stream: chunks (for ``curve``: spectra with ``meta["freqs"]``).
        gain: linear gain.
        offset: added after the gain, in output units.
        curve: (freqs in Hz, linear gains): interpolated at each bin's frequency.
        options: name=, buffer=, policy=, threaded=.
    """
    if curve is not None:
        freqs, gains = (np.asarray(c, dtype=np.float64) for c in curve)
        if freqs.ndim != 1 or freqs.shape != gains.shape or len(freqs) < 1:
            raise ValueError("curve must be (freqs, gains): two 1-D arrays of equal length")
        if np.any(np.diff(freqs) <= 0):
            raise ValueError("curve freqs must increase")
        curve = (freqs, gains)
    if not (np.isfinite(gain) and np.isfinite(offset)):
        raise ValueError(f"gain and offset must be finite, got {gain!r}, {offset!r}")
    return _calibrate(stream, float(gain), float(offset), curve, **options)


def _float(data: np.ndarray) -> np.dtype:
    return np.dtype(np.float64) if data.dtype in (np.float64, np.complex128) else np.dtype(np.float32)
