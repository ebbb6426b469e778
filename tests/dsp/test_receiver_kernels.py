"""The receiver chain's cheap blocks on their fast paths (issue 14): mix (an oscillator table
per repeating start phase), magnitude2 (re^2 + im^2 without |x|) and average of rows (views
joined once, numpy's sum without np.mean), against plain numpy references, over chunkings
where start phases repeat, index gaps and dtypes."""

from fractions import Fraction

import numpy as np
import pytest
from dsp_helpers import check_gap, check_stream, gap_plans, make_signal, plans, run, split, wide
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daqflow import Chunk, dsp
from daqflow.dsp.kernels.stats import RowAverager

RATE = 1e6
few = settings(max_examples=12, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: shifts in Hz whose start phases come back every few chunks of equal length (the fast path)
REPEATING = st.sampled_from([-0.1 * RATE, 0.25 * RATE, -0.375 * RATE, 0.2 * RATE, 123e3, -250e3])
F32_ULP = float(np.finfo(np.float32).eps)


def nco_ref(freq: float, rate: float = RATE):
    """x * exp(2j*pi*frac(freq*n/rate)), n absolute, the phase exact (fractions) then float64."""
    ratio = Fraction(freq) / Fraction(rate)

    def ref(x: np.ndarray, index: int) -> tuple[int, np.ndarray]:
        cycles = np.array([float((ratio * (index + k)) % 1) for k in range(len(x))])
        return index, wide(x) * np.exp(2j * np.pi * cycles)
    return ref


def assert_mixed(got: np.ndarray, want: np.ndarray, x: np.ndarray, cycles: float = 0.0) -> None:
    """Within a few roundings of the output precision, relative to each |x[n]|; complex128
    also within the float64 rounding of the table's phase, 2*pi*``cycles`` (its cycles run)."""
    eps = F32_ULP if got.dtype == np.complex64 else float(np.finfo(np.float64).eps)
    if got.dtype == np.complex128:
        eps += 2 * np.pi * cycles * eps
    bound = 4 * eps * np.maximum(np.abs(wide(x)), np.finfo(np.float32).tiny)
    assert np.all(np.abs(got - want) <= bound), float(np.max(np.abs(got - want) / bound))


# -- mix -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, np.float32, np.int16])
@few
@given(freq=REPEATING, length=st.sampled_from([8, 40, 64, 100]), chunks=st.integers(6, 24),
       start=st.one_of(st.just(0), st.integers(0, 10**12)),
       gaps=st.lists(st.integers(0, 3), min_size=24, max_size=24), seed=st.integers(0, 2**16))
def test_nco_chunks_whose_start_phases_repeat(dtype, freq, length, chunks, start, gaps, seed):
    """Equal chunks (start phases repeat: tables with the phase applied are made and used),
    index jumps of whole and part chunks between them, streams far from 0: every sample is
    the exact oscillator within the output's rounding."""
    rate = RATE
    nco = dsp.NcoState(freq, rate)
    index = start
    for k in range(chunks):
        index += gaps[k] * length // 2
        x = make_signal(seed + k, length, dtype)
        y, first = nco.work(x, index)
        assert first == index and y.dtype == (np.complex128 if dtype == np.complex128 else np.complex64)
        assert_mixed(y, nco_ref(freq, rate)(x, index)[1], x, abs(freq) / rate * length)
        index += length
    period = ((Fraction(freq) / Fraction(rate)) * length % 1).denominator  # chunks per phase cycle
    if not any(gaps[:chunks]) and chunks > period:  # a start phase came back: the fast path
        assert nco._rotated


def test_nco_fast_path_is_taken_and_exact_at_8192():
    """The chain's case: -0.1 cycles per sample, 8192-sample chunks (phase period 5 chunks)."""
    nco = dsp.NcoState(-0.1 * RATE, RATE)
    x = make_signal(1, 8192, np.complex64)
    for k in range(12):
        y, _ = nco.work(x, k * 8192)
        assert_mixed(y, nco_ref(-0.1 * RATE)(x, k * 8192)[1], x)
    assert len(nco._rotated) == 5


@pytest.mark.parametrize("dtype", [np.complex64, np.float32, np.int16, np.complex128])
@few
@given(plan=plans(max_n=400, max_index=10**9), freq=REPEATING)
def test_mix_block_over_any_chunking(dtype, plan, freq):
    x = make_signal(plan.seed, plan.n, dtype)
    out_dtype = np.complex128 if dtype == np.complex128 else np.complex64
    table = 2 * np.pi * abs(freq) / RATE * plan.n  # the float64 table's phase run (radians)
    check_stream(lambda s: dsp.mix(s, freq), nco_ref(freq), x, plan, out_dtype=out_dtype,
                 rtol=4 * (F32_ULP if out_dtype == np.complex64 else 2.3e-16 * (1 + table)),
                 scale=float(np.abs(wide(x)).max()) if len(x) else 1.0)


@few
@given(plan=gap_plans(), freq=REPEATING)
def test_mix_block_across_a_gap(plan, freq):
    x = make_signal(plan.seed, plan.n, np.complex64)
    check_gap(lambda s: dsp.mix(s, freq), nco_ref(freq), x, plan, rtol=4 * F32_ULP,
              scale=float(np.abs(x).max()))


def test_mix_equal_chunks_repeat_through_the_block():
    """dsp.mix over 20 equal chunks of 1000 samples at 0.25 cycles per sample (one start phase):
    equal to the reference, chunk by chunk."""
    x = make_signal(3, 20_000, np.complex64)
    out = run(lambda s: dsp.mix(s, 0.25 * RATE), split(x, range(1000, 20_000, 1000)))
    got = np.concatenate([c.data for c in out])
    assert_mixed(got, nco_ref(0.25 * RATE)(x, 0)[1], x)


# -- magnitude2 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, np.float32, np.float64, np.int16])
@few
@given(seed=st.integers(0, 2**16), n=st.integers(0, 9000), scale=st.sampled_from([1e-20, 1.0, 1e15]))
def test_magnitude2_is_the_square_of_abs(dtype, seed, n, scale):
    """complex: the same bits as x.real**2 + x.imag**2, within float rounding of np.abs(x)**2;
    real: x**2 in float32 (float64 for float64)."""
    x = make_signal(seed, n, dtype, scale if np.dtype(dtype).kind != "i" else 1.0)
    (out,) = run(dsp.magnitude2, [Chunk(x, RATE)])
    y = out.data
    real = np.float64 if dtype in (np.complex128, np.float64) else np.float32
    assert y.dtype == real and y.shape == x.shape
    if x.dtype.kind == "c":
        np.testing.assert_array_equal(y, x.real**2 + x.imag**2)
    else:
        np.testing.assert_array_equal(y, np.square(x.astype(real)))
    want = np.abs(wide(x)) ** 2
    np.testing.assert_allclose(y, want, rtol=4 * np.finfo(real).eps, atol=np.finfo(real).tiny)


def test_magnitude2_of_rows_and_of_a_view():
    """2-D spectra rows and a strided (non-contiguous) input."""
    x = make_signal(4, 2 * 8 * 1024, np.complex64).reshape(16, 1024)[::2]
    (out,) = run(dsp.magnitude2, [Chunk(x, RATE)])
    np.testing.assert_array_equal(out.data, x.real**2 + x.imag**2)


# -- average of rows -----------------------------------------------------------------------------
def groups_ref(rows: np.ndarray, first: int, n: int) -> tuple[int, np.ndarray]:
    """Group g = mean of rows [g*n, (g+1)*n) (numbered from ``first``), in float64."""
    g0 = -(-first // n)
    offset = g0 * n - first
    count = max(0, (len(rows) - offset) // n)
    return g0, wide(rows[offset:offset + count * n]).reshape(count, n, *rows.shape[1:]).mean(axis=1)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.float64, np.int16])
@few
@given(n=st.sampled_from([1, 3, 7, 16]), per=st.sampled_from([1, 2, 8, 16, 21]),
       first=st.integers(0, 40), jump=st.integers(0, 20), seed=st.integers(0, 2**16))
def test_row_averager_over_chunkings_and_a_gap(dtype, n, per, first, jump, seed):
    """``per`` rows of 1024 bins per push, an index jump of ``jump`` rows half-way: the means
    of the groups on either side, each group bit for bit numpy's ``mean(axis=1)``, within
    float rounding of the float64 mean."""
    rows = make_signal(seed, 12 * per * 1024, dtype).reshape(12 * per, 1024)
    if dtype == np.float32:
        rows = np.abs(rows) ** 2  # power, as in the receiver chain
    averager = RowAverager(n)
    got: dict[int, np.ndarray] = {}
    half = 6 * per
    for a in range(0, len(rows), per):
        number = first + a + (jump if a >= half else 0)
        means, g0 = averager.push(rows[a:a + per], number)
        for k, mean in enumerate(means):
            assert g0 + k not in got
            got[g0 + k] = mean
    want: dict[int, np.ndarray] = {}
    parts = ((rows[:half], first), (rows[half:], first + half + jump)) if jump else ((rows, first),)
    for part, start in parts:
        g0, means = groups_ref(part, start, n)
        want.update({g0 + k: m for k, m in enumerate(means)})
    assert sorted(got) == sorted(want)
    out_dtype = np.float64 if dtype == np.int16 else dtype
    eps = float(np.finfo(np.float32 if out_dtype in (np.float32, np.complex64) else np.float64).eps)
    for g, mean in got.items():
        assert mean.dtype == out_dtype
        offset = g * n - (first if g * n < first + half else first + jump)
        block = rows[offset:offset + n][None]
        same = block.mean(axis=1) if dtype != np.int16 else block.mean(axis=1, dtype=np.float64)
        np.testing.assert_array_equal(mean, same[0].astype(out_dtype))
        scale = np.abs(wide(rows)).max()
        assert np.max(np.abs(mean - want[g])) <= 4 * n * eps * scale


@few
@given(plan=plans(max_n=200), n=st.integers(1, 17))
def test_average_block_of_1024_bin_rows(plan, n):
    """dsp.average over rows of 1024 float32 bins, any chunking: the float64 mean per group."""
    rows = np.abs(make_signal(plan.seed, plan.n * 1024, np.complex64).reshape(plan.n, 1024)) ** 2
    out = check_stream(lambda s: dsp.average(s, n), lambda r, f: groups_ref(r, f, n), rows, plan,
                       out_dtype=np.float32, rtol=4 * n * F32_ULP, per_output=n, rate=250.0)
    assert all(c.meta["average"] == n for c in out)


@few
@given(plan=gap_plans(min_before=20, min_after=20, longest=40), n=st.sampled_from([2, 5, 16]))
def test_average_block_gap_drops_the_partial_group(plan, n):
    rows = make_signal(plan.seed, plan.n * 64, np.float32).reshape(plan.n, 64)
    check_gap(lambda s: dsp.average(s, n), lambda r, f: groups_ref(r, f, n), rows, plan,
              rtol=4 * n * F32_ULP, per_output=n, rate=250.0)


def test_row_averager_refuses_a_new_row_shape_mid_group():
    averager = RowAverager(4)
    averager.push(np.zeros((2, 8), np.float32), 0)
    with pytest.raises(ValueError):
        averager.push(np.zeros((2, 9), np.float32), 2)


@pytest.mark.parametrize("index", [np.int64(10**6), np.int64(3 * 10**17), np.uint32(4_000_000_000)])
def test_nco_takes_numpy_integer_indices_exactly(index):
    """An index given as a numpy integer (a sample counter kept in an array) is exact: its
    product with the phase step once overflowed int64 (or raised)."""
    got = dsp.NcoState(-7300.0).process(np.ones(4, np.complex128), index, RATE)
    cycles = (Fraction(-7300) / Fraction(int(RATE)) * (int(index) + np.arange(4))) % 1
    np.testing.assert_allclose(got, np.exp(2j * np.pi * cycles.astype(float)), atol=1e-9)


def test_nco_takes_a_numpy_float_rate():
    """A float32 rate (a source's) steps the phase in float64 (the table once stepped in
    float32: 4e-3 rad off over a long chunk)."""
    n = 1 << 18
    got = dsp.NcoState(1000.0).process(np.ones(n, np.complex128), 5, np.float32(48000))
    cycles = (Fraction(1000, 48000) * (5 + np.arange(n, dtype=object))) % 1
    np.testing.assert_allclose(got, np.exp(2j * np.pi * cycles.astype(float)), atol=1e-8)
