"""`iterate`: a stream's items, as they arrive, in plain blocking code."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

from . import capture
from .decorator import block
from .driver import make_executor
from .errors import EndOfStream, ReceiverGone
from .graph import build_graph
from .running import Running
from .stream import Stream


class _Handoff:
    """Bounded FIFO from the graph's loop (``put``) to a plain thread (``get``)."""

    def __init__(self, capacity: int):
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"iterate: buffer must be an int >= 1 item, got {capacity!r}")
        self._capacity = capacity
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self._space: asyncio.Future[None] | None = None
        self._closed = False
        self._gone = False

    async def put(self, item: Any) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                if self._gone:
                    raise ReceiverGone
                if len(self._items) < self._capacity:
                    self._items.append(item)
                    self._cond.notify()
                    return
                space = self._space = loop.create_future()
            await space

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self) -> Any:
        """Next item; raises EndOfStream once closed and empty."""
        with self._cond:
            while not self._items:
                if self._closed:
                    raise EndOfStream
                self._cond.wait()
            item = self._items.popleft()
            space, self._space = self._space, None
        _wake(space)
        return item

    def close_receiver(self) -> None:
        with self._cond:
            self._gone = True
            self._items.clear()
            space, self._space = self._space, None
        _wake(space)


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is None:
        return

    def resolve() -> None:
        if not future.done():
            future.set_result(None)

    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
        future.get_loop().call_soon_threadsafe(resolve)


@block(name="iterate")
async def _relay(stream: Stream, handoff: _Handoff) -> None:
    """Hands items to the thread that iterates; stops when that thread stops reading."""
    try:
        async for item in stream:
            await handoff.put(item)
    except ReceiverGone:
        pass
    finally:
        handoff.close()


def iterate(stream: Stream, duration: float | None = None, *, buffer: int = 8) -> Iterator[Any]:
    """Iterate over a stream's items as they arrive, from plain blocking code.

    The graph above ``stream`` runs on a background thread; leaving the loop (``break``, an
    exception, or closing the iterator) stops it.

    Args:
        stream: any stream (not a sink).
        duration: stop the graph after this many seconds.
        buffer: items held between the graph and this thread.

    >>> import daqflow as df
    >>> [x for x in df.iterate(df.from_iterable(range(3)))]
    [0, 1, 2]

    Raises:
        BlockError: a block failed (after the items that came before the failure).
    """
    handoff = _Handoff(buffer)
    sink = _relay(stream, handoff)
    capture.intercept((sink,))
    graph = build_graph((sink,))
    running = Running(graph, duration, runtime=make_executor(graph))
    try:
        while True:
            try:
                item = handoff.get()
            except EndOfStream:
                break
            yield item
    finally:
        handoff.close_receiver()
        running.stop()
        running.wait()
