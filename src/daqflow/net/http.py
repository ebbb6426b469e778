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

- `PacketServer` / `StreamFeed` (in `http_server`): the server side (several streams per
  server, a retention ring per stream, optional credit window for a single lossless consumer,
  limits on connections).
- `http_packets`: the client side, an async iterator of `Packet` that long-polls, reconnects
  with backoff and resumes after the last packet it yielded.
- `serve` (a sink) and `http_source` (a source): the blocks built on them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

from ..core import Chunk, Stream, block
from ..core.channel import upstream_failure
from ..core.chunk import mark_overflow
from .codec import decode_item
from .http_server import (
    _INT,
    CLIENT_MAX_FIELD,
    DEFAULT_TIMEOUT,
    MAX_FIELD,
    MAX_TIMEOUT,
    PacketServer,
    StreamFeed,
    _aiohttp,
    _check_bind,
    _check_int,
    is_loopback,
)
from .http_server import HEADER_TIMEOUT as HEADER_TIMEOUT  # the server's limits, importable here
from .http_server import IDLE_TIMEOUT as IDLE_TIMEOUT
from .http_server import MAX_HEADERS as MAX_HEADERS
from .http_server import MAX_LINE as MAX_LINE
from .http_server import MAX_POLLERS as MAX_POLLERS
from .http_server import MAX_REQUEST as MAX_REQUEST

log = logging.getLogger(__name__)

_KINDS = ("chunk", "array", "bytes", "json", "end", "error")


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
                 on_ready: Callable[[str], None] | None, linger: float,
                 limits: dict[str, Any]) -> dict[str, Any]:
    server = PacketServer(host=host, port=port, token=token, retention=retention,
                          retention_bytes=retention_bytes, max_meta=max_meta, **limits)
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
          header_timeout: float = HEADER_TIMEOUT, idle_timeout: float = IDLE_TIMEOUT,
          max_connections: int | None = None, block_name: str | None = None,
          **options: Any) -> Stream:
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
        header_timeout, idle_timeout, max_connections: the server's connection limits (seconds,
            seconds, connections), as `PacketServer`'s.
        block_name: the block's name in reports (default "serve").
        options: buffer=, policy=, threaded=.

    Result: ``{"url", "published" (items), "evicted" (packets), "bytes" (of bodies)}``.

    Raises:
        ValueError (now, at graph build time): non-loopback ``host`` without ``token``, bad
        limits.
    """
    _check_bind(host, token, "serve")
    limits = {"header_timeout": header_timeout, "idle_timeout": idle_timeout,
              "max_connections": max_connections}
    PacketServer(host=host, port=port, token=token, retention=retention, retention_bytes=retention_bytes,
                 max_meta=max_meta, **limits).add_stream(name, window=window)
    if not 0 <= linger < math.inf:
        raise ValueError(f"serve: linger must be seconds >= 0, got {linger!r}")
    if on_ready is not None and not callable(on_ready):
        raise ValueError(f"serve: on_ready must be callable, got {on_ready!r}")
    _aiohttp()
    return _serve(stream, host, port, name, token, retention, retention_bytes, max_meta, window,
                  on_ready, float(linger), limits, name=block_name, **options)


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


__all__ = ["HttpStatusError", "Packet", "PacketServer", "RemoteError", "StreamFeed", "http_packets",
           "http_source", "is_loopback", "parse_packet", "serve"]
