"""`serve_epics`: a Channel Access IOC (caproto's asyncio server) publishing a running graph.

Each served stream is a PV named ``prefix + stream name``: a waveform for traces (its samples;
the axis, each sample's time in s, in ``NAME:AXIS``) and spectra or other frames (the newest
row; the axis, ``meta["freqs"]`` in Hz, in ``NAME:AXIS``), a scalar for 1-value items
(numbers, 1-sample chunks). Every `Param` is a writable PV ``prefix + param name`` with its
unit and limits: a write goes through ``Param.set``, so a value it refuses is refused to
the client with the param's own message, and a change made elsewhere (the HTTP control
API, a GUI) is published. ``caget``, ``camonitor``, ``caput``, pyepics and Phoebus work.

Display semantics: each stream's FIFO keeps the newest items (buffer 2, drop oldest: the
drops are skips by design) and at most ``max_rate`` items a second are published.
Channel Access has no authentication: the IOC binds 127.0.0.1 unless told otherwise, and a
loopback IOC sends no beacons beyond loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import logging
import math
import socket
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block
from ..core.finding import params_of, upstream
from ..core.params import Param
from ..core.requirements import require

log = logging.getLogger("daqflow.net.epics")

INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class _Config:
    names: tuple[str, ...]  # PV name of each stream
    frames: tuple[bool, ...]  # its items are frames (rows: spectra), not samples
    params: tuple[Param[Any], ...]
    prefix: str
    host: str
    port: int | None
    max_rate: float


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# -- PVs -------------------------------------------------------------------------------------
def _param_pv(ca: Any, param: Param[Any]) -> Any:
    """A writable PV for ``param``: its writes go through ``Param.set``."""
    base = ca.ChannelInteger if param.kind is int else ca.ChannelDouble

    class ParamPV(base):  # type: ignore[misc, valid-type]
        async def verify_value(self, value: Any) -> Any:
            param.set(value)  # ValueError: the param's own message, sent to the client
            await super().verify_value(param.value)  # (clears the alarm of a refused write)
            return param.value

    limits: dict[str, Any] = {}
    if param.low is not None and param.high is not None:
        low, high = param.low, param.high
        if param.kind is int:
            low, high = max(low, INT32[0]), min(high, INT32[1])
        limits = {"lower_ctrl_limit": low, "upper_ctrl_limit": high,
                  "lower_disp_limit": low, "upper_disp_limit": high}
    extra = {} if param.kind is int else {"precision": 6}
    return ParamPV(value=param.value, units=param.unit, **limits, **extra)


def _shown(item: Any, frames: bool) -> tuple[np.ndarray, np.ndarray | None, str, str]:
    """What a PV shows of ``item``: its values (float64, 1-D; one value: a scalar), their
    axis (None for a scalar), the values' unit and the axis's. Frames (``frames``, items
    with ``meta["freqs"]``, a single row: a waveform PV's update) show their newest row;
    samples x channels their first channel."""
    if isinstance(item, Chunk):
        data = np.asarray(item.data)
        units = item.meta.get("units", "")
        units = units if isinstance(units, str) else ""
    else:
        data, units = np.asarray(item), ""
    if data.dtype.kind == "c":
        data = np.abs(data)  # (Channel Access has no complex type: the magnitude)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"items must be numbers, arrays or chunks of numbers, got {data.dtype}")
    if data.size == 1:
        return data.reshape(1).astype(np.float64), None, units, ""
    if (data.ndim >= 2 and data.shape[0] > 1 and isinstance(item, Chunk) and not frames
            and "freqs" not in item.meta):
        data = data.reshape(len(data), -1)[:, 0]  # samples x channels: the first channel
    if data.ndim >= 2:  # frames (spectra): the newest row
        row = data.reshape(-1, data.shape[-1])[-1].astype(np.float64)
        freqs = item.meta.get("freqs") if isinstance(item, Chunk) else None
        if freqs is not None and len(freqs) == len(row):
            return row, np.asarray(freqs, np.float64), units, "Hz"
        return row, np.arange(len(row), dtype=np.float64), units, ""
    values = data.astype(np.float64)
    if isinstance(item, Chunk):  # a trace: each sample's time
        return values, item.times.astype(np.float64), units, "s"
    return values, np.arange(len(values), dtype=np.float64), units, ""


class _StreamPV:
    """The PV (and axis PV) of one stream, made when its first item comes."""

    def __init__(self, name: str, frames: bool, pvdb: dict[str, Any]):
        self.name = name
        self.frames = frames
        self.pvdb = pvdb
        self.value: Any = None
        self.axis: Any = None
        self.published = self.skipped = self.truncated = 0

    async def publish(self, ca: Any, item: Any) -> None:
        try:
            values, axis, units, axis_units = _shown(item, self.frames)
        except TypeError as exc:
            raise TypeError(f"serve_epics: PV {self.name!r}: {exc}") from None
        now = time.time()
        if self.value is None:
            if axis is None:
                self.value = ca.ChannelDouble(value=float(values[0]), units=units, precision=6)
            else:
                self.value = ca.ChannelDouble(value=values, max_length=len(values), units=units,
                                              precision=6)
                self.axis = ca.ChannelDouble(value=axis, max_length=len(axis),
                                             units=axis_units, precision=6)
                self.pvdb[f"{self.name}:AXIS"] = self.axis
            self.pvdb[self.name] = self.value  # (searches find it from now on)
            self.published += 1
            return
        if self.axis is None:  # a scalar PV: the newest value
            await self.value.write(float(values[-1]), timestamp=now)
        else:
            size = self.value.max_length
            if len(values) > size:
                self.truncated += 1
                values, axis = values[:size], (axis[:size] if axis is not None else None)
            if axis is None:
                axis = np.arange(len(values), dtype=np.float64)
            if len(axis) != len(self.axis.value) or not np.array_equal(axis, self.axis.value):
                await self.axis.write(axis, timestamp=now)
            await self.value.write(values, timestamp=now)
        self.published += 1


def _server_class(ca_server: Any, loopback: bool) -> type:
    class Server(ca_server.Context):  # type: ignore[misc, name-defined]
        async def broadcast_beacon_loop(self) -> None:
            if loopback:  # a loopback IOC announces itself on loopback only
                for address in [a for a in self.beacon_socks if not _loopback(a[0])]:
                    with contextlib.suppress(OSError):
                        self.beacon_socks.pop(address)[1].close()
            await super().broadcast_beacon_loop()

    return Server


class _OneBeaconWarning(logging.Filter):
    """caproto logs a traceback for every beacon nobody receives (no caRepeater on the
    host): the first becomes one warning line, the rest are dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("Failed to send beacon"):
            return True
        if self.seen:
            return False
        self.seen = True
        log.warning("serve_epics: %s (no caRepeater listening; clients still find the PVs by "
                    "searching)", record.getMessage().split(". Try")[0])
        return False


class _QuietRefusals(logging.Filter):
    """caproto logs a traceback for every write a PV refuses (the client gets the Param's
    message already): one debug line each instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("Invalid write request"):
            return True
        error = record.exc_info[1] if record.exc_info else None
        log.debug("serve_epics: refused a write: %s", error if error is not None else
                  record.getMessage())
        return False


# -- the block -------------------------------------------------------------------------------
async def _serve(inputs: list[AsyncIterator[Any]], config: _Config) -> dict[str, Any]:
    ca = require("caproto", "facility", "serve_epics")
    ca_server = require("caproto.asyncio.server", "facility", "serve_epics")
    loop = asyncio.get_running_loop()
    pvdb: dict[str, Any] = {}
    param_pvs: dict[str, tuple[Param[Any], Any]] = {}
    for param in config.params:
        name = config.prefix + param.name
        pvdb[name] = _param_pv(ca, param)
        param_pvs[name] = (param, pvdb[name])
    try:  # (caproto would try 100 ports, leaking a socket each time)
        with socket.socket() as probe:
            probe.bind((config.host, 0))
    except OSError as exc:
        raise OSError(f"serve_epics: cannot bind host {config.host!r}: {exc.strerror}") from None
    server = _server_class(ca_server, _loopback(config.host))(pvdb, [config.host])
    if config.port is not None:
        server.ca_server_port = config.port
    tasks: set[asyncio.Task[Any]] = set()

    async def follow(pv: Any, param: Param[Any]) -> None:
        if pv.value != param.value:  # (a write through the PV has set it already)
            await pv.write(param.value, verify_value=False)

    def changed(pv: Any, param: Param[Any]) -> None:  # any thread
        def start() -> None:
            task = loop.create_task(follow(pv, param))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        loop.call_soon_threadsafe(start)

    unwatch = [param.watch(lambda _v, pv=pv, p=param: changed(pv, p))
               for param, pv in param_pvs.values()]
    streams = [_StreamPV(name, frames, pvdb)
               for name, frames in zip(config.names, config.frames, strict=True)]
    period = 1.0 / config.max_rate

    async def feed(source: AsyncIterator[Any], pv: _StreamPV) -> None:
        """Publish the newest item at most every ``period`` s; one held back is published
        when its time comes even if no other item follows."""
        items = source.__aiter__()
        pending: Any = None
        due = -math.inf
        coming: asyncio.Future[Any] = asyncio.ensure_future(items.__anext__())
        try:
            while True:
                wait = None if pending is None else max(0.0, due - loop.time())
                done, _ = await asyncio.wait({coming}, timeout=wait)
                if done:
                    try:
                        item = coming.result()
                    except StopAsyncIteration:
                        break
                    if pending is not None:
                        pv.skipped += 1
                    pending = item
                    coming = asyncio.ensure_future(items.__anext__())
                if pending is not None and loop.time() >= due:
                    await pv.publish(ca, pending)
                    pending, due = None, loop.time() + period
            if pending is not None:
                await pv.publish(ca, pending)
        finally:
            coming.cancel()

    beacons = _OneBeaconWarning()
    caproto_log = logging.getLogger("caproto.ctx")
    caproto_log.addFilter(beacons)
    refusals, circuit_log = _QuietRefusals(), logging.getLogger("caproto.circ")
    circuit_log.addFilter(refusals)
    running = loop.create_task(server.run(), name="serve_epics server")
    feeders = [loop.create_task(feed(source, pv)) for source, pv in zip(inputs, streams, strict=True)]
    try:
        while feeders:
            done, _ = await asyncio.wait([running, *feeders], return_when=asyncio.FIRST_COMPLETED)
            if running in done:
                running.result()  # (a bind that failed raises here)
                raise RuntimeError("serve_epics: the Channel Access server stopped")
            for task in done:
                task.result()
                feeders.remove(task)
    finally:
        caproto_log.removeFilter(beacons)
        circuit_log.removeFilter(refusals)
        for stop in unwatch:
            stop()
        for task in [*feeders, *tasks, running]:
            task.cancel()
        await asyncio.gather(*feeders, *tasks, running, return_exceptions=True)
    return {"port": server.port, "pvs": sorted(pvdb),
            "published": {pv.name: pv.published for pv in streams},
            "skipped": {pv.name: pv.skipped for pv in streams},
            "truncated": {pv.name: pv.truncated for pv in streams if pv.truncated}}


_FACTORIES: dict[int, Any] = {}


def _factory(count: int) -> Any:
    """The block for ``count`` streams: ports ``s0``..``s{count-1}``, then the config."""
    if count not in _FACTORIES:
        ports = [inspect.Parameter(f"s{i}", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                   annotation=Stream) for i in range(count)]
        config = inspect.Parameter("config", inspect.Parameter.POSITIONAL_OR_KEYWORD)

        async def serve_epics(*args: Any) -> dict[str, Any]:
            return await _serve(list(args[:-1]), args[-1])

        serve_epics.__signature__ = inspect.Signature([*ports, config])  # type: ignore[attr-defined]
        _FACTORIES[count] = block(name="serve_epics", buffer=2, policy="drop_oldest")(serve_epics)
    return _FACTORIES[count]


def serve_epics(
    *streams: Stream,
    prefix: str = "DAQ:",
    params: bool | Iterable[Param[Any]] = True,
    host: str = "127.0.0.1",
    port: int | None = None,
    max_rate: float = 10.0,
    **options: Any,
) -> Stream:
    """Publish ``streams`` and the graph's params as EPICS PVs (a caproto IOC in the graph).

    ``df.run(net.serve_epics(spectrum, trace, prefix="DAQ:"), duration=60)`` serves
    ``DAQ:spectrum`` (+ ``DAQ:spectrum:AXIS``, Hz), ``DAQ:trace`` (+ ``:AXIS``, s) and a
    writable ``DAQ:<param>`` for every `Param` upstream, while the graph runs.

    Args:
        streams: what to publish; each PV is named ``prefix`` + the stream's name (its
            ``name=``, else its block's; repeated names get ``_2``, ``_3``, ...). A stream's
            first item decides its PV: one value a scalar, else a waveform as long as that
            item (longer items later are cut to it, counted in the result).
        prefix: the start of every PV name.
        params: True: every `Param` the blocks upstream of ``streams`` read; False: none;
            or the Params to serve. Each is writable, with its unit and limits (control
            and display limits when both bounds are set).
        host: the interface the IOC binds (searches and connections): 127.0.0.1 by
            default. Channel Access has no authentication: any client that reaches it can
            write the params.
        port: the UDP search port and first TCP port tried (None: ``EPICS_CA_SERVER_PORT``,
            5064 by default).
        max_rate: most items a second published per stream (the newest is kept).
        options: buffer=, policy= for the streams' FIFOs (default 2, "drop_oldest").

    Result: ``{"port": TCP port, "pvs": names, "published": {pv: items}, "skipped": {pv:
    items not published}, "truncated": {...}}``.
    """
    require("caproto", "facility", "serve_epics")
    if not streams:
        raise ValueError("serve_epics: give at least one stream to publish")
    for stream in streams:
        if not isinstance(stream, Stream):
            raise TypeError(f"serve_epics: streams must be daqflow Streams, got {stream!r}")
    if not isinstance(prefix, str):
        raise ValueError(f"serve_epics: prefix must be a str, got {prefix!r}")
    if not max_rate > 0:
        raise ValueError(f"serve_epics: max_rate must be > 0 items/s, got {max_rate!r}")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                             or not 0 < port < 65536):
        raise ValueError(f"serve_epics: port must be an int in 1..65535 or None, got {port!r}")
    if params is True:
        served = params_of(upstream(streams), settings=False)
    elif params is False or params is None:
        served = []
    else:
        served = list(params)
        for p in served:
            if not isinstance(p, Param):
                raise TypeError(f"serve_epics: params must be True, False or Params, got {p!r}")
    names: list[str] = []
    for stream in streams:
        base = prefix + stream.name
        name, k = base, 1
        while name in names:
            k += 1
            name = f"{base}_{k}"
        names.append(name)
    taken = set(names) | {f"{n}:AXIS" for n in names}
    for p in served:
        if prefix + p.name in taken:
            raise ValueError(f"serve_epics: param {p.name!r} and a stream would both be PV "
                             f"{prefix + p.name!r}: rename one (name=)")
        taken.add(prefix + p.name)
    if not _loopback(host):
        log.warning("serve_epics: the IOC binds %s: any Channel Access client that reaches "
                    "it can read the streams and write the params", host)
    config = _Config(tuple(names), tuple(s.frames for s in streams), tuple(served), prefix,
                     host, port, float(max_rate))
    return _factory(len(streams))(*streams, config, **options)
