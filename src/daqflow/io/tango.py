"""`tango_source`: one attribute of a Tango device as a stream (change events, or polling).

Each reading is one Chunk whose data holds one row: shape ``(1,)`` for a scalar attribute,
``(1, N)`` for a spectrum, ``(1, H, W)`` for an image. ``chunk.time`` is the attribute's own
timestamp (seconds since the epoch), ``chunk.index`` counts readings since the start (lost
ones included), ``meta["quality"]`` is Tango's quality name (``"ATTR_VALID"``,
``"ATTR_WARNING"``, ``"ATTR_ALARM"``, ``"ATTR_CHANGING"``). A reading of quality
``ATTR_INVALID`` has no value: it is lost data, marked ``meta["overflow"]`` on the next chunk.

The source is real-time: it never waits for the graph. Events arrive on Tango's event thread
and cross to the loop through a bounded `Handoff`; events it drops, and events Tango reports
missed (``API_MissedEvents``), are counted as lost (``meta["overflow"]`` on the next chunk,
``BlockReport.lost``). Any other error event, or a failed read, ends the source with one
line naming the device and the attribute.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block, note_lost
from ..core.authoring import Grid, require
from .handoff import Handoff

_CAPACITY = 64  # readings the event handoff holds while the loop is busy


def _tango() -> Any:
    return require("tango", "facility", "tango_source")


def failure_text(exc: Any) -> str:
    """One line for a Tango error: a ``DevFailed`` or an event's ``errors`` (the first error's
    reason and text)."""
    errors = exc if isinstance(exc, list | tuple) else getattr(exc, "args", ())
    first = errors[0] if errors else exc
    desc = getattr(first, "desc", None)
    if desc is None:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = " ".join(str(desc).strip().splitlines()[0].split()) if str(desc).strip() else ""
    if "OBJECT_NOT_EXIST" in text:
        text += " (the server has no such device)"
    return f"{first.reason}: {text}" if getattr(first, "reason", "") else text


class _Reader:
    """Turns Tango attribute values into Chunks: index, marks, quality."""

    def __init__(self, tango: Any, rate: float, where: str):
        self.invalid = tango.AttrQuality.ATTR_INVALID
        self.rate = rate
        self.where = where
        self.index = 0
        self.lost = 0  # missed or invalid readings not yet marked on a chunk

    def chunk(self, value: Any) -> Chunk | None:
        """The next reading as a Chunk (None for an invalid one: the device had no value, a
        loss: marked ``overflow`` on the next chunk, not a skip on purpose)."""
        index = self.index
        self.index += 1
        if value.quality == self.invalid or value.value is None:
            self.lost += 1
            return None
        meta: dict[str, Any] = {"quality": str(value.quality.name)}
        if self.lost:
            meta["overflow"], self.lost = self.lost, 0
        data = np.asarray(value.value)[np.newaxis]
        return Chunk(data, self.rate, index, value.time.totime(), meta)


def _connect(tango: Any, device: str, attribute: str, timeout: float, where: str) -> Any:
    """A proxy to ``device`` whose ``attribute`` exists (raises one line naming both)."""
    try:
        proxy = tango.DeviceProxy(device)
        proxy.set_timeout_millis(max(1, int(timeout * 1000)))
        proxy.get_attribute_config(attribute)
    except tango.DevFailed as exc:
        raise ConnectionError(f"{where}: {failure_text(exc)}") from None
    return proxy


@block(name="tango_source", realtime=True)
async def _tango_source(device: str, attribute: str, rate: float | None, capacity: int,
                        timeout: float) -> AsyncIterator[Chunk]:
    tango = _tango()
    where = f"tango_source: device {device!r} attribute {attribute!r}"
    loop = asyncio.get_running_loop()
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tango_source")

    def call(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        return loop.run_in_executor(pool, fn, *args)  # one thread: the proxy's only user

    try:
        proxy = await call(_connect, tango, device, attribute, timeout, where)
        if rate is None:
            agen = _events(tango, proxy, attribute, capacity, where, call)
        else:
            agen = _polled(tango, proxy, attribute, rate, where, call)
        try:
            async for chunk in agen:
                yield chunk
        finally:
            await agen.aclose()
    finally:
        pool.shutdown(wait=False)  # idle by now: its thread ends at once


async def _events(tango: Any, proxy: Any, attribute: str, capacity: int, where: str,
                  call: Callable[..., Any]) -> AsyncIterator[Chunk]:
    reader = _Reader(tango, 1.0, where)
    handoff = Handoff(capacity, asyncio.get_running_loop())

    def on_event(event: Any) -> None:  # Tango's event thread (the first: the subscriber's)
        if event.err:
            reason = event.errors[0].reason if event.errors else ""
            if reason == "API_MissedEvents":  # the events' counter jumped: at least one lost
                reader.index += 1
                reader.lost += 1
                return
            handoff.finish(ConnectionError(f"{where}: event error: {failure_text(event.errors)}"))
            return
        chunk = reader.chunk(event.attr_value)
        if chunk is not None:
            handoff.offer(chunk)

    def subscribe() -> int:
        try:
            return int(proxy.subscribe_event(attribute, tango.EventType.CHANGE_EVENT, on_event))
        except tango.DevFailed as exc:
            raise ConnectionError(f"{where}: no change events ({failure_text(exc)}); give "
                                  "rate= to poll it instead") from None

    subscription = await call(subscribe)
    try:
        while (chunk := await handoff.get()) is not None:
            yield chunk
    finally:
        await call(_unsubscribe, tango, proxy, subscription)
        note_lost(handoff.lost_unmarked)


def _unsubscribe(tango: Any, proxy: Any, subscription: int) -> None:
    with contextlib.suppress(tango.DevFailed):  # the device is gone: nothing left to stop
        proxy.unsubscribe_event(subscription)


async def _polled(tango: Any, proxy: Any, attribute: str, rate: float, where: str,
                  call: Callable[..., Any]) -> AsyncIterator[Chunk]:
    reader = _Reader(tango, rate, where)
    grid = Grid(1.0 / rate)
    grid.start(asyncio.get_running_loop().time())
    while True:
        try:
            value = await call(proxy.read_attribute, attribute)
        except tango.DevFailed as exc:
            raise ConnectionError(f"{where}: read failed: {failure_text(exc)}") from None
        chunk = reader.chunk(value)
        if chunk is not None:
            yield chunk
        k = await grid.next_tick()
        missed = k - reader.index  # deadlines passed while a read or the loop ran late
        reader.index += missed
        reader.lost += missed


def tango_source(
    device: str,
    attribute: str,
    *,
    rate: float | None = None,
    capacity: int = _CAPACITY,
    timeout: float = 3.0,
    name: str | None = None,
) -> Stream:
    """A real-time source of one Tango attribute's readings (one Chunk per reading).

    Args:
        device: the device's name (``"sys/tg_test/1"``, through ``TANGO_HOST``'s database)
            or its full address (``"tango://127.0.0.1:10000/my/dev/1#dbase=no"``).
        attribute: the attribute's name.
        rate: None: one reading per change event (the device must push change events or
            have polling configured; readings come when the value changes: ``chunk.rate``
            is 1.0, the index counts readings, as `epics_source` without a rate). A number:
            read the attribute ``rate`` times per second on absolute deadlines
            (``chunk.rate == rate``); deadlines missed while a read ran late are counted as
            lost (``meta["overflow"]``).
        capacity: event readings held while the loop is busy; more are dropped and counted.
        timeout: seconds a call to the device may take (Tango's client timeout).
        name: the block's name in reports.

    Raises (when the run starts, one line naming device and attribute): ``ConnectionError``
    for a device that cannot be reached, an attribute it does not have, an attribute with no
    change events (without ``rate``), an error event or a failed read.
    """
    if not isinstance(device, str) or not device:
        raise ValueError(f"tango_source: device must be a Tango device name, got {device!r}")
    if not isinstance(attribute, str) or not attribute:
        raise ValueError(f"tango_source: attribute must be a name, got {attribute!r}")
    if rate is not None and not (isinstance(rate, int | float) and 0 < rate < math.inf):
        raise ValueError(f"tango_source: rate must be > 0 Hz (or None: change events), got {rate!r}")
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"tango_source: capacity must be an int >= 1 reading, got {capacity!r}")
    if not 0 < timeout < math.inf:
        raise ValueError(f"tango_source: timeout must be > 0 s, got {timeout!r}")
    _tango()
    return _tango_source(device, attribute, None if rate is None else float(rate), capacity,
                         float(timeout), name=name, realtime=True)
