"""`Handoff`: chunks from a device thread to the event loop, bounded, losses exact.

A device driver (PortAudio's callback, a SoapySDR reader thread) must never wait for the
graph: if the loop falls behind (a block that hogs it, a full FIFO downstream is handled by
the runtime), the handoff is where samples pile up. It holds at most ``capacity`` chunks;
a chunk that does not fit is dropped, its samples counted, and the next chunk that gets
through carries them in ``meta["overflow"]``, and the marks the dropped chunk carried
(``skipped``, ``params``: the same rule as a FIFO's), so the index jump in the stream always
equals the marks. What was dropped after the last chunk delivered is `lost_unmarked`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

from ..core import Chunk
from ..core.authoring import Dropped


class Handoff:
    """A bounded queue of Chunks from one producer thread to one coroutine.

    Args:
        capacity: chunks held at most (>= 1).
        loop: the consumer's event loop.
    """

    def __init__(self, capacity: int, loop: asyncio.AbstractEventLoop):
        if capacity < 1:
            raise ValueError(f"handoff capacity must be >= 1 chunk, got {capacity!r}")
        self.capacity = capacity
        self.dropped_chunks = 0
        self.dropped_samples = 0
        self._loop = loop
        self._items: deque[Chunk] = deque()
        self._lock = threading.Lock()
        self._pending: Dropped | None = None  # dropped here, not yet marked on a delivered chunk
        self._waiter: asyncio.Future[None] | None = None
        self._end: BaseException | bool = False

    # -- producer thread -----------------------------------------------------------------
    def offer(self, chunk: Chunk) -> bool:
        """Queue ``chunk`` without waiting; a full handoff drops it (counted). True if queued."""
        with self._lock:
            if len(self._items) >= self.capacity:
                self.dropped_chunks += 1
                self.dropped_samples += chunk.samples
                if self._pending is None:
                    self._pending = Dropped()
                self._pending.add(chunk)
                return False
            if self._pending is not None:
                chunk = self._pending.mark(chunk)  # type: ignore[assignment]
                self._pending = None
            self._items.append(chunk)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)
        return True

    def finish(self, error: BaseException | None = None) -> None:
        """No more chunks: the consumer gets what is queued, then ``error`` (or the end)."""
        with self._lock:
            self._end = error if error is not None else True
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    # -- consumer coroutine --------------------------------------------------------------
    async def get(self) -> Chunk | None:
        """The next chunk, waiting for it; None at the end. Raises the producer's error."""
        while True:
            with self._lock:
                if self._items:
                    return self._items.popleft()
                end = self._end
                if end is False:
                    waiter = self._waiter = self._loop.create_future()
            if end is True:
                return None
            if isinstance(end, BaseException):
                raise end
            await waiter

    @property
    def lost_unmarked(self) -> int:
        """Samples lost that no delivered chunk reported: dropped after the last chunk that
        got through, and marked (``meta["overflow"]``) on chunks still queued."""
        with self._lock:
            queued = sum(int(c.meta.get("overflow", 0)) for c in self._items)
            return queued + (0 if self._pending is None else self._pending.lost)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
