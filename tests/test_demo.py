"""The demo receive chain, in process: the peaks it finds are the tones it was sent."""

import numpy as np
import pytest

import daqflow as df
from daqflow import demo

RATE = 2e6


def run_demo(seconds_of_signal: float):
    return df.run(*demo.build(rate=RATE, realtime=False, samples=int(seconds_of_signal * RATE)))


def test_peaks_are_the_tones():
    report = run_demo(0.5)
    found = sorted(demo.peaks(dict(report.results)))
    assert len(found) == 2
    for (f, db), (tone, amplitude) in zip(found, sorted(demo.TONES), strict=True):
        assert f == pytest.approx(tone, abs=20.0)  # Hz: sub-bin precision (bins are 244 Hz)
        assert db == pytest.approx(20 * np.log10(amplitude), abs=1.0)
    assert "peaks found: 100.2500 MHz (0.0 dB), 100.2900 MHz (-20.0 dB)" in demo.summary(
        dict(report.results))


def test_spectrum_axis_is_absolute_and_rows_are_on_time():
    report = run_demo(0.2)
    spectra = report.results["spectra"]
    freqs = spectra[0].meta["freqs"]
    rate = RATE / demo.DECIMATION
    assert freqs[len(freqs) // 2] == pytest.approx(demo.CENTER + demo.TUNE)
    assert freqs[-1] - freqs[0] == pytest.approx(rate * (1 - 1 / demo.NFFT))
    rows = np.concatenate([c.index + np.arange(c.samples) for c in spectra])
    assert np.array_equal(rows, np.arange(len(rows)))
    row_period = demo.NFFT // 2 * demo.AVERAGE / rate  # frames overlap by half
    assert spectra[1].time - spectra[0].time == pytest.approx(
        (spectra[1].index - spectra[0].index) * row_period)
    assert report.stopped_by == "end"  # bounded by samples: the head block ends the stream


def test_demo_graph_draws():
    dot = df.to_dot(*demo.build())
    for name in ("simulated_adc", "mix", "fir_decimate", "spectrum", "spectra", "power_db", "power"):
        assert f'"{name}"' in dot
