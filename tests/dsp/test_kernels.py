"""The kernels alone (explicit state, no graph): both FIR methods whatever the filter length,
resets, and the small state machines."""

from itertools import pairwise

import numpy as np
import pytest
from dsp_helpers import RATE, fast, make_signal, plans, tolerance, upfirdn_ref, wide
from hypothesis import given
from hypothesis import strategies as st
from scipy import signal

from daqflow import dsp
from daqflow.dsp.kernels.fir import output_range


def pieces(x, cuts):
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(x)}), len(x)]
    return [(a, x[a:b]) for a, b in pairwise(bounds)]


@pytest.mark.parametrize("method", ["block", "fft"])
@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.complex128])
@fast
@given(plan=plans(max_n=700), ntaps=st.sampled_from([1, 3, 31, 64, 100, 300]), factor=st.integers(1, 6))
def test_fir_state_either_method_any_length(method, dtype, plan, ntaps, factor):
    """FirState.process per chunk = upfirdn on the whole, whichever method is forced."""
    taps = np.random.default_rng(plan.seed).standard_normal(ntaps) / np.sqrt(ntaps)
    state = dsp.FirState(taps, factor, method=method)
    x = plan.signal(dtype)
    outputs = []
    for start, piece in pieces(x, plan.cuts):
        y = state.process(piece, plan.index + start)
        assert y.dtype == np.dtype(dtype)
        assert len(y) == output_range(plan.index + start, len(piece), factor)[2]
        outputs.append(y)
    got = np.concatenate(outputs) if outputs else np.empty(0)
    _, expected = upfirdn_ref(taps, factor)(x, plan.index)
    assert len(got) == len(expected)
    if len(got):
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance(dtype) * np.abs(expected).max())


def test_fir_state_reset_and_bad_method():
    taps = signal.firwin(40, 0.2)
    x = make_signal(1, 200, np.float32)
    state = dsp.FirState(taps)
    state.process(x, 0)
    state.reset()
    np.testing.assert_allclose(state.process(x, 200), signal.lfilter(taps, 1, wide(x)), atol=1e-5)
    with pytest.raises(ValueError, match="method"):
        dsp.FirState(taps, method="direct")
    with pytest.raises(ValueError, match="factor"):
        dsp.FirState(taps, factor=0)


def test_output_range():
    assert output_range(0, 10, 4) == (0, 0, 3)  # inputs 0, 4, 8
    assert output_range(5, 10, 4) == (2, 3, 2)  # inputs 8, 12
    assert output_range(5, 2, 4) == (2, 3, 0)


def test_nco_state_phase_from_the_index():
    nco = dsp.NcoState(123e3)
    x = np.ones(50, np.complex64)
    for index in (0, 7, 10**9 + 3):
        n = index + np.arange(50)
        y = nco.process(x, index, RATE)
        assert y.dtype == np.complex64
        np.testing.assert_allclose(y, np.exp(2j * np.pi * ((123e3 / RATE * n) % 1)), atol=1e-5)
    assert nco.process(np.ones(3), 0, RATE).dtype == np.complex128


def test_iir_state_reset():
    sos = signal.butter(2, 0.3, output="sos")
    state = dsp.IirState(sos)
    x = make_signal(2, 100, np.float64)
    state.process(x)
    state.reset()
    np.testing.assert_allclose(state.process(x), signal.sosfilt(sos, x))
    assert state.process(np.array([1, 2], np.int16)).dtype == np.float32


def test_moving_average_state_reset():
    state = dsp.MovingAverageState(3)
    assert list(state.process(np.array([3.0, 3.0]))) == [1.0, 2.0]
    assert list(state.process(np.array([3.0]))) == [3.0]
    state.reset()
    assert list(state.process(np.array([3.0]))) == [1.0]


def test_frame_averager():
    avg = dsp.FrameAverager(3)
    assert avg.push(np.ones(4, np.float32)) is None and avg.count == 1
    assert avg.push(np.zeros(4, np.float32)) is None and avg.count == 2
    out = avg.push(np.full(4, 2.0, np.float32))
    assert out.dtype == np.float32 and np.allclose(out, 1.0) and avg.count == 0
    avg.push(np.ones(4))
    with pytest.raises(ValueError, match="shape"):
        avg.push(np.ones(5))


def test_trigger_state_gap_resets():
    state = dsp.TriggerState(0.5, pre=1, post=2)
    x = np.array([0, 1, 1, 0, 1, 1, 0], np.float32)
    assert [hit for hit, _ in state.process(x[:3], 0)] == [1]
    assert state.process(x[3:5], 3) == []  # the frame of 4 needs sample 5
    assert state.process(x[5:], 10) == []  # gap: the pending frame is dropped
    hits = state.process(np.array([0, 1, 1, 1], np.float32), 7)
    assert [(hit, list(frame)) for hit, frame in hits] == [(8, [0, 1, 1])]


def test_spectrum_state_scaling():
    """Power per bin: a complex tone of amplitude A on a bin shows A^2; real cos shows A^2/2."""
    n = np.arange(256)
    state = dsp.SpectrumState(256, average=1, window="hann")
    complex_row, _ = state.process((0.5 * np.exp(2j * np.pi * 32 * n / 256)).astype(np.complex64), 0)
    assert complex_row.max() == pytest.approx(0.25, rel=1e-5)
    assert np.argmax(complex_row[0]) == 128 + 32  # fftshifted
    state = dsp.SpectrumState(256, average=1, window="hann")
    real_row, _ = state.process(np.cos(2 * np.pi * 32 * n / 256), 0)
    assert real_row.max() == pytest.approx(0.5, rel=1e-9) and np.argmax(real_row[0]) == 32
