"""End to end: simulated ADC -> mix -> fir_decimate -> spectrum, bounded by head."""

import numpy as np
import pytest

import daqflow as df
from daqflow import dsp, io

RATE = 2e6


def averaged_spectrum(taps, rows=4):
    adc = io.simulated_adc(RATE, tones=[(250e3, 1.0), (-600e3, 0.25)], noise=0.01, realtime=False, seed=1)
    baseband = dsp.fir_decimate(dsp.mix(adc, -250e3), taps, 8)
    sink = df.collect(dsp.head(dsp.spectrum(baseband, 1024, average=8), rows))
    out = df.run(sink).results[sink.name]
    return out, np.concatenate([c.data for c in out]).mean(axis=0), out[0].meta["freqs"]


def test_tone_to_baseband_and_alias_filtered_out():
    out, power, freqs = averaged_spectrum(dsp.lowpass(64, 80e3, rate=RATE))
    # four rows of 8 half-overlapping frames of 1024 samples at 250 kHz
    assert [c.index for c in out] == [0, 1, 2, 3]
    row_rate = RATE / 8 / (512 * 8)
    assert all(c.rate == pytest.approx(row_rate) and c.time == pytest.approx(c.index / row_rate) for c in out)
    assert all(c.data.shape == (1, 1024) and c.data.dtype == np.float32 for c in out)
    np.testing.assert_allclose(freqs, np.fft.fftshift(np.fft.fftfreq(1024, 8 / RATE)))
    # the 250 kHz tone (amplitude 1) is at 0 Hz with power 1
    assert freqs[np.argmax(power)] == 0
    assert power.max() == pytest.approx(1.0, rel=0.01)
    # -600 kHz - 250 kHz = -850 kHz aliases to -100 kHz at 250 kHz: filtered below the noise
    alias = np.argmin(np.abs(freqs + 100e3))
    passband_noise = np.median(power[(np.abs(freqs) > 2e3) & (np.abs(freqs) < 60e3)])
    assert power[alias - 2:alias + 3].max() < 2 * passband_noise
    assert power[alias - 2:alias + 3].max() < 1e-6 * power.max()


def test_without_the_filter_the_alias_shows():
    """Control for the test above: decimating without anti-alias filter, the -600 kHz tone
    (power 0.0625) lands at -100 kHz (between two bins: Hann scalloping takes up to 1.4 dB)."""
    _, power, freqs = averaged_spectrum(np.array([1.0]), rows=1)
    alias = np.argmin(np.abs(freqs + 100e3))
    assert 0.7 * 0.0625 < power[alias - 2:alias + 3].max() < 1.01 * 0.0625
