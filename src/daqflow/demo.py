"""The demo: a receive chain on the simulated ADC (``daqflow demo``).

    simulated_adc ─▶ mix ─▶ fir_decimate ─┬─▶ spectrum (Welch, averaged) ─▶ collect "spectra"
     2 MS/s, 2 tones    -250 kHz   64 taps /8  └─▶ power_db (inline map) ───────▶ collect "power"

The ADC's 0 Hz stands for ``CENTER`` Hz, so the spectrum's frequency axis is absolute and
the peaks it finds are the tones' own frequencies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dsp
from .core import Chunk, Stream, block, collect
from .io import simulated_adc

CENTER = 100e6  # Hz: the RF frequency the ADC's 0 Hz stands for
TONES = ((CENTER + 250e3, 1.0), (CENTER + 290e3, 0.1))  # (Hz, amplitude): 0 dB and -20 dB
TUNE = 250e3  # Hz above the centre: brought to 0 Hz by the mixer
DECIMATION = 8
NFFT = 1024
AVERAGE = 16


@block(accepts="complex", produces="float")
def power_db(chunk: Chunk) -> Chunk:
    """Mean power of each chunk in dB (one value per chunk)."""
    power = float(np.mean(chunk.data.real**2 + chunk.data.imag**2))
    return Chunk(np.array([10 * np.log10(max(power, 1e-30))]), chunk.rate / chunk.samples,
                 chunk.index // chunk.samples, chunk.time, chunk.meta)


def build(rate: float = 2e6, chunk: int = 8192, seed: int | None = 1, realtime: bool = True,
          noise: float = 0.05, samples: int | None = None, record: str | None = None
          ) -> tuple[Stream, ...]:
    """The demo's sinks: averaged spectra of the tuned band, and its power per chunk.

    Args:
        rate: ADC sample rate in Hz.
        chunk: samples per ADC chunk.
        seed: noise seed.
        realtime: pace the ADC at ``rate`` (else as fast as the graph runs).
        noise: noise standard deviation (tone amplitudes 1.0 and 0.1).
        samples: stop after this many ADC samples (None: run until stopped).
        record: also record the tuned band as SigMF at this path (sink "recording").
    """
    tones = [(f - CENTER, a) for f, a in TONES]
    adc = simulated_adc(rate, chunk=chunk, tones=tones, noise=noise, seed=seed,
                        realtime=realtime, center_freq=CENTER)
    if samples is not None:
        adc = dsp.head(adc, samples)
    baseband = dsp.mix(adc, -TUNE)
    narrow = dsp.fir_decimate(baseband, dsp.lowpass(64, 0.4 * rate / DECIMATION, rate=rate),
                              DECIMATION)
    spectra = collect(dsp.spectrum(narrow, NFFT, average=AVERAGE), name="spectra")
    power = collect(power_db(narrow), name="power")
    if record is None:
        return spectra, power
    from .io import sigmf_writer

    recording = sigmf_writer(narrow, record, description="daqflow demo: tuned band",
                             author="daqflow", name="recording")
    return spectra, power, recording


def peaks(results: dict[str, Any], min_db: float = 15.0) -> list[tuple[float, float]]:
    """Peaks (Hz, dB) of the mean of the averaged spectra, strongest first."""
    spectra = results.get("spectra") or []
    if not spectra:
        return []
    mean = np.mean(np.concatenate([c.data for c in spectra]), axis=0)
    return dsp.find_peaks(spectra[-1].meta["freqs"], mean, min_db=min_db)


def summary(results: dict[str, Any]) -> str:
    """What a person reads: the peaks found against the tones sent, and the power."""
    found = sorted(peaks(results))
    lines = ["tones sent:  " + ", ".join(f"{f / 1e6:.4f} MHz ({20 * np.log10(a):.1f} dB)"
                                       for f, a in TONES)]
    lines.append("peaks found: " + (", ".join(f"{f / 1e6:.4f} MHz ({round(db, 1) + 0.0:.1f} dB)"
                                              for f, db in found) or "none"))
    power = results.get("power") or []
    if power:
        lines.append(f"band power:  {np.mean([c.data[0] for c in power]):.2f} dB "
                     f"over {len(power)} chunks")
    recording = results.get("recording")
    if recording and recording["meta"]:
        lines.append(f"recorded:    {recording['samples']} samples of the tuned band in "
                     f"{recording['meta']} (daqflow inspect {recording['meta']})")
    return "\n".join(lines)
