"""The numpy windows and FIR designs (`dsp.kernels.windowing`) against scipy.signal's own
(get_window, firwin, kaiserord): the same values to float64 rounding, the same refusals.

Inside `numpy_only()` the fallback to scipy.signal raises, so a comparison made there shows
the value was computed by the numpy path, not handed to scipy.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from daqflow import dsp
from daqflow.dsp.kernels import spectral, windowing

# A window that is all zeros (hann of 2 taps) or overflows (kaiser, beta 1e3) gives NaN taps and
# warns, in scipy as here.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

few = settings(max_examples=50, deadline=None, database=None)
TIGHT = {"rtol": 1e-12, "atol": 0}

COSINE_NAMES = ["hann", "han", "hamming", "hamm", "ham", "blackman", "black", "blk"]
BOXCAR_NAMES = ["boxcar", "box", "ones", "rect", "rectangular"]
betas = st.floats(0, 40) | st.integers(0, 40) | st.floats(-40, 0)
windows = (st.sampled_from(COSINE_NAMES + BOXCAR_NAMES)
           | st.tuples(st.sampled_from(["kaiser", "ksr"]), betas)
           | st.floats(0, 40))
lengths = st.integers(1, 6) | st.integers(7, 3000)
edges = st.floats(1e-9, 1 - 1e-9) | st.sampled_from([1e-12, 1e-6, 0.5, 1 - 1e-6, 1 - 1e-12])


@contextlib.contextmanager
def numpy_only():
    """Fail if windowing hands anything to scipy.signal."""
    def refuse():
        raise AssertionError("windowing fell back to scipy.signal")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(windowing, "scipy_signal", refuse)
        yield


def outcome(make):
    """The result of ``make()``, or the ValueError it raised."""
    try:
        return make()
    except ValueError as exc:
        return exc


def assert_same(ours, theirs):
    """Equal arrays (to rounding), or ValueErrors with the same text."""
    if isinstance(theirs, ValueError):
        assert isinstance(ours, ValueError) and str(ours) == str(theirs)
    else:
        assert not isinstance(ours, Exception), ours
        np.testing.assert_allclose(ours, theirs, **TIGHT)
        assert np.asarray(ours).dtype == np.float64


@few
@given(window=windows, nx=lengths, fftbins=st.booleans())
def test_windows_equal_scipys(window, nx, fftbins):
    with numpy_only():
        ours = windowing.get_window(window, nx, fftbins=fftbins)
    np.testing.assert_allclose(ours, signal.get_window(window, nx, fftbins=fftbins), **TIGHT)
    assert ours.shape == (nx,)


@pytest.mark.parametrize("nx", [1, 2, 3, 1024, 1025])
@pytest.mark.parametrize("window", ["hann", "hamming", "blackman", ("kaiser", 8.6), "boxcar", "rectangular"])
def test_make_window_is_periodic_as_scipys(window, nx):
    with numpy_only():
        ours = spectral.make_window(window, nx)
    np.testing.assert_allclose(ours, signal.get_window(window, nx), **TIGHT)


@pytest.mark.parametrize("window, nx", [
    ("nonsense", 16), (("kaiser",), 16), ("kaiser", 16), (("hann", 3), 16), ("hann", 0), ("hann", 4.0),
    ("hann_symmetric", 16), (("tukey", 0.3), 16), ("flattop", 7), (("kaiser", 1e3), 16),
])
def test_other_windows_and_refusals_are_scipys(window, nx):
    theirs = outcome(lambda: signal.get_window(window, nx))
    assert_same(outcome(lambda: windowing.get_window(window, nx)), theirs)
    ours = outcome(lambda: spectral.make_window(window, nx))
    if isinstance(theirs, ValueError):  # make_window names the parameter
        assert str(ours) == f"window: {theirs}"
    else:
        np.testing.assert_allclose(ours, theirs, **TIGHT)


@few
@given(numtaps=st.integers(1, 8) | st.integers(9, 400), cutoff=st.lists(edges, min_size=1, max_size=4),
       window=windows, pass_zero=st.booleans())
def test_firwin_equals_scipys(numtaps, cutoff, window, pass_zero):
    cutoff = sorted(cutoff) if len(cutoff) > 1 else cutoff[0]
    theirs = outcome(lambda: signal.firwin(numtaps, cutoff, window=window, pass_zero=pass_zero))
    if isinstance(theirs, ValueError):  # even numtaps passing Nyquist, repeated edges: scipy says so
        ours = outcome(lambda: windowing.firwin(numtaps, cutoff, window=window, pass_zero=pass_zero))
    else:
        with numpy_only():
            ours = windowing.firwin(numtaps, cutoff, window=window, pass_zero=pass_zero)
    assert_same(ours, theirs)


@pytest.mark.parametrize("numtaps, cutoff, pass_zero", [
    (1, 0.5, True), (2, 0.5, True), (4, 0.3, False), (4, [0.2, 0.4], False), (5, [0.2, 0.4], True),
    (31, 0.0, True), (31, 1.0, True), (31, [0.4, 0.2], False), (31, [0.3, 0.3], False), (31, [], True),
    (0, 0.5, True), (31.0, 0.5, True), (31, 0.5, "bandpass"), (31, [0.2, 0.4], "bandpass"),
])
def test_firwin_edges_and_refusals_are_scipys(numtaps, cutoff, pass_zero):
    assert_same(outcome(lambda: windowing.firwin(numtaps, cutoff, pass_zero=pass_zero)),
                outcome(lambda: signal.firwin(numtaps, cutoff, pass_zero=pass_zero)))


@few
@given(ripple=st.floats(8, 300) | st.floats(-300, -8) | st.sampled_from([8, 21, 21.5, 50, 50.5, 60]),
       width=st.floats(1e-5, 1.0))
def test_kaiserord_equals_scipys(ripple, width):
    with numpy_only():
        ours = windowing.kaiserord(ripple, width)
    assert ours == signal.kaiserord(ripple, width)
    assert type(ours[0]) is int


def test_kaiserord_refusal_is_scipys():
    assert_same(outcome(lambda: windowing.kaiserord(7.9, 0.1)), outcome(lambda: signal.kaiserord(7.9, 0.1)))
    with pytest.raises(ValueError, match="too small for the Kaiser formula"):
        dsp.lowpass(0.2, transition=0.05, atten_db=5)


# The designs in dsp.design, as they were computed on scipy.signal before.

@few
@given(numtaps=st.integers(1, 300), cutoff=edges, rate=st.sampled_from([None, 1e6, 48e3]),
       window=st.sampled_from(["hamming", "hann", "blackman", ("kaiser", 6.0), "boxcar"]))
def test_lowpass_equals_firwin(numtaps, cutoff, rate, window):
    nyq = 1.0 if rate is None else rate / 2
    with numpy_only():
        taps = dsp.lowpass(numtaps, cutoff * nyq, rate=rate, window=window)
    np.testing.assert_allclose(taps, signal.firwin(numtaps, cutoff * nyq / nyq, window=window), **TIGHT)
    assert taps.rate == rate


@few
@given(numtaps=st.integers(0, 200).map(lambda k: 2 * k + 1), cutoff=edges,
       rate=st.sampled_from([None, 1e6]))
def test_highpass_equals_firwin(numtaps, cutoff, rate):
    nyq = 1.0 if rate is None else rate / 2
    with numpy_only():
        taps = dsp.highpass(numtaps, cutoff * nyq, rate=rate)
    np.testing.assert_allclose(taps, signal.firwin(numtaps, cutoff * nyq / nyq, pass_zero=False), **TIGHT)


@few
@given(numtaps=st.integers(1, 300), band=st.lists(edges, min_size=2, max_size=2, unique=True),
       rate=st.sampled_from([None, 1e6]))
def test_bandpass_equals_firwin(numtaps, band, rate):
    nyq = 1.0 if rate is None else rate / 2
    low, high = sorted(band)
    with numpy_only():
        taps = dsp.bandpass(numtaps, low * nyq, high * nyq, rate=rate)
    reference = signal.firwin(numtaps, [low * nyq / nyq, high * nyq / nyq], pass_zero=False)
    np.testing.assert_allclose(taps, reference, **TIGHT)


@few
@given(cutoff=st.floats(0.02, 0.9), share=st.floats(0.01, 1.0), atten=st.floats(8, 120),
       rate=st.sampled_from([None, 240e3]))
def test_lowpass_by_transition_equals_kaiserord_and_firwin(cutoff, share, atten, rate):
    nyq = 1.0 if rate is None else rate / 2
    transition = share * 2 * cutoff * nyq * 0.999
    with numpy_only():
        taps = dsp.lowpass(cutoff * nyq, rate=rate, transition=transition, atten_db=atten)
    numtaps, beta = signal.kaiserord(atten, transition / nyq)
    reference = signal.firwin(numtaps | 1, cutoff * nyq / nyq, window=("kaiser", beta))
    np.testing.assert_allclose(taps, reference, **TIGHT)


def test_design_refusals_unchanged():
    with pytest.raises(ValueError, match="Invalid window name 'nonsense'"):
        dsp.lowpass(31, 0.2, window="nonsense")
    with pytest.raises(ValueError, match="numtaps must be odd for a high-pass filter, got 30"):
        dsp.highpass(30, 0.2)
    with pytest.raises(ValueError, match=r"'kaiser' must have parameters"):
        dsp.bandpass(31, 0.2, 0.4, window="kaiser")
