"""Filter blocks (fir, fir_decimate, decimate, resample, iir): exact across any chunking, on the
absolute sample grid, dtype kept, state reset by a gap, parameters checked."""

import numpy as np
import pytest
from dsp_helpers import (
    DTYPES,
    RATE,
    check_gap,
    check_stream,
    fast,
    flatten,
    gap_plans,
    make_signal,
    plans,
    run,
    split,
    tolerance,
    upfirdn_ref,
    wide,
)
from hypothesis import given
from hypothesis import strategies as st
from scipy import signal

import daqflow as df
from daqflow import dsp
from daqflow.dsp.kernels.fir import BLOCK_TAPS_PER_FACTOR
from daqflow.testing import chunks, run_block

# filter lengths on both sides of the block-product / overlap-save switch (64 taps per factor)
TAP_COUNTS = st.sampled_from([1, 2, 7, 33, 64, 65, 129, 200])
RESAMPLINGS = [(1, 2), (2, 1), (3, 2), (2, 3), (4, 6), (5, 1), (1, 5), (3, 4), (7, 3)]
SOS = signal.butter(4, 0.1, output="sos")


def random_taps(seed: int, count: int, complex_taps: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed + 12345)
    taps = rng.standard_normal(count) / np.sqrt(count)
    if complex_taps:
        taps = taps + 1j * rng.standard_normal(count) / np.sqrt(count)
    return taps


def sosfilt_ref(sos):
    def ref(x, index):
        return index, signal.sosfilt(sos, wide(x)) if len(x) else wide(x)
    return ref


# -- exact over random chunkings ---------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@fast
@given(plan=plans(), ntaps=TAP_COUNTS)
def test_fir_matches_lfilter_over_any_chunking(dtype, plan, ntaps):
    taps = random_taps(plan.seed, ntaps)
    check_stream(lambda s: dsp.fir(s, taps), upfirdn_ref(taps, 1), plan.signal(dtype), plan,
                 out_dtype=dtype, rtol=tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@fast
@given(plan=plans(max_n=900), ntaps=TAP_COUNTS, factor=st.integers(1, 9))
def test_fir_decimate_matches_upfirdn_over_any_chunking(dtype, plan, ntaps, factor):
    taps = random_taps(plan.seed, ntaps)
    check_stream(lambda s: dsp.fir_decimate(s, taps, factor), upfirdn_ref(taps, factor),
                 plan.signal(dtype), plan, out_dtype=dtype, rtol=tolerance(dtype), per_output=factor)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.complex128])
@fast
@given(plan=plans(max_n=900), ntaps=st.sampled_from([3, 40, 200]), factor=st.integers(1, 4))
def test_complex_taps(dtype, plan, ntaps, factor):
    """Complex taps promote real input to complex (float32 -> complex64), exact as well."""
    taps = random_taps(plan.seed, ntaps, complex_taps=True)
    out_dtype = np.result_type(dtype, np.complex64)
    check_stream(lambda s: dsp.fir_decimate(s, taps, factor), upfirdn_ref(taps, factor),
                 plan.signal(dtype), plan, out_dtype=out_dtype, rtol=tolerance(dtype), per_output=factor)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.float64])
@fast
@given(plan=plans(max_n=900), factor=st.integers(1, 6))
def test_decimate_is_scipy_fir_design(dtype, plan, factor):
    taps = signal.firwin(20 * factor + 1, 1.0 / factor, window="hamming") if factor > 1 else [1.0]
    x = plan.signal(dtype)
    check_stream(lambda s: dsp.decimate(s, factor), upfirdn_ref(taps, factor), x,
                 plan, out_dtype=dtype, rtol=tolerance(dtype), per_output=factor,
                 scale=filter_scale(x, taps))


def filter_scale(x: np.ndarray, taps) -> float | None:
    """Error scale of a filter's output: |x| max times the taps' gain (an output, e.g. the
    first one of a window-designed filter, can be far smaller than its rounding error)."""
    return float(np.abs(x).max() * np.abs(np.asarray(taps)).sum()) if len(x) else None


@pytest.mark.parametrize("dtype", DTYPES)
@fast
@given(plan=plans(max_n=500), ratio=st.sampled_from(RESAMPLINGS))
def test_resample_matches_upfirdn_over_any_chunking(dtype, plan, ratio):
    up, down = ratio
    g = np.gcd(up, down)  # default taps: the ratio is reduced first
    taps = dsp.resample_taps(up // g, down // g)
    x = plan.signal(dtype)
    check_stream(lambda s: dsp.resample(s, up, down), upfirdn_ref(taps, down // g, up // g),
                 x, plan, out_dtype=dtype, rtol=tolerance(dtype), per_output=down / up,
                 scale=filter_scale(x, taps))


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@fast
@given(plan=plans(max_n=500), ratio=st.sampled_from(RESAMPLINGS), ntaps=st.sampled_from([4, 250, 700]))
def test_resample_with_given_taps(dtype, plan, ratio, ntaps):
    """Given taps, the ratio is used as is (no reduction): ``upfirdn(taps, x, up, down)``;
    long taps run the overlap-save path on the zero-stuffed signal."""
    up, down = ratio
    taps = random_taps(plan.seed, ntaps)
    check_stream(lambda s: dsp.resample(s, up, down, taps=taps), upfirdn_ref(taps, down, up),
                 plan.signal(dtype), plan, out_dtype=dtype, rtol=tolerance(dtype), per_output=down / up)


@pytest.mark.parametrize("dtype", DTYPES)
@fast
@given(plan=plans(max_n=900))
def test_iir_matches_sosfilt_over_any_chunking(dtype, plan):
    """The sos are float64; the output keeps the input's dtype (complex64 stays complex64)."""
    check_stream(lambda s: dsp.iir(s, SOS), sosfilt_ref(SOS), plan.signal(dtype), plan,
                 out_dtype=dtype, rtol=tolerance(dtype))


def test_integer_input_gives_float32():
    x = make_signal(3, 300, np.int16)
    taps = random_taps(0, 20)
    for factory, ref in [(lambda s: dsp.fir_decimate(s, taps, 3), upfirdn_ref(taps, 3)),
                         (lambda s: dsp.iir(s, SOS), sosfilt_ref(SOS))]:
        out = run(factory, split(x, [1, 50, 51, 170]))
        assert {c.data.dtype for c in out} == {np.dtype(np.float32)}
        _, values = flatten(out)
        np.testing.assert_allclose(values, ref(x, 0)[1], rtol=1e-4, atol=1e-4 * np.abs(x).max())


def test_methods_switch_at_16_taps_per_factor():
    """The chunking properties above cover both kernels: plain filters run overlap-save;
    decimating ones the polyphase product up to 16 taps per unit of decimation."""
    assert BLOCK_TAPS_PER_FACTOR == 16
    assert dsp.FirState(np.ones(8)).method == "fft"
    assert dsp.FirState(np.ones(64)).method == "fft"
    assert dsp.FirState(np.ones(64), factor=4).method == "block"
    assert dsp.FirState(np.ones(65), factor=4).method == "fft"


# -- gaps ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.complex128])
@fast
@given(plan=gap_plans(), ntaps=TAP_COUNTS)
def test_fir_gap_resets_state(dtype, plan, ntaps):
    taps = random_taps(plan.seed, ntaps)
    check_gap(lambda s: dsp.fir(s, taps), upfirdn_ref(taps, 1), plan.signal(dtype), plan,
              rtol=tolerance(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@fast
@given(plan=gap_plans(min_before=20, min_after=20), ntaps=TAP_COUNTS, factor=st.integers(1, 9))
def test_fir_decimate_gap_resets_state(dtype, plan, ntaps, factor):
    taps = random_taps(plan.seed, ntaps)
    check_gap(lambda s: dsp.fir_decimate(s, taps, factor), upfirdn_ref(taps, factor),
              plan.signal(dtype), plan, rtol=tolerance(dtype), per_output=factor)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@fast
@given(plan=gap_plans(min_before=10, min_after=10), ratio=st.sampled_from(RESAMPLINGS))
def test_resample_gap_resets_state(dtype, plan, ratio):
    up, down = ratio
    g = np.gcd(up, down)
    taps = dsp.resample_taps(up // g, down // g)
    check_gap(lambda s: dsp.resample(s, up, down), upfirdn_ref(taps, down // g, up // g),
              plan.signal(dtype), plan, rtol=tolerance(dtype), per_output=down / up)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@fast
@given(plan=gap_plans())
def test_iir_gap_resets_state(dtype, plan):
    check_gap(lambda s: dsp.iir(s, SOS), sosfilt_ref(SOS), plan.signal(dtype), plan,
              rtol=tolerance(dtype))


@pytest.mark.parametrize("ntaps", [31, 200])  # block product and overlap-save
def test_fir_gap_example(ntaps):
    """Chunks of 100, chunk 3 lost: output after it = lfilter on x[400:] alone, overflow=100."""
    x = make_signal(1, 1000, np.complex64)
    taps = random_taps(1, ntaps)
    items = chunks(x, RATE, 100)
    items = [*items[:3], items[4].with_meta(overflow=100), *items[5:]]
    out = run(lambda s: dsp.fir(s, taps), items)
    assert [(c.index, c.meta.get("overflow")) for c in out][2:5] == [(200, None), (400, 100), (500, None)]
    _, y = flatten(out[3:])
    np.testing.assert_allclose(y, signal.lfilter(taps, 1, wide(x[400:])), rtol=0, atol=1e-4 * np.abs(y).max())
    assert out[3].time == pytest.approx(400 / RATE)


def test_fir_decimate_gap_example():
    """Factor 8, samples 300..400 lost: outputs 38..49 are missing -> overflow=12 on output 50,
    which is the filter restarted at sample 400 (output k at input 8k)."""
    x = make_signal(2, 1000, np.float32)
    taps = dsp.lowpass(48, 0.1)
    items = chunks(x, RATE, 100)
    items = [*items[:3], items[4].with_meta(overflow=100), *items[5:]]
    out = run(lambda s: dsp.fir_decimate(s, taps, 8), items)
    after = [c for c in out if c.index >= 50]
    assert after[0].index == 50 and after[0].meta["overflow"] == 12
    assert all("overflow" not in c.meta for c in out if c is not after[0])
    _, y = flatten(after)
    expected = signal.upfirdn(taps, wide(x[400:]), 1, 8)[:len(y)]
    np.testing.assert_allclose(y, expected, atol=1e-5)
    assert after[0].time == pytest.approx(400 / RATE) and after[0].rate == RATE / 8


# -- parameters ---------------------------------------------------------------------------------
def stream():
    return df.from_iterable([])


@pytest.mark.parametrize("make, name", [
    (lambda: dsp.fir(stream(), []), "taps"),
    (lambda: dsp.fir(stream(), np.ones((2, 3))), "taps"),
    (lambda: dsp.fir(stream(), [1.0, np.nan]), "taps"),
    (lambda: dsp.fir_decimate(stream(), [1.0], 0), "factor"),
    (lambda: dsp.fir_decimate(stream(), [1.0], -2), "factor"),
    (lambda: dsp.fir_decimate(stream(), [1.0], 2.0), "factor"),
    (lambda: dsp.fir_decimate(stream(), [1.0], True), "factor"),
    (lambda: dsp.fir_decimate(stream(), [], 2), "taps"),
    (lambda: dsp.decimate(stream(), 0), "factor"),
    (lambda: dsp.decimate(stream(), 1.5), "factor"),
    (lambda: dsp.resample(stream(), 0, 2), "up"),
    (lambda: dsp.resample(stream(), 2, -1), "down"),
    (lambda: dsp.resample(stream(), 2, 3, taps=[]), "taps"),
    (lambda: dsp.iir(stream(), np.ones((2, 5))), "sos"),
    (lambda: dsp.iir(stream(), [[1, 0, 0, 0, 0, 0]]), "sos"),
    (lambda: dsp.iir(stream(), [[1, 0, 0, 1, np.inf, 0]]), "sos"),
])
def test_bad_parameters_raise_naming_them(make, name):
    with pytest.raises(ValueError, match=name):
        make()


RATE_CHECKED = {
    "fir": lambda s: dsp.fir(s, [0.5, 0.5]),
    "fir_decimate": lambda s: dsp.fir_decimate(s, [0.5, 0.5], 2),
    "decimate": lambda s: dsp.decimate(s, 2),
    "resample": lambda s: dsp.resample(s, 3, 2),
    "iir": lambda s: dsp.iir(s, SOS),
}


@pytest.mark.parametrize("name", RATE_CHECKED)
def test_rate_change_mid_stream_raises(name):
    items = chunks(np.zeros(300, np.complex64), RATE, 100)
    items[2] = items[2].replace(rate=2 * RATE, time=200 / (2 * RATE))
    with pytest.raises(df.BlockError) as info:
        run_block(RATE_CHECKED[name], items)
    assert isinstance(info.value.cause, ValueError)
    assert "rate" in str(info.value.cause) and "2e+06" in str(info.value.cause)


@pytest.mark.parametrize("factory", [lambda s, t: dsp.fir(s, t), lambda s, t: dsp.fir_decimate(s, t, 4)])
def test_taps_designed_for_the_stream_rate_run(factory):
    taps = dsp.lowpass(64, 50e3, rate=2e6)
    out = run_block(lambda s: factory(s, taps), chunks(np.ones(400, np.float32), 2e6, 100))
    assert sum(c.samples for c in out) > 0


@pytest.mark.parametrize("factory", [lambda s, t: dsp.fir(s, t), lambda s, t: dsp.fir_decimate(s, t, 4)],
                         ids=["fir", "fir_decimate"])
def test_taps_designed_for_another_rate_raise(factory):
    taps = dsp.lowpass(64, 50e3, rate=2e6)
    with pytest.raises(df.BlockError) as info:
        run_block(lambda s: factory(s, taps), chunks(np.ones(400, np.float32), 1e6, 100))
    cause = info.value.cause
    assert isinstance(cause, ValueError)
    assert "2e+06" in str(cause) and "1e+06" in str(cause)


@pytest.mark.parametrize("up", [1, 3])
def test_resample_by_one(up):
    x = make_signal(0, 50, np.float32)
    out = run_block(lambda s: dsp.resample(s, up, up), chunks(x, RATE, 20))
    _, y = flatten(out)
    np.testing.assert_allclose(y, x, atol=1e-6)
