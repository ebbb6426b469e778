"""EPICS Channel Access through caproto's asyncio client (pure Python; extra ``facility``):
`epics_source` (a PV's monitor updates) and `epics_sink` (values written to a PV).

`epics_source` is a real-time source: it never waits. Each monitor update becomes one chunk
stamped with the IOC's own timestamp (``chunk.time``, POSIX seconds) and its alarm
(``meta["alarm_status"]``, ``meta["alarm_severity"]``: caproto's names, "NO_ALARM" when
quiet). Channel Access does not number updates, so a lost update shows only in the IOC's
timestamps: given the PV's update ``rate``, a gap of more than 1.5 periods between two
updates is counted as lost (``meta["overflow"]``); updates the source's own backlog had to drop are always
counted. A PV that no server answers within ``timeout``, or whose server goes away while
it runs, ends the source with an error naming the PV (a disconnect is an error, not a gap).

caproto's asyncio client needs no caRepeater: it searches by UDP on ``EPICS_CA_ADDR_LIST``
(and broadcast unless ``EPICS_CA_AUTO_ADDR_LIST=NO``), port ``EPICS_CA_SERVER_PORT``.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import numbers
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block, note_lost
from ..core.authoring import require

log = logging.getLogger("daqflow.io.epics")

BACKLOG = 1024  # updates held for a graph that is late, before the oldest are dropped


def caproto() -> ModuleType:
    """The caproto package (ImportError naming the extra if it is missing)."""
    return require("caproto", "facility", "EPICS Channel Access")


@functools.cache
def _context_class() -> type:
    """caproto's asyncio client Context whose circuits hand a refused write's ErrorResponse
    (the server's own message) to the waiting ``write`` instead of letting it time out."""
    require("caproto.asyncio.client", "facility", "EPICS Channel Access")
    import caproto as ca
    from caproto.asyncio import client

    class Circuit(client.VirtualCircuitManager):  # type: ignore[misc]
        async def _process_command(self, command: Any) -> None:
            await super()._process_command(command)
            if isinstance(command, ca.ErrorResponse):
                info = self.ioids.pop(command.original_request.parameter2, None)
                if info is not None and info.get("event") is not None:
                    info["response"] = command
                    info["event"].set()

    class Context(client.Context):  # type: ignore[misc]
        def get_circuit_manager(self, address: Any, priority: int) -> Any:
            manager = super().get_circuit_manager(address, priority)
            if type(manager) is client.VirtualCircuitManager:
                manager.__class__ = Circuit  # same state, one more message handled
            return manager

    return Context


def _addresses() -> str:
    ca = caproto()
    return ", ".join(f"{h}:{p}" for h, p in sorted(ca.get_client_address_list())) or "none"


async def connect(context: Any, name: str, who: str, timeout: float,
                  on_state: Any = None) -> Any:
    """The connected caproto PV ``name``; TimeoutError naming it if no server answers."""
    ca = caproto()
    (pv,) = await context.get_pvs(name, connection_state_callback=on_state, timeout=timeout)
    try:
        await pv.wait_for_connection(timeout=timeout)
    except ca.CaprotoTimeoutError:
        raise TimeoutError(f"{who}: no Channel Access server answered for PV {name!r} within "
                           f"{timeout:g} s (searched {_addresses()})") from None
    return pv


def _alarm_names(ca: ModuleType, metadata: Any) -> tuple[str, str]:
    status, severity = int(metadata.status), int(metadata.severity)
    try:
        status_name = ca.AlarmStatus(status).name
    except ValueError:
        status_name = str(status)
    try:
        severity_name = ca.AlarmSeverity(severity).name
    except ValueError:
        severity_name = str(severity)
    return status_name, severity_name


# -- source ----------------------------------------------------------------------------------
@block(name="epics_source", realtime=True)
async def _epics_source(pv: str, rate: float | None, timeout: float,
                        backlog: int) -> AsyncIterator[Chunk]:
    ca = caproto()
    context = _context_class()()
    updates: collections.deque[Any] = collections.deque()
    wake = asyncio.Event()
    dropped = [0]  # updates the backlog dropped since the last chunk
    disconnected = [False]
    subscription = None

    async def on_update(sub: Any, response: Any) -> None:
        if len(updates) >= backlog:
            updates.popleft()
            dropped[0] += 1
        updates.append(response)
        wake.set()

    async def on_state(channel: Any, state: str) -> None:
        if state == "disconnected":
            disconnected[0] = True
            wake.set()

    try:
        channel = await connect(context, pv, "epics_source", timeout, on_state)
        disconnected[0] = False  # (a state seen before connecting is not a disconnect)
        if channel.channel.native_data_type in (ca.ChannelType.STRING,):
            raise ValueError(f"epics_source: PV {pv!r} holds strings; numeric PVs only")
        control = await channel.read(data_type="control", timeout=timeout)
        units = getattr(control.metadata, "units", b"")
        units = units.decode("latin-1") if isinstance(units, bytes) else str(units)
        scalar = channel.channel.native_data_count == 1
        subscription = channel.subscribe(data_type="time")
        subscription.add_callback(on_update)
        step = 1.0 if rate is None else float(rate)
        previous: float | None = None  # the last update's IOC timestamp (s)
        index = 0  # the next update's index
        while True:
            await wake.wait()
            wake.clear()
            while updates:
                response = updates.popleft()
                stamp = float(response.metadata.timestamp)
                if rate is None:
                    at, lost = index + dropped[0], dropped[0]
                else:
                    # periods since the previous update: more than one and a half is a gap in
                    # the IOC's timeline (judged update by update, so a scan period that
                    # drifts a little never adds up to a false loss)
                    periods = 1.0 if previous is None else (stamp - previous) * rate
                    lost = max(round(periods) - 1 if periods > 1.5 else 0, dropped[0])
                    at = index + lost
                    previous = stamp
                dropped[0] = 0
                data = np.asarray(response.data)
                data = data.astype(data.dtype.newbyteorder("="))  # (a copy, native order)
                data = data.reshape(1) if scalar else data.reshape(1, -1)
                status, severity = _alarm_names(ca, response.metadata)
                meta: dict[str, Any] = {"pv": pv, "alarm_status": status,
                                        "alarm_severity": severity}
                if units:
                    meta["units"] = units
                if lost:
                    meta["overflow"] = lost
                yield Chunk(data, step, at, stamp, meta)
                index = at + 1
            if disconnected[0]:
                raise ConnectionError(f"epics_source: PV {pv!r} disconnected: its server went "
                                      "away while the source ran")
    finally:
        note_lost(dropped[0] + len(updates))  # (dropped, or received but not delivered)
        if subscription is not None:
            await subscription.clear()  # (before our callback is freed: caproto holds it weakly)
        await context.disconnect()


def epics_source(
    pv: str,
    rate: float | None = None,
    *,
    timeout: float = 5.0,
    backlog: int = BACKLOG,
    name: str | None = None,
) -> Stream:
    """A real-time source of an EPICS PV's monitor updates, over Channel Access (caproto).

    Each update is one chunk: a scalar PV's is one sample (``data.shape == (1,)``), a
    waveform's is one frame (``(1, N)``: a row, like a spectrum's). ``chunk.time`` is the
    IOC's timestamp (POSIX seconds); ``meta`` holds ``pv``, ``alarm_status`` and
    ``alarm_severity`` (caproto's names: "NO_ALARM", "HIHI", "MAJOR", ...) and ``units``
    when the PV has them.

    Args:
        pv: the PV's name, e.g. ``"IOC:TEMP"``.
        rate: the PV's update rate in Hz (an IOC record scanned every 0.1 s: 10). Chunks
            carry it, and a gap of more than 1.5 periods between two updates' IOC
            timestamps counts the updates missing in it as lost (``meta["overflow"]``; the
            index jumps by as many). A PV with a monitor deadband sends no update while its
            value holds still: give no rate for it. None: the rate is unknown,
            chunks carry 1.0 and the index counts the updates received (and those the
            source's backlog dropped, counted as lost).
        timeout: seconds to wait for a server to answer for the PV.
        backlog: updates held when the graph is late; beyond, the oldest are dropped and
            counted as lost.
        name: the block's name in reports.

    Raises (when the graph runs): TimeoutError if no server answers within ``timeout``;
    ConnectionError naming the PV if its server goes away while the source runs (the
    updates received before are delivered first).
    """
    caproto()
    if not isinstance(pv, str) or not pv:
        raise ValueError(f"epics_source: pv must be a PV name (a non-empty str), got {pv!r}")
    if rate is not None and not (isinstance(rate, numbers.Real) and rate > 0):
        raise ValueError(f"epics_source: rate must be > 0 Hz or None, got {rate!r}")
    if not timeout > 0:
        raise ValueError(f"epics_source: timeout must be > 0 seconds, got {timeout!r}")
    if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 1:
        raise ValueError(f"epics_source: backlog must be an int >= 1 update, got {backlog!r}")
    return _epics_source(pv, None if rate is None else float(rate), float(timeout), backlog,
                         name=name, realtime=True)


# -- sink ------------------------------------------------------------------------------------
def _value_of(item: Any, scalar: bool, pv: str) -> Any:
    """What one item writes: a scalar PV takes the newest sample, a waveform the whole item
    (a frame's newest row)."""
    data = item.data if isinstance(item, Chunk) else np.asarray(item)
    if data.dtype.kind == "c":
        raise ValueError(f"epics_sink: PV {pv!r}: complex values cannot be written (Channel "
                         "Access has no complex type); write their magnitude or real part")
    if data.dtype.kind not in "biuf":
        raise ValueError(f"epics_sink: PV {pv!r}: items must be numbers, got {data.dtype}")
    if data.ndim >= 2:
        data = data.reshape(-1, data.shape[-1])[-1]
    flat = data.reshape(-1)
    if scalar:
        return flat[-1].item() if flat.size else None
    return flat


def _message(raw: bytes | bytearray | str) -> str:
    """A refusal's text as the server gave it (caproto's servers prefix the exception)."""
    text = bytes(raw).decode("latin-1") if isinstance(raw, bytes | bytearray) else str(raw)
    return text.rstrip("\x00").removeprefix("Python exception: ").strip()


@block(name="epics_sink")
async def _epics_sink(stream: Stream, pv: str, timeout: float) -> dict[str, Any]:
    ca = caproto()
    context = _context_class()()
    written = refused = 0
    refusals: list[str] = []
    try:
        channel = await connect(context, pv, "epics_sink", timeout)
        scalar = channel.channel.native_data_count == 1
        async for item in stream:
            value = _value_of(item, scalar, pv)
            if value is None:
                continue
            response = await channel.write(value, wait=True, timeout=timeout)
            if isinstance(response, ca.ErrorResponse):
                refused += 1
                message = _message(response.error_message)
                if len(refusals) < 8:
                    refusals.append(message)
                if refused == 1:
                    log.warning("epics_sink: PV %r refused %r: %s", pv, value, message)
                continue
            written += 1
    finally:
        await context.disconnect()
    return {"pv": pv, "written": written, "refused": refused, "refusals": refusals}


def epics_sink(stream: Stream, pv: str, *, timeout: float = 5.0, **options: Any) -> Stream:
    """Write each item of ``stream`` to an EPICS PV (Channel Access put with completion).

    A scalar PV gets one value per item: a number, or a chunk's newest sample; a waveform
    PV gets the whole item (a frame's newest row). A value the PV refuses (beyond its
    limits, a wrong length) is skipped and counted, with the PV's own message; the run
    goes on (one warning, the first messages in the result).

    Args:
        stream: numbers, arrays or real chunks.
        pv: the PV's name.
        timeout: seconds to wait for a server to answer, and for each write to complete.
        options: buffer=, policy= (default: lossless, each write waits for the previous).

    Result: ``{"pv", "written", "refused", "refusals": [message, ...]}``.
    Raises (when the graph runs): TimeoutError if no server answers for the PV.
    """
    caproto()
    if not isinstance(pv, str) or not pv:
        raise ValueError(f"epics_sink: pv must be a PV name (a non-empty str), got {pv!r}")
    if not timeout > 0:
        raise ValueError(f"epics_sink: timeout must be > 0 seconds, got {timeout!r}")
    return _epics_sink(stream, pv, float(timeout), **options)
