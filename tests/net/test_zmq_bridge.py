"""zmq_source / zmq_sink with plain pyzmq peers speaking gr-zeromq's wire format, on loopback.

The peers build GNU Radio's messages with this file's own helpers (`gr_message`), not with the
code under test: the tag header layout (little-endian: uint16 magic 0x5FF0, uint8 version 1,
uint64 offset, uint64 ntags, then per tag uint64 offset and three PMTs) and the PMT bytes
(hex strings that GNU Radio 3.10's ``pmt.serialize_str`` printed) are written out here.
tests/net/test_gnuradio.py checks the same against a real GNU Radio.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import zmq
from _same import same

import daqflow as df
from daqflow.net import pmt, zmq_sink, zmq_source

#: GNU Radio 3.10 pmt.serialize_str output, as hex, with the Python value daqflow gives back
GR_PMT = {
    "0200016b": "k",                                  # symbol 'k'
    "0200046761696e": "gain",                         # symbol 'gain'
    "0300000005": 5,                                  # from_long(5)
    "03fffffffd": -3,                                 # from_long(-3)
    "0d0000010000000000": 2**40,                      # from_long(2**40)
    "0b8000000000000005": 2**63 + 5,                  # from_uint64
    "043ff8000000000000": 1.5,                        # from_double(1.5)
    "053ff00000000000004000000000000000": 1 + 2j,     # from_complex(1+2j)
    "00": True,
    "01": False,
    "06": None,
    "07020001610300000001": pmt.Pair("a", 1),         # cons('a', 1)
    "0c00000002030000000102000178": (1, "x"),         # make_tuple(1, 'x')
    "080000000203000000030300000003": [3, 3],         # make_vector(2, 3)
    "0a080000000201003f80000040000000": np.array([1.0, 2.0], np.float32),   # f32vector
    "0a0a0000000101003f8000003f800000": np.array([1 + 1j], np.complex64),   # c32vector
    "0a03000000020100ffff0002": np.array([-1, 2], np.int16),                # s16vector
    "0a00000000030100010203": np.array([1, 2, 3], np.uint8),                 # u8vector
    "090702000162044000000000000000090702000161030000000106": {"b": 2.0, "a": 1},  # dict
}


def gr_message(data: np.ndarray, offset: int | None = None, tags: tuple = ()) -> bytes:
    """What gr-zeromq's push_sink / pub_sink send: [tag header +] raw little-endian samples.
    ``tags``: (absolute offset, key hex, value hex, srcid hex) with PMTs as GNU Radio wrote them."""
    body = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes()
    if offset is None:
        return body
    header = struct.pack("<HBQQ", 0x5FF0, 1, offset, len(tags))
    for tag_offset, key, value, srcid in tags:
        header += struct.pack("<Q", tag_offset) + bytes.fromhex(key + value + srcid)
    return header + body


def read_header(message: bytes) -> tuple[int, list[tuple[int, bytes]], bytes]:
    """Parse a tag header with GNU Radio's layout (this file's own reader): offset, the tags
    as (offset, raw PMT bytes of key+value+srcid), the data bytes; the PMTs are walked with
    pmt.load only to find where each ends."""
    magic, version, offset, ntags = struct.unpack_from("<HBQQ", message, 0)
    assert (magic, version) == (0x5FF0, 1)
    pos, tags = 19, []
    for _ in range(ntags):
        (tag_offset,) = struct.unpack_from("<Q", message, pos)
        start = pos = pos + 8
        for _ in range(3):
            _, pos = pmt.load(message, pos)
        tags.append((tag_offset, message[start:pos]))
    return offset, tags, message[pos:]


def free_tcp() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


class Peers:
    """A zmq context for the test's peers that keeps their sockets until the test ends (a
    socket collected unclosed warns), then closes them all."""

    def __init__(self) -> None:
        self.context = zmq.Context()
        self.kept: list[zmq.Socket] = []
        self.lock = threading.Lock()

    def socket(self, kind: int) -> zmq.Socket:
        sock = self.context.socket(kind)
        with self.lock:
            self.kept.append(sock)
        return sock

    def close(self) -> None:
        self.context.destroy(linger=0)


@pytest.fixture
def ctx() -> Iterator[Peers]:
    peers = Peers()
    yield peers
    peers.close()


def peer(ctx: Peers, kind: int, address: str, **options: int) -> zmq.Socket:
    sock = ctx.socket(kind)
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name.upper()), value)
    sock.linger = 1000
    if kind in (zmq.PUSH, zmq.PUB, zmq.XPUB):
        sock.bind(address)
    else:
        sock.connect(address)
    return sock


def feed(ctx: Peers, address: str, messages: list[bytes]) -> threading.Thread:
    """A PUSH peer (as gr-zeromq's push_sink: binds) sending ``messages`` from a thread: a PUSH
    send waits until a reader connects."""
    ready = threading.Event()

    def run() -> None:
        sock = ctx.socket(zmq.PUSH)
        sock.linger = 5000
        sock.bind(address)
        ready.set()
        with contextlib.suppress(zmq.ZMQError):  # the test ended before a reader took all
            for message in messages:
                sock.send(message)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    return thread


def await_subscription(xpub: zmq.Socket) -> bytes:
    assert xpub.poll(10_000), "no subscription arrived"
    return xpub.recv()


# -- PMT ---------------------------------------------------------------------------------------
def test_pmt_reads_and_writes_gnuradio_bytes():
    for wire_hex, value in GR_PMT.items():
        wire = bytes.fromhex(wire_hex)
        assert same(pmt.loads(wire), value), wire_hex
        assert pmt.dumps(value) == wire, (wire_hex, pmt.dumps(value).hex())
    assert pmt.dumps(b"\x01\x02\x03") == bytes.fromhex("0a00000000030100010203")  # bytes: u8vector
    assert pmt.loads(pmt.dumps({})) is None  # GNU Radio's empty dict is nil


def test_pmt_errors():
    with pytest.raises(pmt.PMTError, match="type code 99"):
        pmt.loads(b"\x63")
    with pytest.raises(pmt.PMTError, match="truncated"):
        pmt.loads(bytes.fromhex("043ff800"))
    with pytest.raises(pmt.PMTError, match="left after"):
        pmt.loads(bytes.fromhex("0600"))
    with pytest.raises(pmt.PMTError, match="no PMT form"):
        pmt.dumps(object())


# -- zmq_source --------------------------------------------------------------------------------
def test_pull_source_bit_exact_indices_and_backpressure(ctx):
    address = free_tcp()
    sizes = [1, 1000, 7, 4096, 333]
    data = np.random.default_rng(1).standard_normal(sum(sizes)).astype(np.float32)
    feed(ctx, address, [gr_message(part) for part in np.split(data, np.cumsum(sizes)[:-1])])
    report = df.run(df.collect(zmq_source(address, "float32", pattern="pull", rate=1e3,
                                          chunk_index_start=100, samples=len(data), center_freq=5e6),
                               name="got"))
    chunks = report.results["got"]
    assert [c.samples for c in chunks] == sizes
    assert np.concatenate([c.data for c in chunks]).tobytes() == data.tobytes()
    assert [c.index for c in chunks] == list(100 + np.cumsum([0, *sizes[:-1]]))
    assert [c.time for c in chunks] == [c.index / 1e3 for c in chunks]
    assert all(c.meta == {"center_freq": 5e6} for c in chunks)
    assert report.blocks["zmq_source"].realtime is False  # PULL keeps backpressure


def test_source_samples_cut_the_last_chunk_and_vlen(ctx):
    address = free_tcp()
    frames = np.arange(40, dtype=np.int16).reshape(10, 4)
    feed(ctx, address, [gr_message(frames[:6]), gr_message(frames[6:])])
    report = df.run(df.collect(zmq_source(address, "int16", pattern="pull", vlen=4, samples=8),
                               name="got"))
    chunks = report.results["got"]
    assert [c.data.shape for c in chunks] == [(6, 4), (2, 4)]
    assert np.array_equal(np.concatenate([c.data for c in chunks]), frames[:8])
    assert [c.time for c in chunks] == [0.0, 0.0]  # no rate: time 0


def test_sub_source_with_key_is_realtime(ctx, tmp_path):
    address = f"ipc://{tmp_path / 'sub.ipc'}"
    pub = peer(ctx, zmq.XPUB, address)
    running = df.start(df.collect(zmq_source(address, "complex64", key=b"chan1", samples=30,
                                             rate=10.0), name="got"))
    try:
        assert await_subscription(pub) == b"\x01chan1"
        a = (np.arange(10) * (1 + 1j)).astype(np.complex64)
        for k in range(3):
            pub.send_multipart([b"chan10", gr_message(-a)])  # matches the prefix: skipped
            pub.send_multipart([b"chan1", gr_message(a + k)])
    finally:
        report = running.wait()
    chunks = report.results["got"]
    want = np.concatenate([(np.arange(10) * (1 + 1j)).astype(np.complex64) + k for k in range(3)])
    assert np.concatenate([c.data for c in chunks]).tobytes() == want.tobytes()
    assert [c.index for c in chunks] == [0, 10, 20] and chunks[1].time == 1.0
    assert report.blocks["zmq_source"].realtime is True  # a subscriber cannot hold a publisher


def test_pass_tags_header_parsing(ctx):
    address = free_tcp()
    x = np.arange(8, dtype=np.float32)
    feed(ctx, address, [gr_message(x, offset=0, tags=(
        (1, "0200016b", "0300000005", "020003737263"),  # k=5, srcid 'src'
        (3, "0200046761696e", "043ff8000000000000", "01"),
        (7, "0200016b", "090702000162044000000000000000090702000161030000000106", "06"),
    )), gr_message(x + 8, offset=8, tags=(
        (8, "0200016b", "0c00000002030000000102000178", "01"),
        (9, "0200016b", "0a080000000201003f80000040000000", "01"),
        (15, "0200016b", "07020001610300000001", "01"),
        (15, "0200016b", "053ff00000000000004000000000000000", "00"),
    )), gr_message(x + 16, offset=16)])
    report = df.run(df.collect(zmq_source(address, "float32", pattern="pull", pass_tags=True,
                                          samples=24, rate=8.0), name="got"))
    chunks = report.results["got"]
    assert [c.index for c in chunks] == [0, 8, 16] and chunks[2].time == 2.0
    assert np.concatenate([c.data for c in chunks]).tobytes() == np.arange(24, dtype=np.float32).tobytes()
    want = [
        [(1, "k", 5, "src"), (3, "gain", 1.5, False), (7, "k", {"b": 2.0, "a": 1}, None)],
        [(8, "k", (1, "x"), False), (9, "k", np.array([1, 2], np.float32), False),
         (15, "k", pmt.Pair("a", 1), False), (15, "k", 1 + 2j, True)],
    ]
    for chunk, tags in zip(chunks, want, strict=False):
        got = [(t["offset"], t["key"], t["value"], t["srcid"]) for t in chunk.meta["tags"]]
        assert len(got) == len(tags) and all(map(same, got, tags)), got
    assert "tags" not in chunks[2].meta
    assert not any("overflow" in c.meta for c in chunks)


def test_loss_counted_from_header_offsets(ctx, caplog):
    address = free_tcp()
    x = np.ones(100, np.complex64)
    # gaps of 50 and 550 samples
    feed(ctx, address, [gr_message(x, offset=o) for o in (5000, 5100, 5250, 5350, 6000)])
    with caplog.at_level(logging.WARNING, logger="daqflow.net.zmq_bridge"):
        report = df.run(df.collect(zmq_source(address, "complex64", pattern="pull", pass_tags=True,
                                              samples=500), name="got"))
    chunks = report.results["got"]
    assert [c.index for c in chunks] == [5000, 5100, 5250, 5350, 6000]  # joined late: no loss
    assert [c.meta.get("overflow", 0) for c in chunks] == [0, 0, 50, 0, 550]
    assert "600 samples lost in 2 gap(s)" in caplog.text


def test_message_not_whole_items_is_an_error(ctx):
    address = free_tcp()
    feed(ctx, address, [b"\0" * 7])
    with pytest.raises(df.BlockError) as err:
        df.run(df.collect(zmq_source(address, "float32", pattern="pull", name="adc_link")))
    text = str(err.value)
    assert "adc_link" in text and address in text and "7 data bytes" in text and "4 bytes" in text


def test_tag_header_without_pass_tags_gets_a_hint_and_bad_magic_an_error(ctx):
    address = free_tcp()
    feed(ctx, address, [gr_message(np.zeros(3, np.complex64), offset=0)])  # 19 + 24 bytes
    with pytest.raises(df.BlockError, match=r"pass_tags=True\?"):
        df.run(df.collect(zmq_source(address, "complex64", pattern="pull")))
    address = free_tcp()
    feed(ctx, address, [gr_message(np.zeros(3, np.complex64))])
    with pytest.raises(df.BlockError, match="no GNU Radio tag header"):
        df.run(df.collect(zmq_source(address, "float32", pattern="pull", pass_tags=True)))


def test_source_timeout_ends_the_stream():
    t0 = time.monotonic()
    report = df.run(df.collect(zmq_source(free_tcp(), "float32", timeout=0.2), name="got"))
    assert report.results["got"] == [] and time.monotonic() - t0 < 5


# -- zmq_sink ----------------------------------------------------------------------------------
def chunks_of(n_chunks: int, size: int, dtype: str = "complex64") -> list[df.Chunk]:
    return [df.Chunk(np.full(size, k, dtype), 1e6, k * size) for k in range(n_chunks)]


def test_pub_sink_with_slow_subscriber_counts_every_drop(ctx):
    address = free_tcp()
    total, size = 200, 32768  # 256 KiB messages: far more than the socket buffers hold
    sub = ctx.socket(zmq.SUB)
    sub.rcvhwm = 2
    sub.rcvbuf = 65536
    sub.subscribe(b"")
    sub.connect(address)
    exhausted = threading.Event()

    def source():
        yield from chunks_of(total, size)
        exhausted.set()

    received = []

    def slow_reader():  # reads nothing until everything was offered, then drains
        exhausted.wait(30)
        while sub.poll(1500):
            received.append(sub.recv())

    reader = threading.Thread(target=slow_reader)
    reader.start()
    report = df.run(zmq_sink(df.from_iterable(source()), address, hwm=2, wait_for_subscriber=10,
                             name="tx"))
    reader.join(30)
    result = report.results["tx"]
    assert result["sent_messages"] + result["dropped_messages"] == total
    assert result["sent_samples"] + result["dropped_samples"] == total * size
    assert result["dropped_messages"] > 0 and result["dropped_samples"] == result["dropped_messages"] * size
    assert result["unheard_messages"] == 0
    assert len(received) == result["sent_messages"]  # what was counted sent did arrive


def test_pub_sink_without_subscriber_counts_unheard(caplog):
    with caplog.at_level(logging.WARNING, logger="daqflow.net.zmq_bridge"):
        report = df.run(zmq_sink(df.from_iterable(chunks_of(10, 16)), free_tcp(), name="tx"))
    assert report.results["tx"] == {"sent_messages": 10, "sent_samples": 160, "dropped_messages": 0,
                                    "dropped_samples": 0, "unheard_messages": 10}
    assert "10 sent with no subscriber" in caplog.text


def test_push_sink_never_drops_and_holds_the_graph_back(ctx, tmp_path):
    address = f"ipc://{tmp_path / 'push.ipc'}"
    total, size = 40, 32768
    pull = ctx.socket(zmq.PULL)
    pull.rcvhwm = 1
    pull.rcvbuf = 65536
    received = []

    def slow_reader():
        pull.connect(address)
        time.sleep(0.6)  # the graph runs on meanwhile: the push sink must wait
        while len(received) < total and pull.poll(5000):
            received.append(pull.recv())

    reader = threading.Thread(target=slow_reader)
    reader.start()
    report = df.run(zmq_sink(df.from_iterable(chunks_of(total, size), name="src"), address,
                             pattern="push", hwm=1, name="tx"))
    reader.join(30)
    assert report.results["tx"] == {"sent_messages": total, "sent_samples": total * size,
                                    "dropped_messages": 0, "dropped_samples": 0, "unheard_messages": 0}
    assert b"".join(received) == b"".join(c.data.tobytes() for c in chunks_of(total, size))
    edge = next(e for e in report.edges if e.producer == "src")
    assert edge.blocked > 0.3 and edge.dropped_items == 0  # backpressure reached the source


def test_sink_converts_big_endian_and_sends_key_and_tags(ctx):
    address = free_tcp()
    pull = ctx.socket(zmq.PULL)
    pull.connect(address)
    big = np.arange(6, dtype=">f4")
    chunks = [df.Chunk(big, 10.0, 40, meta={"tags": [{"offset": 41, "key": "k", "value": 5,
                                                       "srcid": "src"}]}),
              df.Chunk(np.array([1 + 2j, -3j], dtype=">c16"), 10.0, 46)]
    df.run(zmq_sink(df.from_iterable(chunks), address, pattern="push", key=b"ch", pass_tags=True))
    first, second = pull.recv_multipart(), pull.recv_multipart()
    assert first[0] == second[0] == b"ch"
    offset, tags, body = read_header(first[1])
    assert offset == 40 and body == np.arange(6, dtype="<f4").tobytes()
    assert tags == [(41, bytes.fromhex("0200016b" "0300000005" "020003737263"))]
    offset, tags, body = read_header(second[1])
    assert offset == 46 and tags == [] and body == np.array([1 + 2j, -3j], "<c16").tobytes()


def test_sink_and_source_round_trip_with_tags(tmp_path):
    address = f"ipc://{tmp_path / 'trip.ipc'}"
    x = np.arange(1000, dtype=np.complex64)
    tags = [{"offset": 3, "key": "rx_time", "value": (1700000000, 0.5), "srcid": False},
            {"offset": 700, "key": "freq", "value": 1e9, "srcid": "tuner"}]
    chunks = [df.Chunk(x[:500], 1e3, 0, meta={"tags": tags[:1]}),
              df.Chunk(x[500:], 1e3, 500, meta={"tags": tags[1:]})]
    running = df.start(df.collect(zmq_source(address, "complex64", pattern="pull", pass_tags=True,
                                             rate=1e3, samples=1000), name="got"))
    df.run(zmq_sink(df.from_iterable(chunks), address, pattern="push", pass_tags=True))
    got = running.wait().results["got"]
    assert [c.index for c in got] == [0, 500]
    assert np.concatenate([c.data for c in got]).tobytes() == x.tobytes()
    assert [t for c in got for t in c.meta["tags"]] == tags


# -- checks at build time ----------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["tcp://127.0.0.1", "udp://127.0.0.1:5555", "tcp://127.0.0.1:99999",
                                 "127.0.0.1:5555", "", "ipc://", None])
def test_malformed_addresses_are_rejected_at_build_time(bad):
    with pytest.raises(ValueError, match="my_link") as err:
        zmq_source(bad, "float32", name="my_link")
    assert repr(bad) in str(err.value)
    with pytest.raises(ValueError, match="zmq_sink"):
        zmq_sink(df.from_iterable([]), bad)


def test_other_build_time_checks():
    with pytest.raises(ValueError, match="connecting socket needs a host"):
        zmq_source("tcp://*:5555", "float32")
    zmq_sink(df.from_iterable([]), "tcp://*:5555")  # binding on every interface is fine
    with pytest.raises(ValueError, match="pattern"):
        zmq_source("tcp://127.0.0.1:5555", "float32", pattern="push")
    with pytest.raises(ValueError, match="pattern"):
        zmq_sink(df.from_iterable([]), "tcp://127.0.0.1:5555", pattern="pull")
    with pytest.raises(ValueError, match="dtype"):
        zmq_source("tcp://127.0.0.1:5555", "object")
    with pytest.raises(ValueError, match="key"):
        zmq_source("tcp://127.0.0.1:5555", "float32", key=b"")


def test_missing_pyzmq_names_the_net_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "zmq", None)
    monkeypatch.setitem(sys.modules, "zmq.asyncio", None)
    with pytest.raises(ImportError, match=r"daqflow\[net\]"):
        zmq_source("tcp://127.0.0.1:5555", "float32")
    with pytest.raises(ImportError, match=r"daqflow\[net\]"):
        zmq_sink(df.from_iterable([]), "tcp://127.0.0.1:5555")
