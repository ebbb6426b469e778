"""Simulated instruments for the demo and the tests: `SimScope`, `SimSpectrumAnalyzer`,
`SimNetworkAnalyzer`. Each takes real time to acquire, as the real ones do, so concurrent
acquisitions overlap and a GUI stays responsive."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import dsp
from ..core import Chunk, Stream
from ..dsp.kernels.spectral import SpectrumState, frequencies
from ..dsp.kernels.transforms import chosen_backend
from .base import Instrument, Setting

DIVISIONS = 10  # horizontal divisions of a scope screen


class SimScope(Instrument):
    """A simulated oscilloscope: noisy sums of sines per channel, triggered on channel 1.

    A trace lasts ``timebase * 10`` seconds of real time and holds ``points`` samples per
    channel: data shape (points,) for one channel, (points, channels) for more; rate in Hz
    is points / duration. The trigger puts a rising crossing of ``trigger_level`` on channel 1
    at sample 0 when the signal reaches that level (else the scope free-runs). A trace's
    ``time`` counts from the trigger, as a scope's screen does (``trace.times`` is its axis in
    seconds); ``meta["trigger_time"]`` is when it triggered, in seconds since the scope
    connected (``meta["trigger_index"]`` in samples).

    Args:
        signals: per channel, (frequency Hz, amplitude V) pairs (default: channel 1 a 1 kHz
            sine of 1 V, channel 2 a 3 kHz sine of 0.5 V, the others silent).
        seed: noise seed.
        settings: channels, timebase, points, trigger_level, noise.
    """

    kind = "scope"
    channels = Setting(1, kind=int, low=1, high=4, doc="channels acquired")
    timebase = Setting(1e-4, unit="s/div", low=1e-9, high=10.0, doc="time per division")
    points = Setting(1000, kind=int, low=16, high=1_000_000, doc="samples per trace")
    trigger_level = Setting(0.0, unit="V", low=-10.0, high=10.0, doc="channel 1 rising edge")
    noise = Setting(0.01, unit="V", low=0.0, high=10.0, doc="Gaussian noise std per sample")

    def __init__(self, name: str | None = None, signals: Sequence[Sequence[tuple[float, float]]] | None
                 = None, seed: int | None = None, **settings: Any):
        super().__init__(name, **settings)
        default = [[(1e3, 1.0)], [(3e3, 0.5)], [], []]
        self.signals = [list(ch) for ch in (signals if signals is not None else default)]
        self._rng = np.random.default_rng(seed)
        self._start: float | None = None

    async def _connect(self) -> None:
        self._start = asyncio.get_running_loop().time()

    @property
    def duration(self) -> float:
        """Seconds one trace covers (and takes)."""
        return self.timebase * DIVISIONS

    async def _trace(self) -> Chunk:
        channels, points = self.active("channels"), self.active("points")
        duration = self.active("timebase") * DIVISIONS
        rate = points / duration
        await asyncio.sleep(duration)  # the scope records for one screen
        loop_time = asyncio.get_running_loop().time()
        t_trigger = loop_time - duration - (self._start or loop_time)
        t = np.arange(points) / rate
        phase0 = self._trigger_phase()
        data = np.empty((points, channels), np.float32)
        for c in range(channels):
            tones = self.signals[c] if c < len(self.signals) else []
            wave = np.zeros(points)
            for f, a in tones:
                wave += a * np.sin(2 * np.pi * f * t + (phase0 if c == 0 else 0.0))
            wave += self._rng.standard_normal(points) * self.active("noise")
            data[:, c] = wave
        index = max(0, round(t_trigger * rate))
        meta = {"units": "V", "channels": channels, "trigger_level": self.active("trigger_level"),
                "trigger_time": index / rate, "trigger_index": index}
        # as on a scope's screen, the trace's time axis counts from the trigger (its first point)
        return Chunk(data[:, 0] if channels == 1 else data, rate, index, 0.0, meta)

    def _trigger_phase(self) -> float:
        """Phase of channel 1's strongest tone that puts a rising crossing of the level at t=0
        (a random phase if the signal never reaches the level: free run)."""
        tones = self.signals[0] if self.signals else []
        if not tones:
            return 0.0
        _, amplitude = max(tones, key=lambda ft: ft[1])
        level = self.active("trigger_level")
        if abs(level) >= amplitude:
            return float(self._rng.uniform(0, 2 * np.pi))
        return float(np.arcsin(level / amplitude))


class SimSpectrumAnalyzer(Instrument):
    """A simulated spectrum analyzer built on a `SimScope` and the `dsp.spectrum` kernel
    (pyrpl's SpecAn): each trace is the power spectrum (V^2 per bin, Hann window) of one scope
    trace of ``nfft`` points, ``meta["freqs"]`` in Hz.

    Args:
        scope: the scope to use (default: a new `SimScope`, connected with this analyzer).
        settings: span (Hz: the scope samples at 2*span), nfft (points per spectrum).
    """

    kind = "spectrum_analyzer"
    span = Setting(50e3, unit="Hz", low=1.0, high=1e9, doc="highest frequency shown")
    nfft = Setting(1024, kind=int, low=16, high=1_000_000, doc="points per spectrum")

    def __init__(self, name: str | None = None, scope: SimScope | None = None, **settings: Any):
        super().__init__(name, **settings)
        self.scope = scope if scope is not None else SimScope(f"{self.name}.scope")
        self._spectra: SpectrumState | None = None  # kept between traces of one length

    async def _connect(self) -> None:
        await self.scope.connect()
        chosen_backend()  # the FFT library imported now, not at the first trace

    async def _disconnect(self) -> None:
        await self.scope.close()

    def _tune_scope(self) -> None:
        nfft, span = self.active("nfft"), self.active("span")
        timebase = nfft / (2 * span) / DIVISIONS  # sample rate 2*span
        low, high = SimScope.timebase.low, SimScope.timebase.high
        if not low <= timebase <= high:
            raise ValueError(f"{self.name}: span={span:g} Hz with nfft={nfft} needs a scope "
                             f"timebase of {timebase:g} s/div, outside [{low:g}, {high:g}]")
        self.scope.points = nfft
        self.scope.timebase = timebase

    async def _trace(self) -> Chunk:
        self._tune_scope()
        trace = await self.scope.acquire()
        data = trace.data if trace.data.ndim == 1 else trace.data[:, 0]
        state = self._spectra
        if state is None or state.nfft != len(data):  # (its FFT plans are kept with it)
            state = self._spectra = SpectrumState(len(data), 1, None, "hann")
        power = state.power(data[None, :].astype(np.float32))[0]
        freqs = frequencies(len(data), trace.rate, True, True)
        return Chunk(power, 1.0 / self.scope.duration, self._traces, trace.meta["trigger_time"],
                     {"units": "V^2", "freqs": freqs})

    def spectrum_stream(self, average: int = 1, **options: Any) -> Stream:
        """The scope's trace stream through `dsp.spectrum`: Welch spectra of the scope's
        channel 1, ``average`` frames per row (a graph, for live views)."""
        self._active = self.settings()
        self._tune_scope()
        return dsp.spectrum(self.scope.stream(), self.nfft, average=average, overlap=0.0,
                            **options)


class SimNetworkAnalyzer(Instrument):
    """A simulated vector network analyzer sweeping a resonator: complex S21.

    The device is a transmission resonance, ``S21(f) = peak / (1 + 2j q (f - f0) / f0)``,
    measured with noise growing as sqrt(ifbw). A sweep takes points / ifbw seconds. Data:
    complex128 (points,), ``meta["freqs"]`` in Hz; successive sweeps have successive indices
    (``rate`` counts points per Hz of sweep).

    Args:
        f0: resonance frequency in Hz.
        q: loaded quality factor.
        peak: |S21| at resonance (linear).
        seed: noise seed.
        settings: start, stop (Hz), points, ifbw (Hz).
    """

    kind = "network_analyzer"
    start = Setting(9.0e6, unit="Hz", low=1.0, high=100e9, doc="sweep start")
    stop = Setting(11.0e6, unit="Hz", low=1.0, high=100e9, doc="sweep stop")
    points = Setting(201, kind=int, low=2, high=100_001, doc="frequencies per sweep")
    ifbw = Setting(10e3, unit="Hz", low=1.0, high=10e6, doc="IF bandwidth")

    def __init__(self, name: str | None = None, f0: float = 10e6, q: float = 200.0,
                 peak: float = 0.8, seed: int | None = None, **settings: Any):
        super().__init__(name, **settings)
        if not (f0 > 0 and q > 0 and peak > 0):
            raise ValueError(f"{self.name}: f0, q and peak must be > 0, got {f0!r}, {q!r}, {peak!r}")
        self.f0, self.q, self.peak = float(f0), float(q), float(peak)
        self._rng = np.random.default_rng(seed)

    def response(self, freqs: np.ndarray) -> np.ndarray:
        """The device's true S21 at ``freqs`` (Hz)."""
        return self.peak / (1 + 2j * self.q * (freqs - self.f0) / self.f0)

    async def _trace(self) -> Chunk:
        start, stop = self.active("start"), self.active("stop")
        if stop <= start:
            raise ValueError(f"{self.name}: stop ({stop:g} Hz) must be above start ({start:g} Hz)")
        points, ifbw = self.active("points"), self.active("ifbw")
        await asyncio.sleep(points / ifbw)  # one IF measurement per point
        freqs = np.linspace(start, stop, points)
        sigma = 1e-4 * np.sqrt(ifbw / 1e3)
        noise = (self._rng.standard_normal(points) + 1j * self._rng.standard_normal(points)) * sigma
        s21 = self.response(freqs) + noise
        index = self._traces * points
        return Chunk(s21, points / (stop - start), index, index / (points / (stop - start)),
                     {"units": "S21", "freqs": freqs})
