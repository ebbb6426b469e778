"""Streaming FIR filtering (with optional decimation), exact across chunk boundaries.

``FirState.work(x, index)`` returns (outputs, first output index): y[j] = sum_k h[k] x[j*D - k]
for every absolute output index j whose input position j*D falls inside the chunk
[index, index+len(x)): the ``scipy.signal.upfirdn(h, x, 1, D)`` convention, with the input
indices counted from the start of the stream, so the result does not depend on how the stream
is cut into chunks (``process`` returns the outputs alone). `ResampleState` zero-stuffs first (``upfirdn``'s
``up``).

Two exact methods: overlap-save for plain filtering and long decimating filters, the block
(polyphase) method for decimating filters of up to 16 taps per unit of decimation. The block
method runs as a compiled loop, one dot product per kept output (`compiled`, with numba: the
``fast`` extra, 2-4x faster), for float32 and complex64 samples with real taps; otherwise as
numpy matrix products:

- block matrix product: the signal is cut into rows of B >= L-1 samples;
  outputs are ``rows @ H0 + previous_rows @ H1`` where H0/H1 are the two Toeplitz halves of
  the filter, keeping only the output columns that land on multiples of D (a polyphase
  product). Complex samples times real taps run as real GEMMs on the samples' real and
  imaginary parts as two planes (`_process_planar`).
- overlap-save: the carried history plus the chunk cut into overlapping
  segments, one batched FFT (`transforms.Transforms`) over all of them, times the taps' spectrum (computed
  once), keeping the valid part of each segment.

Note: the block method's matrix products multiply whole rows, so a NaN or inf sample poisons
the outputs of its own row of B samples (lfilter would poison only the later ones; so does
the compiled loop).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import fft

from ..checks import check_int
from . import compiled
from .base import output_rate as _output_rate
from .transforms import Transforms

BLOCK_TAPS_PER_FACTOR = 16  # decimating: polyphase product up to 16 taps per unit of decimation
# OpenBLAS runs a product on one thread when m*n*k stays below this: on a busy machine its
# threads wait on each other for whole scheduler slices, so the polyphase product is cut into
# row slices that each stay single-threaded (and predictable).
SINGLE_THREAD_MNK = 262_144


def compute_dtype(dtype: np.dtype, taps: np.ndarray) -> np.dtype:
    """The dtype a filter runs in and returns: the input's, promoted by complex taps.

    Integer input runs in float32.
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        dtype = np.dtype(np.float32)
    if np.iscomplexobj(taps) and dtype.kind == "f":
        dtype = np.result_type(dtype, np.complex64)
    return dtype


def check_taps(taps: object) -> np.ndarray:
    """Validate FIR taps: a non-empty 1-D array of finite numbers."""
    array = np.asarray(taps)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"taps must be a non-empty 1-D array, got shape {array.shape}")
    if array.dtype.kind not in "fciub" or not np.all(np.isfinite(array)):
        raise ValueError("taps must be finite numbers")
    return array


def check_factor(factor: object, name: str = "factor") -> int:
    return check_int(factor, name)


def output_range(index: int, n: int, factor: int) -> tuple[int, int, int]:
    """For a chunk of ``n`` samples at absolute ``index``: (first output index j0, offset of
    its input sample in the chunk, number of outputs)."""
    j0 = -(-index // factor)
    offset = j0 * factor - index
    count = len(range(offset, n, factor))
    return j0, offset, count


def chosen_method(taps: np.ndarray, factor: int) -> str:
    """"block" (polyphase) or "fft" (overlap-save): what `FirState` runs by default."""
    polyphase = factor > 1 and len(taps) <= BLOCK_TAPS_PER_FACTOR * factor
    return "block" if polyphase else "fft"


def load_libraries(taps: object, factor: int = 1) -> None:
    """Import (and start loading compiled loops) now what a ``FirState(taps, factor)`` will
    run on: a block describing a graph calls it, so that no import happens in the run. (A
    filter's constructor does it: the FFT library for overlap-save, numba in a thread.)"""
    FirState(taps, factor)


class FirState:
    """A streaming FIR filter keeping every ``factor``-th output (see module docstring).

    Args:
        taps: filter coefficients h[k] (real or complex).
        factor: decimation D (1: plain filter).
        method: "block", "fft" or None (`chosen_method`).
        jit: the block method's backend for float32/complex64 samples and real taps:
            "numba" (the first chunk waits for the compiled loop; a failure to load it is
            raised), "numpy", or None: `compiled.chosen_backend`, the loop loaded in a
            thread while the filter runs on numpy (``numpy_first``), numpy for good if numba
            cannot load it (logged once).
        numpy_first: with ``jit=None``, the input samples, from the first this filter is
            given, filtered with numpy while the loop loads; the first chunk past them that
            finds it loaded switches to it (the blocks give half a second of samples, more
            than a load from numba's cache takes: a stream then switches at the same chunk
            in every run). The filter never waits for numba.
    """

    def __init__(self, taps: object, factor: int = 1, method: str | None = None,
                 jit: str | None = None, numpy_first: int = 0):
        self.taps = check_taps(taps)
        self.factor = check_factor(factor)
        length = len(self.taps)
        if method is None:
            method = chosen_method(self.taps, self.factor)
        if method not in ("block", "fft"):
            raise ValueError(f"method must be 'block' or 'fft', got {method!r}")
        self.method = method
        self._waits = jit == "numba"  # asked for: waits for the loop, raises if it fails
        if jit is None:
            compilable = method == "block" and self.taps.dtype.kind != "c"
            jit = compiled.chosen_backend() if compilable else "numpy"
        if jit not in compiled.BACKENDS:
            raise ValueError(f"jit must be one of {', '.join(compiled.BACKENDS)}, got {jit!r}")
        self.jit = jit
        if jit == "numba" and not self._waits:
            compiled.load_in_background()
        self._numpy_first = int(numpy_first)
        self._switch_at: int | None = None  # input index past which the loop is taken
        self._compilable = False  # samples and taps the loop takes, not on it yet
        self._dots = None  # the compiled loop, when this filter's samples run on it
        self._weights: np.ndarray | None = None  # its taps (`compiled.lane_weights`)
        d = self.factor
        self.block = d * -(-max(length - 1, 32) // d)  # B >= L-1, a multiple of D
        self._dtype: np.dtype | None = None
        self._history: np.ndarray | None = None  # last `block` (or L-1) input samples
        self._buffer: np.ndarray | None = None
        self._planes: np.ndarray | None = None  # complex data, real taps: (2, samples)
        self._plane_history: np.ndarray | None = None  # their last `block` samples
        self._matrices: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._spectrum: tuple[int, np.ndarray] | None = None  # (nfft, taps' FFT)
        self._transforms = Transforms() if method == "fft" else None
        self.stride = (self.factor, 1)

    def reset(self) -> None:
        """Forget the past (the stream restarts, e.g. after a gap)."""
        for past in (self._history, self._plane_history):
            if past is not None:
                past[...] = 0

    def output_rate(self, rate: float) -> float:
        return _output_rate(self.stride, rate)

    def process(self, x: np.ndarray, index: int) -> np.ndarray:
        """Filter one chunk ``x`` whose first sample has absolute ``index``; returns the outputs
        (see `output_range` for their indices)."""
        return self.work(x, index)[0]

    def work(self, x: np.ndarray, index: int) -> tuple[np.ndarray, int]:
        """As `process`, with the absolute index of the first output."""
        dtype = compute_dtype(x.dtype, self.taps)
        if x.dtype != dtype:
            x = x.astype(dtype)
        if self._dtype is None or dtype != self._dtype:
            self._setup(dtype)
        j0, offset, count = output_range(index, len(x), self.factor)
        if self._compilable:
            self._maybe_switch(index)
        if self._dots is not None:
            return self._process_compiled(x, offset, count), j0
        if self.method == "fft":
            return self._process_fft(x, offset, count), j0
        return self._process_block(x, offset, count), j0

    def _setup(self, dtype: np.dtype) -> None:
        self._dtype = dtype
        keep = self.block if self.method == "block" else len(self.taps) - 1
        self._dots = self._weights = None
        self._compilable = (self.method == "block" and self.jit == "numba"
                            and self.taps.dtype.kind != "c" and dtype in (np.float32, np.complex64))
        self._history = np.zeros(keep, dtype)
        self._buffer = self._planes = self._plane_history = None
        self._matrices = {}
        self._spectrum = None

    # -- overlap-save ------------------------------------------------------------------------
    def _process_fft(self, x: np.ndarray, offset: int, count: int) -> np.ndarray:
        history = self._history
        dtype = self._dtype
        assert history is not None and dtype is not None
        keep, n = len(history), len(x)
        length = len(self.taps)
        nfft, spectrum = self._taps_spectrum()
        step = nfft - length + 1
        needed = -(-n // step) if n else 0
        transforms = self._transforms
        assert transforms is not None
        # in fours: scipy.fft runs such batches fastest, and FFTW needs a plan per batch
        # size (chunk lengths that vary would otherwise make new plans all the time)
        segments = -(-needed // 4) * 4
        size = max((segments - 1) * step + nfft, keep + n)
        buffer = self._buffer
        if buffer is None or len(buffer) < size:
            buffer = self._buffer = np.zeros(size, dtype)
        buffer[:keep] = history
        buffer[keep:keep + n] = x
        buffer[keep + n:size] = 0
        history[:] = buffer[n:n + keep]  # the last L-1 samples, for the next chunk
        if count == 0:
            return np.empty(0, dtype)
        frames = np.lib.stride_tricks.as_strided(
            buffer, (segments, nfft), (step * buffer.itemsize, buffer.itemsize), writeable=False)
        if dtype.kind == "c":  # (complex taps make complex data: compute_dtype)
            product = transforms.fft(frames, scratch=True)
            product *= spectrum  # (1/nfft is in it: the inverse runs unscaled)
            y = transforms.ifft(product, scratch=True, scaled=False)
        else:
            product = transforms.rfft(frames, scratch=True)
            product *= spectrum
            y = transforms.irfft(product, nfft, scratch=True, scaled=False)
        valid = y[:, length - 1:].reshape(-1)  # (segments * step): output k*step + j
        if self.factor == 1 and offset == 0:
            out = valid[:count].astype(dtype, copy=False)
        else:
            out = valid[offset:n:self.factor][:count].astype(dtype, copy=False)
        return out.copy() if np.may_share_memory(out, y) else out  # y: the plan's own array

    def _taps_spectrum(self) -> tuple[int, np.ndarray]:
        if self._spectrum is None:
            nfft = max(512, 1 << (4 * len(self.taps) - 1).bit_length())
            taps = self.taps.astype(_taps_dtype(self._dtype, self.taps), copy=False)
            transform = fft.fft if self._dtype.kind == "c" else fft.rfft
            self._spectrum = (nfft, transform(taps, nfft, norm="forward"))  # scaled by 1/nfft
        return self._spectrum

    # -- block method, compiled --------------------------------------------------------------
    def _maybe_switch(self, index: int) -> None:
        """Take the compiled loop from this chunk on if it is time (see ``numpy_first``)."""
        if self._waits:
            self._switch_to(compiled.fir_decimator())
            return
        if self._switch_at is None:
            self._switch_at = index + self._numpy_first
        if index >= self._switch_at:
            dots = compiled.ready_decimator()
            if dots is not None:
                self._switch_to(dots)
            elif compiled.load_failed():
                self._compilable = False  # (the loader logged why): numpy for good

    def _switch_to(self, dots: Callable[..., None]) -> None:
        """Run on the compiled loop from this chunk on: its history is the last L-1 samples
        (the numpy block method keeps the last ``block`` >= L-1, maybe as planes)."""
        dtype, keep = self._dtype, len(self.taps) - 1
        assert dtype is not None and self._history is not None
        planes = self._plane_history
        if planes is not None:
            past = np.empty(keep, dtype)
            start = planes.shape[1] - keep
            past.real, past.imag = planes[0, start:], planes[1, start:]
        else:
            past = self._history[len(self._history) - keep:].copy()
        self._history = past
        self._buffer = self._planes = self._plane_history = None
        self._matrices = {}
        self._weights = compiled.lane_weights(self.taps, 2 if dtype.kind == "c" else 1,
                                              np.dtype(np.float32))
        self._dots = dots
        self._compilable = False

    def _process_compiled(self, x: np.ndarray, offset: int, count: int) -> np.ndarray:
        out = np.empty(count, x.dtype)
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        floats = np.float32
        self._dots(self._history.view(floats), x.view(floats), self._weights, self.factor,
                   offset, count, out.view(floats))
        return out

    # -- block matrix product ------------------------------------------------------------------
    def _process_block(self, x: np.ndarray, offset: int, count: int) -> np.ndarray:
        h0, h1 = self._matrix(offset)
        if x.dtype.kind == "c" and h0.dtype.kind == "f":
            return self._process_planar(x, count, h0, h1)
        b, n = self.block, len(x)
        dtype = self._dtype
        history = self._history
        assert history is not None and dtype is not None
        rows = max(1, -(-n // b))
        size = b + rows * b
        buffer = self._buffer
        if buffer is None or len(buffer) < size:
            buffer = self._buffer = np.zeros(max(size, 2 * b), dtype)
        buffer[:b] = history
        buffer[b:b + n] = x
        buffer[b + n:size] = 0
        history[:] = buffer[n:n + b]
        if count == 0:
            return np.empty(0, dtype)
        current = buffer[b:size].reshape(rows, b)
        previous = buffer[:size - b].reshape(rows, b)
        return _products(current, previous, h0, h1).reshape(-1)[:count]

    def _process_planar(self, x: np.ndarray, count: int, h0: np.ndarray, h1: np.ndarray
                        ) -> np.ndarray:
        """Complex samples times real taps: the real and imaginary parts as two planes of
        rows (the last ``block`` samples of the past, then the chunk), each a real product
        with the taps' matrices (interleaved floats would need them twice as wide, half
        zeros: twice the work)."""
        b, n = self.block, len(x)
        rows = max(1, -(-n // b))
        size = b + rows * b
        planes, past = self._planes, self._plane_history
        if planes is None or planes.shape[1] < size:
            planes = self._planes = np.zeros((2, max(size, 2 * b)), h0.dtype)
        if past is None:
            past = self._plane_history = np.zeros((2, b), h0.dtype)
        planes[:, :b] = past
        np.copyto(planes[0, b:b + n], x.real)
        np.copyto(planes[1, b:b + n], x.imag)
        planes[:, b + n:size] = 0
        past[...] = planes[:, n:n + b]
        if count == 0:
            return np.empty(0, x.dtype)
        stacked = planes[:, :size].reshape(2, rows + 1, b)
        columns = h0.shape[1]
        parts = np.empty((2, rows, columns), h0.dtype)
        step = max(1, SINGLE_THREAD_MNK // (b * columns))  # rows per product, single-threaded
        for start in range(0, rows, step):
            stop = min(start + step, rows)
            np.matmul(stacked[:, start + 1:stop + 1], h0, out=parts[:, start:stop])
            parts[:, start:stop] += stacked[:, start:stop] @ h1
        out = np.empty(count, x.dtype)
        out.real = parts[0].reshape(-1)[:count]
        out.imag = parts[1].reshape(-1)[:count]
        return out

    def _matrix(self, offset: int) -> tuple[np.ndarray, np.ndarray]:
        phase = offset % self.factor
        cached = self._matrices.get(phase)
        if cached is not None:
            return cached
        b, taps, dtype = self.block, self.taps, self._dtype
        assert dtype is not None
        m = np.arange(b)[:, None]
        i = np.arange(phase, b, self.factor)[None, :]
        real_taps = _taps_dtype(dtype, taps)
        h0 = np.zeros((b, i.shape[1]), real_taps)
        h1 = np.zeros((b, i.shape[1]), real_taps)
        lag0, lag1 = i - m, i + b - m
        ok0 = (lag0 >= 0) & (lag0 < len(taps))
        ok1 = (lag1 >= 0) & (lag1 < len(taps))
        h0[ok0] = taps[lag0[ok0]]
        h1[ok1] = taps[lag1[ok1]]
        if not (dtype.kind == "c" and h0.dtype.kind == "f"):  # (else: `_process_planar`)
            h0, h1 = h0.astype(dtype, copy=False), h1.astype(dtype, copy=False)
        self._matrices[phase] = (np.ascontiguousarray(h0), np.ascontiguousarray(h1))
        return self._matrices[phase]


class ResampleState:
    """Rational resampling by ``up/down`` (``scipy.signal.upfirdn(taps, x, up, down)`` on a
    stream): zero-stuffing by ``up``, then `FirState` keeping every ``down``-th output;
    output k sits at up-sampled position k*down.

    Args:
        taps: filter at the up-sampled rate.
        up, down: integer factors (>= 1).
        numpy_first: as `FirState`'s, in up-sampled samples.
    """

    def __init__(self, taps: object, up: int, down: int, numpy_first: int = 0):
        self.up = check_factor(up, "up")
        self.fir = FirState(taps, check_factor(down, "down"), numpy_first=numpy_first)
        self.stride = (self.fir.factor, self.up)

    def reset(self) -> None:
        self.fir.reset()

    def output_rate(self, rate: float) -> float:
        return _output_rate(self.stride, rate)

    def work(self, x: np.ndarray, index: int) -> tuple[np.ndarray, int]:
        up = self.up
        stuffed = np.zeros(len(x) * up, np.result_type(x.dtype, np.float32))
        stuffed[::up] = x
        return self.fir.work(stuffed, index * up)


def _products(current: np.ndarray, previous: np.ndarray, h0: np.ndarray, h1: np.ndarray
              ) -> np.ndarray:
    """current @ h0 + previous @ h1, in row slices small enough for single-threaded BLAS."""
    rows = current.shape[0]
    out = np.empty((rows, h0.shape[1]), np.result_type(current, h0))
    slices = rows * h0.shape[0] * h0.shape[1] // SINGLE_THREAD_MNK + 1  # each below the limit
    step = -(-rows // slices)
    for start in range(0, rows, step):
        rows = slice(start, start + step)
        np.matmul(current[rows], h0, out=out[rows])
        out[rows] += previous[rows] @ h1
    return out


def _taps_dtype(dtype: np.dtype | None, taps: np.ndarray) -> np.dtype:
    """Taps in the precision of the data (float32 for single precision data)."""
    assert dtype is not None
    real = np.dtype(np.float32) if dtype in (np.float32, np.complex64) else np.dtype(np.float64)
    if np.iscomplexobj(taps):
        return np.result_type(real, np.complex64)
    return real
