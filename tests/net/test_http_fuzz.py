"""Fuzzing the HTTP boundary with raw requests: never a 5xx, the server keeps serving, and bad
requests leave nothing behind (no waiting requests, no growing state)."""

import asyncio
import socket
import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import daqflow as df
from daqflow.net.http import PacketServer

TOKEN = "fuzz-token"


class Running:
    """A PacketServer on its own loop in a thread, with one stream of 40 chunks (retention 8)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = PacketServer(token=TOKEN, retention=8)
        self.feed = self.server.add_stream("s")
        base = self.call(self.server.start())
        self.port = int(base.rsplit(":", 1)[1])
        for k in range(40):
            self.call(self.feed.publish(df.Chunk(np.full(16, k, "<f4"), 100.0, 16 * k)))

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self):
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def running():
    r = Running()
    yield r
    r.close()


def exchange(port, raw: bytes, half_close: bool = False) -> int | None:
    """Send raw bytes (then EOF if ``half_close``); the status of the answer (None: closed
    without one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(raw)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server may close on a bad request before all is sent
            pass
        data = b""
        try:
            while b"\r\n" not in data:
                part = sock.recv(4096)
                if not part:
                    break
                data += part
        except (ConnectionResetError, TimeoutError):
            pass
    if not data.startswith(b"HTTP/1."):
        return None
    return int(data.split(b" ", 2)[1])


def request(target: str, headers=(), method="GET") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def good(running) -> int:
    return exchange(running.port, request("/streams/s?after=39&timeout=0",
                                          [f"Authorization: Bearer {TOKEN}"]))


AUTH = f"Authorization: Bearer {TOKEN}"
text = st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=60)
numbers = st.one_of(st.integers(-(2**70), 2**70).map(str), text,
                    st.floats(allow_nan=True, allow_infinity=True).map(repr))
segment = st.one_of(st.sampled_from(["streams", "s", "..", "%2e%2e", "%00", "streams/s", ""]), text)
paths = st.lists(segment, max_size=4).map(lambda parts: "/" + "/".join(parts))
queries = st.lists(st.tuples(st.sampled_from(["after", "timeout", "x", "", "after[]"]), numbers),
                   max_size=4)
headers = st.lists(st.tuples(st.text(st.characters(codec="ascii", exclude_characters="\r\n:"),
                                     min_size=0, max_size=30), text), max_size=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=paths, query=queries, extra=headers, method=st.sampled_from(["GET", "POST", "PUT", "HEAD",
                                                                          "DELETE", "G E T", "GET"]),
       auth=st.sampled_from([AUTH, "", "Authorization: Bearer", "Authorization: Bearer x" * 40]))
def test_fuzzed_requests_never_5xx(running, path, query, extra, method, auth):
    # timeout=0 comes first (the server reads the first of repeated fields): nothing waits long
    target = path + "?timeout=0&" + "&".join(f"{k}={v}" for k, v in query)
    status = exchange(running.port, request(target, [auth, *(f"{k}: {v}" for k, v in extra)],
                                            method=method))
    assert status is None or status < 500, (target, status)
    assert good(running) == 200


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300), after=st.integers(-5, 2**64))
def test_fuzzed_bytes_and_sequence_numbers(running, raw, after):
    status = exchange(running.port, raw, half_close=True)
    assert status is None or status < 500
    status = exchange(running.port, request(f"/streams/s?after={after}&timeout=0", [AUTH]))
    # 40 packets: after 0..39 gets one, after 40 (the newest) waits (timeout 0: 204), more is 400
    assert status == (200 if 0 <= after <= 39 else 204 if after == 40 else 400)
    assert good(running) == 200


@pytest.mark.parametrize("size", [9000, 70000])
def test_oversized_requests(running, size):
    assert exchange(running.port, request("/streams/s?after=1&x=" + "a" * size, [AUTH])) in (None, 400, 414)
    assert exchange(running.port, request("/streams/s?after=1", [AUTH, "X-Big: " + "b" * size])) in (
        None, 400, 413, 431)
    many = [AUTH, *(f"X-{k}: v" for k in range(size // 50))]
    assert exchange(running.port, request("/streams/s?after=1", many)) in (None, 200, 400, 431)
    body = b"POST /streams/s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size + b"z" * size
    assert exchange(running.port, body) in (None, 401, 405, 413)
    assert good(running) == 200


def test_bad_requests_leave_nothing_behind(running):
    bad = [request("/streams/s?after=-1", [AUTH]), request("/streams/nope?after=1", [AUTH]),
           request("/streams/s?after=1"), b"GARBAGE\r\n\r\n", b"\x00\xff" * 100, request("/x" * 3000, [AUTH])]
    for raw in bad * 5:  # warm up
        exchange(running.port, raw)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for raw in bad * 60:
            exchange(running.port, raw)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 2_000_000, grown
    server, feed = running.server, running.feed
    assert server.pollers == 0 and list(server._feeds) == ["s"]
    assert feed.stats["retained"] == 8 and feed.next_seq == 41
    assert good(running) == 200
