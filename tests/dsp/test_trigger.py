"""trigger: scope-style frames around level crossings, against a plain numpy reference."""

import numpy as np
import pytest
from dsp_helpers import RATE, drop_chunk, fast, gap_plans, plans, run, split
from hypothesis import given
from hypothesis import strategies as st

import daqflow as df
from daqflow import dsp
from daqflow.testing import chunks

EDGES = st.sampled_from(["rising", "falling"])


def wavy(seed: int, n: int, dtype) -> np.ndarray:
    """A sine of random period plus noise: many crossings of levels in -1..1; complex input
    gets a rotating phase (the trigger looks at the magnitude)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = np.sin(2 * np.pi * t / rng.uniform(5, 150)) + 0.3 * rng.standard_normal(n)
    if np.dtype(dtype).kind == "c":
        x = (1.2 + x) * np.exp(1j * t / 7)
    return x.astype(dtype)


def trigger_ref(x: np.ndarray, index: int, level: float, edge: str, pre: int, post: int,
                holdoff: int) -> list[tuple[int, np.ndarray]]:
    """(trigger index, frame) of a stream starting at ``index`` with samples x: crossings at
    n (x[n-1] < level <= x[n] rising, x[n-1] > level >= x[n] falling), the first at
    index+pre at the earliest, then holdoff (>= 1) apart; frames [n-pre, n+post) inside x."""
    v = np.abs(x) if x.dtype.kind == "c" else x
    armed = index + pre
    frames = []
    for i in range(1, len(v)):
        crossed = v[i - 1] < level <= v[i] if edge == "rising" else v[i - 1] > level >= v[i]
        if crossed and index + i >= armed:
            armed = index + i + max(holdoff, 1)
            if i + post <= len(v):
                frames.append((index + i, x[i - pre:i + post]))
    return frames


def check_frames(out, expected, pre, rate=RATE):
    assert [c.meta["trigger_index"] for c in out] == [hit for hit, _ in expected]
    for chunk, (hit, frame) in zip(out, expected, strict=True):
        assert chunk.index == hit - pre and chunk.rate == rate
        assert chunk.time == pytest.approx((hit - pre) / rate, abs=1e-12)
        assert chunk.meta["trigger_time"] == pytest.approx(hit / rate, abs=1e-12)
        assert chunk.data.dtype == frame.dtype
        np.testing.assert_array_equal(chunk.data, frame)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
@fast
@given(plan=plans(max_n=1500), level=st.floats(-0.8, 0.8), edge=EDGES, pre=st.integers(0, 40),
       post=st.integers(1, 80), holdoff=st.integers(0, 120))
def test_trigger_frames_over_any_chunking(dtype, plan, level, edge, pre, post, holdoff):
    if np.dtype(dtype).kind == "c":
        level += 1.2
    x = wavy(plan.seed, plan.n, dtype)
    items = split(x, plan.cuts, index=plan.index)
    out = run(lambda s: dsp.trigger(s, level, edge, pre, post, holdoff), items)
    check_frames(out, trigger_ref(x, plan.index, level, edge, pre, post, holdoff), pre)


@fast
@given(plan=gap_plans(min_before=100, min_after=100), level=st.floats(-0.5, 0.5), edge=EDGES,
       pre=st.integers(0, 20), post=st.integers(1, 40), holdoff=st.integers(0, 50))
def test_trigger_gap_resets_the_search(plan, level, edge, pre, post, holdoff):
    """After a lost chunk the search restarts as on a new stream at that index: no frame spans
    lost data, pending frames are dropped, the first trigger is pre samples in at the earliest."""
    x = wavy(plan.seed, plan.n, np.float32)
    items, a, b = drop_chunk(split(x, plan.cuts, index=plan.index), plan.lost)
    out = run(lambda s: dsp.trigger(s, level, edge, pre, post, holdoff), items)
    a, b = a - plan.index, b - plan.index
    expected = (trigger_ref(x[:a], plan.index, level, edge, pre, post, holdoff)
                + trigger_ref(x[b:], plan.index + b, level, edge, pre, post, holdoff))
    check_frames(out, expected, pre)


def test_trigger_example():
    """Rising edges of a square wave of period 10 at 5, 15, 25...; pre 2, post 4, holdoff 15
    keeps every second one."""
    x = np.tile(np.r_[np.zeros(5), np.ones(5)], 6).astype(np.float32)
    out = run(lambda s: dsp.trigger(s, 0.5, pre=2, post=4, holdoff=15), chunks(x, 1e3, 7))
    assert [c.meta["trigger_index"] for c in out] == [5, 25, 45]
    assert all(list(c.data) == [0, 0, 1, 1, 1, 1] for c in out)
    assert [c.index for c in out] == [3, 23, 43]
    falling = run(lambda s: dsp.trigger(s, 0.5, edge="falling", post=2), chunks(x, 1e3, 7))
    assert [c.meta["trigger_index"] for c in falling] == [10, 20, 30, 40, 50]


def test_scope_average_of_triggered_frames():
    """trigger -> average(4): the mean of consecutive frames, first frame's index."""
    x = wavy(3, 4000, np.float32)
    out = run(lambda s: dsp.average(dsp.trigger(s, 0.0, pre=5, post=20, holdoff=30), 4), chunks(x, RATE, 97))
    frames = trigger_ref(x, 0, 0.0, "rising", 5, 20, 30)
    assert len(out) == len(frames) // 4 > 3
    for k, chunk in enumerate(out):
        group = frames[4 * k:4 * k + 4]
        assert chunk.index == group[0][0] - 5
        np.testing.assert_allclose(chunk.data, np.mean([f for _, f in group], axis=0), rtol=1e-5, atol=1e-6)


SQUARE = np.tile(np.r_[np.zeros(5), np.ones(5)], 20).astype(np.float32)  # rising at 5, 15, ...


def test_only_the_first_frame_after_a_gap_is_marked():
    items, _, _ = drop_chunk(chunks(SQUARE, RATE, 50), 1)  # samples 50..100 lost
    out = run(lambda s: dsp.trigger(s, 0.5, post=3), items)
    marked = [c.meta["trigger_index"] for c in out if c.meta.get("overflow")]
    assert marked == [105]
    averaged = run(lambda s: dsp.average(dsp.trigger(s, 0.5, post=3), 2), items)
    assert [c.index for c in averaged] == [5, 25, 105, 125, 145, 165, 185]


def test_trigger_then_average_never_mixes_across_a_gap():
    items, a, b = drop_chunk(chunks(SQUARE, RATE, 4), 7)  # samples 28..32 lost
    assert (a, b) == (28, 32)
    frames = run(lambda s: dsp.trigger(s, 0.5, post=3), items)
    assert [c.meta["trigger_index"] for c in frames][:5] == [5, 15, 25, 35, 45]  # 35 completes at 38
    averaged = run(lambda s: dsp.average(dsp.trigger(s, 0.5, post=3), 2), items)
    # 5+15; 25 is alone before the gap and must be dropped; then 35+45, 55+65, ...
    assert [c.index for c in averaged] == [5, 35, 55, 75, 95, 115, 135, 155, 175]


@pytest.mark.parametrize("kwargs, name", [
    ({"edge": "up"}, "edge"),
    ({"pre": -1}, "pre"),
    ({"pre": 1.5}, "pre"),
    ({"post": 0}, "post"),
    ({"post": True}, "post"),
    ({"holdoff": -1}, "holdoff"),
])
def test_bad_parameters_raise_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        dsp.trigger(df.from_iterable([]), 0.5, **kwargs)
