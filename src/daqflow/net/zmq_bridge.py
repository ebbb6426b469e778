"""`zmq_source` and `zmq_sink`: streams on the wire format of GNU Radio's gr-zeromq blocks.

A message is one ZeroMQ frame of raw little-endian samples (``gr_complex`` = complex64,
float32, int16, ...), optionally preceded by a key frame (multipart ``[key, data]``). With
``pass_tags`` the data frame starts with GNU Radio's tag header (checked against GNU Radio
3.10's ``zeromq.pub_sink`` / ``push_sink``)::

    uint16 magic 0x5FF0 | uint8 version 1 | uint64 offset | uint64 ntags      (little-endian:
    then ntags times: uint64 offset | PMT key | PMT value | PMT srcid          GR memcpy's them)

where ``offset`` is the stream position of the message's first sample and each tag's offset
is absolute too; the PMTs are serialized big-endian (`daqflow.net.pmt`).

Roles follow GNU Radio: its sinks bind and its sources connect, so `zmq_source` connects (to
a ``pub_sink`` / ``push_sink``) and `zmq_sink` binds (for a ``sub_source`` / ``pull_source``).

Loss is never silent:

- `zmq_source` with ``pass_tags`` compares each header's offset with the samples received:
  a jump forward marks the chunk ``meta["overflow"]`` (samples lost just before it) and the
  total is logged as a warning when the source ends. ``pattern="sub"`` is real-time by
  default (a subscriber cannot hold a publisher back: a full FIFO downstream drops, counted in
  the report, rather than letting ZeroMQ drop uncounted at its high-water mark);
  ``pattern="pull"`` is not (the pusher waits: backpressure reaches the sending flowgraph).
- `zmq_sink` ``pattern="pub"`` uses an XPUB socket with ``ZMQ_XPUB_NODROP``: a send that would
  exceed a subscriber's high-water mark fails at once and is counted (GNU Radio's pub_sink
  drops those silently, gnuradio#6192); messages sent while nobody is subscribed are counted
  as ``unheard_messages``. ``pattern="push"`` never drops: it waits for the receiver.
"""

from __future__ import annotations

import asyncio
import logging
import re
import struct
from collections.abc import AsyncIterator, Mapping
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block
from ..core.chunk import mark_overflow
from ..core.requirements import require
from . import pmt

log = logging.getLogger(__name__)

HEADER_MAGIC = 0x5FF0
HEADER_VERSION = 1
_HEADER = struct.Struct("<HBQQ")  # magic, version, offset, ntags (19 bytes, packed)
_TAG_OFFSET = struct.Struct("<Q")
_ADDRESS = re.compile(
    r"^(?:tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.*-]+):(?P<port>\d{1,5})"
    r"|ipc://(?P<path>[^\0]+)|inproc://(?P<name>[^\0]+))$"
)
SOURCE_PATTERNS = ("sub", "pull")
SINK_PATTERNS = ("pub", "push")


def _zmq() -> tuple[Any, Any]:
    """pyzmq and its asyncio flavour (ImportError naming the ``net`` extra if missing)."""
    zmq = require("zmq", "net", "daqflow.net.zmq_source / zmq_sink")
    return zmq, require("zmq.asyncio", "net", "daqflow.net.zmq_source / zmq_sink")


def check_address(address: Any, block_name: str, *, bind: bool) -> str:
    """``address`` if it is ``tcp://HOST:PORT``, ``ipc://PATH`` or ``inproc://NAME``.

    Raises:
        ValueError naming the block and the address.
    """
    if not isinstance(address, str):
        raise ValueError(f"{block_name}: address must be a string such as 'tcp://127.0.0.1:5555' "
                         f"or 'ipc:///tmp/name', got {address!r}")
    match = _ADDRESS.match(address)
    if match is None:
        raise ValueError(f"{block_name}: malformed ZeroMQ address {address!r} (expected "
                         "'tcp://HOST:PORT', 'ipc://PATH' or 'inproc://NAME')")
    port = match.group("port")
    if port is not None:
        if not 1 <= int(port) <= 65535:
            raise ValueError(f"{block_name}: address {address!r}: port must be 1..65535")
        if match.group("host") == "*" and not bind:
            raise ValueError(f"{block_name}: address {address!r}: a connecting socket needs a "
                             "host, not '*'")
    return address


def _check_key(key: Any, block_name: str) -> bytes | None:
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes | bytearray) or not key:
        raise ValueError(f"{block_name}: key must be non-empty bytes (or None), got {key!r}")
    return bytes(key)


def _wire_dtype(dtype: Any, block_name: str) -> np.dtype:
    from .codec import check_dtype

    try:
        dt = check_dtype(dtype)
    except ValueError as exc:
        raise ValueError(f"{block_name}: {exc}") from None
    return dt.newbyteorder("<")


# -- tag header --------------------------------------------------------------------------------
def parse_header(frame: memoryview, where: str) -> tuple[int, list[dict[str, Any]], int]:
    """``(offset, tags, header length)`` of a gr-zeromq tag header at the start of ``frame``."""
    if len(frame) < _HEADER.size:
        raise ValueError(f"{where}: message of {len(frame)} bytes is too short for a GNU Radio tag "
                         f"header ({_HEADER.size} bytes)")
    magic, version, offset, ntags = _HEADER.unpack_from(frame, 0)
    if magic != HEADER_MAGIC:
        raise ValueError(f"{where}: message has no GNU Radio tag header (magic 0x{magic:04X}, "
                         f"expected 0x{HEADER_MAGIC:04X}): does the sender pass tags?")
    if version != HEADER_VERSION:
        raise ValueError(f"{where}: tag header version {version} is not supported (only "
                         f"{HEADER_VERSION})")
    pos = _HEADER.size
    tags = []
    try:
        for _ in range(ntags):
            (tag_offset,) = _TAG_OFFSET.unpack_from(frame, pos)
            key, pos = pmt.load(frame, pos + _TAG_OFFSET.size)
            value, pos = pmt.load(frame, pos)
            srcid, pos = pmt.load(frame, pos)
            tags.append({"offset": tag_offset, "key": key, "value": value, "srcid": srcid})
    except (struct.error, pmt.PMTError) as exc:
        raise ValueError(f"{where}: bad tag header ({ntags} tags): {exc}") from None
    return offset, tags, pos


def make_header(offset: int, tags: Any = ()) -> bytes:
    """A gr-zeromq tag header for a message whose first sample is at ``offset``; ``tags`` are
    mappings with ``offset`` (absolute), ``key``, ``value`` and optionally ``srcid``
    (default #f, as GNU Radio's)."""
    tags = list(tags or ())
    parts = [_HEADER.pack(HEADER_MAGIC, HEADER_VERSION, int(offset), len(tags))]
    for tag in tags:
        if not isinstance(tag, Mapping) or "offset" not in tag or "key" not in tag:
            raise ValueError(f"a tag must be a mapping with 'offset', 'key', 'value' (and "
                             f"'srcid'), got {tag!r}")
        parts.append(_TAG_OFFSET.pack(int(tag["offset"])))
        parts.append(pmt.dumps(tag["key"]))
        parts.append(pmt.dumps(tag.get("value")))
        parts.append(pmt.dumps(tag.get("srcid", False)))
    return b"".join(parts)


# -- source ------------------------------------------------------------------------------------
@block(name="zmq_source", produces="chunk")
async def _zmq_source(
    address: str, dtype: np.dtype, pattern: str, pass_tags: bool, rate: float,
    key: bytes | None, chunk_index_start: int, vlen: int, hwm: int | None,
    samples: int | None, timeout: float | None, meta: Mapping[str, Any], label: str,
) -> AsyncIterator[Chunk]:
    zmq, azmq = _zmq()
    ctx = azmq.Context()
    sock = ctx.socket(zmq.SUB if pattern == "sub" else zmq.PULL)
    where = f"{label} ({pattern} {address})"
    item = dtype.itemsize * vlen
    received = lost = gaps = 0
    expected: int | None = None
    index = int(chunk_index_start)
    try:
        sock.linger = 0
        if hwm is not None:
            sock.rcvhwm = hwm
        if pattern == "sub":
            sock.subscribe(key or b"")
        sock.connect(address)
        while samples is None or received < samples:
            if timeout is not None and not await sock.poll(timeout * 1000.0, zmq.POLLIN):
                log.info("%s: nothing for %g s: end of stream", where, timeout)
                return
            frames = await sock.recv_multipart(copy=False)
            if len(frames) > 2:
                raise ValueError(f"{where}: message of {len(frames)} frames; gr-zeromq sends one "
                                 "(data) or two (key, data)")
            if len(frames) == 2:
                if key is not None and frames[0].bytes != key:
                    continue  # another key (a SUB filter matches prefixes)
            elif key is not None:
                continue  # GNU Radio's sources, too, skip a keyless message when they want a key
            frame = frames[-1].buffer
            tags: list[dict[str, Any]] = []
            start = 0
            if pass_tags:
                offset, tags, start = parse_header(frame, where)
            nbytes = len(frame) - start
            if nbytes % item:
                hint = ""
                if not pass_tags and bytes(frame[:3]) == b"\xf0\x5f\x01":
                    hint = " (it starts like a GNU Radio tag header: pass_tags=True?)"
                raise ValueError(
                    f"{where}: message of {nbytes} data bytes is not a whole number of {dtype} "
                    f"items of {item} bytes (vlen {vlen}){hint}")
            n = nbytes // item
            if not n:
                continue
            data = np.frombuffer(frame, dtype, count=n * vlen, offset=start)
            if vlen > 1:
                data = data.reshape(n, vlen)
            gap = 0
            if pass_tags:
                if expected is not None and offset > expected:
                    gap = offset - expected
                    lost += gap
                    gaps += 1
                elif expected is not None and offset < expected:
                    log.warning("%s: stream offset went back from %d to %d (sender restarted?)",
                                where, expected, offset)
                index = offset
            if samples is not None and received + n > samples:
                n = samples - received
                data = data[:n]
                tags = [t for t in tags if t["offset"] < index + n]
            chunk_meta = dict(meta)
            if tags:
                chunk_meta["tags"] = tags
            chunk = Chunk(data, rate, index, index / rate if rate else 0.0, chunk_meta)
            if gap:
                chunk = mark_overflow(chunk, gap)
            received += n
            index += n
            expected = index
            yield chunk
    finally:
        sock.close(0)
        ctx.term()
        if lost:
            log.warning("%s: %d samples lost in %d gap(s) (tag header offsets)", where, lost, gaps)


def zmq_source(
    address: str,
    dtype: Any,
    *,
    pattern: str = "sub",
    pass_tags: bool = False,
    rate: float = 0.0,
    key: bytes | None = None,
    chunk_index_start: int = 0,
    vlen: int = 1,
    hwm: int | None = None,
    samples: int | None = None,
    timeout: float | None = None,
    center_freq: float | None = None,
    realtime: bool | None = None,
    **options: Any,
) -> Stream:
    """Samples from a GNU Radio ``zeromq.pub_sink`` / ``push_sink`` (or anything that speaks
    its wire format): connects to ``address`` and yields a Chunk per message.

    Args:
        address: where the sender binds: ``tcp://HOST:PORT`` or ``ipc://PATH``.
        dtype: the item type on the wire ("complex64" for gr_complex, "float32", "int16", ...);
            the wire is little-endian whatever the dtype's byte order.
        pattern: "sub" (from a pub_sink; subscribes to ``key`` or everything) or "pull"
            (from a push_sink).
        pass_tags: messages start with GNU Radio's tag header (the sender's ``pass_tags``):
            chunk index = the header's offset, tags in ``meta["tags"]`` (a list of dicts
            ``offset`` (absolute), ``key``, ``value``, ``srcid``, PMTs as Python values), and
            an offset jump marks ``meta["overflow"]`` (the first message sets the start).
        rate: sample rate in Hz (the wire does not carry it); chunk time = index / rate
            (0 when rate is 0).
        key: the sender's key (messages ``[key, data]``); others are skipped.
        chunk_index_start: index of the first sample (without pass_tags).
        vlen: items per sample (GNU Radio's vlen): chunks are (n, vlen).
        hwm: receive high-water mark in messages (None: ZeroMQ's default, 1000).
        samples: end of stream after this many samples (the last chunk is cut).
        timeout: end of stream after this many seconds without a message (None: never).
        center_freq: Hz, put in ``meta["center_freq"]``.
        realtime: never wait on a full FIFO (drop and count instead); default True for "sub"
            (a publisher does not wait), False for "pull" (the pusher waits: backpressure).
        options: name=, buffer=, policy=, threaded=.

    Raises:
        ValueError at once: a malformed address, pattern, dtype or key. While running, a
        message that is not a whole number of items stops the graph with a ValueError
        naming the block, the address and the sizes.
    """
    label = options.get("name") or "zmq_source"
    _zmq()
    if pattern not in SOURCE_PATTERNS:
        raise ValueError(f"{label}: pattern must be one of {SOURCE_PATTERNS}, got {pattern!r}")
    address = check_address(address, label, bind=False)
    dt = _wire_dtype(dtype, label)
    key = _check_key(key, label)
    if not (isinstance(rate, int | float) and rate >= 0):
        raise ValueError(f"{label}: rate must be >= 0 Hz, got {rate!r}")
    for what, value, low in (("vlen", vlen, 1), ("chunk_index_start", chunk_index_start, 0),
                             ("hwm", hwm, 0), ("samples", samples, 1)):
        if value is None and what in ("hwm", "samples"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{label}: {what} must be an int >= {low}, got {value!r}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"{label}: timeout must be > 0 seconds or None, got {timeout!r}")
    meta = {} if center_freq is None else {"center_freq": float(center_freq)}
    return _zmq_source(
        address, dt, pattern, bool(pass_tags), float(rate), key, chunk_index_start, vlen, hwm,
        samples, None if timeout is None else float(timeout), meta, label,
        realtime=(pattern == "sub") if realtime is None else bool(realtime), **options,
    )


# -- sink --------------------------------------------------------------------------------------
class _Subscriptions:
    """Topics an XPUB socket's subscribers hold, from its subscription messages."""

    def __init__(self) -> None:
        self.topics: dict[bytes, int] = {}

    def feed(self, message: bytes) -> None:
        if not message or message[0] not in (0, 1):
            return
        topic = message[1:]
        if message[0] == 1:
            self.topics[topic] = self.topics.get(topic, 0) + 1
        elif self.topics.get(topic, 0) > 1:
            self.topics[topic] -= 1
        else:
            self.topics.pop(topic, None)

    def hears(self, first: bytes | memoryview) -> bool:
        head = bytes(first[:max((len(t) for t in self.topics), default=0)])
        return any(head.startswith(topic) for topic in self.topics)


def _payload(chunk: Chunk, label: str) -> np.ndarray:
    data = chunk.data
    if data.dtype.kind not in "biufc" or data.dtype.fields is not None:
        raise ValueError(f"{label}: cannot send {data.dtype} samples (plain numeric dtypes only)")
    little = data.dtype.newbyteorder("<")
    if data.dtype != little:  # big-endian samples: the wire is little-endian
        data = data.astype(little)
    return np.ascontiguousarray(data)


@block(name="zmq_sink", accepts="chunk")
async def _zmq_sink(
    stream: Stream, address: str, pattern: str, key: bytes | None, pass_tags: bool, hwm: int,
    wait_for_subscriber: float, linger: float, label: str,
) -> dict[str, int]:
    zmq, azmq = _zmq()
    ctx = azmq.Context()
    pub = pattern == "pub"
    sock = ctx.socket(zmq.XPUB if pub else zmq.PUSH)
    where = f"{label} ({pattern} {address})"
    counts = {"sent_messages": 0, "sent_samples": 0, "dropped_messages": 0, "dropped_samples": 0,
              "unheard_messages": 0}
    subs = _Subscriptions()
    orderly = False

    async def read_subscriptions() -> None:
        while True:
            try:
                subs.feed(await sock.recv(zmq.NOBLOCK))
            except zmq.Again:
                return

    try:
        sock.sndhwm = hwm
        sock.linger = int(linger * 1000)
        if pub:
            sock.setsockopt(zmq.XPUB_NODROP, 1)
        try:
            sock.bind(address)
        except zmq.ZMQError as exc:
            raise OSError(f"{where}: cannot bind: {exc}") from None
        if pub and wait_for_subscriber > 0:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait_for_subscriber
            while not subs.topics and loop.time() < deadline:
                if await sock.poll(max(1.0, (deadline - loop.time()) * 1000.0), zmq.POLLIN):
                    await read_subscriptions()
            if not subs.topics:
                log.warning("%s: no subscriber after %g s; sending anyway", where, wait_for_subscriber)
        async for chunk in stream:
            if not chunk.samples:
                continue
            data = _payload(chunk, label)
            frames: list[Any] = [] if key is None else [key]
            if pass_tags:
                frames.append(make_header(chunk.index, chunk.meta.get("tags", ())) + data.tobytes())
            else:
                frames.append(data.tobytes() if data.nbytes < 65536 else memoryview(data).cast("B"))
            n = chunk.samples
            if pub:
                await read_subscriptions()
                heard = subs.hears(frames[0])
                try:
                    await sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    counts["dropped_messages"] += 1
                    counts["dropped_samples"] += n
                    continue
                if not heard:
                    counts["unheard_messages"] += 1
            else:
                await sock.send_multipart(frames, copy=False)
            counts["sent_messages"] += 1
            counts["sent_samples"] += n
        orderly = True
    finally:
        if orderly:  # queued messages still go out, for up to `linger` seconds
            sock.close()
            await asyncio.to_thread(ctx.term)
        else:
            sock.close(0)
            ctx.term()
        if counts["dropped_messages"] or counts["unheard_messages"]:
            log.warning(
                "%s: %d message(s) (%d samples) dropped at the high-water mark, %d sent with no "
                "subscriber", where, counts["dropped_messages"], counts["dropped_samples"],
                counts["unheard_messages"])
    return counts


def zmq_sink(
    stream: Stream,
    address: str,
    *,
    pattern: str = "pub",
    key: bytes | None = None,
    pass_tags: bool = False,
    hwm: int = 1000,
    wait_for_subscriber: float = 0.0,
    linger: float = 2.0,
    **options: Any,
) -> Stream:
    """Send a stream of Chunks to GNU Radio's ``zeromq.sub_source`` / ``pull_source`` (or any
    reader of its wire format): binds ``address``, one message per chunk.

    Args:
        stream: chunks of plain numeric samples (sent little-endian; big-endian data is
            converted); (n, vlen) chunks send n * vlen items.
        address: ``tcp://HOST:PORT`` (HOST may be ``*``) or ``ipc://PATH``.
        pattern: "pub" (lossy by nature: a subscriber at its high-water mark loses the message,
            counted in ``dropped_*``; with several subscribers one full one drops it for all,
            ZMQ_XPUB_NODROP's rule) or "push" (waits for the receiver: backpressure, no loss).
        key: sent as a first frame ``[key, data]`` (GNU Radio's ``key`` parameter).
        pass_tags: prepend GNU Radio's tag header: offset = chunk.index, tags from
            ``meta["tags"]`` (dicts with absolute ``offset``, ``key``, ``value``, ``srcid``).
        hwm: send high-water mark in messages.
        wait_for_subscriber: "pub": wait up to this many seconds for a first subscriber
            before sending (ZeroMQ's slow joiner); 0 sends at once.
        linger: seconds queued messages may take to go out at end of stream.
        options: name=, buffer=, policy=, threaded=.

    Returns (as the sink's result): ``{"sent_messages", "sent_samples", "dropped_messages",
    "dropped_samples", "unheard_messages"}`` (unheard: sent while no subscriber listened,
    included in sent); a warning is logged when any were dropped or unheard.
    """
    label = options.get("name") or "zmq_sink"
    _zmq()
    if pattern not in SINK_PATTERNS:
        raise ValueError(f"{label}: pattern must be one of {SINK_PATTERNS}, got {pattern!r}")
    address = check_address(address, label, bind=True)
    key = _check_key(key, label)
    if isinstance(hwm, bool) or not isinstance(hwm, int) or hwm < 0:
        raise ValueError(f"{label}: hwm must be an int >= 0 messages, got {hwm!r}")
    if not wait_for_subscriber >= 0:
        raise ValueError(f"{label}: wait_for_subscriber must be >= 0 s, got {wait_for_subscriber!r}")
    if not 0 <= linger <= 60:
        raise ValueError(f"{label}: linger must be 0..60 s, got {linger!r}")
    return _zmq_sink(stream, address, pattern, key, bool(pass_tags), hwm,
                     float(wait_for_subscriber), float(linger), label, **options)


__all__ = ["check_address", "make_header", "parse_header", "zmq_sink", "zmq_source"]
