"""Helpers shared by the daqflow.dsp tests: cut signals into Chunks at drawn points, run one
block, flatten its output onto absolute indices, and compare with a one-shot reference.

A "reference" here is a function ``ref(x, index) -> (first, values)``: the outputs the block
should give for a stream that starts at absolute sample ``index`` with the samples ``x``
(nothing before), as numbers of the output grid ``first, first+1, ...``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from daqflow import Chunk
from daqflow.core.chunk import mark_overflow
from daqflow.testing import run_block

RATE = 1e6

#: hypothesis settings for the chunking properties: bounded, no deadline (2 busy cores).
fast = settings(max_examples=30, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SINGLE = (np.dtype(np.float32), np.dtype(np.complex64))
DTYPES = [np.float32, np.complex64, np.float64, np.complex128]


def tolerance(dtype: np.dtype) -> float:
    """Relative tolerance (to the signal scale) for results computed in ``dtype``."""
    return 1e-4 if np.dtype(dtype) in SINGLE or np.dtype(dtype).kind in "iub" else 1e-9


def make_signal(seed: int, n: int, dtype: object, scale: float = 1.0) -> np.ndarray:
    """``n`` samples of Gaussian noise (complex for a complex dtype; integers for int dtypes)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        x = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    elif dtype.kind in "iu":
        return rng.integers(-1000, 1000, n).astype(dtype)
    else:
        x = rng.standard_normal(n)
    return (scale * x).astype(dtype)


def split(x: np.ndarray, cuts: Sequence[int], rate: float = RATE, index: int = 0,
          meta: dict | None = None) -> list[Chunk]:
    """Chunks of ``x`` cut at ``cuts`` (positions in x), on the absolute grid from ``index``:
    ``time = index / rate`` for every chunk."""
    bounds = [0, *sorted({int(c) for c in cuts if 0 < c < len(x)}), len(x)]
    return [Chunk(x[a:b], rate, index + a, (index + a) / rate, meta or {})
            for a, b in pairwise(bounds)]


def chunk_sizes(longest: int = 200) -> st.SearchStrategy[int]:
    """Chunk lengths: 1-3 samples, up to 64 (shorter than most filters here), up to ``longest``."""
    return st.one_of(st.integers(1, 3), st.integers(1, 64), st.integers(1, longest))


@st.composite
def cut_points(draw: st.DrawFn, n: int, max_chunks: int = 40) -> list[int]:
    """Split points in (0, n) so that single samples, short and long chunks all occur."""
    sizes = draw(st.lists(chunk_sizes(max(n, 1)), max_size=max_chunks))
    cuts = np.cumsum(sizes) if sizes else np.empty(0, int)
    return [int(c) for c in cuts if c < n]


@dataclasses.dataclass(frozen=True)
class Plan:
    """A test stream: ``n`` samples from generator ``seed``, first at absolute ``index``, cut
    at ``cuts``; ``lost`` is the number of the chunk to lose (gap plans), else None."""

    seed: int
    n: int
    index: int
    cuts: tuple[int, ...]
    lost: int | None = None

    def signal(self, dtype: object, scale: float = 1.0) -> np.ndarray:
        return make_signal(self.seed, self.n, dtype, scale)


@st.composite
def plans(draw: st.DrawFn, max_n: int = 600, max_index: int = 300, min_n: int = 0) -> Plan:
    """A stream of up to ``max_n`` samples cut at random, starting at 0 or a drawn index."""
    n = draw(st.integers(min_n, max_n))
    index = draw(st.one_of(st.just(0), st.integers(1, max_index)))
    return Plan(draw(st.integers(0, 2**16)), n, index, tuple(draw(cut_points(n))))


@st.composite
def gap_plans(draw: st.DrawFn, min_before: int = 1, min_after: int = 1, longest: int = 200,
              max_index: int = 300) -> Plan:
    """A stream of at least 4 chunks, one of them (not the first nor the last) to be lost,
    with at least ``min_before`` samples before and ``min_after`` after the lost chunk."""
    sizes = draw(st.lists(chunk_sizes(longest), min_size=4, max_size=24))
    lost = draw(st.integers(1, len(sizes) - 2))
    sizes[0] += max(0, min_before - sum(sizes[:lost]))
    sizes[-1] += max(0, min_after - sum(sizes[lost + 1:]))
    cuts = np.cumsum(sizes)
    index = draw(st.one_of(st.just(0), st.integers(1, max_index)))
    return Plan(draw(st.integers(0, 2**16)), int(cuts[-1]), index, tuple(int(c) for c in cuts[:-1]), lost)


def drop_chunk(items: list[Chunk], k: int, mark: str = "overflow") -> tuple[list[Chunk], int, int]:
    """Lose chunk ``k`` as the runtime does: it is gone and the next one carries
    ``meta["overflow"]`` = its samples (``mark="skipped"``: dropped on purpose, as a squelch
    does: ``meta["skipped"]``). Returns (items, start, end) of the missing samples."""
    assert 0 < k < len(items) - 1
    lost = items[k]
    after = (mark_overflow(items[k + 1], lost.samples) if mark == "overflow"
             else items[k + 1].with_meta(**{mark: lost.samples}))
    out = [*items[:k], after, *items[k + 2:]]
    return out, lost.index, lost.end_index


def run(factory: Callable, items: list, **params: object) -> list[Chunk]:
    out = run_block(factory, items, **params)
    assert all(isinstance(c, Chunk) for c in out)
    return out


def flatten(outputs: Sequence[Chunk]) -> tuple[np.ndarray, np.ndarray]:
    """(absolute output index of every sample/row, the samples/rows), in output order."""
    if not outputs:
        return np.empty(0, np.int64), np.empty(0)
    idx = np.concatenate([np.arange(c.index, c.end_index) for c in outputs])
    return idx, np.concatenate([c.data for c in outputs])


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float, scale: float | None = None
                 ) -> None:
    """|actual - expected| <= rtol * scale everywhere (scale: max |expected| by default)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if not expected.size and not actual.size:
        return
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if scale is None:
        scale = float(np.max(np.abs(expected)))
    error = np.abs(actual.astype(np.complex128) - expected)
    worst = float(np.max(error))
    where = np.unravel_index(np.argmax(error), error.shape)
    assert worst <= rtol * max(scale, 1e-30), f"max error {worst:.3g} > {rtol:g} * {scale:.3g} at {where}"


def assert_grid(outputs: Sequence[Chunk], rate: float, samples_per_output: float = 1.0,
                origin: tuple[int, float] = (0, 0.0)) -> None:
    """Every output chunk has ``rate`` and the time of its index on the absolute grid: output
    j is at input sample j*samples_per_output, input sample i at ``origin[1] + (i -
    origin[0]) / input_rate`` where input_rate = rate * samples_per_output."""
    input_rate = rate * samples_per_output
    for c in outputs:
        assert math.isclose(c.rate, rate, rel_tol=1e-12), (c, rate)
        expected = origin[1] + (c.index * samples_per_output - origin[0]) / input_rate
        assert math.isclose(c.time, expected, rel_tol=1e-9, abs_tol=1e-12), (c, expected)


def assert_contiguous(outputs: Sequence[Chunk]) -> None:
    """No output chunk overlaps or skips, none carries an overflow mark."""
    for a, b in pairwise(outputs):
        assert b.index == a.end_index, (a, b)
    for c in outputs:
        assert "overflow" not in c.meta, c


def expected_outputs(ref: Callable, x: np.ndarray, index: int,
                     segments: Sequence[tuple[int, int]] = ((0, -1),)) -> tuple[np.ndarray, np.ndarray]:
    """(output indices, values) that ``ref`` gives for the pieces ``x[a:b]`` of a stream at
    ``index``, each run as a fresh stream starting at its own absolute index."""
    indices, values = [], []
    for a, b in segments:
        b = len(x) if b == -1 else b
        first, y = ref(x[a:b], index + a)
        indices.append(np.arange(first, first + len(y)))
        values.append(y)
    return np.concatenate(indices), np.concatenate(values)


def check_against(outputs: Sequence[Chunk], ref: Callable, x: np.ndarray, index: int, rtol: float,
                  segments: Sequence[tuple[int, int]] = ((0, -1),), scale: float | None = None) -> None:
    """Outputs equal the reference on the absolute output grid (indices and values)."""
    got_idx, got = flatten(outputs)
    want_idx, want = expected_outputs(ref, x, index, segments)
    np.testing.assert_array_equal(got_idx, want_idx)
    assert_close(got, want, rtol, scale)


def check_overflow_marks(outputs: Sequence[Chunk], mark: str = "overflow") -> list[int]:
    """meta["overflow"] (or ``mark``) of every output chunk is the jump of its index over the
    previous output's end (absent when there is none), and no other gap mark is set; returns
    the jumps found."""
    jumps = []
    other = "skipped" if mark == "overflow" else "overflow"
    for a, b in pairwise(outputs):
        jump = b.index - a.end_index
        assert jump >= 0, (a, b)
        assert other not in b.meta, (a, b)
        if jump:
            jumps.append(jump)
            assert b.meta.get(mark) == jump, (a, b)
        else:
            assert mark not in b.meta, (a, b)
    if outputs:
        assert "overflow" not in outputs[0].meta and "skipped" not in outputs[0].meta
    return jumps


# -- references -------------------------------------------------------------------------------
def wide(x: np.ndarray) -> np.ndarray:
    """x in double precision (complex128 for complex, float64 otherwise)."""
    return x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)


def upfirdn_ref(taps: np.ndarray, factor: int, up: int = 1) -> Callable:
    """``scipy.signal.upfirdn(taps, x, up, factor)`` on the absolute grid: output j is at
    up-sampled position j*factor; the stream is zero before its first sample."""
    from scipy import signal

    def ref(x: np.ndarray, index: int) -> tuple[int, np.ndarray]:
        padded = np.concatenate((np.zeros(index), wide(x), np.zeros(1)))
        y = signal.upfirdn(np.asarray(taps, dtype=np.result_type(np.asarray(taps).dtype, np.float64)),
                           padded, up, factor)
        j0 = -(-index * up // factor)
        j1 = -(-(index + len(x)) * up // factor)
        return j0, y[j0:j1]

    return ref


def frames_on_grid(x: np.ndarray, index: int, size: int, step: int) -> tuple[int, np.ndarray]:
    """Frames k*step .. k*step+size (absolute) that lie inside x (starting at ``index``)."""
    k0 = -(-index // step)
    end = index + len(x)
    count = max(0, (end - size) // step - k0 + 1) if end >= size else 0
    frames = [x[k * step - index:k * step - index + size] for k in range(k0, k0 + count)]
    return k0, np.array(frames).reshape(count, size)


# -- the two generic checks --------------------------------------------------------------------
def check_stream(factory: Callable, ref: Callable, x: np.ndarray, plan: Plan, *, out_dtype: object,
                 rtol: float, per_output: float = 1.0, rate: float = RATE,
                 scale: float | None = None) -> list[Chunk]:
    """Run ``factory`` on ``x`` cut as ``plan`` says and check it against the one-shot ``ref``:
    values and output indices, dtype, rate and time of every output chunk (output j at input
    sample j*per_output), no overlapping or overflow-marked chunk."""
    out = run(factory, split(x, plan.cuts, rate, plan.index))
    check_against(out, ref, x, plan.index, rtol, scale=scale)
    assert {c.data.dtype for c in out} <= {np.dtype(out_dtype)}, (out[:1], out_dtype)
    assert_grid(out, rate / per_output, per_output)
    assert_contiguous(out)
    return out


def check_gap(factory: Callable, ref: Callable, x: np.ndarray, plan: Plan, *, rtol: float,
              per_output: float = 1.0, rate: float = RATE, scale: float | None = None,
              mark: str = "overflow") -> list[Chunk]:
    """Lose chunk ``plan.lost`` (the next one marked overflow=its samples, as the runtime does;
    ``mark="skipped"``: dropped on purpose) and check: the outputs are the reference run on the
    samples before the gap, then on the samples after it as a new stream starting at its own
    index (state reset, absolute grid kept, nothing filtered across); the first output after
    the jump carries ``meta[mark]`` = the output samples missing."""
    items, a, b = drop_chunk(split(x, plan.cuts, rate, plan.index), plan.lost, mark)
    a, b = a - plan.index, b - plan.index
    out = run(factory, items)
    check_against(out, ref, x, plan.index, rtol, segments=((0, a), (b, len(x))), scale=scale)
    assert_grid(out, rate / per_output, per_output)
    jumps = check_overflow_marks(out, mark)
    first, before = ref(x[:a], plan.index)
    after_first, after = ref(x[b:], plan.index + b)
    if len(before) and len(after):
        jump = after_first - (first + len(before))
        assert jumps == ([jump] if jump else []), (jumps, jump)
    else:
        assert jumps == []
    return out
