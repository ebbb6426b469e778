"""Averaging blocks: moving_average over samples, average over frames (N-shot)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..core import Chunk, Stream, block
from .continuity import OutputMarks, named, samplewise, time_at
from .frames import Grouper
from .stats import FrameAverager, MovingAverageState, check_count


@block(name="moving_average", accepts="chunk", produces="same")
async def _moving_average(x: Stream, n: int) -> AsyncIterator[Chunk]:
    state = MovingAverageState(n)
    async for out in samplewise(x, state.reset, lambda chunk: state.process(chunk.data)):
        yield out


def moving_average(stream: Stream, n: int, **options: Any) -> Stream:
    """Mean of the last ``n`` samples at every sample (``lfilter(ones(n)/n, 1, x)``).

    Args:
        stream: chunks of samples.
        n: window length in samples.
        options: name=, buffer=, policy=, threaded=.
    """
    return _moving_average(stream, check_count(n), **named("moving_average", options))


@block(name="average", accepts="chunk", produces="same")
async def _average(x: Stream, n: int) -> AsyncIterator[Chunk]:
    traces = FrameAverager(n)
    rows = Grouper(n, "mean")
    marks = OutputMarks()
    first: Chunk | None = None
    async for chunk in x:
        if chunk.data.ndim >= 2:  # rows are frames, numbered by index
            mean, g0 = rows.push(chunk.data, chunk.index)
            if len(mean):
                yield Chunk(mean, chunk.rate / n, g0, time_at(chunk, g0 * n),
                            marks.meta(chunk.meta, g0, len(mean), average=n))
            continue
        if chunk.meta.get("overflow"):  # a frame after lost data starts a new average
            traces.reset()
        if traces.count == 0:
            first = chunk
        mean = traces.push(chunk.data)
        if mean is not None and first is not None:
            yield Chunk(mean, chunk.rate, first.index, first.time, {**first.meta, "average": n})


def average(stream: Stream, n: int, **options: Any) -> Stream:
    """N-shot mean of frames (pyrpl's ``run_single(avg=n)``).

    A 1-D chunk is one frame (a trace): every ``n`` traces give their mean, with the first
    trace's index and time. A 2-D chunk holds one frame per row (e.g. `spectrum` rows):
    every ``n`` rows, numbered from the stream start, give one row. A gap (lost data) drops
    the partial average.

    Args:
        stream: traces or rows of frames.
        n: frames per average.
        options: name=, buffer=, policy=, threaded=.
    """
    return _average(stream, check_count(n), **named("average", options))
