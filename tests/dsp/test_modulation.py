"""mix (NCO on the absolute index), demod_fm (stateful discriminator), demod_am."""

import numpy as np
import pytest
from dsp_helpers import (
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
    wide,
)
from hypothesis import given
from hypothesis import strategies as st

import daqflow as df
from daqflow import Chunk, dsp
from daqflow.testing import chunks, run_block

FREQS = st.floats(-RATE / 2, RATE / 2, allow_nan=False)


def mix_ref(freq: float, rate: float = RATE):
    def ref(x, index):
        n = index + np.arange(len(x))
        return index, wide(x) * np.exp(2j * np.pi * ((freq / rate * n) % 1.0))
    return ref


def mixed_dtype(dtype) -> np.dtype:
    return np.dtype(np.complex128 if np.dtype(dtype) in (np.float64, np.complex128) else np.complex64)


def fm_signal(seed: int, n: int, dtype) -> np.ndarray:
    """Random phase steps within +-2.5 rad (no +-pi ambiguity) and a wandering amplitude."""
    rng = np.random.default_rng(seed)
    phase = np.cumsum(rng.uniform(-2.5, 2.5, n))
    return (rng.uniform(0.5, 1.5, n) * np.exp(1j * phase)).astype(dtype)


def fm_ref(deviation: float, rate: float = RATE):
    def ref(x, index):
        x = wide(x)
        y = np.zeros(len(x))
        y[1:] = np.angle(x[1:] * np.conj(x[:-1])) * rate / (2 * np.pi * deviation)
        return index, y
    return ref


# -- mix ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.complex64, np.float32, np.complex128, np.float64, np.int16])
@fast
@given(plan=plans(max_index=10**9), freq=FREQS)
def test_mix_phase_follows_the_absolute_index(dtype, plan, freq):
    """y[n] = x[n] exp(2j pi f n / rate), n absolute (streams starting far from 0 too);
    real input gives complex (float32 -> complex64)."""
    x = plan.signal(dtype)
    scale = float(np.abs(x).max()) if len(x) else 1.0
    # the float64 reference itself rounds freq*n/rate: a few ulp of the cycles run, in radians
    cycles = abs(freq) / RATE * (plan.index + len(x))
    rtol = max(tolerance(dtype if dtype != np.int16 else np.float32), 1e-9, 8e-16 * 2 * np.pi * cycles)
    check_stream(lambda s: dsp.mix(s, freq), mix_ref(freq), x, plan, out_dtype=mixed_dtype(dtype),
                 rtol=rtol, scale=scale)


@pytest.mark.parametrize("dtype", [np.complex64, np.float32])
@fast
@given(plan=gap_plans(), freq=FREQS)
def test_mix_across_a_gap_keeps_the_phase_of_the_index(dtype, plan, freq):
    """A lost chunk: the oscillator is where a real one would be; the overflow mark passes."""
    x = plan.signal(dtype)
    check_gap(lambda s: dsp.mix(s, freq), mix_ref(freq), x, plan, rtol=tolerance(dtype),
              scale=float(np.abs(x).max()))


def test_mix_shifts_a_tone_to_dc_and_moves_center_freq():
    n = np.arange(4096)
    x = np.exp(2j * np.pi * 250e3 * n / 2e6).astype(np.complex64)
    items = chunks(x, 2e6, 1000, index=0, meta={"center_freq": 100e6})
    out = run(lambda s: dsp.mix(s, -250e3), items)
    _, y = flatten(out)
    np.testing.assert_allclose(y, np.ones(4096), atol=2e-4)
    assert all(c.meta["center_freq"] == 100e6 + 250e3 for c in out)
    assert [(c.index, c.time) for c in out] == [(c.index, c.time) for c in items]


def test_each_run_of_one_described_mix_starts_from_its_param_s_value():
    """The tuning is state of a run: a value set between two runs of one described graph is
    where the second run starts, not a retune marked on its first chunk (it used to be)."""
    tune = df.param(100.0, name="tune")
    x = np.ones(64, np.complex64)
    sink = df.collect(dsp.mix(df.from_iterable(chunks(x, 1e3, 16)), tune), name="out")
    first = df.run(sink).results["out"]
    tune.set(200.0)
    second = df.run(sink).results["out"]
    assert all("params" not in c.meta for c in first + second)
    phase = np.exp(2j * np.pi * 200.0 * np.arange(64) / 1e3)
    np.testing.assert_allclose(np.concatenate([c.data for c in second]), phase, atol=1e-5)


def test_mix_bad_frequency():
    for freq in (np.nan, np.inf):
        with pytest.raises(ValueError, match="freq"):
            dsp.mix(df.from_iterable([]), freq)


# -- demod_fm -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@fast
@given(plan=plans(max_n=800), deviation=st.sampled_from([1e3, 75e3, 2e5]))
def test_demod_fm_matches_the_discriminator(dtype, plan, deviation):
    """angle(x[n] conj(x[n-1])) * rate / (2 pi deviation), first output 0, float out."""
    x = fm_signal(plan.seed, plan.n, dtype)
    out_dtype = np.float32 if dtype == np.complex64 else np.float64
    check_stream(lambda s: dsp.demod_fm(s, deviation), fm_ref(deviation), x, plan,
                 out_dtype=out_dtype, rtol=tolerance(dtype), scale=2.5 * RATE / (2 * np.pi * deviation))


@fast
@given(plan=gap_plans())
def test_demod_fm_gap_restarts(plan):
    """After a lost chunk, the first output is 0 (no predecessor), never a phase step across."""
    x = fm_signal(plan.seed, plan.n, np.complex64)
    out = check_gap(lambda s: dsp.demod_fm(s, 1e5), fm_ref(1e5), x, plan, rtol=1e-4, scale=4.0)
    after = next(c for c in out if c.meta.get("overflow"))
    assert abs(after.data[0]) < 1e-6  # x[n] conj(x[n]) may keep a rounding-size imaginary part


def test_demod_fm_of_a_constant_offset():
    n = np.arange(5000)
    x = np.exp(2j * np.pi * 30e3 * n / RATE).astype(np.complex64)
    out = run(lambda s: dsp.demod_fm(s, 60e3), split(x, [1, 2, 1000, 2500]))
    _, y = flatten(out)
    assert abs(y[0]) < 1e-6
    np.testing.assert_allclose(y[1:], 0.5, atol=1e-3)


@pytest.mark.parametrize("deviation", [0, -5.0, np.nan])
def test_demod_fm_bad_deviation(deviation):
    with pytest.raises(ValueError, match="deviation"):
        dsp.demod_fm(df.from_iterable([]), deviation)


# -- demod_am -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, real", [(np.complex64, np.float32), (np.complex128, np.float64)])
def test_demod_am_is_the_envelope(dtype, real):
    x = make_signal(4, 300, dtype)
    items = split(x, [5, 6, 200], index=42)
    items[1] = items[1].with_meta(center_freq=1e6)
    out = run(dsp.demod_am, items)
    assert [(c.index, c.time, c.rate, dict(c.meta)) for c in out] == [
        (c.index, c.time, c.rate, dict(c.meta)) for c in items]
    assert {c.data.dtype for c in out} == {np.dtype(real)}
    _, y = flatten(out)
    np.testing.assert_allclose(y, np.abs(wide(x)), rtol=1e-6)


def test_demod_am_needs_complex_chunks():
    with pytest.raises(df.BlockError) as info:
        run_block(dsp.demod_am, [Chunk(np.ones(4, np.float32), RATE)])
    assert isinstance(info.value.cause, TypeError)
