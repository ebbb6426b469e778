"""A block's input as the block sees it: a receive-only port on its FIFO.

What a block may do with an input, and nothing more (as trio's receive channels): iterate it
(``async for item in port``), `receive` one item, `receive_nowait` (raises `WouldBlock` when
nothing is queued), ask whether it is `closed`, why it ended (`upstream_failure`,
`cut_short`) and for its `statistics`. A block never sees the FIFO's sending side. The same
port comes to a block on a worker thread (``threaded=True``: `ThreadPort`, which reaches the
FIFO on the graph's loop).
"""

from __future__ import annotations

import asyncio
from typing import Any

from .channel import Channel, ChannelStatistics, WouldBlock
from .errors import EndOfStream

__all__ = ["ReceivePort", "ThreadPort", "WouldBlock"]


class ReceivePort:
    """The receiving end of one input FIFO, on the graph's loop.

    ``async for`` is the fast path; `receive` is a native coroutine (what
    ``asyncio.create_task`` takes from Python 3.12 on, for a task that waits for one item)."""

    __slots__ = ("_channel",)

    def __init__(self, channel: Channel):
        self._channel = channel

    def __aiter__(self) -> Any:
        return self._channel.__aiter__()  # the FIFO's own iteration: the hop stays as fast

    async def receive(self) -> Any:
        """The next item (waits for one).

        Raises:
            EndOfStream: the stream has ended and nothing is queued.
        """
        return await self._channel.get()

    def receive_nowait(self) -> Any:
        """The next item if one is queued.

        Raises:
            WouldBlock: nothing queued, the stream goes on. EndOfStream: it has ended.
        """
        return self._channel.get_nowait()

    @property
    def closed(self) -> bool:
        """True once the producer has ended (items may still be queued)."""
        return self._channel.closed

    @property
    def upstream_failure(self) -> tuple[str, BaseException] | None:
        """(block, exception) when the stream ended because a block upstream failed."""
        return self._channel.upstream_error

    @property
    def cut_short(self) -> str | None:
        """Why the run's drain was cut short (items queued upstream were discarded), or None."""
        return self._channel.cut_short

    def statistics(self) -> ChannelStatistics:
        """The FIFO's counters now (a frozen snapshot)."""
        return self._channel.statistics()


class ThreadPort(ReceivePort):
    """A `ReceivePort` read from a worker thread's loop; the FIFO lives on the graph's loop
    (``home``), where each receive runs."""

    __slots__ = ("_home",)

    def __init__(self, channel: Channel, home: asyncio.AbstractEventLoop):
        super().__init__(channel)
        self._home = home

    def __aiter__(self) -> ThreadPort:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except EndOfStream:
            raise StopAsyncIteration from None

    async def receive(self) -> Any:
        future = asyncio.run_coroutine_threadsafe(self._channel.get(), self._home)
        return await asyncio.wrap_future(future)

    def receive_nowait(self) -> Any:
        future = asyncio.run_coroutine_threadsafe(_nowait(self._channel), self._home)
        return future.result()


async def _nowait(channel: Channel) -> Any:
    return channel.get_nowait()
