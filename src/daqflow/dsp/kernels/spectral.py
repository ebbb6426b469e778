"""FFT frames and Welch-averaged power spectra, batched (`transforms.Transforms`: FFTW, else
``scipy.fft``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import fft

from ..checks import check_int
from .base import output_rate as _output_rate
from .frames import Framer, Grouper
from .transforms import Transforms
from .windowing import get_window


def check_nfft(nfft: object) -> int:
    return check_int(nfft, "nfft", 1, "samples")


def make_window(window: Any, nfft: int) -> np.ndarray:
    """Window values (periodic, as ``scipy.signal.get_window``; the common ones without importing
    it, see `windowing`); an array is used as given."""
    if isinstance(window, np.ndarray | list):
        values = np.asarray(window, dtype=np.float64)
        if values.shape != (nfft,):
            raise ValueError(f"window must have nfft={nfft} values, got shape {values.shape}")
        return values
    if window is None:
        return np.ones(nfft)
    try:
        return get_window(window, nfft)
    except ValueError as exc:
        raise ValueError(f"window: {exc}") from None


def frequencies(nfft: int, rate: float, onesided: bool, shifted: bool, center: float = 0.0) -> np.ndarray:
    """Frequency of each bin in Hz (plus the centre frequency)."""
    if onesided:
        return fft.rfftfreq(nfft, 1 / rate) + center
    freqs = fft.fftfreq(nfft, 1 / rate)
    return (fft.fftshift(freqs) if shifted else freqs) + center


class FrequencyAxis:
    """Output meta naming each bin's frequency: ``{"freqs": ...}`` plus ``fixed`` items, made
    again only when the centre frequency or the sidedness changes (the dict and its read-only
    array are shared by the chunks that carry them)."""

    __slots__ = ("_key", "_meta", "fixed", "rate", "shifted", "size")

    def __init__(self, size: int, rate: float, shifted: bool, fixed: Mapping[str, Any] | None = None
                 ) -> None:
        self.size, self.rate, self.shifted, self.fixed = size, rate, shifted, dict(fixed or {})
        self._key: tuple[bool, float] | None = None
        self._meta: Mapping[str, Any] = MappingProxyType({})

    def __call__(self, onesided: bool, center: float) -> Mapping[str, Any]:
        if (onesided, center) != self._key:
            freqs = frequencies(self.size, self.rate, onesided, self.shifted, center)
            freqs.flags.writeable = False
            meta = MappingProxyType({"freqs": freqs, **self.fixed})  # read-only: shared
            self._key, self._meta = (onesided, center), meta
        return self._meta


class FftState:
    """Windowed FFT of consecutive, non-overlapping frames of ``nfft`` samples.

    Args:
        nfft: frame length in samples.
        window: None (rectangular), a window name, or nfft values.
        shift: put 0 Hz in the middle.
        rate: input rate in Hz, for `describe` (the bins' frequencies).
    """

    def __init__(self, nfft: int, window: Any = None, shift: bool = False, rate: float = 1.0):
        self.nfft = check_nfft(nfft)
        self.window = None if window is None else make_window(window, self.nfft)
        self._real_window: np.ndarray | None = None
        self.shift = shift
        self.framer = Framer(self.nfft, self.nfft)
        self.stride = (self.nfft, 1)
        self.rate = float(rate)
        self._axis = FrequencyAxis(self.nfft, self.rate, shift)
        self._transforms = Transforms()

    def reset(self) -> None:
        self.framer.reset()

    def output_rate(self, rate: float) -> float:
        return _output_rate(self.stride, rate)

    def describe(self, meta: Mapping[str, Any], dtype: np.dtype) -> Mapping[str, Any]:
        """Output meta: ``freqs``, each bin's frequency in Hz (+ the input's ``center_freq``)."""
        return self._axis(False, meta.get("center_freq", 0.0))

    def process(self, x: np.ndarray, index: int) -> tuple[np.ndarray, int]:
        """Returns ((frames, nfft) complex spectra, number of the first frame)."""
        frames, k0, _ = self.framer.push(x, index)
        complex_dtype = np.complex128 if x.dtype in (np.float64, np.complex128) else np.complex64
        if not len(frames):
            return np.empty((0, self.nfft), complex_dtype), k0
        if self.window is not None:
            real = _real(x.dtype)
            if self._real_window is None or self._real_window.dtype != real:
                self._real_window = self.window.astype(real)
            frames = frames * self._real_window
        if self.shift:  # fftshift copies: the transform's own output array will do
            spectra = fft.fftshift(self._transforms.fft(frames, scratch=True), axes=-1)
        else:
            spectra = self._transforms.fft(frames)
        spectra = spectra.astype(complex_dtype, copy=False)
        return spectra, k0

    work = process


class SpectrumState:
    """Welch power spectra: frames of ``nfft`` every ``step`` samples, windowed, |FFT|^2
    scaled to power per bin (V^2 for a V signal: a complex tone of amplitude A peaks at A^2),
    averaged over ``average`` frames. Complex input gives two-sided spectra centred on 0 Hz
    (fftshift); real input one-sided (power doubled as ``scipy.signal.welch`` does).
    ``rate`` (Hz, the input's) is for `describe`."""

    def __init__(self, nfft: int, average: int = 1, step: int | None = None, window: Any = "hann",
                 rate: float = 1.0):
        self.nfft = check_nfft(nfft)
        average = check_int(average, "average", 1, "frames")
        self.step = self.nfft if step is None else int(step)
        if self.step < 1:
            raise ValueError(f"step must be >= 1 sample, got {step!r}")
        self.window = make_window(window, self.nfft)
        self.scale = 1.0 / np.sum(self.window) ** 2
        self._windows: dict[np.dtype, np.ndarray] = {}
        self.framer = Framer(self.nfft, self.step)
        self.grouper = Grouper(int(average), "mean")
        self._transforms = Transforms()
        self.average = average
        self.stride = (self.step * average, 1)
        self.rate = float(rate)
        self._axis = FrequencyAxis(self.nfft, self.rate, True, {"average": average, "nfft": self.nfft})

    def reset(self) -> None:
        self.framer.reset()
        self.grouper.reset()

    def output_rate(self, rate: float) -> float:
        return _output_rate(self.stride, rate)

    def describe(self, meta: Mapping[str, Any], dtype: np.dtype) -> Mapping[str, Any]:
        """Output meta: ``freqs`` (Hz, + the input's ``center_freq``), ``average``, ``nfft``."""
        return self._axis(dtype.kind != "c", meta.get("center_freq", 0.0))

    def power(self, frames: np.ndarray) -> np.ndarray:
        """Power spectra of frames (rows), in the input's real precision, not yet fftshifted."""
        real = _real(frames.dtype)
        windowed = frames * self._window(real)
        transform = self._transforms.fft if frames.dtype.kind == "c" else self._transforms.rfft
        spectra = transform(windowed, scratch=True)
        power = np.square(spectra.real)
        power += np.square(spectra.imag)
        power *= real.type(self.scale)
        if frames.dtype.kind != "c":
            end = None if self.nfft % 2 else -1
            power[..., 1:end] *= 2
        return power.astype(real, copy=False)

    def _window(self, real: np.dtype) -> np.ndarray:
        cached = self._windows.get(real)
        if cached is None:
            cached = self._windows[real] = self.window.astype(real)
        return cached

    def process(self, x: np.ndarray, index: int) -> tuple[np.ndarray, int]:
        """Returns ((rows, bins) averaged spectra, number of the first row)."""
        if x.dtype.kind in "iub":
            x = x.astype(np.float32)
        frames, k0, _ = self.framer.push(x, index)
        rows, first = self.grouper.push(self.power(frames), k0)
        if x.dtype.kind == "c":  # centre 0 Hz (after averaging: fewer rows to move)
            rows = fft.fftshift(rows, axes=-1)
        return rows, first

    work = process

    def onesided(self, dtype: np.dtype) -> bool:
        return np.dtype(dtype).kind != "c"


class WaterfallState(SpectrumState):
    """`SpectrumState` rows stacked in images of ``rows`` consecutive spectra: (images, rows,
    bins) per `work`; image g holds rows [g*rows, (g+1)*rows) of the stream."""

    def __init__(self, nfft: int, rows: int, step: int | None = None, window: Any = "hann",
                 rate: float = 1.0):
        super().__init__(nfft, 1, step, window, rate)
        self.stack = Grouper(check_int(rows, "rows"), "stack")
        self.stride = (self.step * self.stack.n, 1)

    def reset(self) -> None:
        super().reset()
        self.stack.reset()

    def work(self, x: np.ndarray, index: int) -> tuple[np.ndarray, int]:
        power, first = self.process(x, index)
        return self.stack.push(power, first)


def _real(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64) if np.dtype(dtype) in (np.float64, np.complex128) else np.dtype(np.float32)
