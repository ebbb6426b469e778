"""Filter design helpers: firwin taps that remember their rate; gains checked with freqz."""

import numpy as np
import pytest
from scipy import signal

from daqflow import dsp

RATE = 1e6


def gains(taps, freqs, rate=RATE):
    _, h = signal.freqz(taps, worN=np.asarray(freqs, dtype=float), fs=rate)
    return np.abs(h)


@pytest.mark.parametrize("cutoff", [50e3, 200e3, 400e3])
def test_lowpass_gains(cutoff):
    taps = dsp.lowpass(101, cutoff, rate=RATE)
    dc, edge, nyquist = gains(taps, [0, cutoff, RATE / 2])
    assert dc == pytest.approx(1, abs=1e-9)
    assert edge == pytest.approx(0.5, abs=0.02)  # -6 dB at the cutoff
    assert nyquist < 0.01
    assert len(taps) == 101 and taps.rate == RATE


@pytest.mark.parametrize("cutoff", [50e3, 200e3, 400e3])
def test_highpass_gains(cutoff):
    taps = dsp.highpass(101, cutoff, rate=RATE)
    dc, edge, nyquist = gains(taps, [0, cutoff, RATE / 2])
    assert dc < 0.01
    assert edge == pytest.approx(0.5, abs=0.02)
    assert nyquist == pytest.approx(1, abs=1e-9)
    assert taps.rate == RATE


@pytest.mark.parametrize("low, high", [(50e3, 100e3), (100e3, 300e3), (250e3, 450e3)])
def test_bandpass_gains(low, high):
    taps = dsp.bandpass(101, low, high, rate=RATE)
    dc, lo, centre, hi, nyquist = gains(taps, [0, low, (low + high) / 2, high, RATE / 2])
    assert centre == pytest.approx(1, abs=1e-9)
    assert lo == pytest.approx(0.5, abs=0.03) and hi == pytest.approx(0.5, abs=0.03)
    assert dc < 0.01 and nyquist < 0.01
    assert taps.rate == RATE


def test_without_rate_cutoff_is_a_fraction_of_nyquist():
    taps = dsp.lowpass(101, 0.2)
    assert taps.rate is None
    np.testing.assert_allclose(taps, signal.firwin(101, 0.2))
    np.testing.assert_allclose(dsp.lowpass(101, 100e3, rate=RATE), taps)
    np.testing.assert_allclose(dsp.highpass(51, 0.3), signal.firwin(51, 0.3, pass_zero=False))
    np.testing.assert_allclose(dsp.bandpass(51, 0.1, 0.4), signal.firwin(51, [0.1, 0.4], pass_zero=False))


def test_lowpass_takes_its_arguments_by_name_in_both_forms():
    np.testing.assert_array_equal(dsp.lowpass(numtaps=101, cutoff=100e3, rate=RATE, window="hann"),
                                  dsp.lowpass(101, 100e3, RATE, "hann"))
    np.testing.assert_array_equal(dsp.lowpass(cutoff=15e3, rate=240e3, transition=3e3),
                                  dsp.lowpass(15e3, rate=240e3, transition=3e3))


def test_window_is_passed_to_firwin():
    np.testing.assert_allclose(dsp.lowpass(33, 100e3, rate=RATE, window="blackman"),
                               signal.firwin(33, 0.2, window="blackman"))


def test_taps_are_float64_arrays_that_keep_their_rate():
    taps = dsp.lowpass(64, 50e3, rate=2e6)
    assert isinstance(taps, np.ndarray) and isinstance(taps, dsp.Taps) and taps.dtype == np.float64
    assert (2 * taps).rate == 2e6 and taps[:10].rate == 2e6
    assert dsp.Taps([1.0, 2.0]).rate is None


@pytest.mark.parametrize("make, name", [
    (lambda: dsp.lowpass(31, 0, rate=RATE), "cutoff"),
    (lambda: dsp.lowpass(31, -1e3, rate=RATE), "cutoff"),
    (lambda: dsp.lowpass(31, 500e3, rate=RATE), "cutoff"),
    (lambda: dsp.lowpass(31, 600e3, rate=RATE), "cutoff"),
    (lambda: dsp.lowpass(31, 1.0), "cutoff"),
    (lambda: dsp.lowpass(31, 1.5), "cutoff"),
    (lambda: dsp.lowpass(0, 0.5), "numtaps"),
    (lambda: dsp.lowpass(10.0, 0.5), "numtaps"),
    (lambda: dsp.lowpass(31, 0.5, rate=0), "rate"),
    (lambda: dsp.highpass(31, 0, rate=RATE), "cutoff"),
    (lambda: dsp.highpass(31, 500e3, rate=RATE), "cutoff"),
    (lambda: dsp.highpass(32, 100e3, rate=RATE), "numtaps"),
    (lambda: dsp.bandpass(31, 0, 100e3, rate=RATE), "low"),
    (lambda: dsp.bandpass(31, 200e3, 100e3, rate=RATE), "low"),
    (lambda: dsp.bandpass(31, 100e3, 500e3, rate=RATE), "high"),
    (lambda: dsp.bandpass(31, 0.2, 1.2), "high"),
])
def test_bad_design_parameters(make, name):
    with pytest.raises(ValueError, match=name):
        make()
