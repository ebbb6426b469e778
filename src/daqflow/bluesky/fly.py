"""`StreamFlyer`: a daqflow graph output as an ophyd-async flyer for fly scans.

``kickoff()`` adds a sink to the stream, starts the graph (`daqflow.start`: its own thread
and loop) and is done when the first item has arrived (so its shape and units are known);
``complete()`` is done when the graph has ended: its sources ended, its ``duration`` ran
out, or ``count`` events were taken (then the sink returns and the graph stops);
``collect()`` yields one event per sample of the items received since the last collect
(``per="chunk"``: one per chunk). Items wait in memory until collected: bound a fly scan
with ``count`` or ``duration``, or collect while it runs.

Each event: ``NAME`` (the sample: a spectrum row, a frame, a value), ``NAME-time`` (its
time in the stream, seconds), ``NAME-index`` (its sample index: a jump is a loss, see
``meta["overflow"]``), and ``NAME-freqs`` (Hz) when the chunks carry ``meta["freqs"]``.
Time stamps: the wall-clock time of the kickoff plus the sample's stream time (a replay
with ``realtime=False`` runs ahead of that clock); the event's ``time``: when it reached the
flyer. A graph failure fails ``complete()`` (or ``kickoff()``) with the block's error.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from event_model import DataKey, PartialEvent
from ophyd_async.core import AsyncStatus, Device

from ..core import Chunk, Running, Stream, block, start
from .keys import data_key, meta_configuration

POLL = 0.01  # seconds between looks at the graph from the RunEngine's loop


class _Inbox:
    """Items from the graph's loop to the RunEngine's: appended there, taken here
    (a deque's append and popleft are atomic), with their arrival time."""

    def __init__(self, count: int | None, per: str):
        self.items: deque[tuple[Any, float]] = deque()
        self.left = count  # events still to take (None: all)
        self.per = per
        self.seen = 0
        self.ended = False

    def add(self, item: Any) -> bool:
        """Keep ``item`` (cut to the events still wanted); False once ``count`` is reached."""
        if self.left is not None:
            events = _events_in(item, self.per)
            if events > self.left:
                item = item.replace(data=item.data[: self.left])
                events = self.left
            self.left -= events
        self.items.append((item, time.time()))
        self.seen += 1
        return self.left is None or self.left > 0


@block(name="bluesky")
async def _hand_over(stream: Stream, inbox: _Inbox) -> None:
    try:
        async for item in stream:
            if not inbox.add(item):
                break
    finally:
        inbox.ended = True


def _events_in(item: Any, per: str) -> int:
    if per == "sample" and isinstance(item, Chunk) and item.data.ndim:
        return len(item.data)
    return 1


class StreamFlyer(Device):
    """A daqflow stream as a flyer: kickoff / complete / collect (see the module).

    Args:
        stream: the stream (not a sink); its graph runs at each kickoff.
        name: the device's name (its stream's name in bluesky, prefix of its data keys).
        count: events to take, then the graph stops (None: until it ends).
        duration: seconds the graph runs (None: until it ends or ``count``).
        per: "sample" (one event per sample: a spectrum row, a value) or "chunk".
        units: units of the data (default: the chunks' ``meta["units"]``).
    """

    def __init__(self, stream: Stream, name: str, *, count: int | None = None,
                 duration: float | None = None, per: str = "sample",
                 units: str | None = None) -> None:
        where = f"daqflow.bluesky.detector {name!r}"
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                                  or count < 1):
            raise ValueError(f"{where}: count must be an int >= 1 or None, got {count!r}")
        if duration is not None and not duration > 0:
            raise ValueError(f"{where}: duration must be > 0 seconds or None, got {duration!r}")
        if per not in ("sample", "chunk"):
            raise ValueError(f"{where}: per must be 'sample' or 'chunk', got {per!r}")
        self._stream, self._count, self._duration = stream, count, duration
        self._per, self._units = per, units
        self._inbox: _Inbox | None = None
        self._graph: Running | None = None
        self._anchor = 0.0
        self._first: Any = None  # the first item of the scan: shape, units, configuration
        super().__init__(name=name)

    # -- Flyable ----------------------------------------------------------------------------
    @AsyncStatus.wrap
    async def kickoff(self) -> None:
        if self._graph is not None and not self._graph.done():
            raise RuntimeError(f"{self.name}: kickoff while the last fly scan's graph runs; "
                               "complete() or stop() it first")
        inbox = self._inbox = _Inbox(self._count, self._per)
        self._first = None
        self._anchor = time.time()
        graph = self._graph = start(_hand_over(self._stream, inbox, name=f"bluesky-{self.name}"),
                                    duration=self._duration)
        await _poll(graph, lambda: bool(inbox.items))
        if inbox.items:
            self._first = inbox.items[0][0]
            return
        graph.wait()  # raises the block's error, if one failed
        raise RuntimeError(f"{self.name}: the stream ended before its first item")

    def complete(self) -> AsyncStatus:
        if self._graph is None:
            raise RuntimeError(f"{self.name}: complete() before kickoff()")
        return AsyncStatus(self._wait_for_end(self._graph), name=self.name)

    async def _wait_for_end(self, graph: Running) -> None:
        await _poll(graph, lambda: False)
        graph.wait()  # raises the block's error, if one failed

    def stop(self, success: bool = True) -> None:
        """Stop the graph (orderly: FIFOs drain to the flyer); returns at once."""
        if self._graph is not None:
            self._graph.stop()

    # -- EventCollectable -------------------------------------------------------------------
    def describe_collect(self) -> dict[str, dict[str, DataKey]]:
        """{NAME: data keys} (one bluesky stream, named after the device)."""
        if self._first is None:
            raise RuntimeError(f"{self.name}: describe_collect() before any data: kickoff() "
                               "first")
        event = next(self._events(self._first, 0.0))
        source = f"daqflow:{self.name}"
        units = self._units or _meta(self._first).get("units")
        value = np.asarray(event["data"][self.name])
        shape = [None, *value.shape[1:]] if self._per == "chunk" and value.ndim else None
        keys = {}
        for key, item in event["data"].items():
            if key == self.name:
                dims = [f"{self.name}-freqs"] if f"{self.name}-freqs" in event["data"] else None
                keys[key] = data_key(item, source, units=units, dims=dims, shape=shape)
            else:
                suffix = key[len(self.name):]
                keys[key] = data_key(item, source, units={"-time": "s", "-freqs": "Hz"}.get(suffix),
                                     dims=[key] if suffix == "-freqs" else None)
        return {self.name: keys}

    def collect(self) -> Iterator[PartialEvent]:
        """The events of the items received since the last collect."""
        inbox = self._inbox
        while inbox is not None and inbox.items:
            item, arrived = inbox.items.popleft()
            yield from self._events(item, arrived)

    # -- AsyncConfigurable: the stream's rate and its first chunk's scalar metadata ---------
    async def read_configuration(self) -> dict[str, Any]:
        return self._configuration()[0]

    async def describe_configuration(self) -> dict[str, DataKey]:
        return self._configuration()[1]

    def _configuration(self) -> tuple[dict[str, Any], dict[str, DataKey]]:
        first = self._first
        extra = {"rate": (first.rate, "Hz")} if isinstance(first, Chunk) else {}
        return meta_configuration(self.name, _meta(first), f"daqflow:{self.name}", extra)

    # -- helpers ----------------------------------------------------------------------------
    def _events(self, item: Any, arrived: float) -> Iterator[PartialEvent]:
        name = self.name
        if not isinstance(item, Chunk):
            stamp = arrived
            data = {name: item, f"{name}-time": arrived - self._anchor}
            yield PartialEvent(data=data, timestamps=dict.fromkeys(data, stamp), time=arrived)
            return
        freqs = item.meta.get("freqs")
        start = _stream_time(item)
        if self._per == "chunk" or not item.data.ndim:
            rows = [(item.data, start, item.index)]
        else:
            rows = ((row, start + k / item.rate, item.index + k)
                    for k, row in enumerate(item.data))
        for value, t, index in rows:
            data = {name: value, f"{name}-time": t, f"{name}-index": index}
            if freqs is not None:
                data[f"{name}-freqs"] = freqs
            stamp = t if t > POSIX_TIMES else self._anchor + t
            yield PartialEvent(data=data, timestamps=dict.fromkeys(data, stamp), time=arrived)


async def _poll(graph: Running, until: Callable[[], bool]) -> None:
    """Wait until ``until()`` or the graph's end; cancelled (a RunEngine abort), stop the graph."""
    try:
        while not until() and not graph.done():
            await asyncio.sleep(POLL)
    except asyncio.CancelledError:
        graph.stop()
        raise


#: stream times beyond this many seconds are POSIX times (a device's own stamps: EPICS,
#: Tango), not seconds since the stream began (2001-09-09)
POSIX_TIMES = 1e9


def _stream_time(item: Chunk) -> float:
    """Time of the item's first sample on its stream's clock (s). An instrument's trace counts
    its time from its trigger; when it triggered is ``meta["trigger_time"]``."""
    meta = item.meta
    if "instrument" in meta and "trigger_time" in meta:
        return float(meta["trigger_time"]) + item.time
    return item.time


def _meta(item: Any) -> dict[str, Any]:
    return item.meta if isinstance(item, Chunk) else {}

