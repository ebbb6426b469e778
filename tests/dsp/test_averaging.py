"""moving_average (lfilter(ones(n)/n)), and average: rows of 2-D chunks grouped on the absolute
row grid, or 1-D traces N at a time."""

import numpy as np
import pytest
from dsp_helpers import (
    DTYPES,
    check_gap,
    check_stream,
    fast,
    flatten,
    gap_plans,
    make_signal,
    plans,
    run,
    tolerance,
    wide,
)
from hypothesis import given
from hypothesis import strategies as st
from scipy import signal

import daqflow as df
from daqflow import Chunk, dsp
from daqflow.testing import chunks

ROW_RATE = 250.0  # rows per second of the 2-D test streams
BINS = 5


def moving_average_ref(n: int):
    def ref(x, index):
        return index, signal.lfilter(np.ones(n) / n, 1, wide(x)) if len(x) else wide(x)
    return ref


def row_average_ref(n: int):
    """Group g = mean of rows [g*n, (g+1)*n), row numbers absolute."""
    def ref(rows, first):
        g0 = -(-first // n)
        offset = g0 * n - first
        count = max(0, (len(rows) - offset) // n)
        used = wide(rows[offset:offset + count * n])
        return g0, used.reshape(count, n, *rows.shape[1:]).mean(axis=1)
    return ref


def rows_of(plan, dtype) -> np.ndarray:
    return make_signal(plan.seed, plan.n * BINS, dtype).reshape(plan.n, BINS)


# -- moving_average ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@fast
@given(plan=plans(), n=st.integers(1, 80))
def test_moving_average_is_lfilter(dtype, plan, n):
    check_stream(lambda s: dsp.moving_average(s, n), moving_average_ref(n), plan.signal(dtype), plan,
                 out_dtype=dtype, rtol=tolerance(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@fast
@given(plan=gap_plans(), n=st.integers(1, 80))
def test_moving_average_gap_resets_state(dtype, plan, n):
    check_gap(lambda s: dsp.moving_average(s, n), moving_average_ref(n), plan.signal(dtype), plan,
              rtol=tolerance(dtype))


def test_moving_average_gap_example():
    x = np.ones(60, np.float32)
    items = chunks(x, 1e3, 10, index=100)
    items = [*items[:2], items[3].with_meta(overflow=10), *items[4:]]
    out = run(lambda s: dsp.moving_average(s, 4), items)
    assert [(c.index, c.meta.get("overflow")) for c in out] == [
        (100, None), (110, None), (130, 10), (140, None), (150, None)]
    np.testing.assert_allclose(out[2].data, [0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 1, 1])  # restarted
    assert out[2].time == pytest.approx(0.130)


def test_moving_average_integers_give_float32():
    out = run(lambda s: dsp.moving_average(s, 2), [Chunk(np.array([1, 2, 4], np.int16), 1.0)])
    assert out[0].data.dtype == np.float32
    np.testing.assert_allclose(out[0].data, [0.5, 1.5, 3.0])


# -- average: 2-D rows --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.float64])
@fast
@given(plan=plans(max_n=300), n=st.integers(1, 6))
def test_average_of_rows_over_any_chunking(dtype, plan, n):
    """Every n rows (numbered from the stream start) give one; rate / n, time of row g*n."""
    out = check_stream(lambda s: dsp.average(s, n), row_average_ref(n), rows_of(plan, dtype), plan,
                       out_dtype=dtype, rtol=tolerance(dtype), per_output=n, rate=ROW_RATE)
    assert all(c.meta["average"] == n for c in out)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@fast
@given(plan=gap_plans(min_before=6, min_after=6, longest=40), n=st.integers(1, 6))
def test_average_of_rows_gap_drops_the_partial_group(dtype, plan, n):
    check_gap(lambda s: dsp.average(s, n), row_average_ref(n), rows_of(plan, dtype), plan,
              rtol=tolerance(dtype), per_output=n, rate=ROW_RATE)


def test_spectrum_then_average_is_a_longer_welch():
    """spectrum(average=2) then average(3) = spectrum(average=6), row for row."""
    x = make_signal(9, 5000, np.complex64)
    items = chunks(x, 1e6, 333)
    a = run(lambda s: dsp.average(dsp.spectrum(s, 32, average=2, overlap=0.5), 3), items)
    b = run(lambda s: dsp.spectrum(s, 32, average=6, overlap=0.5), items)
    ia, ra = flatten(a)
    ib, rb = flatten(b)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_allclose(ra, rb, rtol=1e-5)
    assert [c.rate for c in a] == pytest.approx([c.rate for c in b])
    assert [c.time for c in a] == pytest.approx([c.time for c in b])


def test_average_of_integer_rows_is_the_mean():
    out = run(lambda s: dsp.average(s, 2), [Chunk(np.array([[1, 2], [2, 5]], np.int16), 1.0)])
    np.testing.assert_allclose(out[0].data, [[1.5, 3.5]])


# -- average: 1-D traces ------------------------------------------------------------------------
def traces_ref(traces: list[Chunk], n: int) -> list[tuple[Chunk, np.ndarray]]:
    """(first trace, mean) per complete group; an overflow-marked trace starts a new group."""
    out, group = [], []
    for trace in traces:
        if trace.meta.get("overflow"):
            group = []
        group.append(trace)
        if len(group) == n:
            out.append((group[0], np.mean([wide(t.data) for t in group], axis=0)))
            group = []
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.float64])
@fast
@given(seed=st.integers(0, 2**16), n=st.integers(1, 5), count=st.integers(0, 20),
       marked=st.sets(st.integers(0, 19), max_size=3))
def test_average_of_traces(dtype, seed, n, count, marked):
    """N-shot mean of 1-D traces with the first trace's index, time and meta (+ average=n);
    a trace marked overflow (lost data before it) drops the partial average."""
    traces = []
    for k in range(count):
        meta = {"trigger_index": 1000 * k + 3} | ({"overflow": 17} if k in marked else {})
        traces.append(Chunk(make_signal(seed + k, 16, dtype), 1e4, 1000 * k, 0.1 * k, meta))
    out = run(lambda s: dsp.average(s, n), traces)
    expected = traces_ref(traces, n)
    assert len(out) == len(expected)
    for got, (first, mean) in zip(out, expected, strict=True):
        assert (got.index, got.time, got.rate) == (first.index, first.time, first.rate)
        assert got.meta["average"] == n and got.meta["trigger_index"] == first.meta["trigger_index"]
        assert got.data.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got.data, mean, rtol=tolerance(dtype), atol=tolerance(dtype))


def test_average_of_traces_example():
    traces = [Chunk(np.full(4, float(k), np.float32), 1e3, 100 * k, 0.1 * k) for k in range(7)]
    traces[3] = traces[3].with_meta(overflow=50)
    out = run(lambda s: dsp.average(s, 2), traces)
    # 0+1 -> 0.5; 2 then lost data: dropped; 3+4 -> 3.5; 5+6 -> 5.5
    assert [(c.index, float(c.data[0])) for c in out] == [(0, 0.5), (300, 3.5), (500, 5.5)]


def test_average_of_traces_shape_change_fails():
    traces = [Chunk(np.ones(4), 1.0), Chunk(np.ones(5), 1.0)]
    with pytest.raises(df.BlockError) as info:
        run(lambda s: dsp.average(s, 2), traces)
    assert isinstance(info.value.cause, ValueError) and "shape" in str(info.value.cause)


# -- parameters --------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [dsp.moving_average, dsp.average])
@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_n(make, n):
    with pytest.raises(ValueError, match="n must"):
        make(df.from_iterable([]), n)
