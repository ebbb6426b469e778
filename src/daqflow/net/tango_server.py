"""`serve_tango`: a running graph as a Tango device (its streams' newest items, its params).

The device server runs in a child process (``python -m daqflow.net.tango_server``) with no
Tango database (``-nodb``), bound to ``host`` (127.0.0.1 by default): a Tango device server
can be started only once per process, and a child keeps Tango's threads out of the graph's
process. The sink talks to it over a socket pair: the newest item of each stream goes down
(older ones it has not sent yet are replaced, never queued), writes from Tango clients come up
and are applied to the `Param` on the graph's loop (its own validation decides; the client
gets its message as the Tango error). The child exits when the socket closes: when the sink
ends, fails or is cancelled, and when the graph's process dies.

Attributes: each stream's item as a scalar, spectrum (1-D) or image (2-D) attribute named
after the stream, pushed as change events; each param as a writable scalar attribute with its
unit and min/max (Tango refuses writes beyond them itself), also pushed on change.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import itertools
import os
import pickle
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block
from ..core.finding import params_of, upstream
from ..core.params import Param
from ..core.requirements import require

_HEADER = struct.Struct("!I")
_DTYPES = {"b": "DevBoolean", "u1": "DevUChar", "u2": "DevUShort", "u4": "DevULong",
           "u8": "DevULong64", "i1": "DevShort", "i2": "DevShort", "i4": "DevLong",
           "i8": "DevLong64", "f2": "DevFloat", "f4": "DevFloat", "f8": "DevDouble",
           "U": "DevString"}
_FORMATS = {0: "SCALAR", 1: "SPECTRUM", 2: "IMAGE"}
STOP_TIMEOUT = 5.0  # seconds the child gets to exit before it is killed


# -- the wire: length-prefixed pickles over a socket pair (both ends are this module) -------
def _pack(message: tuple[Any, ...]) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def _recv_blocking(sock: socket.socket) -> tuple[Any, ...] | None:
    """The next message (None at the end of the stream)."""
    head = _read_exactly(sock, _HEADER.size)
    if head is None:
        return None
    body = _read_exactly(sock, _HEADER.unpack(head)[0])
    return None if body is None else pickle.loads(body)


def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
    parts, left = [], n
    while left:
        part = sock.recv(min(left, 1 << 20))
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


async def _recv(reader: asyncio.StreamReader) -> tuple[Any, ...] | None:
    try:
        head = await reader.readexactly(_HEADER.size)
        return pickle.loads(await reader.readexactly(_HEADER.unpack(head)[0]))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


# -- what a stream's item becomes -------------------------------------------------------------
def _value_of(item: Any, frames: bool, where: str) -> np.ndarray:
    """An item as the array a Tango attribute holds: a Chunk's data (a frame stream's newest
    row), leading length-1 axes dropped; 0-d: scalar, 1-D: spectrum, 2-D: image."""
    data = item.data if isinstance(item, Chunk) else item
    if isinstance(item, Chunk) and frames and data.ndim > 1:
        data = data[-1]
    data = np.asarray(data)
    while data.ndim and data.shape[0] == 1:
        data = data[0]
    data = np.asarray(data)
    if data.ndim > 2:
        raise ValueError(f"{where}: items of shape {data.shape} have no Tango attribute "
                         "(scalars, spectra (1-D) and images (2-D) only)")
    if _dtype_key(data.dtype) not in _DTYPES:
        hint = ("; Tango has no complex type: serve dsp.magnitude2(s) or the real part"
                if data.dtype.kind == "c" else "")
        raise ValueError(f"{where}: items of type {data.dtype} have no Tango type{hint}")
    return data


def _dtype_key(dtype: np.dtype[Any]) -> str:
    return dtype.kind if dtype.kind in "bU" else f"{dtype.kind}{dtype.itemsize}"


def _shape_spec(name: str, data: np.ndarray) -> dict[str, Any]:
    return {"name": name, "dtype": _DTYPES[_dtype_key(data.dtype)], "format": _FORMATS[data.ndim],
            "shape": data.shape}


def _fits(data: np.ndarray, spec: dict[str, Any], where: str) -> np.ndarray:
    if _FORMATS[data.ndim] != spec["format"] or any(
            n > m for n, m in zip(data.shape, spec["shape"], strict=True)):
        raise ValueError(f"{where}: an item of shape {data.shape} does not fit the attribute made "
                         f"from the first item ({spec['format'].lower()} {spec['shape']})")
    if data.dtype.kind == "i" and data.dtype.itemsize == 1:
        data = data.astype(np.int16)
    return data


# -- the sink -----------------------------------------------------------------------------------
def _attribute_name(name: str) -> str:
    clean = re.sub(r"\W", "_", name)
    return clean if clean and not clean[0].isdigit() else f"s_{clean}"


class _Link:
    """The parent's end: the child process, its socket, pending messages."""

    def __init__(self, device: str):
        self.device = device
        self.proc: subprocess.Popen[bytes] | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reader: asyncio.StreamReader | None = None
        self.errors: Any = None

    def close(self) -> None:
        if self.errors is not None:
            self.errors.close()

    async def start(self, spec: dict[str, Any], timeout: float) -> int:
        """Start the device server; its port once it accepts requests."""
        host, port = spec["host"], spec["port"]
        try:  # the child's ORB would only say "unknown exception"
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port or 0))
        except OSError as exc:
            raise RuntimeError(f"serve_tango: the device server of {self.device!r} cannot bind "
                               f"{host}:{port or '(a free port)'}: {exc.strerror or exc}") from None
        ours, theirs = socket.socketpair()
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close(); read if it fails)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "daqflow.net.tango_server", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self.errors, start_new_session=True)
        finally:
            theirs.close()
        self.reader, self.writer = await asyncio.open_connection(sock=ours)
        self.send(("spec", spec))
        try:
            reply = await asyncio.wait_for(_recv(self.reader), timeout)
        except TimeoutError:
            reply = None
        if reply is None or reply[0] != "ready":
            why = reply[1] if reply is not None else await self._exit_text(timeout)
            where = f"{spec['host']}:{spec['port'] or '(a free port)'}"
            raise RuntimeError(f"serve_tango: the device server of {self.device!r} did not "
                               f"start on {where}: {why}")
        return int(reply[1])

    async def _exit_text(self, timeout: float) -> str:
        await self.stop()
        assert self.proc is not None
        self.errors.seek(0)
        err = self.errors.read().decode(errors="replace")
        lines = [line.strip() for line in err.splitlines() if line.strip()]
        return (lines[-1] if lines else f"no answer in {timeout:g} s") + (
            f" (exit code {self.proc.returncode})" if self.proc.returncode is not None else "")

    def send(self, message: tuple[Any, ...]) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(_pack(message))

    async def stop(self) -> None:
        """Close the socket (the child exits on it), then wait, then kill."""
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        proc = self.proc
        if proc is None:
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
            proc.wait(STOP_TIMEOUT)


async def _serve_body(inputs: list[Any], names: list[str], frames: list[bool], params: list[Param[Any]],
                      param_names: list[str], device: str, host: str, port: int | None,
                      on_ready: Callable[[str], None] | None, timeout: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    specs: dict[str, dict[str, Any]] = {}
    newest: dict[str, tuple[np.ndarray, float, str]] = {}
    first = {name: asyncio.Event() for name in names}
    wake = asyncio.Event()
    published = 0

    async def pump(name: str, frame: bool, items: AsyncIterator[Any]) -> None:
        where = f"serve_tango: stream {name!r}"
        async for item in items:
            data = _value_of(item, frame, where)
            if name not in specs:
                specs[name] = _shape_spec(name, data)
                first[name].set()
            data = _fits(data, specs[name], where)
            meta = item.meta if isinstance(item, Chunk) else {}
            quality = "ATTR_WARNING" if meta.get("overflow") else "ATTR_VALID"
            newest[name] = (data, time.time(), quality)
            wake.set()
        first[name].set()  # ended (maybe before any item)

    pumps = [asyncio.ensure_future(pump(n, f, i)) for n, f, i in zip(names, frames, inputs, strict=True)]
    link = _Link(device)
    changed: set[str] = set()
    unwatch: list[Callable[[], None]] = []

    def _changed(pname: str) -> None:
        changed.add(pname)
        wake.set()

    try:
        waits = [asyncio.ensure_future(e.wait()) for e in first.values()]
        await _first_of(pumps, asyncio.gather(*waits))
        _raise_failure(pumps)
        for p, pname in zip(params, param_names, strict=True):
            unwatch.append(p.watch(lambda _v, n=pname: loop.call_soon_threadsafe(_changed, n)))
        spec = {"device": device, "host": host, "port": port,
                "streams": [specs[n] for n in names if n in specs],
                "params": [_param_spec(p, n) for p, n in zip(params, param_names, strict=True)]}
        bound = await link.start(spec, timeout)
        access = f"tango://{host}:{bound}/{device}#dbase=no"
        if on_ready is not None:
            on_ready(access)
        by_name = dict(zip(param_names, params, strict=True))
        answering = asyncio.ensure_future(_answer(link, by_name))
        while not all(p.done() for p in pumps):
            wake.clear()
            for name in list(newest):
                data, stamp, quality = newest.pop(name)
                link.send(("value", name, data, stamp, quality))
                published += 1
            for pname in list(changed):
                changed.discard(pname)
                link.send(("param", pname, by_name[pname].value))
            assert link.writer is not None
            await link.writer.drain()
            waiter = asyncio.ensure_future(wake.wait())
            await _first_of([*(p for p in pumps if not p.done()), answering], waiter,
                            all_pumps=True)
            _raise_failure(pumps)
            if answering.done():
                answering.result()  # the child exited: say why
        answering.cancel()
        return {"device": access, "published": published}
    finally:
        for stop in unwatch:
            stop()
        for p in pumps:
            p.cancel()
        await link.stop()
        link.close()


def _raise_failure(tasks: list[asyncio.Future[Any]]) -> None:
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _first_of(tasks: list[asyncio.Future[Any]], waiter: asyncio.Future[Any], *,
                    all_pumps: bool = False) -> None:
    """Wait for ``waiter``, or a task's failure (or, with ``all_pumps``, any task's end)."""
    pending = [waiter, *tasks]
    try:
        while True:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if waiter in done:
                return
            for task in done:
                if task.exception() is not None or all_pumps:
                    return
                pending.remove(task)
    finally:
        if not waiter.done():
            waiter.cancel()
            waiter.add_done_callback(_retrieve)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # (a cancelled gather's CancelledError: nobody waits for it)


async def _answer(link: _Link, params: dict[str, Param[Any]]) -> None:
    """Apply the child's writes to the Params (on the loop) and answer each."""
    assert link.reader is not None
    while (message := await _recv(link.reader)) is not None:
        _, request, name, value = message
        try:
            params[name].set(value)
            link.send(("reply", request, True, params[name].value))
        except (ValueError, TypeError, OverflowError) as exc:
            link.send(("reply", request, False, str(exc).splitlines()[0]))
    code = link.proc.poll() if link.proc is not None else None
    raise RuntimeError(f"serve_tango: the device server of {link.device!r} exited"
                       + (f" (exit code {code})" if code is not None else ""))


def _param_spec(param: Param[Any], name: str) -> dict[str, Any]:
    return {"name": name, "kind": param.kind.__name__, "value": param.value, "unit": param.unit,
            "low": param.low, "high": param.high, "doc": param.doc or f"daqflow param {param.name}"}


_factories: dict[int, Any] = {}


def _factory(n: int) -> Any:
    """The sink block for ``n`` input streams (one port each: s0, s1, ...)."""
    if n not in _factories:
        async def serve_tango(*args: Any, **kwargs: Any) -> dict[str, Any]:
            return await _serve_body(list(args[:n]), *args[n:], **kwargs)

        ports = [inspect.Parameter(f"s{i}", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                   annotation=Stream) for i in range(n)]
        rest = [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in (
            "names", "frames", "params", "param_names", "device", "host", "port", "on_ready",
            "timeout")]
        serve_tango.__signature__ = inspect.Signature([*ports, *rest])  # type: ignore[attr-defined]
        _factories[n] = block(serve_tango, name="serve_tango", inputs=n)
    return _factories[n]


def serve_tango(
    *streams: Stream,
    device: str = "daqflow/graph/1",
    params: bool | Iterable[Param[Any]] = True,
    host: str = "127.0.0.1",
    port: int | None = None,
    on_ready: Callable[[str], None] | None = None,
    timeout: float = 20.0,
    name: str | None = None,
) -> Stream:
    """A sink that runs a Tango device server (no database) for the graph while it runs.

    Every stream's newest item is an attribute named after the stream (a scalar, spectrum or
    image attribute: a Chunk's data with leading length-1 axes dropped, a spectrum stream's
    newest row; its type and largest shape come from the first item), timestamped when the
    sink got it, quality ``ATTR_WARNING`` when the item carries a loss mark
    (``meta["overflow"]``), else ``ATTR_VALID``, pushed as a change event. Every param is a
    writable scalar attribute with its unit and min/max; a write goes through ``Param.set``
    (the graph's next chunks carry it in ``meta["params"]``) and a refused one fails with
    the param's message. The device is served once every stream has given its first item.

    Args:
        streams: the streams to publish.
        device: the device's name (three parts, ``domain/family/member``).
        params: True: the Params held by the blocks upstream of ``streams``; False: none; or
            the Params to expose.
        host: the address the server binds (127.0.0.1: this machine only; Tango has no
            access control of its own without a database).
        port: its TCP port (None: a free one).
        on_ready: called with the device's address
            (``"tango://127.0.0.1:PORT/daqflow/graph/1#dbase=no"``) once it accepts requests.
        timeout: seconds the server may take to start.
        name: the block's name in reports.

    Result: ``{"device": address, "published": items sent to the server}``.
    """
    require("tango", "facility", "serve_tango")
    if not streams or not all(isinstance(s, Stream) for s in streams):
        raise ValueError(f"serve_tango: give the streams to publish, got {streams!r}")
    if not isinstance(device, str) or not re.fullmatch(r"[\w.-]+/[\w.-]+/[\w.-]+", device):
        raise ValueError(f"serve_tango: device must be a name domain/family/member, got {device!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"serve_tango: host must be an IP address to bind, got {host!r}") from None
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                             or not 0 < port < 65536):
        raise ValueError(f"serve_tango: port must be 1..65535 or None, got {port!r}")
    if on_ready is not None and not callable(on_ready):
        raise ValueError(f"serve_tango: on_ready must be callable, got {on_ready!r}")
    if not timeout > 0:
        raise ValueError(f"serve_tango: timeout must be > 0 s, got {timeout!r}")
    names = _unique(_attribute_name(s.name) for s in streams)
    if params is True:
        found = params_of(upstream(streams), settings=False)
    elif params is False:
        found = []
    else:
        found = list(params)
        if not all(isinstance(p, Param) for p in found):
            raise ValueError(f"serve_tango: params must be True, False or Params, got {params!r}")
    param_names = _unique(_attribute_name(p.name) for p in found)
    clash = set(names) & set(param_names)
    if clash:
        raise ValueError(f"serve_tango: {sorted(clash)} name both a stream and a param; rename "
                         "one (name= of the block or of df.param)")
    return _factory(len(streams))(
        *streams, names, [s.frames for s in streams], found, param_names, device, host, port,
        on_ready, float(timeout), name=name)


def _unique(names: Iterable[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        candidate = name
        for k in itertools.count(2):
            if candidate.lower() not in {o.lower() for o in out}:  # Tango's names ignore case
                break
            candidate = f"{name}_{k}"
        out.append(candidate)
    return out


# -- the child: the device server ---------------------------------------------------------------
class _Hub:
    """The child's state: values to serve, writes waiting for the graph's answer.

    Three threads meet here: `listen` (the graph's messages: it never waits on the device, so
    a write waiting for its answer cannot block it), `push` (change events, under the device's
    monitor) and Tango's request threads (reads, writes)."""

    def __init__(self, sock: socket.socket, tango: Any):
        self.sock = sock
        self.tango = tango
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.dirty: dict[str, None] = {}  # names whose newest value has no event yet
        self.values: dict[str, tuple[Any, float, Any]] = {}
        self.replies: dict[int, tuple[threading.Event, list[Any]]] = {}
        self.requests = itertools.count(1)
        self.device: Any = None

    def send(self, message: tuple[Any, ...]) -> None:
        with self.send_lock:
            self.sock.sendall(_pack(message))

    def read(self, name: str) -> tuple[Any, float, Any]:
        with self.lock:
            return self.values[name]

    def update(self, name: str, value: Any, stamp: float, quality: str) -> None:
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        with self.lock:
            self.values[name] = (value, stamp, getattr(self.tango.AttrQuality, quality))
            self.dirty[name] = None
            self.changed.notify()

    def push(self) -> None:
        """Push a change event for each new value (the newest only), for ever."""
        with self.tango.EnsureOmniThread():
            while True:
                with self.lock:
                    while not self.dirty or self.device is None:
                        self.changed.wait()
                    entries = [(n, self.values[n]) for n in self.dirty]
                    self.dirty.clear()
                with self.tango.AutoTangoMonitor(self.device):
                    for name, entry in entries:
                        self.device.push_change_event(name, *entry)

    def write(self, name: str, value: Any, timeout: float = 10.0) -> None:
        """Ask the graph to set param ``name``; raise Tango's error with its refusal."""
        request = next(self.requests)
        done, answer = threading.Event(), []
        self.replies[request] = (done, answer)
        self.send(("write", request, name, value.item() if hasattr(value, "item") else value))
        if not done.wait(timeout):
            self.replies.pop(request, None)
            self.tango.Except.throw_exception("daqflow_Timeout", f"param {name!r}: the graph did "
                                              f"not answer in {timeout:g} s", "serve_tango")
        ok, result = answer
        if not ok:
            self.tango.Except.throw_exception("daqflow_ParamRefused", result, "serve_tango")
        self.update(name, result, time.time(), "ATTR_VALID")

    def listen(self) -> None:
        """The graph's messages, until the socket closes: then the process ends."""
        while (message := _recv_blocking(self.sock)) is not None:
            kind = message[0]
            if kind == "value":
                self.update(*message[1:])
            elif kind == "param":
                self.update(message[1], message[2], time.time(), "ATTR_VALID")
            elif kind == "reply":
                done, answer = self.replies.pop(message[1], (None, None))
                if done is not None:
                    answer.extend(message[2:])
                    done.set()
        os._exit(0)  # the graph has ended (or died): no database to unregister from


def _device_class(hub: _Hub, spec: dict[str, Any]) -> type:
    tango = hub.tango
    from tango.server import Device, attribute

    namespace: dict[str, Any] = {}
    events = [s["name"] for s in spec["streams"]] + [p["name"] for p in spec["params"]]

    def init_device(self: Any) -> None:
        Device.init_device(self)
        for name in events:
            self.set_change_event(name, True, False)
        self.set_state(tango.DevState.ON)
        hub.device = self

    namespace["init_device"] = init_device
    for s in spec["streams"]:
        shape = s["shape"]
        dims = {}
        if s["format"] == "SPECTRUM":
            dims = {"max_dim_x": max(shape[0], 1)}
        elif s["format"] == "IMAGE":
            dims = {"max_dim_x": max(shape[1], 1), "max_dim_y": max(shape[0], 1)}
        namespace[s["name"]] = attribute(
            name=s["name"], dtype=getattr(tango.CmdArgType, s["dtype"]),
            dformat=getattr(tango.AttrDataFormat, s["format"]),
            fget=lambda self, n=s["name"]: hub.read(n),
            doc=f"the newest item of stream {s['name']}", **dims)
    for p in spec["params"]:
        hub.values[p["name"]] = (p["value"], time.time(), tango.AttrQuality.ATTR_VALID)
        limits = {k: v for k, v in (("min_value", p["low"]), ("max_value", p["high"]))
                  if v is not None}
        namespace[p["name"]] = attribute(
            name=p["name"], dtype=tango.CmdArgType.DevDouble if p["kind"] == "float"
            else tango.CmdArgType.DevLong64, access=tango.AttrWriteType.READ_WRITE,
            unit=p["unit"], doc=p["doc"], fget=lambda self, n=p["name"]: hub.read(n),
            fset=lambda self, value, n=p["name"]: hub.write(n, value), **limits)
    return type("DaqflowGraph", (Device,), namespace)


def _child(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    message = _recv_blocking(sock)
    if message is None:
        return
    spec = message[1]
    tango = require("tango", "facility", "serve_tango")
    from tango.server import run
    from tango.test_context import get_server_host_port

    hub = _Hub(sock, tango)
    endpoint = f"giop:tcp:{spec['host']}:{spec['port'] or ''}"

    def ready() -> None:
        hub.send(("ready", get_server_host_port()[1]))
        threading.Thread(target=hub.listen, name="daqflow-graph", daemon=True).start()
        threading.Thread(target=hub.push, name="daqflow-events", daemon=True).start()

    try:
        cls = _device_class(hub, spec)
        run((cls,), args=["DaqflowGraph", "graph", "-nodb", "-ORBendPoint", endpoint,
                          "-dlist", spec["device"]], post_init_callback=ready, raises=True,
            msg_stream=open(os.devnull, "w"))  # noqa: SIM115 (the process's lifetime)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            hub.send(("error", _first_line(exc)))
        raise


def _first_line(exc: BaseException) -> str:
    from ..io.tango import failure_text

    return failure_text(exc)


if __name__ == "__main__":
    _child(int(sys.argv[1]))
