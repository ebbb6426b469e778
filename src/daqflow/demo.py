"""The demo graph: a simulated ADC through a few blocks to sinks (``daqflow demo``).

    simulated_adc ──▶ power_spectrum ──▶ average_spectra ──▶ collect ("spectra")
          └──────────▶ power_db ──────────────────────────▶ collect ("power")
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np

from .core import Chunk, Stream, block, collect
from .io import simulated_adc

TONES = ((250e3, 1.0), (-600e3, 0.25))  # (Hz, amplitude)


@block(accepts="complex", produces="float")
def power_spectrum(chunk: Chunk) -> Chunk:
    """Power spectrum of one chunk (Hann window), centred: one frame, ``meta["freqs"]`` in Hz."""
    n = chunk.samples
    window = np.hanning(n).astype(np.float32)
    spectrum = np.fft.fftshift(np.fft.fft(chunk.data * window))
    power = (np.abs(spectrum) ** 2 / np.sum(window) ** 2).astype(np.float32)
    freqs = np.fft.fftshift(np.fft.fftfreq(n, 1 / chunk.rate))
    return Chunk(power[None, :], chunk.rate / n, chunk.index // n, chunk.time,
                 {**chunk.meta, "freqs": freqs})


@block(accepts="float", produces="float")
async def average_spectra(frames: Stream, n: int = 16) -> AsyncIterator[Chunk]:
    """Mean of every ``n`` spectrum frames (a lost frame in between starts a new average)."""
    total, count, first = None, 0, None
    async for frame in frames:
        if frame.meta.get("overflow"):
            total, count = None, 0
        if total is None:
            total, first = frame.data[0].astype(np.float64), frame
        else:
            total = total + frame.data[0]
        count += 1
        if count == n:
            yield Chunk((total / n).astype(np.float32)[None, :], first.rate / n,
                        first.index // n, first.time, first.meta)
            total, count = None, 0


@block(accepts="complex", produces="float")
def power_db(chunk: Chunk) -> Chunk:
    """Mean power of each chunk in dB (one value per chunk)."""
    power = float(np.mean(np.abs(chunk.data) ** 2))
    return Chunk(np.array([10 * np.log10(max(power, 1e-30))]), chunk.rate / chunk.samples,
                 chunk.index // chunk.samples, chunk.time, chunk.meta)


def build(rate: float = 2e6, chunk: int = 8192, seed: int | None = 1,
          realtime: bool = True) -> tuple[Stream, Stream]:
    """The demo's two sinks: averaged spectra and per-chunk power."""
    adc = simulated_adc(rate, chunk=chunk, tones=TONES, noise=0.05, seed=seed, realtime=realtime)
    spectra = collect(average_spectra(power_spectrum(adc), n=16), name="spectra")
    power = collect(power_db(adc), name="power")
    return spectra, power


def summary(results: dict) -> str:
    """One line a person reads: where the strongest tone is and how strong the signal is."""
    parts = []
    spectra = results.get("spectra") or []
    if spectra:
        last = spectra[-1]
        freqs = last.meta["freqs"]
        peak = int(np.argmax(last.data[0]))
        parts.append(f"strongest tone at {freqs[peak] / 1e3:.1f} kHz "
                     f"({10 * np.log10(last.data[0][peak]):.1f} dB), {len(spectra)} averaged spectra")
    power = results.get("power") or []
    if power:
        parts.append(f"mean power {np.mean([c.data[0] for c in power]):.2f} dB over {len(power)} chunks")
    return "; ".join(parts) if parts else "no data"
