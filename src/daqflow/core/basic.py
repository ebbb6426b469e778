"""Basic sources and sinks: `from_iterable`, `collect`, `null_sink`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

import numpy as np

from .block_state import running_block
from .chunk import Chunk
from .decorator import block
from .stream import Stream

log = logging.getLogger("daqflow")


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


#: bytes a `collect` may hold before it warns (once) that its run may never end
COLLECT_WARN_BYTES = 512 * 2**20


def _nbytes(item: Any) -> int:
    """Bytes of an item's samples (a Chunk's or an array's; 64 for anything else)."""
    data = item.data if isinstance(item, Chunk) else item
    return int(data.nbytes) if isinstance(data, np.ndarray) else 64


@block
async def collect(stream: Stream, warn_bytes: int = COLLECT_WARN_BYTES) -> list[Any]:
    """A sink that keeps every item; its result is the list of items.

    It holds everything in memory: fed by an endless source, bound the run (``duration=``
    seconds, or `dsp.head`); once it holds more than ``warn_bytes`` of samples it logs one
    warning saying so.

    >>> import daqflow as df
    >>> df.run(df.collect(df.from_iterable("ab"))).results["collect"]
    ['a', 'b']
    """
    items: list[Any] = []
    append = items.append
    held = 0
    async for item in stream:
        append(item)
        if held <= warn_bytes:
            held += _nbytes(item)
            if held > warn_bytes:
                log.warning(
                    "%s holds %.0f MiB (%d items) and keeps every item until its stream ends: "
                    "bound the run with df.run(..., duration=SECONDS) or dsp.head(stream, "
                    "SAMPLES), or stop it with Ctrl-C (it then returns what it holds)",
                    running_block().name, held / 2**20, len(items))
    return items


@block
async def null_sink(stream: Stream) -> int:
    """A sink that discards items; its result is how many it read."""
    n = 0
    async for _ in stream:
        n += 1
    return n
