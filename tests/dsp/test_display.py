"""dsp.display: the reductions plot, gui and the web views share (dB, Welch, decimation)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import signal

from daqflow.dsp.display import envelope, peak_hold, to_db, welch


def test_to_db_clips_at_the_floor():
    np.testing.assert_allclose(to_db([1e3, 1.0, 1e-3, 0.0]), [30.0, 0.0, -30.0, -300.0])
    out = to_db(np.array([0.0, 10.0], np.float32), floor=1e-2, dtype=np.float32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [-20.0, 10.0], rtol=1e-6, atol=1e-5)  # float32


@pytest.mark.parametrize("n, nperseg, dtype", [
    (10_000, 1024, np.float64), (10_000, 1023, np.float64), (10_000, 256, np.complex128),
    (9_999, 255, np.complex64), (300, 4096, np.float32), (1, 4096, np.float64),
])
def test_welch_is_scipys(n, nperseg, dtype):
    rng = np.random.default_rng(1)
    x = rng.normal(size=n) + (1j * rng.normal(size=n) if np.dtype(dtype).kind == "c" else 0)
    x = x.astype(dtype)
    wide = x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
    complex_input = x.dtype.kind == "c"
    f_ref, p_ref = signal.welch(wide, 2e6, nperseg=min(nperseg, n), return_onesided=not complex_input,
                                scaling="spectrum", detrend=False)
    if complex_input:
        f_ref, p_ref = np.fft.fftshift(f_ref), np.fft.fftshift(p_ref)
    freqs, power = welch(x, 2e6, nperseg)
    np.testing.assert_allclose(freqs, f_ref)
    np.testing.assert_allclose(power, p_ref, rtol=1e-9, atol=1e-300)
    assert np.all(np.diff(freqs) > 0)


def test_welch_finds_a_tone_at_its_power():
    rate = 1e6
    t = np.arange(65536) / rate
    freqs, power = welch(0.5 * np.exp(2j * np.pi * 125e3 * t), rate, 1024)
    assert freqs[np.argmax(power)] == pytest.approx(125e3, abs=rate / 1024)
    assert power.max() == pytest.approx(0.25, rel=1e-6)  # a complex tone of amplitude A: A^2


def test_welch_refuses_what_is_not_samples():
    for bad in (np.zeros(0), np.zeros((4, 4))):
        with pytest.raises(ValueError, match="1-D samples"):
            welch(bad, 1.0)


def groups_of(y, per):
    return [y[k:k + per] for k in range(0, len(y), per)]


@given(st.integers(1, 3000), st.integers(1, 100), st.integers(0, 2**32 - 1))
def test_envelope_keeps_every_group_min_and_max(n, columns, seed):
    y = np.random.default_rng(seed).normal(size=n)
    x = np.arange(n, dtype=np.float64)
    xs, ys = envelope(x, y, columns)
    if n <= 4 * columns:
        assert ys is y and xs is x
        return
    per = -(-n // columns)
    expected = np.ravel([(g.min(), g.max()) for g in groups_of(y, per)])
    np.testing.assert_array_equal(ys, expected)
    assert len(ys) <= 2 * columns and ys.max() == y.max() and ys.min() == y.min()
    assert np.all(np.diff(xs) >= 0) and xs[0] == 0 and xs[-1] == n - 1


@given(st.integers(1, 3000), st.integers(1, 100), st.integers(0, 2**32 - 1))
def test_peak_hold_keeps_every_group_maximum(n, columns, seed):
    y = np.random.default_rng(seed).normal(size=n)
    x = np.linspace(-5.0, 5.0, n)
    xs, ys = peak_hold(x, y, columns)
    if n <= 4 * columns:
        assert ys is y and xs is x
        return
    per = -(-n // (2 * columns))
    np.testing.assert_array_equal(ys, [g.max() for g in groups_of(y, per)])
    assert len(ys) <= 2 * columns and ys.max() == y.max()
    assert np.all(np.diff(xs) > 0) and x[0] <= xs[0] and xs[-1] <= x[-1]
