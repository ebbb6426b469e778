"""Averaging blocks: moving_average over samples, average over frames (N-shot)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core import Chunk, Stream, block
from ..core.authoring import Follow, InputGaps, OutputMarks, Param, with_params
from .checks import check_int
from .driver import kernel_block, time_at
from .kernels.stats import FrameAverager, MovingAverageState, RowAverager


def _moving_average_kernel(rate: float, n: int) -> MovingAverageState:
    return MovingAverageState(n)


_moving_average = kernel_block("moving_average", accepts="chunk", produces="same")


def moving_average(stream: Stream, n: int, **options: Any) -> Stream:
    """Mean of the last ``n`` samples at every sample (``lfilter(ones(n)/n, 1, x)``).

    Args:
        stream: chunks of samples.
        n: window length in samples.
        options: name=, buffer=, policy=, threaded=.
    """
    return _moving_average(stream, _moving_average_kernel, (check_int(n, "n"),), "moving_average",
                           None, **options)


@block(name="average", accepts="chunk", produces="same", per_run=True)
def _average(x: None, n: int | Param[int]) -> Callable[[Chunk], Chunk | None]:
    follow = Follow(n)  # a Param is read once per input chunk
    count: int = follow.value
    traces = FrameAverager(count)
    rows = RowAverager(count)
    gaps = InputGaps()
    marks = OutputMarks(gaps)
    first: Chunk | None = None
    changes: dict[str, int] = {}  # a new n, for the next output chunk's meta

    def step(chunk: Chunk) -> Chunk | None:
        nonlocal count, traces, rows, gaps, marks, first, changes
        if follow.poll():  # n changed: the partial average is dropped, a new one starts
            count = follow.value
            traces, rows, gaps, first = FrameAverager(count), RowAverager(count), InputGaps(), None
            marks = OutputMarks(gaps)
            changes = {follow.name: count}
        if chunk.data.ndim >= 2:  # rows are frames, numbered by index
            gaps.is_gap(chunk)  # (the grouper restarts by itself; this keeps the gap's kind)
            mean, g0 = rows.push(chunk.data, chunk.index)
            if not len(mean):
                return None
            meta = marks.meta(chunk.meta, g0, len(mean), {"average": count})
            out = Chunk(mean, chunk.rate / count, g0, time_at(chunk, g0 * count),
                        with_params(meta, changes))
            changes = {}
            return out
        # a frame after lost or skipped data (e.g. a retune) starts a new average
        if chunk.meta.get("overflow") or chunk.meta.get("skipped"):
            traces.reset()
        if traces.count == 0:
            first = chunk
        mean = traces.push(chunk.data)
        if mean is None or first is None:
            return None
        meta = with_params({**first.meta, "average": count}, changes)
        changes = {}
        return Chunk(mean, chunk.rate, first.index, first.time, meta)

    return step


def average(stream: Stream, n: int | Param[int], **options: Any) -> Stream:
    """N-shot mean of frames (pyrpl's ``run_single(avg=n)``).

    A 1-D chunk is one frame (a trace): every ``n`` traces give their mean, with the first
    trace's index and time. A 2-D chunk holds one frame per row (e.g. `spectrum` rows):
    every ``n`` rows, numbered from the stream start, give one row. A gap (lost or skipped
    data: an index jump, or a trace marked ``overflow`` / ``skipped``) drops the partial average.

    ``n`` may be an int `daqflow.Param` (``kind=int, low>=1``), read once per input chunk.
    When it changes, the partial average is dropped and a new one starts with the new ``n``;
    the first output made with it has ``meta["params"] = {name: n}``. For rows, the output
    rate becomes ``rate / n`` and rows are grouped on the new n's grid from the stream start
    (the output index is the group number on that grid).

    Args:
        stream: traces or rows of frames.
        n: frames per average, or an int Param.
        options: name=, buffer=, policy=, threaded=.
    """
    if isinstance(n, Param):
        if n.kind is not int or n.low is None or n.low < 1:
            raise ValueError(f"average: n={n!r} must be an int Param with low >= 1 "
                             f"(e.g. df.param(16, name={n.name!r}, kind=int, low=1))")
        return _average(stream, n, **options)
    return _average(stream, check_int(n, "n"), **options)
