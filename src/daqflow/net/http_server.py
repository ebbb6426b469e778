"""The server side of the HTTP boundary: `PacketServer` (streams over long-poll) and
`StreamFeed` (one stream's retention ring). The protocol: docs/protocol.md.

The server keeps every well-behaved reader served, whatever others do: a connection that has
not sent a whole request head within ``header_timeout`` seconds, sits idle between requests
for ``idle_timeout`` seconds or leaves an answer unread that long, is closed; beyond
``max_connections`` the longest idle connection makes room (a long poll that waits for data
is not idle). Every error answer, those of the HTTP parser included (a request line or header
too long: 400/431), has the JSON body ``{"status": ..., "error": "..."}``; refusals are
logged in one line at debug level (a handler's failure, a 500, with its traceback).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import ipaddress
import logging
import math
import re
import resource
from collections import deque
from types import ModuleType
from typing import Any
from urllib.parse import quote

from ..core.requirements import require
from .codec import dumps, encode_item

log = logging.getLogger("daqflow.net.http")

DEFAULT_TIMEOUT = 10.0  # seconds a long poll waits when the request gives no timeout
MAX_TIMEOUT = 60.0  # seconds: longer timeouts requested are capped to this
MAX_REQUEST = 4096  # bytes of request body accepted (requests carry none)
MAX_LINE = 4096  # bytes of the request line
MAX_FIELD = 8190  # bytes of one request header field
MAX_HEADERS = 64  # request header fields
MAX_POLLERS = 1024  # long polls waiting at once per server; more get 429
HEADER_TIMEOUT = 10.0  # seconds a connection may take to send a whole request head
IDLE_TIMEOUT = 60.0  # seconds a connection may wait between requests
CLIENT_MAX_FIELD = 1 << 20  # bytes of one response header the client accepts (meta)
_MAX_SEQ = 2**63 - 1
_INT = re.compile(r"[0-9]{1,19}")

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
        header_timeout: seconds a connection may take to send a whole request head, from
            connecting or from a later request's first bytes; also the seconds its small
            body may take (> 0; then 408).
        idle_timeout: seconds a connection may wait between requests, or leave an answer
            unread (> 0).
        max_connections: connections held at once; beyond, the longest idle one is closed
            (default: a quarter of the process's file descriptors, between 16 and 1024).

    Raises:
        ValueError: a non-loopback ``host`` without ``token``, or a bad limit.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 retention: int = 256, retention_bytes: int = 256 * 2**20, max_meta: int = 16384,
                 header_timeout: float = HEADER_TIMEOUT, idle_timeout: float = IDLE_TIMEOUT,
                 max_connections: int | None = None):
        _check_bind(host, token, "PacketServer")
        _check_int(port, "PacketServer: port", 0)
        _check_int(retention, "PacketServer: retention (packets)", 1)
        _check_int(retention_bytes, "PacketServer: retention_bytes", 0)
        _check_int(max_meta, "PacketServer: max_meta (bytes)", 2)
        _check_int(max_connections, "PacketServer: max_connections", 2, none=True)
        for name, value in (("header_timeout", header_timeout), ("idle_timeout", idle_timeout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
                raise ValueError(f"PacketServer: {name} must be seconds > 0, got {value!r}")
        self.header_timeout = float(header_timeout)
        self.idle_timeout = float(idle_timeout)
        self.max_connections = max_connections or default_max_connections()
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
        self._server: Any = None
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
        from .http_guard import GuardedServer

        web = _aiohttp().web
        server = GuardedServer(
            self._dispatch, header_timeout=self.header_timeout, idle_timeout=self.idle_timeout,
            max_connections=self.max_connections, error_body=_error_body,
            handler_cancellation=True, max_line_size=MAX_LINE, max_field_size=MAX_FIELD,
            max_headers=MAX_HEADERS, access_log=None, keepalive_timeout=self.idle_timeout,
        )
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._server = runner, server
        server.watch()
        port = runner.addresses[0][1]
        host = self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        self.url = f"http://{host}:{port}"
        return self.url

    @property
    def connections(self) -> int:
        """Connections held now."""
        return 0 if self._server is None else len(self._server.connections)

    async def close(self) -> None:
        """Stop serving: waiting long polls are answered (204), connections closed."""
        if self.closed:
            return
        self.closed = True
        self._closing.set()
        for feed in self._feeds.values():
            feed._wake.set()
            feed._credit.set()
        if self._server is not None:
            self._server.unwatch()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- handlers --------------------------------------------------------------------------
    @property
    def _web(self) -> Any:
        return _aiohttp().web

    async def _dispatch(self, request: Any) -> Any:
        """Every request: the token (before any body is read), the body limit, the body read
        within ``header_timeout``, its route."""
        web = self._web
        self.requests += 1
        with self._server.busy(request.protocol):  # type: ignore[union-attr]
            if self.token is not None and not self._authorized(request):
                return _error(web, 401, "a bearer token is required (Authorization: Bearer "
                                        "<token>)", {"WWW-Authenticate": 'Bearer realm="daqflow"'})
            if (request.content_length or 0) > MAX_REQUEST or (
                    "chunked" in request.headers.get("Transfer-Encoding", "").lower()):
                return _error(web, 413, f"a request body of more than {MAX_REQUEST} bytes (or "
                                        "chunked): requests need at most a small JSON body")
            if request.body_exists:  # at most MAX_REQUEST bytes: read now, kept for the route
                try:
                    await asyncio.wait_for(request.read(), self.header_timeout)
                except TimeoutError:
                    response = _error(web, 408, f"the request body did not come whole within "
                                                f"header_timeout={self.header_timeout:g} s")
                    response.force_close()
                    return response
            try:
                return await self._route(request, request.path)
            except web.HTTPException as exc:  # aiohttp's own refusals get the JSON body too
                if exc.status < 400:
                    raise
                headers = {k: v for k, v in exc.headers.items()
                           if k.lower() not in ("content-type", "content-length")}
                return _error(web, exc.status, exc.reason or "refused", headers)

    def _authorized(self, request: Any) -> bool:
        """The bearer token in the Authorization header (or, for a browser's first page
        load, the ``token`` query parameter), compared in constant time."""
        assert self.token is not None
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            credential = request.query.get("token", "")
        return hmac.compare_digest(credential.strip().encode("utf-8", "replace"),
                                   self.token.encode())

    async def _route(self, request: Any, path: str) -> Any:
        """GET /streams and GET /streams/NAME (subclasses add routes and fall back here)."""
        web = self._web
        name = path.removeprefix("/streams/") if path.startswith("/streams/") else None
        if path != "/streams" and (not name or "/" in name):
            return _error(web, 404, f"no such resource {path[:80]!r}")
        if request.method != "GET":
            return _error(web, 405, f"{request.method[:20]} is not allowed: GET only",
                          {"Allow": "GET"})
        if name is None:
            return await self._list(request)
        return await self._poll(request, name)

    async def _list(self, request: Any) -> Any:
        web = self._web
        return web.json_response([feed.describe() for feed in self._feeds.values()],
                                 dumps=dumps)

    async def _poll(self, request: Any, name: str) -> Any:
        web = self._web
        feed = self._feeds.get(name)
        if feed is None:
            return _error(web, 404, f"no stream {name[:80]!r} on this server")
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


def _error_body(status: int, message: str) -> str:
    """The JSON body of every error answer (docs/protocol.md)."""
    return dumps({"status": status, "error": message})


def _error(web: Any, status: int, message: str, headers: dict[str, str] | None = None) -> Any:
    return web.Response(text=_error_body(status, message), status=status, headers=headers,
                        content_type="application/json")


def default_max_connections() -> int:
    """A quarter of this process's file descriptors (its soft limit), between 16 and 1024."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 1024
    return max(16, min(1024, soft // 4))


