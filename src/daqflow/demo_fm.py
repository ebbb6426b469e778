"""The FM broadcast receiver (``daqflow demo --fm``): from I/Q samples to audio.

    I/Q ─▶ mix ─▶ fir_decimate ─▶ [squelch] ─▶ demod_fm ─▶ deemphasis ─▶ fir_decimate ─▶ [resample]
    rate   -offset  channel filter,             ±deviation    tau (75 µs)   audio low-pass    to audio_rate
                    to ~200-250 kS/s            -> ±1.0                     15 kHz

`receiver` builds that chain for any input rate it can bring to the audio rate with small
integer factors (`plan` says how, or why not): the common SDR rates 2.4, 2.048, 1.92 and
1 MS/s, 250, 240 and 192 kS/s all work. `simulated_fm` is a broadcast station for the
no-hardware case: a tone, pre-emphasised so the receiver's de-emphasis gives it back flat.
`build` wires source, receiver and output (sound card or WAV) the way the CLI runs them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import numpy as np

from . import dsp
from .core import Chunk, SampleClock, Stream, block, note_lost

DEVIATION = 75e3  # Hz: peak deviation of broadcast FM
TAU = 75e-6  # s: de-emphasis time constant (Americas, Korea); 50e-6 in Europe and elsewhere
AUDIO_BAND = 15e3  # Hz: broadcast audio bandwidth (mono)
AUDIO_RATE = 48000  # Hz
IF_RATE = 240e3  # Hz: the demodulator's preferred rate (among equally simple plans)
MAX_FACTOR = 160  # largest up or down factor of the final resampler
ATTEN_DB = 60.0  # stop-band attenuation of the designed filters
TUNING_OFFSET = 250e3  # Hz: a radio is tuned this far below the station (away from its DC spike)
NFFT = 16384  # audio spectrum for the summary (2.9 Hz bins at 48 kHz)


@dataclasses.dataclass(frozen=True)
class Plan:
    """How `receiver` brings ``rate`` to ``audio_rate``.

    Attributes:
        rate: input sample rate in Hz.
        if_decimation: integer decimation of the channel filter.
        if_rate: the demodulator's rate in Hz (rate / if_decimation).
        audio_decimation: integer decimation of the audio low-pass.
        up, down: final rational resampling (1, 1: none).
        audio_rate: output rate in Hz.
    """

    rate: float
    if_decimation: int
    if_rate: float
    audio_decimation: int
    up: int
    down: int
    audio_rate: float

    def __str__(self) -> str:
        steps = [f"{self.rate:g} Hz /{self.if_decimation} -> {self.if_rate:g} Hz (FM demod)",
                 f"/{self.audio_decimation} -> {self.if_rate / self.audio_decimation:g} Hz"]
        if (self.up, self.down) != (1, 1):
            steps.append(f"*{self.up}/{self.down} -> {self.audio_rate:g} Hz")
        return ", ".join(steps)


def plan(rate: float, audio_rate: float = AUDIO_RATE, deviation: float = DEVIATION) -> Plan:
    """The simplest chain of integer decimations and one rational resampling from ``rate``
    to ``audio_rate`` (Hz) that keeps an FM broadcast channel (Carson bandwidth
    2 * (deviation + 15 kHz)) at the demodulator and the 15 kHz audio band after it.

    Among the plans with the smallest resampling factors, the one whose demodulator rate is
    closest to 240 kHz. Raises ValueError naming the rate if none has factors <= 160.

    >>> str(plan(2.4e6))
    '2.4e+06 Hz /10 -> 240000 Hz (FM demod), /5 -> 48000 Hz'
    >>> str(plan(2.048e6))
    '2.048e+06 Hz /8 -> 256000 Hz (FM demod), /4 -> 64000 Hz, *3/4 -> 48000 Hz'
    """
    if not rate > 0 or not np.isfinite(rate):
        raise ValueError(f"FM receiver: rate must be > 0 Hz, got {rate!r}")
    if not audio_rate > 0 or not np.isfinite(audio_rate):
        raise ValueError(f"FM receiver: audio_rate must be > 0 Hz, got {audio_rate!r}")
    band = _audio_band(audio_rate)
    min_if = 2 * (deviation + band)  # Carson bandwidth
    if rate < min_if:
        raise ValueError(f"FM receiver: rate {rate:.10g} Hz is below the {min_if:g} Hz an FM channel with "
                         f"{deviation:g} Hz deviation needs (Carson bandwidth); use e.g. 240e3, 1e6 or 2.4e6")
    min_audio = 2 * band * 1.1  # the audio low-pass's stop band must not fold into the band
    exact_rate, exact_audio = Fraction(rate), Fraction(audio_rate)
    best: tuple[tuple[int, float], Plan] | None = None
    for d1 in range(1, int(rate // min_if) + 1):
        if_rate = exact_rate / d1
        for d2 in range(1, int(if_rate // Fraction(min_audio)) + 1):
            ratio = exact_audio / (if_rate / d2)
            up, down = ratio.numerator, ratio.denominator
            if max(up, down) > MAX_FACTOR:
                continue
            key = (max(up, down), abs(float(if_rate) - IF_RATE))
            if best is None or key < best[0]:
                best = key, Plan(float(rate), d1, float(if_rate), d2, up, down, float(audio_rate))
    if best is None:
        raise ValueError(
            f"FM receiver: cannot bring {rate:.10g} Hz to {audio_rate:.10g} Hz audio with small integer "
            f"factors (resampling up/down <= {MAX_FACTOR}); use a rate such as 2.4e6, 2.048e6, 1.92e6, "
            "1e6, 250e3 or 240e3")
    return best[1]


def _audio_band(audio_rate: float) -> float:
    return min(AUDIO_BAND, 0.4 * audio_rate)


def tuning_offset(rate: float) -> float:
    """How far (Hz) to tune a radio below the station: 250 kHz when the channel still fits
    beside it (rate >= 1 MS/s), keeping the station off the radio's DC spike; else 0."""
    return TUNING_OFFSET if rate / 2 >= TUNING_OFFSET + 2 * (DEVIATION + AUDIO_BAND) else 0.0


@block(name="audio_meta", accepts="float", produces="float")
async def _audio_meta(x: Stream) -> AsyncIterator[Chunk]:
    """Audio is not RF: drops ``center_freq`` from the meta (it would shift an audio
    spectrum's frequency axis by the radio's tuning)."""
    seen: Mapping[str, Any] | None = None
    stripped: Mapping[str, Any] = MappingProxyType({})
    async for chunk in x:
        meta = chunk.meta
        if "center_freq" not in meta:
            yield chunk
            continue
        if meta is not seen:
            seen, stripped = meta, MappingProxyType({k: v for k, v in meta.items() if k != "center_freq"})
        yield Chunk(chunk.data, chunk.rate, chunk.index, chunk.time, stripped)


def receiver(iq: Stream, rate: float, *, offset: float = 0.0, deviation: float = DEVIATION,
             tau: float = TAU, audio_rate: float = AUDIO_RATE, squelch_db: float | None = None
             ) -> Stream:
    """FM broadcast receiver (mono): complex I/Q at ``rate`` in, float32 audio at
    ``audio_rate`` out (1.0 = full ``deviation``).

    Args:
        iq: complex chunks at ``rate`` Hz.
        rate: the I/Q sample rate in Hz (filters are designed for it; see `plan`).
        offset: where the station is, in Hz from the I/Q's 0 Hz (brought to 0 by a mixer).
        deviation: peak deviation in Hz (75e3 for broadcast FM).
        tau: de-emphasis time constant in seconds (75e-6; 50e-6 in Europe).
        audio_rate: output rate in Hz.
        squelch_db: drop the channel while its power is below this (dB), or None. What it
            drops is marked ``meta["skipped"]`` on the audio.
    """
    steps = plan(rate, audio_rate, deviation)
    band = _audio_band(audio_rate)
    # channel filter: it passes the Carson band (±(deviation + audio band)); its stop band starts
    # where the decimation to if_rate would fold onto that band (or at Nyquist, undecimated)
    passband = min(deviation + band, 0.45 * steps.if_rate)
    stopband = steps.if_rate - passband if steps.if_decimation > 1 else steps.if_rate / 2
    if abs(offset) + passband >= rate / 2:
        raise ValueError(f"FM receiver: offset {offset:g} Hz puts the channel (±{passband:g} Hz) "
                         f"outside the {rate:g} Hz band (|offset| < {rate / 2 - passband:g} Hz)")
    if offset:
        iq = dsp.mix(iq, -offset, name="fm_tune")
    channel = dsp.lowpass((passband + stopband) / 2, rate=rate, transition=stopband - passband,
                          atten_db=ATTEN_DB)
    iq = dsp.fir_decimate(iq, channel, steps.if_decimation, name="fm_channel")
    if squelch_db is not None:
        iq = dsp.squelch(iq, squelch_db)
    audio = _audio_meta(dsp.demod_fm(iq, deviation))
    audio = dsp.deemphasis(audio, tau)
    audio_transition = band / 5
    audio_lowpass = dsp.lowpass(band + audio_transition / 2, rate=steps.if_rate,
                                transition=audio_transition, atten_db=ATTEN_DB)
    audio = dsp.fir_decimate(audio, audio_lowpass, steps.audio_decimation, name="fm_audio")
    if (steps.up, steps.down) != (1, 1):
        audio = dsp.resample(audio, steps.up, steps.down, name="fm_resample")
    return audio


# -- a broadcast station, simulated -----------------------------------------------------------

@block(name="simulated_fm")
async def _simulated_fm(rate: float, chunk: int, tones: tuple[tuple[float, float], ...],
                        deviation: float, tau: float, offset: float, noise: float,
                        seed: int | None, paced: bool, center_freq: float | None
                        ) -> AsyncIterator[Chunk]:
    rng = np.random.default_rng(seed)
    # pre-emphasis H(f) = 1 + j 2 pi f tau (de-emphasis is its inverse): a tone cos(2 pi f t)
    # becomes |H| cos(2 pi f t + arg H); its phase, the integral of 2 pi deviation * that, is
    # deviation |H| / f * sin(2 pi f t + arg H)
    emphasis = [1 + 2j * np.pi * f * tau for f, _ in tones]
    beta = [deviation * level * abs(h) / f for (f, level), h in zip(tones, emphasis, strict=True)]
    shift = [float(np.angle(h)) for h in emphasis]
    tuned = {} if center_freq is None else {"center_freq": center_freq}
    meta = MappingProxyType(tuned)
    clock = SampleClock(rate) if paced else None
    n = np.arange(chunk, dtype=np.int64)
    index = 0
    while True:
        lost = clock.lost_before(index, chunk) if clock is not None else 0
        index += lost  # the clock ran past them, as a radio's buffer overflows
        k = index + n
        phase = np.zeros(chunk)
        for (f, _), b, s in zip(tones, beta, shift, strict=True):
            phase += b * np.sin(2 * np.pi * _cycles(f, k, rate) + s)
        if offset:
            phase += 2 * np.pi * _cycles(offset, k, rate)
        x = np.exp(1j * phase).astype(np.complex64)
        if noise:
            x += rng.standard_normal(2 * chunk, dtype=np.float32).view(np.complex64) * np.float32(
                noise / np.sqrt(2))
        if clock is not None:
            await clock.wait_for(index + chunk)
            if clock.ended(index + chunk):  # the run stopped before this chunk was complete
                note_lost(clock.existed_at_stop(index - lost, index))
                return
        marks = meta if not lost else MappingProxyType({**tuned, "overflow": lost})
        yield Chunk(x, rate, index, index / rate, marks)
        index += chunk


def _cycles(freq: float, k: np.ndarray, rate: float) -> np.ndarray:
    """Fractional cycles of ``freq`` at absolute samples ``k`` (exact for any run length)."""
    return np.mod(k * (freq / rate), 1.0)


def simulated_fm(rate: float = 2.4e6, chunk: int = 8192, tones: Sequence[tuple[float, float]] = ((1e3, 0.5),),
                 *, deviation: float = DEVIATION, tau: float = TAU, offset: float = 0.0,
                 noise: float = 0.01, seed: int | None = None, realtime: bool = True,
                 center_freq: float | None = None, name: str | None = None) -> Stream:
    """An FM broadcast station as complex64 I/Q: carrier amplitude 1 at ``offset`` Hz,
    modulated by audio tones pre-emphasised with ``tau``, plus complex Gaussian noise.

    Args:
        rate: sample rate in Hz.
        chunk: samples per chunk.
        tones: (audio frequency in Hz, level) pairs; level 1.0 is full ``deviation`` after
            de-emphasis (what `receiver` gives back as amplitude).
        deviation: Hz per unit level.
        tau: pre-emphasis time constant in seconds (0: none).
        offset: carrier frequency in Hz from 0 Hz.
        noise: noise standard deviation per complex sample.
        seed: noise seed.
        realtime: paced at ``rate`` like a radio (a full FIFO, or a graph more than
            `daqflow.core.clock.BACKLOG` seconds behind the clock, loses samples: counted and
            marked ``meta["overflow"]``); False runs as fast as the graph takes it.
        center_freq: RF frequency in Hz that 0 Hz stands for (``meta["center_freq"]``).
    """
    if not rate > 0:
        raise ValueError(f"simulated_fm: rate must be > 0 Hz, got {rate!r}")
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"simulated_fm: chunk must be an int >= 1 sample, got {chunk!r}")
    tones = tuple((float(f), float(level)) for f, level in tones)
    if not tones or any(not 0 < f < rate / 2 for f, _ in tones):
        raise ValueError(f"simulated_fm: tones must be (Hz, level) pairs with 0 < Hz < {rate / 2:g}, "
                         f"got {tones!r}")
    if not deviation > 0 or tau < 0 or noise < 0:
        raise ValueError(f"simulated_fm: need deviation > 0 Hz, tau >= 0 s, noise >= 0; got "
                         f"{deviation!r}, {tau!r}, {noise!r}")
    if abs(offset) + deviation >= rate / 2:
        raise ValueError(f"simulated_fm: offset {offset:g} Hz with {deviation:g} Hz deviation does "
                         f"not fit in the {rate:g} Hz band")
    return _simulated_fm(float(rate), chunk, tones, float(deviation), float(tau), float(offset),
                         float(noise), seed, bool(realtime),
                         None if center_freq is None else float(center_freq),
                         name=name, realtime=bool(realtime))


# -- the demo: source -> receiver -> sound card or WAV -------------------------------------

@block(name="audio_tones", accepts="float")
async def _audio_tones(x: Stream, min_db: float = 20.0) -> dict[str, Any]:
    """The strongest tones of the audio over the run (``min_db`` above the noise floor, within
    40 dB of the strongest), from the mean of its spectra:
    ``{"tones": [(Hz, amplitude), ...], "rows": spectra averaged}`` (for `summary`)."""
    total: np.ndarray | None = None
    freqs: np.ndarray | None = None
    rows = 0
    async for chunk in x:
        total = chunk.data.sum(axis=0) if total is None else total + chunk.data.sum(axis=0)
        freqs = chunk.meta["freqs"]
        rows += len(chunk.data)
    if total is None:
        return {"tones": [], "rows": 0}
    peaks = dsp.find_peaks(freqs, total / rows, min_db=min_db, max_peaks=3)  # type: ignore[arg-type]
    peaks = [(f, db) for f, db in peaks if db > peaks[0][1] - 40]  # not the faint spurs beside them
    # a real tone of amplitude A shows A**2 / 2 (one-sided Welch spectrum, power per bin)
    return {"tones": [(f, float(np.sqrt(2 * 10 ** (db / 10)))) for f, db in peaks], "rows": rows}


def build(freq: float, *, device: str | None = None, rate: float = 2.4e6, gain: float | None = None,
          output: str | None = None, chunk: int = 8192, seed: int | None = 1,
          squelch_db: float | None = None, realtime: bool | None = None) -> tuple[Stream, ...]:
    """The demo's sinks: the receiver's audio to the sound card (sink "audio") or to the WAV
    file ``output`` (sink "recording"), and its strongest tones (sink "audio_tones").

    Args:
        freq: the station's frequency in Hz.
        device: SoapySDR args of the radio (e.g. "driver=rtlsdr"); None: the simulated
            station (`simulated_fm`, a 1 kHz tone at ``freq``).
        rate: I/Q sample rate in Hz.
        gain: the radio's gain in dB (None: its default).
        output: a .wav path, or None for the default sound card.
        chunk: samples per chunk of the simulated station.
        seed: its noise seed.
        squelch_db: see `receiver`.
        realtime: pace the simulated station in real time; None: only when writing a WAV
            file. To the sound card it is not paced: the sound card's clock paces the whole
            chain (two clocks, the station's and the card's, would lose samples whenever
            the card starts late or runs slow).
    """
    from . import io

    if output is not None and not str(output).lower().endswith(".wav"):
        raise ValueError(f"demo --fm: the audio output must be a .wav file, got {output!r}")
    offset = tuning_offset(rate)
    plan(rate)  # refuse an unusable rate before opening anything
    if device is None:
        paced = output is not None if realtime is None else realtime
        iq = simulated_fm(rate, chunk, offset=offset, seed=seed, realtime=paced,
                          center_freq=freq - offset)
    else:
        iq = io.soapy_source(device=device, rate=rate, freq=freq - offset, gain=gain)
    audio = receiver(iq, rate, offset=offset, squelch_db=squelch_db)
    tones = _audio_tones(dsp.spectrum(audio, NFFT, average=2), buffer=4, policy="drop_oldest")
    if output is None:
        sink = io.audio_sink(audio, name="audio")
    else:
        sink = io.wav_writer(audio, output, name="recording")
    return sink, tones


def summary(results: Mapping[str, Any], freq: float | None = None) -> str:
    """What a person reads: the strongest audio tones (Hz, amplitude; 1.0 = full deviation)."""
    lines = []
    if freq is not None:
        lines.append(f"station:     {freq / 1e6:.4f} MHz, FM {DEVIATION / 1e3:g} kHz deviation, "
                     f"{TAU * 1e6:g} us de-emphasis")
    meter = results.get("audio_tones")
    if isinstance(meter, Mapping) and meter.get("rows"):
        tones = [f"{f:.1f} Hz (amplitude {a:.2f})" for f, a in meter["tones"]]
        lines.append("audio tones: " + (", ".join(tones) or "none"))
    recording = results.get("recording")
    if isinstance(recording, Mapping) and recording.get("path"):
        lines.append(f"audio file:  {recording['path']}")
    return "\n".join(lines)
