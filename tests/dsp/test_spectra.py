"""Spectral blocks: fft, spectrum (Welch), waterfall on a frame grid fixed to the stream start;
magnitude2, to_db, calibrate."""

import numpy as np
import pytest
from dsp_helpers import (
    DTYPES,
    RATE,
    check_gap,
    check_stream,
    fast,
    flatten,
    frames_on_grid,
    gap_plans,
    make_signal,
    plans,
    run,
    split,
    tolerance,
    wide,
)
from hypothesis import given
from hypothesis import strategies as st
from scipy import signal

import daqflow as df
from daqflow import Chunk, dsp
from daqflow.testing import chunks, run_block

OVERLAPS = st.sampled_from([0.0, 0.25, 0.5, 0.75, 0.9])
WINDOWS = st.sampled_from(["hann", "blackman", "boxcar", "array"])


def complex_of(dtype) -> np.dtype:
    return np.dtype(np.complex128 if np.dtype(dtype) in (np.float64, np.complex128) else np.complex64)


def real_of(dtype) -> np.dtype:
    return np.dtype(np.float64 if np.dtype(dtype) in (np.float64, np.complex128) else np.float32)


def window_values(window, nfft: int):
    """The window argument for the block and for scipy ("array": explicit random values)."""
    if window == "array":
        return np.random.default_rng(nfft).uniform(0.2, 1.0, nfft)
    return window


def step_of(nfft: int, overlap: float) -> int:
    return max(1, round(nfft * (1 - overlap)))


def fft_ref(nfft: int, window, shift: bool):
    w = np.ones(nfft) if window is None else signal.get_window(window, nfft)

    def ref(x, index):
        k0, frames = frames_on_grid(wide(x), index, nfft, nfft)
        spectra = np.fft.fft(frames * w, axis=-1)
        return k0, np.fft.fftshift(spectra, axes=-1) if shift else spectra
    return ref


def welch_ref(nfft: int, average: int, step: int, window, onesided: bool, rate: float = RATE):
    """Row g = scipy.signal.welch over input samples [g*average*step, ... + (average-1)*step + nfft)."""
    bins = nfft // 2 + 1 if onesided else nfft

    def ref(x, index):
        g0, segments = frames_on_grid(x, index, (average - 1) * step + nfft, average * step)
        rows = []
        for segment in segments:
            _, p = signal.welch(wide(segment), rate, window, nperseg=nfft, noverlap=nfft - step,
                                detrend=False, scaling="spectrum", return_onesided=onesided)
            rows.append(p if onesided else np.fft.fftshift(p))
        return g0, np.array(rows).reshape(len(rows), bins)
    return ref


def waterfall_ref(nfft: int, rows: int, step: int, window, onesided: bool):
    spectra = welch_ref(nfft, 1, step, window, onesided)

    def ref(x, index):
        k0, p = spectra(x, index)
        g0 = -(-k0 // rows)
        offset = g0 * rows - k0
        count = max(0, (len(p) - offset) // rows)
        return g0, p[offset:offset + count * rows].reshape(count, rows, p.shape[1])
    return ref


# -- fft ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@fast
@given(plan=plans(max_n=1200), nfft=st.sampled_from([1, 2, 7, 16, 64, 100]),
       window=st.sampled_from([None, "hann"]), shift=st.booleans())
def test_fft_of_consecutive_frames(dtype, plan, nfft, window, shift):
    """Frame k = input samples [k*nfft, (k+1)*nfft) on the absolute grid, np.fft.fft of it."""
    x = plan.signal(dtype)
    out = check_stream(lambda s: dsp.fft(s, nfft, window=window, shift=shift), fft_ref(nfft, window, shift),
                       x, plan, out_dtype=complex_of(dtype), rtol=tolerance(dtype), per_output=nfft)
    freqs = np.fft.fftfreq(nfft, 1 / RATE)
    for c in out:
        np.testing.assert_allclose(c.meta["freqs"], np.fft.fftshift(freqs) if shift else freqs)


@pytest.mark.parametrize("dtype", [np.complex64, np.float32])
@fast
@given(plan=gap_plans(min_before=64, min_after=64), nfft=st.sampled_from([1, 7, 16]))
def test_fft_gap_drops_the_straddling_frame(dtype, plan, nfft):
    check_gap(lambda s: dsp.fft(s, nfft), fft_ref(nfft, None, False), plan.signal(dtype), plan,
              rtol=tolerance(dtype), per_output=nfft)


# -- spectrum -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@fast
@given(plan=plans(max_n=1500), nfft=st.sampled_from([2, 7, 8, 16, 33, 64]), average=st.integers(1, 4),
       overlap=OVERLAPS, window=WINDOWS)
def test_spectrum_rows_are_welch(dtype, plan, nfft, average, overlap, window):
    """Each row is scipy.signal.welch(scaling="spectrum") of `average` frames every `step`
    samples, frames on the absolute grid k*step; complex input two-sided and fftshifted."""
    x = plan.signal(dtype)
    step, window = step_of(nfft, overlap), window_values(window, nfft)
    onesided = x.dtype.kind != "c"
    out = check_stream(lambda s: dsp.spectrum(s, nfft, average=average, overlap=overlap, window=window),
                       welch_ref(nfft, average, step, window, onesided), x, plan,
                       out_dtype=real_of(dtype), rtol=tolerance(dtype), per_output=step * average)
    freqs = np.fft.rfftfreq(nfft, 1 / RATE) if onesided else np.fft.fftshift(np.fft.fftfreq(nfft, 1 / RATE))
    for c in out:
        np.testing.assert_allclose(c.meta["freqs"], freqs)
        assert c.meta["average"] == average and c.meta["nfft"] == nfft


@pytest.mark.parametrize("dtype", [np.complex64, np.float32])
@fast
@given(plan=gap_plans(min_before=200, min_after=200), nfft=st.sampled_from([4, 16]),
       average=st.integers(1, 3), overlap=OVERLAPS)
def test_spectrum_gap_drops_rows_across_it(dtype, plan, nfft, average, overlap):
    step = step_of(nfft, overlap)
    check_gap(lambda s: dsp.spectrum(s, nfft, average=average, overlap=overlap),
              welch_ref(nfft, average, step, "hann", dtype == np.float32), plan.signal(dtype), plan,
              rtol=tolerance(dtype), per_output=step * average)


def test_spectrum_gap_example():
    """nfft 16, step 8, 2 frames a row (16 samples); chunks of 64, samples 192..256 lost:
    rows 0..10 end before the gap, row 11 would cross it, rows 12..15 fall in it; row 16
    (frames from sample 256) is the first after it: overflow = 5 rows."""
    x = make_signal(5, 640, np.complex64)
    items = chunks(x, RATE, 64)
    items = [*items[:3], items[4].with_meta(overflow=64), *items[5:]]
    out = run(lambda s: dsp.spectrum(s, 16, average=2, overlap=0.5), items)
    idx, rows = flatten(out)
    assert list(idx) == [*range(0, 11), *range(16, 39)]  # row g: samples [16g, 16g + 24)
    first_after = next(c for c in out if c.index >= 16)
    assert first_after.index == 16 and first_after.meta["overflow"] == 5
    assert first_after.time == pytest.approx(256 / RATE)
    _, p = signal.welch(wide(x[256:280]), RATE, "hann", nperseg=16, noverlap=8, detrend=False,
                        scaling="spectrum", return_onesided=False)
    np.testing.assert_allclose(rows[11], np.fft.fftshift(p), rtol=1e-4)


def test_spectrum_of_a_tone():
    """A complex tone of amplitude A on a bin peaks at A^2 at its frequency (+ center_freq)."""
    rate, nfft = 1.024e6, 1024
    n = np.arange(8 * nfft)
    x = (0.5 * np.exp(2j * np.pi * 100e3 * n / rate)).astype(np.complex64)
    out = run(lambda s: dsp.spectrum(s, nfft, average=4, overlap=0.5),
              chunks(x, rate, 1000, meta={"center_freq": 1e9}))
    row = out[0].data[0]
    freqs = out[0].meta["freqs"]
    assert freqs[np.argmax(row)] == pytest.approx(1e9 + 100e3)
    assert row.max() == pytest.approx(0.25, rel=1e-4)


# -- waterfall ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.complex64, np.float32, np.complex128])
@fast
@given(plan=plans(max_n=1200), nfft=st.sampled_from([4, 16]), rows=st.integers(1, 4),
       overlap=st.sampled_from([0.0, 0.5]))
def test_waterfall_stacks_spectra(dtype, plan, nfft, rows, overlap):
    step = step_of(nfft, overlap)
    out = check_stream(lambda s: dsp.waterfall(s, nfft, rows, overlap=overlap),
                       waterfall_ref(nfft, rows, step, "hann", np.dtype(dtype).kind != "c"),
                       plan.signal(dtype), plan, out_dtype=real_of(dtype), rtol=tolerance(dtype),
                       per_output=step * rows)
    assert all(c.data.ndim == 3 and c.data.shape[1] == rows for c in out)


@fast
@given(plan=gap_plans(min_before=100, min_after=100), rows=st.integers(1, 3))
def test_waterfall_gap(plan, rows):
    check_gap(lambda s: dsp.waterfall(s, 8, rows), waterfall_ref(8, rows, 8, "hann", False),
              plan.signal(np.complex64), plan, rtol=1e-4, per_output=8 * rows)


# -- parameters -----------------------------------------------------------------------------------
def stream():
    return df.from_iterable([])


@pytest.mark.parametrize("make, name", [
    (lambda: dsp.fft(stream(), 0), "nfft"),
    (lambda: dsp.fft(stream(), -8), "nfft"),
    (lambda: dsp.fft(stream(), 8.0), "nfft"),
    (lambda: dsp.fft(stream(), 8, window="no-such-window"), "window"),
    (lambda: dsp.fft(stream(), 8, window=np.ones(7)), "window"),
    (lambda: dsp.spectrum(stream(), 0), "nfft"),
    (lambda: dsp.spectrum(stream(), -1), "nfft"),
    (lambda: dsp.spectrum(stream(), 64, overlap=1.0), "overlap"),
    (lambda: dsp.spectrum(stream(), 64, overlap=-0.1), "overlap"),
    (lambda: dsp.spectrum(stream(), 64, average=0), "average"),
    (lambda: dsp.spectrum(stream(), 64, average=2.5), "average"),
    (lambda: dsp.spectrum(stream(), 64, window="no-such-window"), "window"),
    (lambda: dsp.spectrum(stream(), 64, window=np.ones(32)), "window"),
    (lambda: dsp.waterfall(stream(), 0, 4), "nfft"),
    (lambda: dsp.waterfall(stream(), 64, 0), "rows"),
    (lambda: dsp.waterfall(stream(), 64, 4, overlap=1.5), "overlap"),
    (lambda: dsp.waterfall(stream(), 64, 4, window="nope"), "window"),
    (lambda: dsp.to_db(stream(), floor=0), "floor"),
    (lambda: dsp.calibrate(stream(), gain=np.nan), "gain"),
    (lambda: dsp.calibrate(stream(), curve=([1, 2], [1])), "curve"),
    (lambda: dsp.calibrate(stream(), curve=([2, 1], [1, 1])), "curve"),
])
def test_bad_parameters_raise_naming_them(make, name):
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize("factory", [lambda s: dsp.fft(s, 16), lambda s: dsp.spectrum(s, 16),
                                     lambda s: dsp.waterfall(s, 16, 2)], ids=["fft", "spectrum", "waterfall"])
def test_rate_change_mid_stream_raises(factory):
    items = chunks(np.zeros(300, np.complex64), RATE, 100)
    items[2] = items[2].replace(rate=2 * RATE)
    with pytest.raises(df.BlockError) as info:
        run_block(factory, items)
    assert isinstance(info.value.cause, ValueError) and "rate" in str(info.value.cause)


# -- magnitude2, to_db, calibrate -----------------------------------------------------------------
@pytest.mark.parametrize("dtype, real", [(np.complex64, np.float32), (np.complex128, np.float64),
                                         (np.float32, np.float32), (np.float64, np.float64),
                                         (np.int16, np.float32)])
def test_magnitude2(dtype, real):
    x = make_signal(6, 200, dtype)
    items = split(x, [1, 100], index=7, meta={"center_freq": 5.0})
    out = run(dsp.magnitude2, items)
    assert [(c.index, c.time, c.rate, dict(c.meta)) for c in out] == [
        (c.index, c.time, c.rate, dict(c.meta)) for c in items]
    assert {c.data.dtype for c in out} == {np.dtype(real)}
    np.testing.assert_allclose(flatten(out)[1], np.abs(wide(x)) ** 2, rtol=1e-6)


@pytest.mark.parametrize("dtype, out_dtype", [(np.float32, np.float32), (np.float64, np.float64),
                                              (np.int16, np.float32)])
def test_to_db(dtype, out_dtype):
    x = np.array([0, 1, 10, 100, 1000], dtype)
    out = run(lambda s: dsp.to_db(s, floor=1e-3), [Chunk(x, 10.0, 3, 0.3, {"freqs": np.arange(5)})])
    assert out[0].data.dtype == out_dtype
    np.testing.assert_allclose(out[0].data, [-30, 0, 10, 20, 30], atol=1e-5)
    assert out[0].meta["units"] == "dB" and list(out[0].meta["freqs"]) == list(range(5))
    assert (out[0].index, out[0].time, out[0].rate) == (3, 0.3, 10.0)


def test_to_db_default_floor_gives_finite_values():
    out = run(dsp.to_db, [Chunk(np.zeros(3, np.float32), 1.0)])
    assert np.all(np.isfinite(out[0].data)) and out[0].data[0] == pytest.approx(-200)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.float64])
def test_calibrate_gain_and_offset(dtype):
    x = make_signal(7, 100, dtype)
    out = run(lambda s: dsp.calibrate(s, gain=2.5, offset=-1.0), split(x, [30], index=4))
    assert {c.data.dtype for c in out} == {np.dtype(dtype)}
    np.testing.assert_allclose(flatten(out)[1], wide(x) * 2.5 - 1.0, rtol=1e-5, atol=1e-5)
    assert [c.index for c in out] == [4, 34]


def test_calibrate_curve_over_spectrum_freqs():
    """The curve is interpolated at every bin's frequency (meta["freqs"], held constant
    outside the curve's range as np.interp)."""
    x = make_signal(8, 4096, np.complex64)
    curve = ([-300e3, 0.0, 200e3], [0.5, 1.0, 4.0])
    spectra = run(lambda s: dsp.spectrum(s, 64, average=4), chunks(x, RATE, 1000))
    out = run(lambda s: dsp.calibrate(dsp.spectrum(s, 64, average=4), gain=2.0, offset=0.1,
                                      curve=curve), chunks(x, RATE, 1000))
    freqs = spectra[0].meta["freqs"]
    factor = 2.0 * np.interp(freqs, *curve)
    assert factor[0] == 1.0 and factor[-1] == 8.0  # -500 kHz clipped to 0.5, 484 kHz to 4
    for got, spectrum in zip(out, spectra, strict=True):
        assert got.data.dtype == np.float32 and got.index == spectrum.index
        np.testing.assert_allclose(got.data, spectrum.data * factor + 0.1, rtol=1e-5)


def test_calibrate_curve_needs_freqs():
    with pytest.raises(df.BlockError) as info:
        run_block(lambda s: dsp.calibrate(s, curve=([0, 1], [1, 2])), chunks(np.ones(8), RATE, 4))
    assert isinstance(info.value.cause, ValueError) and "freqs" in str(info.value.cause)
