"""The HTTP boundary: `serve` a stream over HTTP long-poll, read one with `http_source`.

The protocol (docs/protocol.md): ``GET /streams`` lists the streams of a server;
``GET /streams/NAME?after=N&timeout=S`` answers with the first packet whose sequence number
is above ``N`` (as soon as it exists, else ``204`` after ``S`` seconds). A packet is one item
as `codec.encode_item` gives it: its header in ``X-Daqflow-*`` response headers, its raw bytes
as the body. Sequence numbers start at 1 and never repeat, so a reader that reconnects with
``after=`` its last sequence number resumes without loss while the server still retains the
next packet; when it does not, the answer counts the lost packets (``X-Daqflow-Missed``).
Nothing is ever pickled.

Parts:

- `PacketServer` / `StreamFeed`: the server side (several streams per server, a retention
  ring per stream, optional credit window for a single lossless consumer).
- `http_packets`: the client side, an async iterator of `Packet` that long-polls, reconnects
  with backoff and resumes after the last packet it yielded.
- `serve` (a sink) and `http_source` (a source): the blocks built on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import ipaddress
import json
import logging
import math
import re
from collections import deque
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any
from urllib.parse import quote

from ..core import Chunk, Stream, block
from ..core.channel import upstream_failure
from ..core.chunk import mark_overflow
from ..io._deps import require
from .codec import decode_item, dumps, encode_item

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0  # seconds a long poll waits when the request gives no timeout
MAX_TIMEOUT = 60.0  # seconds: longer timeouts requested are capped to this
MAX_REQUEST = 4096  # bytes of request body accepted (requests carry none)
MAX_LINE = 4096  # bytes of the request line
MAX_FIELD = 8190  # bytes of one request header field
MAX_HEADERS = 64  # request header fields
MAX_POLLERS = 1024  # long polls waiting at once per server; more get 429
CLIENT_MAX_FIELD = 1 << 20  # bytes of one response header the client accepts (meta)
_MAX_SEQ = 2**63 - 1
_INT = re.compile(r"[0-9]{1,19}")
_KINDS = ("chunk", "array", "bytes", "json", "end", "error")


def _aiohttp() -> ModuleType:
    require("aiohttp.web", "net", "daqflow's HTTP boundary (serve, http_source)")
    import aiohttp
    import aiohttp.web

    return aiohttp


def is_loopback(host: str) -> bool:
    """True for "localhost", 127.0.0.0/8 and ::1 (the only binds allowed without a token)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_bind(host: str, token: str | None, what: str) -> None:
    if not isinstance(host, str) or not host:
        raise ValueError(f"{what}: host must be a non-empty string, got {host!r}")
    if token is not None and (not isinstance(token, str) or not token):
        raise ValueError(f"{what}: token must be a non-empty string or None, got {token!r}")
    if token is None and not is_loopback(host):
        raise ValueError(
            f"{what}: binding to {host!r} (not loopback) exposes the stream to the network: a bearer "
            "token is required (token=...); clients send 'Authorization: Bearer <token>'"
        )


def _check_int(value: Any, what: str, low: int, none: bool = False) -> None:
    if none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{what} must be an int >= {low}, got {value!r}")


# -- server side ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class _Stored:
    seq: int
    kind: str
    headers: dict[str, str]
    body: bytes


class StreamFeed:
    """One served stream: a ring of the last packets, filled by `publish`.

    Attributes:
        name: the stream's name (its URL is ``BASE/streams/NAME``).
        window: credit window in packets (None: never wait).
    """

    def __init__(self, server: PacketServer, name: str, window: int | None):
        self.server = server
        self.name = name
        self.window = window
        self._packets: deque[_Stored] = deque()
        self._retained_bytes = 0
        self._next = 1  # sequence number of the next packet
        self._ended = False
        self._wake = asyncio.Event()  # replaced by a fresh one on every change
        self._credit = asyncio.Event()
        self.published = 0
        self.evicted = 0
        self.bytes = 0
        self.acked = 0  # highest `after` a client has asked with
        self.served = 0  # packets answered to clients
        self._info: dict[str, Any] = {}

    # -- producer side -----------------------------------------------------------------
    async def publish(self, item: Any) -> int:
        """Append ``item`` (encoded by `codec.encode_item`) and wake the waiting readers.

        With a ``window``, first waits while ``window`` packets are not yet acknowledged (the
        highest ``after`` a reader asked with): credit-based backpressure for one consumer.

        Returns:
            The item's sequence number (1, 2, ...).

        Raises:
            TypeError: the item cannot cross (see `codec.encode_item`).
            ValueError: its meta header is over ``max_meta`` bytes.
            RuntimeError: the stream has ended or the server is closed.
        """
        header, body = encode_item(item)
        headers = self._headers(header)
        if self.window is not None:
            while self._next - 1 - self.acked >= self.window:
                self._check_open()
                credit = self._credit = asyncio.Event()
                await credit.wait()
        self._check_open()
        self._info = {k: header[k] for k in ("kind", "dtype", "shape", "rate") if k in header}
        return self._append(header["kind"], headers, bytes(body))

    def end(self) -> None:
        """Append the end packet (kind ``end``, empty body); later calls do nothing."""
        if not self._ended:
            self._append("end", {"Content-Type": "application/octet-stream"}, b"")
            self._ended = True

    def fail(self, block: str, exc: BaseException) -> None:
        """Append the error packet: JSON ``{"block", "error", "message"}``; ends the stream."""
        if self._ended:
            return
        body = dumps({"block": block, "error": type(exc).__name__, "message": str(exc)}).encode()
        self._append("error", {"Content-Type": "application/json"}, body)
        self._ended = True

    def _check_open(self) -> None:
        if self._ended:
            raise RuntimeError(f"stream {self.name!r} has ended: nothing more can be published")
        if self.server.closed:
            raise RuntimeError(f"stream {self.name!r}: the server is closed")

    def _headers(self, header: dict[str, Any]) -> dict[str, str]:
        kind = header["kind"]
        out = {"Content-Type": "application/json" if kind == "json" else "application/octet-stream"}
        if "dtype" in header:
            out["X-Daqflow-Dtype"] = header["dtype"]
            out["X-Daqflow-Shape"] = ",".join(str(n) for n in header["shape"])
        if kind == "chunk":
            out["X-Daqflow-Rate"] = repr(header["rate"])
            out["X-Daqflow-Index"] = str(header["index"])
            out["X-Daqflow-Time"] = repr(header["time"])
            meta = dumps(header["meta"])
            if len(meta) > self.server.max_meta:
                raise ValueError(
                    f"stream {self.name!r}: chunk meta is {len(meta)} bytes of JSON, over the "
                    f"limit max_meta={self.server.max_meta} bytes (it crosses as one HTTP header)"
                )
            out["X-Daqflow-Meta"] = meta
        return out

    def _append(self, kind: str, headers: dict[str, str], body: bytes) -> int:
        seq = self._next
        self._next += 1
        headers["X-Daqflow-Kind"] = kind
        headers["X-Daqflow-Seq"] = str(seq)
        self._packets.append(_Stored(seq, kind, headers, body))
        self._retained_bytes += len(body)
        if kind not in ("end", "error"):
            self.published += 1
            self.bytes += len(body)
        self._evict()
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()
        return seq

    def _evict(self) -> None:
        server, packets = self.server, self._packets
        while len(packets) > 1 and (
            len(packets) > server.retention or self._retained_bytes > server.retention_bytes
        ):
            if self.window is not None and packets[0].seq > self.acked:
                break  # unacknowledged: the window bounds these
            old = packets.popleft()
            self._retained_bytes -= len(old.body)
            self.evicted += 1

    # -- reader side -------------------------------------------------------------------
    @property
    def next_seq(self) -> int:
        """The sequence number the next packet will get."""
        return self._next

    @property
    def oldest(self) -> int:
        """Sequence number of the oldest retained packet (``next_seq`` if none)."""
        return self._packets[0].seq if self._packets else self._next

    @property
    def ended(self) -> bool:
        """True once the end or error packet is in."""
        return self._ended

    def ack(self, after: int) -> None:
        """A reader has everything up to ``after``: frees window credit."""
        after = min(after, self._next - 1)
        if after > self.acked:
            self.acked = after
            self._credit.set()

    def lookup(self, after: int) -> tuple[_Stored | None, int]:
        """(first retained packet with seq > ``after`` or None, packets lost before it)."""
        if not self._packets or after + 1 >= self._next:
            return None, 0
        oldest = self._packets[0].seq
        if after + 1 < oldest:
            return self._packets[0], oldest - (after + 1)
        return self._packets[after + 1 - oldest], 0

    @property
    def stats(self) -> dict[str, Any]:
        """published items, evicted packets, bytes published, retained packets and bytes,
        highest acknowledged seq, packets served to clients."""
        return {
            "published": self.published,
            "evicted": self.evicted,
            "bytes": self.bytes,
            "retained": len(self._packets),
            "retained_bytes": self._retained_bytes,
            "acked": self.acked,
            "served": self.served,
        }

    def describe(self) -> dict[str, Any]:
        """The stream's entry in ``GET /streams``."""
        return {
            "name": self.name,
            "url": "/streams/" + quote(self.name, safe=""),
            "next": self._next,
            "oldest": self.oldest,
            "ended": self._ended,
            "retained": len(self._packets),
            **self._info,
        }


class PacketServer:
    """An HTTP server of packet streams (long-poll, sequence numbers, raw bodies).

    Args:
        host: address to bind ("127.0.0.1"); anything but loopback needs ``token``.
        port: TCP port (0: a free one).
        token: bearer token every request must carry (None: no auth, loopback only).
        retention: packets kept per stream for late or reconnecting readers.
        retention_bytes: bytes of bodies kept per stream (the newest packet is always kept).
        max_meta: bytes of a chunk's meta JSON (one response header); more fails `publish`.

    Raises:
        ValueError: a non-loopback ``host`` without ``token``, or a bad limit.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 retention: int = 256, retention_bytes: int = 256 * 2**20, max_meta: int = 16384):
        _check_bind(host, token, "PacketServer")
        _check_int(port, "PacketServer: port", 0)
        _check_int(retention, "PacketServer: retention (packets)", 1)
        _check_int(retention_bytes, "PacketServer: retention_bytes", 0)
        _check_int(max_meta, "PacketServer: max_meta (bytes)", 2)
        self.host = host
        self.port = port
        self.token = token
        self.retention = retention
        self.retention_bytes = retention_bytes
        self.max_meta = max_meta
        self.url: str | None = None
        self.closed = False
        self.requests = 0
        self.pollers = 0
        self._feeds: dict[str, StreamFeed] = {}
        self._runner: Any = None
        self._closing = asyncio.Event()

    def add_stream(self, name: str, *, window: int | None = None) -> StreamFeed:
        """A new stream served at ``BASE/streams/NAME``.

        Args:
            name: unique on this server.
            window: credit window in packets for one lossless consumer (None: never wait).
        """
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"stream name must be a non-empty string without '/', got {name!r}")
        if name in self._feeds:
            raise ValueError(f"stream {name!r} is already served")
        _check_int(window, "window (packets)", 1, none=True)
        feed = self._feeds[name] = StreamFeed(self, name, window)
        return feed

    async def start(self) -> str:
        """Bind and serve; returns the base URL ("http://127.0.0.1:PORT")."""
        aiohttp = _aiohttp()
        web = aiohttp.web
        @web.middleware
        async def middleware(request: Any, handler: Any) -> Any:
            return await self._middleware(request, handler)

        app = web.Application(middlewares=[middleware], client_max_size=MAX_REQUEST)
        app.router.add_get("/streams", self._list, allow_head=False)
        app.router.add_get("/streams/{name}", self._poll, allow_head=False)
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0,
            handler_cancellation=True, max_line_size=MAX_LINE, max_field_size=MAX_FIELD,
            max_headers=MAX_HEADERS,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        host = self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        self.url = f"http://{host}:{port}"
        return self.url

    async def close(self) -> None:
        """Stop serving: waiting long polls are answered (204), connections closed."""
        if self.closed:
            return
        self.closed = True
        self._closing.set()
        for feed in self._feeds.values():
            feed._wake.set()
            feed._credit.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- handlers --------------------------------------------------------------------------
    @property
    def _web(self) -> Any:
        return _aiohttp().web

    async def _middleware(self, request: Any, handler: Any) -> Any:
        web = self._web
        self.requests += 1
        if self.token is not None:
            got = request.headers.get("Authorization", "")
            scheme, _, credential = got.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                credential.strip().encode("utf-8", "replace"), self.token.encode()
            ):
                return _error(web, 401, "a bearer token is required (Authorization: Bearer <token>)",
                              {"WWW-Authenticate": 'Bearer realm="daqflow"'})
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 500:
                raise
            allow = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            return _error(web, exc.status, exc.reason, allow)

    async def _list(self, request: Any) -> Any:
        web = self._web
        return web.json_response([feed.describe() for feed in self._feeds.values()],
                                 dumps=dumps)

    async def _poll(self, request: Any) -> Any:
        web = self._web
        feed = self._feeds.get(request.match_info["name"])
        if feed is None:
            return _error(web, 404, f"no stream {request.match_info['name']!r} on this server")
        query = request.query
        text = query.get("after")
        if text is None:
            after = max(0, feed.next_seq - 2)  # the newest packet onwards
        else:
            if not _INT.fullmatch(text) or int(text) > _MAX_SEQ:
                return _error(web, 400, f"bad after {text[:40]!r}: an integer 0 <= after < 2**63 "
                                        "expected")
            after = int(text)
            if after >= feed.next_seq:
                return _error(web, 400, f"bad after {after}: the newest sequence number is "
                                        f"{feed.next_seq - 1}")
            feed.ack(after)
        text = query.get("timeout")
        timeout = DEFAULT_TIMEOUT
        if text is not None:
            try:
                timeout = float(text) if len(text) <= 40 else math.nan
            except ValueError:
                timeout = math.nan
            if not 0 <= timeout < math.inf:
                return _error(web, 400, f"bad timeout {text[:40]!r}: seconds >= 0 expected")
            timeout = min(timeout, MAX_TIMEOUT)
        if self.pollers >= MAX_POLLERS:
            return _error(web, 429, "too many waiting requests", {"Retry-After": "1"})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.pollers += 1
        try:
            while True:
                packet, missed = feed.lookup(after)
                if packet is not None:
                    feed.served += 1
                    headers = dict(packet.headers)
                    headers["X-Daqflow-Missed"] = str(missed)
                    return web.Response(body=packet.body, headers=headers)
                remaining = deadline - loop.time()
                if feed.ended or self.closed or remaining <= 0:
                    headers = {"X-Daqflow-Next": str(feed.next_seq)}
                    if feed.ended:
                        headers["X-Daqflow-Ended"] = "1"
                    return web.Response(status=204, headers=headers)
                wake = feed._wake
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), remaining)
        finally:
            self.pollers -= 1


def _error(web: Any, status: int, message: str, headers: dict[str, str] | None = None) -> Any:
    return web.json_response({"status": status, "error": message}, status=status,
                             headers=headers, dumps=dumps)


# -- client side ---------------------------------------------------------------------------

class RemoteError(RuntimeError):
    """A block on the serving side failed: the stream carried its error packet.

    Attributes:
        block: the remote block's name. error: its exception's type name. message: its text.
        seq: the error packet's sequence number.
    """

    def __init__(self, block: str, error: str, message: str, seq: int = 0):
        super().__init__(f"remote block {block!r} failed: {error}: {message}")
        self.block = block
        self.error = error
        self.message = message
        self.seq = seq


class HttpStatusError(RuntimeError):
    """The server answered a request with a status that is not 200 or 204 (``status``)."""

    def __init__(self, url: str, status: int, text: str):
        super().__init__(f"GET {url}: HTTP {status}: {text}")
        self.status = status


@dataclasses.dataclass(frozen=True, slots=True)
class Packet:
    """One packet of a stream.

    Attributes:
        seq: sequence number (1, 2, ...).
        kind: "chunk", "array", "bytes", "json", "end" or "error".
        item: the decoded item (None for end and error).
        missed: packets lost just before this one (no longer retained by the server).
        error: for an error packet, ``{"block", "error", "message"}``; else None.
    """

    seq: int
    kind: str
    item: Any = None
    missed: int = 0
    error: dict[str, Any] | None = None


def _header_int(headers: Any, name: str, default: int | None = None) -> int:
    text = headers.get(name)
    if text is None:
        if default is None:
            raise ValueError(f"response has no {name} header")
        return default
    if not _INT.fullmatch(text.strip().lstrip("-")):
        raise ValueError(f"bad {name} header {text[:40]!r}: an integer expected")
    return int(text)


def parse_packet(headers: Any, body: bytes) -> Packet:
    """The `Packet` of a 200 response's headers and body (raises ValueError if malformed)."""
    kind = headers.get("X-Daqflow-Kind")
    if kind not in _KINDS:
        raise ValueError(f"bad X-Daqflow-Kind {kind!r}: one of {_KINDS} expected")
    seq = _header_int(headers, "X-Daqflow-Seq")
    missed = _header_int(headers, "X-Daqflow-Missed", 0)
    if kind == "end":
        return Packet(seq, kind, None, missed)
    if kind == "error":
        try:
            error = json.loads(body)
        except ValueError:
            error = None
        if not isinstance(error, dict):
            error = {"block": "?", "error": "Error", "message": bytes(body[:200]).decode(errors="replace")}
        return Packet(seq, kind, None, missed, error)
    header: dict[str, Any] = {"kind": kind}
    if kind in ("chunk", "array"):
        header["dtype"] = headers.get("X-Daqflow-Dtype")
        shape = headers.get("X-Daqflow-Shape", "")
        try:
            header["shape"] = [int(n) for n in shape.split(",")] if shape.strip() else []
        except ValueError:
            raise ValueError(f"bad X-Daqflow-Shape {shape[:40]!r}: comma-separated ints expected") from None
    if kind == "chunk":
        try:
            header["rate"] = float(headers.get("X-Daqflow-Rate", "0"))
            header["time"] = float(headers.get("X-Daqflow-Time", "0"))
        except ValueError as exc:
            raise ValueError(f"bad chunk header: {exc}") from None
        header["index"] = _header_int(headers, "X-Daqflow-Index", 0)
        header["meta"] = json.loads(headers.get("X-Daqflow-Meta", "{}"))
    return Packet(seq, kind, decode_item(header, body), missed)


def _check_sequence(url: str, after: int | None, packet: Packet) -> None:
    """A server's numbering must hold: seq >= 1, missed >= 0, each packet after the one asked
    for, and a jump exactly as long as the packets it says were missed (ValueError if not)."""
    if packet.seq < 1 or packet.missed < 0:
        raise ValueError(f"GET {url}: the server sent sequence number {packet.seq} with "
                         f"{packet.missed} missed: numbers >= 1 and a count >= 0 expected")
    if after is None:
        return
    if packet.seq <= after:
        raise ValueError(f"GET {url}: the server sent packet {packet.seq} when asked for the "
                         f"one after {after} (repeated or out of order)")
    if packet.seq != after + 1 + packet.missed:
        raise ValueError(f"GET {url}: the server jumped from packet {after} to {packet.seq} but "
                         f"said {packet.missed} were missed")


async def _read_body(resp: Any, max_packet: int, url: str) -> bytes:
    length = resp.content_length
    if length is not None and length > max_packet:
        raise ValueError(f"GET {url}: packet of {length} bytes is over max_packet={max_packet} bytes")
    parts, size = [], 0
    while True:
        part = await resp.content.read(1 << 20)
        if not part:
            break
        size += len(part)
        if size > max_packet:
            raise ValueError(f"GET {url}: packet over max_packet={max_packet} bytes")
        parts.append(part)
    return b"".join(parts)


async def http_packets(url: str, *, after: int | None = 0, token: str | None = None,
                       timeout: float = DEFAULT_TIMEOUT, max_packet: int = 256 * 2**20,
                       reconnect: bool = True, session: Any = None) -> AsyncIterator[Packet]:
    """The packets of a served stream, in order, by long poll.

    Args:
        url: the stream's URL (``http://HOST:PORT/streams/NAME``).
        after: start after this sequence number (0: from the first; None: from the newest).
        token: bearer token of the server (None: no Authorization header).
        timeout: seconds each long poll may wait on the server (capped there to 60).
        max_packet: bytes of one packet's body accepted; a bigger one raises ValueError.
        reconnect: on connection errors (and 429/502/503/504), retry with backoff 0.05 s
            doubling to 1 s, resuming after the last packet yielded; else raise.
        session: an ``aiohttp.ClientSession`` to use (None: one of its own, closed at the end).

    Yields the end packet last. Raises `RemoteError` on an error packet, `HttpStatusError` on
    other statuses (401, 404, ...).
    """
    aiohttp = _aiohttp()
    _check_int(after, "http_packets: after", 0, none=True)
    _check_int(max_packet, "http_packets: max_packet (bytes)", 0)
    if not 0 <= timeout < math.inf:
        raise ValueError(f"http_packets: timeout must be seconds >= 0, got {timeout!r}")
    own = session is None
    if own:
        session = aiohttp.ClientSession(max_field_size=CLIENT_MAX_FIELD, max_line_size=MAX_FIELD)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    limit = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=min(timeout, MAX_TIMEOUT) + 15.0)
    retry = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)
    delay = 0.05
    try:
        while True:
            params = {"timeout": repr(float(timeout))}
            if after is not None:
                params["after"] = str(after)
            try:
                async with session.get(url, params=params, headers=headers, timeout=limit) as resp:
                    status = resp.status
                    if status == 200:
                        body = await _read_body(resp, max_packet, url)
                        packet = parse_packet(resp.headers, body)
                    elif status == 204:
                        packet = None
                        if resp.headers.get("X-Daqflow-Ended") and after is not None:
                            raise HttpStatusError(url, 204, f"the stream has ended before "
                                                            f"sequence number {after + 1}")
                    elif reconnect and status in (429, 502, 503, 504):
                        raise ConnectionError(f"HTTP {status}")
                    else:
                        text = (await resp.content.read(400)).decode(errors="replace")
                        raise HttpStatusError(url, status, text)
            except (*retry, ConnectionError) as exc:
                if not reconnect:
                    raise
                log.debug("GET %s: %s; retrying in %.2f s", url, exc, delay)
                await asyncio.sleep(delay)
                delay = min(1.0, delay * 2)
                continue
            delay = 0.05
            if packet is None:
                continue
            _check_sequence(url, after, packet)
            after = packet.seq
            if packet.kind == "error":
                err = packet.error or {}
                raise RemoteError(str(err.get("block", "?")), str(err.get("error", "Error")),
                                  str(err.get("message", "")), packet.seq)
            yield packet
            if packet.kind == "end":
                return
    finally:
        if own:
            await session.close()


# -- blocks --------------------------------------------------------------------------------

def _own_name(default: str) -> str:
    task = asyncio.current_task()
    name = task.get_name() if task is not None else ""
    return name.removeprefix("daqflow:") if name.startswith("daqflow:") else default


@block(name="serve")
async def _serve(stream: Stream, host: str, port: int, stream_name: str, token: str | None,
                 retention: int, retention_bytes: int, max_meta: int, window: int | None,
                 on_ready: Callable[[str], None] | None, linger: float) -> dict[str, Any]:
    server = PacketServer(host=host, port=port, token=token, retention=retention,
                          retention_bytes=retention_bytes, max_meta=max_meta)
    feed = server.add_stream(stream_name, window=window)
    me = _own_name("serve")
    try:
        base = await server.start()
        url = f"{base}/streams/{quote(stream_name, safe='')}"
        log.info("%s: serving %s", me, url)
        if on_ready is not None:
            on_ready(url)
        failure: BaseException | None = None
        try:
            async for item in stream:
                await feed.publish(item)
        except Exception as exc:
            feed.fail(me, exc)
            failure = exc
        else:
            upstream = upstream_failure(stream)
            if upstream is not None:  # readers learn the stream broke, not that it ended
                feed.fail(*upstream)
            else:
                feed.end()
        if linger > 0:
            await asyncio.sleep(linger)
        if failure is not None:
            raise failure
    finally:
        await server.close()
    stats = feed.stats
    return {"url": url, "published": stats["published"], "evicted": stats["evicted"],
            "bytes": stats["bytes"]}


def serve(stream: Stream, *, host: str = "127.0.0.1", port: int = 0, name: str = "stream",
          token: str | None = None, retention: int = 256, retention_bytes: int = 256 * 2**20,
          max_meta: int = 16384, window: int | None = None,
          on_ready: Callable[[str], None] | None = None, linger: float = 0.0,
          block_name: str | None = None, **options: Any) -> Stream:
    """A sink serving ``stream`` over HTTP (protocol: docs/protocol.md).

    Every item is published as a packet (Chunks, numeric arrays, bytes, JSON values); the
    end of the stream as the end packet; a failure of this block as the error packet.

    Args:
        stream: the items to serve.
        host: address to bind; anything but loopback needs ``token``.
        port: TCP port (0: a free one; ``on_ready`` gets the URL).
        name: the stream's name in its URL (``/streams/NAME``).
        token: bearer token clients must send (None: none, loopback only).
        retention: packets kept for late or reconnecting readers.
        retention_bytes: bytes of packet bodies kept.
        max_meta: bytes of a chunk's meta JSON; a bigger one fails the block.
        window: credit window in packets for one lossless consumer (None: never wait).
        on_ready: called with the stream's URL once the server is bound.
        linger: seconds to keep serving after the end (late readers get the end packet).
        block_name: the block's name in reports (default "serve").
        options: buffer=, policy=, threaded=.

    Result: ``{"url", "published" (items), "evicted" (packets), "bytes" (of bodies)}``.

    Raises:
        ValueError (now, at graph build time): non-loopback ``host`` without ``token``, bad
        limits.
    """
    _check_bind(host, token, "serve")
    PacketServer(host=host, port=port, token=token, retention=retention,
                 retention_bytes=retention_bytes, max_meta=max_meta).add_stream(name, window=window)
    if not 0 <= linger < math.inf:
        raise ValueError(f"serve: linger must be seconds >= 0, got {linger!r}")
    if on_ready is not None and not callable(on_ready):
        raise ValueError(f"serve: on_ready must be callable, got {on_ready!r}")
    _aiohttp()
    return _serve(stream, host, port, name, token, retention, retention_bytes, max_meta, window,
                  on_ready, float(linger), name=block_name, **options)


@block(name="http_source")
async def _http_source(url: str, after: int | None, token: str | None, timeout: float,
                       max_packet: int, reconnect: bool) -> AsyncIterator[Any]:
    me = _own_name("http_source")
    missed_total = received = 0
    pending = 0  # packets lost and not yet marked on a chunk
    last_end: int | None = None
    try:
        async for packet in http_packets(url, after=after, token=token, timeout=timeout,
                                         max_packet=max_packet, reconnect=reconnect):
            if packet.missed:
                missed_total += packet.missed
                pending += packet.missed
                log.warning("%s: %d packet(s) lost before seq %d (no longer retained by the "
                            "server)", me, packet.missed, packet.seq)
            if packet.kind == "end":
                return
            received += 1
            item = packet.item
            if type(item) is Chunk:
                if last_end is not None and item.index > last_end:
                    gap = item.index - last_end - int(item.meta.get("overflow", 0))
                    item = mark_overflow(item, max(0, gap))
                if pending:
                    item = item.with_meta(missed_packets=pending)
                    pending = 0
                last_end = item.end_index
            yield item
    finally:
        log.info("%s: %d item(s) from %s, %d packet(s) missed", me, received, url, missed_total)


def http_source(url: str, *, after: int | None = 0, token: str | None = None,
                timeout: float = DEFAULT_TIMEOUT, max_packet: int = 256 * 2**20,
                reconnect: bool = True, **options: Any) -> Stream:
    """A source of the items of a served stream (`serve`, or any server of docs/protocol.md).

    Lost packets (gone from the server's retention) are counted and logged; the next Chunk
    carries ``meta["missed_packets"]`` and, if its index jumps, ``meta["overflow"]`` (samples
    lost just before it). An error packet stops the graph: `RemoteError` names the remote block.

    Args:
        url: the stream's URL (``http://HOST:PORT/streams/NAME``).
        after: start after this sequence number (0: from the first; None: the newest on).
        token: the server's bearer token.
        timeout: seconds each long poll may wait.
        max_packet: bytes of one packet's body accepted (bigger: the block fails).
        reconnect: retry on connection errors (backoff 0.05 s to 1 s), resuming without loss
            while the server retains the next packet.
        options: name=, buffer=, policy=, threaded=, realtime=.
    """
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"http_source: url must be an http:// URL, got {url!r}")
    _check_int(after, "http_source: after", 0, none=True)
    _check_int(max_packet, "http_source: max_packet (bytes)", 0)
    if not 0 <= timeout < math.inf:
        raise ValueError(f"http_source: timeout must be seconds >= 0, got {timeout!r}")
    _aiohttp()
    return _http_source(url, after, token, float(timeout), max_packet, bool(reconnect), **options)
