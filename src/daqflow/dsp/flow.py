"""Stream shaping blocks: rechunk, head, skip, throttle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from ..core import Chunk, Pacer, Stream, block
from ..core.authoring import InputGaps, OutputMarks
from .checks import check_int
from .driver import time_at


@block(name="rechunk", accepts="chunk", produces="same")
async def _rechunk(x: Stream, size: int) -> AsyncIterator[Chunk]:
    gaps = InputGaps()
    marks = OutputMarks(gaps)
    held = np.empty(0)  # samples not yet sent, the first at absolute index `start`
    start = 0
    previous: Chunk | None = None

    def cut(count: int, clock: Chunk) -> Chunk:
        nonlocal held, start
        out, held = held[:count], held[count:]
        chunk = Chunk(out, clock.rate, start, time_at(clock, start), marks.meta(clock.meta, start, count))
        start += count
        return chunk

    async for chunk in x:
        if gaps.is_gap(chunk) and len(held) and previous is not None:
            yield cut(len(held), previous)  # flush: samples never join across lost data
        if not len(held):
            held, start = chunk.data, chunk.index
        else:
            held = np.concatenate((held, chunk.data))
        previous = chunk
        while len(held) >= size:
            yield cut(size, chunk)
    if len(held) and previous is not None:
        yield cut(len(held), previous)


def rechunk(stream: Stream, size: int, **options: Any) -> Stream:
    """Re-cut a stream into chunks of exactly ``size`` samples (the last may be shorter; so
    is the one before a gap: samples never join across lost data).

    Args:
        stream: chunks of samples.
        size: samples per output chunk.
        options: name=, buffer=, policy=, threaded=.
    """
    return _rechunk(stream, check_int(size, "size"), **options)


@block(name="head")
async def _head(x: Stream, n: int) -> AsyncIterator[Any]:
    left = n
    if left == 0:
        return
    async for item in x:
        if isinstance(item, Chunk):
            if item.samples > left:
                item = item.replace(data=item.data[:left])
            left -= item.samples
        else:
            left -= 1
        yield item
        if left <= 0:
            return  # the block ends: upstream stops when nobody else reads


def head(stream: Stream, n: int, **options: Any) -> Stream:
    """The first ``n`` samples (items, for a stream of other objects), then end of stream.

    Args:
        stream: any stream.
        n: samples to pass (>= 0).
        options: name=, buffer=, policy=, threaded=.
    """
    return _head(stream, check_int(n, "n", 0, "samples"), **options)


@block(name="skip")
async def _skip(x: Stream, n: int) -> AsyncIterator[Any]:
    left = n
    async for item in x:
        if left <= 0:
            yield item
        elif isinstance(item, Chunk):
            if item.samples > left:
                yield Chunk(item.data[left:], item.rate, item.index + left,
                            time_at(item, item.index + left), item.meta)
            left -= min(left, item.samples)
        else:
            left -= 1


def skip(stream: Stream, n: int, **options: Any) -> Stream:
    """Drop the first ``n`` samples (items, for other objects); indices stay absolute.

    Args:
        stream: any stream.
        n: samples to drop (>= 0).
        options: name=, buffer=, policy=, threaded=.
    """
    return _skip(stream, check_int(n, "n", 0, "samples"), **options)


@block(name="throttle")
async def _throttle(x: Stream, rate: float) -> AsyncIterator[Any]:
    pacer = Pacer.per_second(rate)  # catch up: an item leaves at t0 + samples so far / rate
    async for item in x:
        await pacer.wait(item.samples if isinstance(item, Chunk) else 1)
        yield item


def throttle(stream: Stream, rate: float, **options: Any) -> Stream:
    """Pace a stream to ``rate`` samples per second (items per second for other objects),
    on absolute deadlines, as GNU Radio's throttle: for replaying files in real time.

    Args:
        stream: any stream.
        rate: samples per second (> 0).
        options: name=, buffer=, policy=, threaded=.
    """
    if not rate > 0:
        raise ValueError(f"rate must be > 0 samples/s, got {rate!r}")
    return _throttle(stream, float(rate), **options)
