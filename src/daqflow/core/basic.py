"""Basic sources and sinks: `from_iterable`, `collect`, `null_sink`."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

import numpy as np

from .chunk import Chunk
from .decorator import block
from .stream import Stream


@block
async def from_iterable(iterable: Iterable[Any] | AsyncIterable[Any], rate: float | None = None
                        ) -> AsyncIterator[Any]:
    """A source of the items of an (async) iterable, as fast as the graph takes them.

    Args:
        iterable: the items.
        rate: sample rate in Hz; if given, arrays become Chunks with ``index`` counting
            samples and ``time = index / rate`` (Chunks pass unchanged).

    >>> import daqflow as df
    >>> c = df.run(df.collect(df.from_iterable([[1, 2], [3]], rate=10.0))).results["collect"]
    >>> [(x.index, x.time) for x in c]
    [(0, 0.0), (2, 0.2)]
    """
    if rate is not None and not rate > 0:
        raise ValueError(f"from_iterable: rate must be > 0 Hz, got {rate!r}")
    index = 0

    def wrap(item: Any) -> Any:
        nonlocal index
        if rate is None or isinstance(item, Chunk):
            return item
        chunk = Chunk(np.asarray(item), rate, index, index / rate)
        index += chunk.samples
        return chunk

    if isinstance(iterable, AsyncIterable):
        async for item in iterable:
            yield wrap(item)
    else:
        for item in iterable:
            yield wrap(item)


@block
async def collect(stream: Stream) -> list[Any]:
    """A sink that keeps every item; its result is the list of items.

    >>> import daqflow as df
    >>> df.run(df.collect(df.from_iterable("ab"))).results["collect"]
    ['a', 'b']
    """
    items: list[Any] = []
    append = items.append
    async for item in stream:
        append(item)
    return items


@block
async def null_sink(stream: Stream) -> int:
    """A sink that discards items; its result is how many it read."""
    n = 0
    async for _ in stream:
        n += 1
    return n
