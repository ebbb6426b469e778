"""`Channel`: the bounded FIFO on every edge of a graph.

One producer task and one consumer task per channel. The hot path is a deque append/popleft;
a waiting side parks on a single future, so a hop costs no more than it must. When the FIFO is
full the channel's policy decides: ``"block"`` waits (backpressure), ``"drop_oldest"`` evicts
the oldest item, ``"drop_newest"`` discards the incoming one. Every drop is counted and marked
on the next Chunk that gets through: as ``meta["overflow"]`` (samples lost just before it) when
a "block" FIFO could not wait (a real-time producer), as ``meta["skipped"]`` (skipped by
design) under a lossy policy its consumer chose; the marks a dropped chunk carried
(``overflow``, ``skipped``, ``params``) pass to it too (`Dropped`).
"""

from __future__ import annotations

import dataclasses
import types
from asyncio import current_task
from collections import deque
from collections.abc import Callable, Generator
from time import perf_counter
from typing import Any, Literal

from .chunk import Dropped, item_samples
from .errors import EndOfStream, ReceiverGone
from .scheduler import EAGER_TASKS, NO_SCHEDULER, Member, fifo_waiter

Policy = Literal["block", "drop_oldest", "drop_newest"]
POLICIES: tuple[str, ...] = ("block", "drop_oldest", "drop_newest")


class WouldBlock(Exception):
    """Raised by ``get_nowait`` on an empty open channel."""


@dataclasses.dataclass(frozen=True)
class ChannelStatistics:
    """Counters of one channel (times in seconds)."""

    capacity: int
    policy: str
    size: int
    items_in: int
    items_out: int
    dropped_items: int
    dropped_samples: int
    discarded: int
    high_water: int
    blocked: float
    starved: float
    closed: bool


class Channel:
    """Bounded FIFO with end-of-stream, loss accounting and wait timing.

    Args:
        capacity: FIFO length in items (>= 1).
        policy: what a full FIFO does to a new item: "block", "drop_oldest" or "drop_newest".
    """

    __slots__ = (
        "_check",
        "_closed",
        "_getter",
        "_items",
        "_pending",
        "_putter",
        "_receiver_closed",
        "_removed",
        "_room",
        "blocked",
        "capacity",
        "cut_short",
        "discarded",
        "discarded_samples",
        "dropped_items",
        "dropped_samples",
        "high_water",
        "items_in",
        "policy",
        "scheduler",
        "starved",
        "upstream_error",
    )

    def __init__(self, capacity: int = 8, policy: Policy = "block"):
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"channel capacity must be an int >= 1 item, got {capacity!r}")
        if policy not in POLICIES:
            raise ValueError(f"channel policy must be one of {POLICIES}, got {policy!r}")
        self.capacity = capacity
        self.policy = policy
        self._items: deque[Any] = deque()
        self._getter: Any = None  # what the waiting side awaits: `fifo_waiter`
        self._putter: Any = None
        self._closed = False
        self._receiver_closed = False
        self._room = capacity  # try_put's limit: 0 while a mark is pending or nobody reads
        self.scheduler: Any = NO_SCHEDULER  # the `Scheduler` stepping its blocks, if any
        self._pending: Dropped | None = None  # dropped, not yet marked on a delivered item
        self.upstream_error: tuple[str, BaseException] | None = None
        self.cut_short: str | None = None  # why a drain cut short ended it (`cut`)
        self._check: Callable[[Any], None] | None = None
        self.items_in = 0
        self._removed = 0  # items taken out other than by the consumer (evicted, cleared)
        self.discarded_samples = 0
        self.dropped_items = 0
        self.dropped_samples = 0
        self.discarded = 0
        self.high_water = 0
        self.blocked = 0.0
        self.starved = 0.0

    # -- producer side -------------------------------------------------------------------
    async def put(self, item: Any) -> None:
        """Append ``item``; when full, wait ("block") or drop per the policy.

        Raises:
            ReceiverGone: the consumer stopped reading.
        """
        if self.try_put(item):
            return
        if self._receiver_closed:
            raise ReceiverGone
        items = self._items
        if len(items) >= self.capacity and self.policy == "block":
            t0 = perf_counter()
            try:
                while len(items) >= self.capacity:
                    fut = self._putter = fifo_waiter(self.scheduler)
                    await fut
                    if self._receiver_closed:
                        raise ReceiverGone
            finally:
                self._putter = None
                self.blocked += perf_counter() - t0
        self._append(item)

    def try_put(self, item: Any) -> bool:
        """Append ``item`` if that needs no wait, no drop and no mark; else False (and nothing
        done). The hot path of a block that feeds one FIFO: ``try_put(x) or await put(x)``."""
        items = self._items
        n = len(items)
        if n >= self._room:
            return False
        items.append(item)  # _push inlined: the hot path
        self.items_in += 1
        if n >= self.high_water:
            self.high_water = n + 1
        getter = self._getter
        if getter is not None:
            self._getter = None
            if type(getter) is Member or not getter.done():  # (a Member's is idempotent)
                getter.set_result(None)
        return True

    def _push(self, item: Any) -> None:
        items = self._items
        items.append(item)
        self.items_in += 1
        if len(items) > self.high_water:
            self.high_water = len(items)
        self._wake_getter()

    def _wake_getter(self) -> None:
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(None)

    def _wake_putter(self) -> None:
        putter = self._putter
        if putter is not None:
            self._putter = None
            if not putter.done():
                putter.set_result(None)

    def discard(self, item: Any) -> None:
        """Count ``item`` as discarded: its producer sent it to other FIFOs too (a fan-out)
        but this one's consumer has stopped reading."""
        self.discarded += 1
        self.discarded_samples += item_samples(item)

    def push_over(self, item: Any) -> None:
        """Append ``item`` even past capacity (a fan-out cut mid-item by a stop: the FIFOs
        its producer already fed hold it, so this one must too); counted as discarded if
        the consumer has gone."""
        if self._receiver_closed:
            self.discard(item)
            return
        if self._pending is not None:
            item = self._pending.mark(item)
            self._set_pending(None)
        self._push(item)

    def put_nowait(self, item: Any) -> bool:
        """Append ``item`` without ever waiting; a full FIFO drops per the policy.

        A "block" channel fed by a producer that cannot wait (a real-time source) drops the
        new item, as "drop_newest" does. Returns True if ``item`` was queued.

        Raises:
            ReceiverGone: the consumer stopped reading.
        """
        if self._receiver_closed:
            raise ReceiverGone
        if len(self._items) >= self.capacity and self.policy != "drop_oldest":
            self._drop(item)
            return False
        self._append(item)
        return True

    def _append(self, item: Any) -> None:
        items = self._items
        if len(items) >= self.capacity:
            if self.policy == "drop_newest":
                self._drop(item)
                return
            evicted = items.popleft()  # drop_oldest
            self._removed += 1
            self.dropped_items += 1
            self.dropped_samples += item_samples(evicted)
            if items:
                gone = Dropped(self.policy != "block")
                gone.add(evicted)
                items[0] = gone.mark(items[0])
            else:
                self._pending_drop(evicted)
        if self._pending is not None:
            item = self._pending.mark(item)
            self._set_pending(None)
        self._push(item)

    def _drop(self, item: Any) -> None:
        self.dropped_items += 1
        self.dropped_samples += item_samples(item)
        self._pending_drop(item)

    def _pending_drop(self, item: Any) -> None:
        if self._pending is None:
            self._set_pending(Dropped(self.policy != "block"))
        self._pending.add(item)

    def _set_pending(self, pending: Dropped | None) -> None:
        self._pending = pending
        self._room = 0 if pending is not None or self._receiver_closed else self.capacity

    def close(self, upstream_error: tuple[str, BaseException] | None = None) -> None:
        """End of stream: the consumer reads what is queued, then its iteration stops.

        ``upstream_error``: (block name, exception) when the stream ended because that block
        failed upstream (see `upstream_failure`)."""
        if upstream_error is not None and self.upstream_error is None:
            self.upstream_error = upstream_error
        self._closed = True
        self._wake_getter()

    # -- consumer side -------------------------------------------------------------------
    async def get(self) -> Any:
        """Next item, waiting while the FIFO is empty.

        Raises:
            EndOfStream: the channel is closed and empty.
        """
        items = self._items
        if not items:
            if self._closed:
                raise EndOfStream
            t0 = perf_counter()
            try:
                while not items:
                    if self._closed:
                        raise EndOfStream
                    fut = self._getter = fifo_waiter(self.scheduler)
                    await fut
            finally:
                self._getter = None
                self.starved += perf_counter() - t0
        return self._take()

    def _take(self) -> Any:
        item = self._items.popleft()
        self._wake_putter()
        if self._check is not None:
            self._check(item)
        return item

    def get_nowait(self) -> Any:
        """Next item without waiting.

        Raises:
            WouldBlock: empty but open. EndOfStream: closed and empty.
        """
        if not self._items:
            if self._closed:
                raise EndOfStream
            raise WouldBlock
        return self._take()

    def close_receiver(self) -> None:
        """The consumer stops reading: queued items are discarded, the producer's next put fails."""
        self._receiver_closed = True
        self._room = 0
        self.discarded += len(self._items)
        self.discarded_samples += self.queued_samples()
        self._removed += len(self._items)
        self._items.clear()
        self._wake_putter()

    def cut(self, why: str = "interrupt") -> None:
        """A drain cut short (``why``: a key of `DRAIN_CUT_BY`): queued items are discarded
        (counted in ``discarded``), the producer's next put fails and the consumer's iteration
        ends at once (`was_cut` tells a sink so)."""
        self.cut_short = why
        self.close_receiver()
        self.close()

    def __aiter__(self) -> Channel:
        return self

    @types.coroutine
    def __anext__(self) -> Generator[Any, None, Any]:
        # get() inlined: this is the hop every block's `async for` takes. A generator-based
        # coroutine: a wait yields the waiting scheduler member itself (no awaitable made).
        # Awaitable, and `asyncio.ensure_future` wraps it; from Python 3.12 `create_task`
        # takes native coroutines only: a task that gets one item awaits `get()` (a port's
        # `receive()`) instead
        items = self._items
        if not items:
            if self._closed:
                raise StopAsyncIteration
            t0 = perf_counter()
            try:
                while not items:
                    if self._closed:
                        raise StopAsyncIteration
                    member = self.scheduler.running  # (fifo_waiter inlined)
                    if member is not None and (
                            not EAGER_TASKS or current_task() is member.stand_in):
                        member._parked = True
                        self._getter = member
                        yield member
                    else:
                        fut = self._getter = fifo_waiter(self.scheduler)
                        yield from fut
            finally:
                self._getter = None
                self.starved += perf_counter() - t0
        item = items.popleft()  # _take inlined: the hot path
        putter = self._putter
        if putter is not None:
            self._putter = None
            if type(putter) is Member or not putter.done():
                putter.set_result(None)
        if self._check is not None:
            self._check(item)
        return item

    # -- introspection -------------------------------------------------------------------
    def queued_samples(self) -> int:
        """Samples in the items now queued."""
        return sum(item_samples(item) for item in tuple(self._items))  # snapshot: safe off-loop

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items_out(self) -> int:
        """Items the consumer has taken (counted from the others: no count per item)."""
        return max(0, self.items_in - len(self._items) - self._removed)  # (>= 0 off-loop)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def receiver_closed(self) -> bool:
        return self._receiver_closed

    def statistics(self) -> ChannelStatistics:
        return ChannelStatistics(
            capacity=self.capacity,
            policy=self.policy,
            size=len(self._items),
            items_in=self.items_in,
            items_out=self.items_out,
            dropped_items=self.dropped_items,
            dropped_samples=self.dropped_samples,
            discarded=self.discarded,
            high_water=self.high_water,
            blocked=self.blocked,
            starved=self.starved,
            closed=self._closed,
        )


def upstream_failure(stream: Any) -> tuple[str, BaseException] | None:
    """Why an input stream a block has iterated to its end ended: (name of the block that
    failed upstream, its exception), or None for a plain end of stream.

    A sink that forwards a stream elsewhere (a server, a file another program reads) uses it
    to pass on a failure rather than a clean end."""
    failure = getattr(stream, "upstream_failure", None)  # a ReceivePort's
    return failure if isinstance(failure, tuple) else None


def was_cut(stream: Any) -> str | None:
    """Why an input stream ended because the run's drain was cut short (a timeout, a second
    Ctrl-C, the death of the process that ran the graph), or None: items still queued upstream
    were discarded, so a recording lacks its tail."""
    why = getattr(stream, "cut_short", None)
    return why if isinstance(why, str) and why else None
