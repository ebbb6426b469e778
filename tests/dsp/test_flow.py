"""Stream shaping: rechunk, head, skip, throttle."""

import time

import numpy as np
import pytest
from dsp_helpers import (
    RATE,
    check_gap,
    check_stream,
    fast,
    gap_plans,
    make_signal,
    plans,
    run,
    split,
)
from hypothesis import given
from hypothesis import strategies as st

import daqflow as df
from daqflow import dsp, io
from daqflow.testing import chunks, run_block


def identity(x, index):
    return index, x


# -- rechunk ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.complex64, np.float32, np.float64])
@fast
@given(plan=plans(max_n=1000), size=st.integers(1, 150))
def test_rechunk_over_any_chunking(dtype, plan, size):
    """Same samples, same indices and times, chunks of exactly `size` but the last."""
    out = check_stream(lambda s: dsp.rechunk(s, size), identity, plan.signal(dtype), plan,
                       out_dtype=dtype, rtol=0)
    assert all(c.samples == size for c in out[:-1])
    if out:
        assert 0 < out[-1].samples <= size


@fast
@given(plan=gap_plans(), size=st.integers(1, 150))
def test_rechunk_never_joins_across_a_gap(plan, size):
    """The samples before the gap are flushed (a short chunk), the chunk after it carries
    overflow = the samples lost; every other chunk has `size` samples."""
    out = check_gap(lambda s: dsp.rechunk(s, size), identity, plan.signal(np.complex64), plan, rtol=0)
    lost_from = split(plan.signal(np.complex64), plan.cuts, index=plan.index)[plan.lost].index
    for k, c in enumerate(out[:-1]):
        assert c.samples == size or c.end_index == lost_from, (k, c)
    after = [c for c in out if c.meta.get("overflow")]
    assert len(after) == 1 and after[0].index == lost_from + after[0].meta["overflow"]


def test_rechunk_gap_example():
    x = np.arange(100, dtype=np.float32)
    items = chunks(x, 1e3, 10)
    items = [*items[:3], items[4].with_meta(overflow=10), *items[5:]]  # samples 30..40 lost
    out = run(lambda s: dsp.rechunk(s, 25), items)
    assert [(c.index, c.samples, c.meta.get("overflow")) for c in out] == [
        (0, 25, None), (25, 5, None), (40, 25, 10), (65, 25, None), (90, 10, None)]
    assert [c.time for c in out] == pytest.approx([0, 0.025, 0.040, 0.065, 0.090])


def test_rechunk_bad_size():
    for size in (0, -1, 2.5):
        with pytest.raises(ValueError, match="size"):
            dsp.rechunk(df.from_iterable([]), size)


# -- head ---------------------------------------------------------------------------------------
def test_head_cuts_the_last_chunk():
    x = make_signal(1, 400, np.complex64)
    items = chunks(x, RATE, 100, index=7, meta={"center_freq": 1.0})
    out = run(lambda s: dsp.head(s, 250), items)
    assert [(c.index, c.samples) for c in out] == [(7, 100), (107, 100), (207, 50)]
    np.testing.assert_array_equal(np.concatenate([c.data for c in out]), x[:250])
    assert out[-1].time == items[2].time and out[-1].meta["center_freq"] == 1.0


def test_head_stops_an_endless_source():
    sink = df.collect(dsp.head(io.simulated_adc(1e6, chunk=1000, realtime=False), 2500))
    out = df.run(sink).results[sink.name]
    assert [(c.index, c.samples) for c in out] == [(0, 1000), (1000, 1000), (2000, 500)]


def test_head_zero_and_items():
    sink = df.collect(dsp.head(io.simulated_adc(1e6, chunk=100, realtime=False), 0))
    assert df.run(sink).results[sink.name] == []
    assert run_block(lambda s: dsp.head(s, 3), ["a", "b", "c", "d"]) == ["a", "b", "c"]
    assert run_block(lambda s: dsp.head(s, 10), [1, 2]) == [1, 2]


# -- skip ---------------------------------------------------------------------------------------
def test_skip_keeps_indices_absolute():
    x = np.arange(40.0)
    items = chunks(x, 10.0, 10, index=100)
    out = run(lambda s: dsp.skip(s, 15), items)
    assert [(c.index, c.samples) for c in out] == [(115, 5), (120, 10), (130, 10)]
    assert [c.time for c in out] == pytest.approx([11.5, 12.0, 13.0])
    np.testing.assert_array_equal(np.concatenate([c.data for c in out]), x[15:])
    assert run(lambda s: dsp.skip(s, 0), items) == items
    assert run(lambda s: dsp.skip(s, 40), items) == []


def test_skip_items():
    assert run_block(lambda s: dsp.skip(s, 2), [1, 2, 3, 4]) == [3, 4]


# -- throttle -------------------------------------------------------------------------------------
def test_throttle_paces_samples():
    """0.2 s worth of samples (2000 at 10 kS/s) takes about 0.2 s (loose bounds: busy CI)."""
    items = chunks(np.zeros(2000, np.float32), 1e4, 100)
    start = time.perf_counter()
    out = run(lambda s: dsp.throttle(s, 1e4), items)
    elapsed = time.perf_counter() - start
    assert out == items
    assert 0.17 <= elapsed < 2.0


def test_throttle_paces_items():
    start = time.perf_counter()
    assert run_block(lambda s: dsp.throttle(s, 50.0), list(range(10))) == list(range(10))
    assert 0.17 <= time.perf_counter() - start < 2.0


@pytest.mark.parametrize("make, name", [
    (lambda s: dsp.head(s, -1), "n"),
    (lambda s: dsp.head(s, 1.5), "n"),
    (lambda s: dsp.skip(s, -1), "n"),
    (lambda s: dsp.throttle(s, 0), "rate"),
    (lambda s: dsp.throttle(s, -5.0), "rate"),
])
def test_bad_parameters_raise_naming_them(make, name):
    with pytest.raises(ValueError, match=name):
        make(df.from_iterable([]))
