"""The two ends of an edge between processes, with the semantics of an in-process FIFO.

Shared memory (``transport="shm"``, the default on one machine): the ZeroMQ link below,
with bodies of 16 KiB and more passed through a ring file in the run's private directory on
/dev/shm (`ShmSendEnd`): 2x the ZeroMQ ipc link's throughput at 64 KiB and 1 MiB
(benchmarks/scaleout.py).

ZeroMQ (``transport="zmq"``): the producer's end binds a DEALER socket (ipc locally, tcp
across machines), the consumer's end connects one. Credit-based flow control: the consumer
grants as many items as its FIFO holds and one more per item it has passed on, and the
producer sends only against credit, so a slow consumer slows the producer (backpressure
crosses the boundary) and no more than ``capacity`` items are ever in flight. Messages are
``[header JSON, body]`` (`daqflow.net.codec`); the header carries a sequence number checked
on arrival, and kind "end" for end of stream. The consumer answers "end" with "bye" (and a
consumer that stops reading says "gone"), so the producer closes only once everything
arrived.

HTTP (``transport="http"``): the producer's end serves the edge with `daqflow.net.http`
(``window=capacity``: it waits while the consumer has not asked for older packets), the
consumer's end long-polls it.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import mmap
import os
from collections.abc import AsyncIterator
from typing import Any

from ..core.channel import upstream_failure
from ..core.decorator import block
from ..core.errors import ReceiverGone, UpstreamFailed
from ..core.stream import Stream
from .codec import decode_item, dumps, encode_item
from .plan import Link

CREDIT, BYE, GONE = b"C", b"B", b"G"
SHM_THRESHOLD = 16384  # bytes: smaller bodies travel in the ZMQ message
MIN_SLOT = 65536  # bytes: the smallest ring slot
POLL_MS = 100  # how often a waiting end looks whether its peer's process died


def _zmq() -> Any:
    from ..core.requirements import require

    require("zmq.asyncio", "net", "edges between processes")
    import zmq

    return zmq


class RemoteBlockError(RuntimeError):
    """A block failed in another process; the message carries its error, the notes (when
    known) its traceback there."""


def _failure_header(failure: tuple[str, BaseException] | None) -> dict[str, Any]:
    if failure is None:
        return {}
    block, exc = failure
    return {"failed": {"block": block, "type": type(exc).__name__, "message": str(exc)}}


def _relayed(link: Link, failed: Any) -> UpstreamFailed:
    info = failed if isinstance(failed, dict) else {}
    block = str(info.get("block", "?"))
    cause = RemoteBlockError(
        f"{info.get('type', 'Error')}: {info.get('message', '')} (in process {link.producer_part!r})"
    )
    return UpstreamFailed(block, cause)


class LinkError(RuntimeError):
    """A transport broke its promise (out of order, malformed) or its peer vanished."""


class SendEnd(abc.ABC):
    """Producer side of a link: ``bind()`` before the run, ``send`` items, ``finish``."""

    def __init__(self, link: Link):
        self.link = link
        self.address: str | None = None
        self.sent = 0
        self.gone = False

    def abort(self) -> None:
        """The consumer's process died: stop waiting for it."""
        self.gone = True

    @abc.abstractmethod
    async def bind(self, where: str) -> str:
        """Listen at ``where`` ("ipc://DIR" or "tcp://HOST"); returns the address to connect to."""

    @abc.abstractmethod
    async def send(self, item: Any) -> None:
        """Pass one item on, waiting for credit (raises ReceiverGone once the consumer left)."""

    @abc.abstractmethod
    async def finish(self, failure: tuple[str, BaseException] | None = None) -> None:
        """End of stream (``failure``: the block upstream whose error ended it)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the sockets, servers and mappings."""


class RecvEnd(abc.ABC):
    """Consumer side of a link: ``connect(address)``, then iterate over the items."""

    def __init__(self, link: Link):
        self.link = link
        self.received = 0
        self.ended = False
        self.aborted = False

    def abort(self) -> None:
        """The producer's process died: end the stream here (the run reports why)."""
        self.aborted = True

    @abc.abstractmethod
    async def connect(self, address: str) -> None:
        """Connect to the producer's ``address`` (from its `SendEnd.bind`)."""

    def _peer_died(self) -> UpstreamFailed:
        """The failure a link whose producer's process died ends with (not a clean end: a
        writer downstream marks its recording as ended early)."""
        link = self.link
        return UpstreamFailed(link.producer, LinkError(
            f"process {link.producer_part!r} ended without closing the link "
            f"{link.producer!r} -> {link.consumer}.{link.port}"))

    @abc.abstractmethod
    def items(self) -> AsyncIterator[Any]:
        """The items, in order, until the producer's end of stream."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the sockets, servers and mappings."""


def _encode(link: Link, item: Any) -> tuple[dict[str, Any], Any]:
    try:
        return encode_item(item)
    except TypeError as exc:
        raise TypeError(
            f"{link.producer!r} -> {link.consumer}.{link.port} crosses from process "
            f"{link.producer_part!r} to {link.consumer_part!r}: {exc}"
        ) from None


class ZmqSendEnd(SendEnd):
    def __init__(self, link: Link, context: Any):
        super().__init__(link)
        zmq = _zmq()
        self._zmq = zmq
        self.socket = context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.SNDHWM, 0)  # credits bound what is in flight
        self.socket.setsockopt(zmq.RCVHWM, 0)
        self.socket.setsockopt(zmq.LINGER, 0)
        self._now = zmq.Socket.shadow(self.socket.underlying)  # calls that never wait
        self.credit = 0

    async def bind(self, where: str) -> str:
        """``where``: "ipc://DIR" (a socket file per link in DIR) or "tcp://HOST"."""
        if where.startswith("ipc://"):
            self.address = f"{where}/{self.link.id}.sock"
            self.socket.bind(self.address)
        else:
            port = self.socket.bind_to_random_port(where)
            self.address = f"{where}:{port}"
        return self.address

    def _take_queued(self) -> None:
        """Credits (and bye/gone) the consumer has sent, without waiting."""
        zmq = self._zmq
        while True:
            try:
                message = self._now.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            tag = message[:1]
            if tag == CREDIT:
                self.credit += int(message[1:])
            elif tag in (GONE, BYE):
                self.gone = True

    async def _wait_message(self) -> None:
        """Until the consumer says something, or its process is known dead."""
        while not self.gone and not await self.socket.poll(POLL_MS, self._zmq.POLLIN):
            pass

    async def _frames_out(self, frames: list[Any], copy: bool) -> None:
        zmq = self._zmq
        while True:
            try:
                self._now.send_multipart(frames, flags=zmq.NOBLOCK, copy=copy)
                return
            except zmq.Again:  # no peer (yet, or any more)
                pass
            while not self.gone and not await self.socket.poll(POLL_MS, zmq.POLLOUT):
                pass
            if self.gone:
                raise ReceiverGone

    async def send(self, item: Any) -> None:
        header, body = _encode(self.link, item)
        while self.credit <= 0 and not self.gone:
            self._take_queued()
            if self.credit <= 0 and not self.gone:
                await self._wait_message()
        if self.gone:
            raise ReceiverGone
        self.sent += 1
        header["seq"] = self.sent
        self.credit -= 1
        frames = self._packet(header, body)
        await self._frames_out(frames, copy=len(frames[-1]) < 65536)

    def _packet(self, header: dict[str, Any], body: Any) -> list[Any]:
        """The message for one item: its header, then its body."""
        return [dumps(header).encode(), body]

    async def finish(self, failure: tuple[str, BaseException] | None = None) -> None:
        """Send "end" and wait for the consumer's "bye" (or its process's end): closing
        earlier could drop what is still queued for it."""
        self._take_queued()
        if self.gone:
            return
        end = {"kind": "end", "seq": self.sent + 1, **_failure_header(failure)}
        with contextlib.suppress(ReceiverGone):
            await self._frames_out([dumps(end).encode(), b""], True)
        while not self.gone:
            await self._wait_message()
            self._take_queued()

    async def close(self) -> None:
        self.socket.close(0)


class ZmqRecvEnd(RecvEnd):
    def __init__(self, link: Link, context: Any):
        super().__init__(link)
        zmq = _zmq()
        self._zmq = zmq
        self.socket = context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.SNDHWM, 0)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        self.socket.setsockopt(zmq.LINGER, 1000)
        self._now = zmq.Socket.shadow(self.socket.underlying)

    async def connect(self, address: str) -> None:
        self.socket.connect(address)

    async def _next_frames(self) -> list[Any] | None:
        """The next message (None: the producer's process died)."""
        zmq = self._zmq
        while True:
            try:
                return self._now.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                pass
            while not await self.socket.poll(POLL_MS, zmq.POLLIN):
                if self.aborted:
                    return None

    def _body(self, header: dict[str, Any], frames: list[Any]) -> Any:
        return frames[1].buffer if len(frames) > 1 else b""

    def _grant(self, n: int) -> None:
        self._now.send(CREDIT + str(n).encode())  # HWM 0, connected: never waits

    async def items(self) -> AsyncIterator[Any]:
        link = self.link
        await self.socket.send(CREDIT + str(link.capacity).encode())  # waits for the connection
        batch = max(1, link.capacity // 2)  # credit goes back in batches: fewer wake-ups
        owed = 0
        try:
            while True:
                frames = await self._next_frames()
                if frames is None:
                    raise self._peer_died()
                try:
                    header = json.loads(frames[0].bytes)
                    if header.get("seq") != self.received + 1:
                        raise LinkError(
                            f"expected packet {self.received + 1}, got {header.get('seq')!r}"
                        )
                    self.received += 1
                    if header.get("kind") == "end":
                        self.ended = True
                        self._now.send(BYE)
                        if header.get("failed"):
                            raise _relayed(link, header["failed"])
                        return
                    item = decode_item(header, self._body(header, frames))
                except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
                    raise LinkError(
                        f"{link.producer!r} -> {link.consumer}.{link.port}: bad packet from process "
                        f"{link.producer_part!r}: {exc}"
                    ) from None
                yield item
                owed += 1
                if owed >= batch:
                    self._grant(owed)
                    owed = 0
        finally:
            if not self.ended:
                with contextlib.suppress(Exception):
                    self._now.send(GONE, self._zmq.NOBLOCK)

    async def close(self) -> None:
        self.socket.close()


class ShmSendEnd(ZmqSendEnd):
    """The ZMQ link with packet bodies in a shared ring file: one memcpy into the ring here,
    one out of it in the consumer, instead of two trips through the kernel's socket buffers.

    The ring has one slot per credit (``capacity`` slots) and lives in the run's private
    directory (on /dev/shm), which the coordinator removes at the end, even when a process
    was killed. Credit already guarantees the consumer has copied a slot out before the
    producer reuses it. A body bigger than a slot (sized by the first packet) travels in the
    message, as with plain ZMQ.
    """

    def __init__(self, link: Link, context: Any):
        super().__init__(link, context)
        self._ring: mmap.mmap | None = None
        self._ring_path: str | None = None
        self._slot = 0
        self._dir: str | None = None

    async def bind(self, where: str) -> str:
        if not where.startswith("ipc://"):
            raise LinkError(f"link {self.link.id}: transport 'shm' needs both ends on one machine")
        self._dir = where[len("ipc://"):]
        return await super().bind(where)

    def _open_ring(self, nbytes: int) -> None:
        assert self._dir is not None
        self._slot = max(nbytes, MIN_SLOT)
        self._ring_path = os.path.join(self._dir, f"{self.link.id}.ring")
        fd = os.open(self._ring_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, self._slot * self.link.capacity)
            self._ring = mmap.mmap(fd, self._slot * self.link.capacity)
        finally:
            os.close(fd)

    def _packet(self, header: dict[str, Any], body: Any) -> list[Any]:
        nbytes = len(body)
        if self._ring is None and nbytes >= SHM_THRESHOLD:
            self._open_ring(nbytes)
        if self._ring is None or nbytes > self._slot:
            return super()._packet(header, body)
        offset = (header["seq"] % self.link.capacity) * self._slot
        self._ring[offset:offset + nbytes] = body
        header["ring"] = [self._ring_path, offset, nbytes]
        return [dumps(header).encode()]

    async def close(self) -> None:
        await super().close()
        if self._ring is not None:
            self._ring.close()


class ShmRecvEnd(ZmqRecvEnd):
    """Consumer side of `ShmSendEnd`: copies each body out of the ring."""

    def __init__(self, link: Link, context: Any):
        super().__init__(link, context)
        self._rings: dict[str, mmap.mmap] = {}
        self._dir: str | None = None

    def _body(self, header: dict[str, Any], frames: list[Any]) -> Any:
        ring = header.get("ring")
        if ring is None:
            return super()._body(header, frames)
        path, offset, nbytes = ring
        mapped = self._rings.get(path)
        if mapped is None:
            if os.path.dirname(path) != self._dir:
                raise ValueError(f"ring {path!r} is not in this run's directory")
            with open(path, "rb") as f:
                mapped = self._rings[path] = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        if not (isinstance(offset, int) and isinstance(nbytes, int)
                and offset >= 0 and nbytes >= 0 and offset + nbytes <= len(mapped)):
            raise ValueError(f"ring slot {offset}+{nbytes} outside the ring")
        return mapped[offset:offset + nbytes]  # the one copy out

    async def connect(self, address: str) -> None:
        self._dir = os.path.dirname(address[len("ipc://"):]) if address.startswith("ipc://") else None
        await super().connect(address)

    async def close(self) -> None:
        await super().close()
        for mapped in self._rings.values():
            mapped.close()


class HttpSendEnd(SendEnd):
    def __init__(self, link: Link, token: str | None):
        super().__init__(link)
        from . import http

        self._http = http
        self._token = token
        self.server: Any = None
        self.feed: Any = None

    async def bind(self, where: str) -> str:
        """``where``: "tcp://HOST" or "ipc://..." (HTTP then binds 127.0.0.1)."""
        host = where[len("tcp://"):] if where.startswith("tcp://") else "127.0.0.1"
        self.server = self._http.PacketServer(host=host, port=0, token=self._token,
                                              retention=self.link.capacity + 2)
        base = await self.server.start()
        self.feed = self.server.add_stream(self.link.id, window=self.link.capacity)
        self.address = f"{base}/streams/{self.link.id}"
        return self.address

    async def send(self, item: Any) -> None:
        if self.gone:
            raise ReceiverGone
        try:
            await self.feed.publish(item)
        except TypeError:
            _encode(self.link, item)  # raises the error that names the link
            raise
        self.sent += 1

    async def finish(self, failure: tuple[str, BaseException] | None = None) -> None:
        """Publish "end" (or the error packet) and serve until the consumer has it (or its
        process has ended)."""
        if failure is not None:
            self.feed.fail(*failure)
        else:
            self.feed.end()
        while self.feed.acked < self.sent + 1 and not self.gone:
            await asyncio.sleep(0.01)

    def abort(self) -> None:
        super().abort()
        if self.feed is not None:
            self.feed.ack(self.sent)  # wakes a publish waiting for credit

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()


class HttpRecvEnd(RecvEnd):
    def __init__(self, link: Link, token: str | None):
        super().__init__(link)
        self.url: str | None = None
        self._token = token

    async def connect(self, address: str) -> None:
        self.url = address

    async def items(self) -> AsyncIterator[Any]:
        from . import http

        assert self.url is not None
        token = self._token  # (on loopback too: other local users cannot read or acknowledge)
        packets = http.http_packets(self.url, after=0, token=token, timeout=POLL_MS / 1000 * 10)
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                pending = asyncio.ensure_future(anext(packets))
                while not pending.done():  # (the client retries a vanished server forever)
                    await asyncio.wait({pending}, timeout=POLL_MS / 1000)
                    if self.aborted and not pending.done():
                        pending.cancel()
                        with contextlib.suppress(BaseException):
                            await pending
                        raise self._peer_died()
                try:
                    packet = pending.result()
                except StopAsyncIteration:
                    return
                except http.RemoteError as exc:
                    self.ended = True
                    await _acknowledge(self.url, exc.seq, token)
                    raise _relayed(self.link, {"block": exc.block, "type": exc.error,
                                               "message": exc.message}) from None
                if packet.kind == "end":
                    self.ended = True
                    await _acknowledge(self.url, packet.seq, token)
                    return
                self.received += 1
                yield packet.item
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            await packets.aclose()

    async def close(self) -> None:
        pass


async def _acknowledge(url: str, seq: int, token: str | None) -> None:
    """Tell an HTTP feed that packet ``seq`` (its end) arrived: it may close."""
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
        async with aiohttp.ClientSession() as session, session.get(
            url, params={"after": str(seq), "timeout": "0"}, headers=headers,
            timeout=aiohttp.ClientTimeout(total=5.0),
        ) as response:
            await response.read()


def new_keys() -> dict[str, bytes]:
    """CURVE key pairs for one run's tcp sockets: the binding side's and the connecting side's."""
    zmq = _zmq()
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    return {"server_public": server_public, "server_secret": server_secret,
            "client_public": client_public, "client_secret": client_secret}


def secure(socket: Any, keys: dict[str, bytes] | None, server: bool) -> None:
    """CURVE on ``socket`` (before bind/connect): only a peer holding the run's keys, which
    travel with the partitions' start arguments and never over a socket, can connect; the
    traffic is encrypted. None: no CURVE (ipc sockets in a 0700 directory)."""
    if keys is None:
        return
    if server:
        socket.curve_secretkey = keys["server_secret"]
        socket.curve_publickey = keys["server_public"]
        socket.curve_server = True
    else:
        socket.curve_serverkey = keys["server_public"]
        socket.curve_publickey = keys["client_public"]
        socket.curve_secretkey = keys["client_secret"]


def make_ends(link: Link, side: str, context: Any, token: str | None = None,
              keys: dict[str, bytes] | None = None) -> SendEnd | RecvEnd:
    """The ``side`` ("send" or "recv") end of ``link``; ``token`` guards HTTP beyond
    loopback, ``keys`` (`new_keys`) ZeroMQ over tcp."""
    if link.transport == "http":
        return HttpSendEnd(link, token) if side == "send" else HttpRecvEnd(link, token)
    if link.transport == "shm":
        return ShmSendEnd(link, context) if side == "send" else ShmRecvEnd(link, context)
    end = ZmqSendEnd(link, context) if side == "send" else ZmqRecvEnd(link, context)
    secure(end.socket, keys, server=side == "send")
    return end


@block(name="send")
async def send_link(stream: Stream, end: SendEnd) -> int:
    """Sink: passes the stream to another process; returns the items sent."""
    try:
        async for item in stream:
            await end.send(item)
    except ReceiverGone:
        return end.sent
    await end.finish(upstream_failure(stream))
    return end.sent


@block(name="receive", passive=True)
async def receive_link(end: RecvEnd) -> AsyncIterator[Any]:
    """Source: the stream another process sends."""
    async for item in end.items():
        yield item
