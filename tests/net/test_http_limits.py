"""The HTTP server keeps a well-behaved reader served: header and idle timeouts, a connection
cap, JSON error bodies for what the parser refuses, GET bodies over the limit refused."""

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pytest

import daqflow as df
from daqflow import dsp, io, net
from daqflow.net.http import PacketServer

pytest.importorskip("aiohttp")


async def _server(**limits):
    server = PacketServer(**limits)
    feed = server.add_stream("s")
    base = await server.start()
    await feed.publish(df.Chunk(np.arange(8.0), 10.0, 0))
    return server, int(base.rsplit(":", 1)[1])


async def _exchange(port, raw: bytes, wait: float = 5.0):
    """Send ``raw``; (status, headers, body) of the answer, or None if closed without one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), wait)
    except (asyncio.IncompleteReadError, ConnectionResetError):
        return None
    else:
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        headers = {k.lower(): v for k, v in headers.items()}
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        return int(lines[0].split()[1]), headers, body
    finally:
        writer.close()
        await asyncio.gather(writer.wait_closed(), return_exceptions=True)


def _get(target, *extra, connection="close"):
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", f"Connection: {connection}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _closed_by_server(reader, within):
    """True if the server closes the connection within ``within`` seconds."""
    try:
        await asyncio.wait_for(reader.read(), within)  # (returns at the end of the stream)
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_half_open_connections_are_closed_after_the_header_timeout():
    async def main():
        server, port = await _server(header_timeout=0.4)
        try:
            pairs = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
            for _, writer in pairs:
                writer.write(b"GET /streams/s?after=0 HTTP/1.1\r\nHost: x\r\n")  # never ends
            closed = await asyncio.gather(*(_closed_by_server(r, 5) for r, _ in pairs))
            for _, writer in pairs:
                writer.close()
            return closed, server.connections, await _exchange(port, _get("/streams/s?after=0"))
        finally:
            await server.close()

    closed, left, answer = asyncio.run(main())
    assert all(closed) and left <= 1
    assert answer[0] == 200


def test_an_idle_keep_alive_connection_is_closed_but_a_waiting_long_poll_is_not():
    async def main():
        server, port = await _server(header_timeout=0.3, idle_timeout=0.3)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_get("/streams/s?after=0", connection="keep-alive"))
            await reader.readuntil(b"\r\n\r\n")
            idle_closed = await _closed_by_server(reader, 5)
            writer.close()
            t0 = time.monotonic()
            waited = await _exchange(port, _get("/streams/s?after=1&timeout=1.5"))
            return idle_closed, waited, time.monotonic() - t0
        finally:
            await server.close()

    idle_closed, waited, seconds = asyncio.run(main())
    assert idle_closed
    assert waited is not None and waited[0] == 204 and seconds >= 1.4  # answered, not cut


def test_beyond_the_cap_the_longest_idle_connection_makes_room_for_a_reader():
    async def main():
        server, port = await _server(max_connections=4)
        try:
            pairs = [await asyncio.open_connection("127.0.0.1", port) for _ in range(10)]
            for _, writer in pairs:
                writer.write(b"GET /str")
            await asyncio.sleep(0.2)
            answer = await _exchange(port, _get("/streams/s?after=0"))
            for _, writer in pairs:
                writer.close()
            return answer, server.connections
        finally:
            await server.close()

    answer, held = asyncio.run(main())
    assert answer is not None and answer[0] == 200
    assert held <= 4


def test_when_every_connection_is_a_waiting_long_poll_a_new_one_gets_503_json():
    async def main():
        server, port = await _server(max_connections=3)
        try:
            polls = [asyncio.ensure_future(_exchange(port, _get("/streams/s?after=1&timeout=2")))
                     for _ in range(3)]
            await asyncio.sleep(0.3)
            refused = await _exchange(port, _get("/streams/s?after=0"))
            return refused, await asyncio.gather(*polls)
        finally:
            await server.close()

    refused, polls = asyncio.run(main())
    assert [p[0] for p in polls] == [204, 204, 204]  # the waiting readers were kept
    status, headers, body = refused
    assert status == 503 and headers["content-type"].startswith("application/json")
    assert json.loads(body)["status"] == 503


@pytest.mark.parametrize(("raw", "statuses"), [
    (_get("/streams/s?after=0", "X-Big: " + "b" * 9000), (400, 431)),  # a field over 8190 bytes
    (_get("/streams/s?after=0&x=" + "a" * 5000), (400, 414)),  # a request line over 4096
    (b"GARBAGE\r\n\r\n", (400,)),
    (_get("/streams/s?after=0", "Content-Length: 5000") + b"z" * 5000, (413,)),  # a GET body
    (_get("/streams/s?after=0", "Transfer-Encoding: chunked") + b"5\r\nhello\r\n0\r\n\r\n", (413,)),
], ids=["long-field", "long-line", "garbage", "get-body", "get-chunked-body"])
def test_refused_requests_get_the_json_error_body_and_one_quiet_log_line(raw, statuses, caplog):
    async def main():
        server, port = await _server()
        try:
            answer = await _exchange(port, raw)
            good = await _exchange(port, _get("/streams/s?after=0"))
            return answer, good
        finally:
            await server.close()

    with caplog.at_level(logging.DEBUG):
        (status, headers, body), good = asyncio.run(main())
    assert status in statuses
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)
    assert error["status"] == status and error["error"] and "\n" not in error["error"]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]
    assert good[0] == 200


async def _wait_until(test, within):
    """True once ``test()`` is, polling for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while not test():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def _read_answer_head(reader):
    """(status, content length) of an answer's head."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
    return int(head.split()[1]), int(head.split("content-length: ")[1].split("\r\n")[0])


def test_a_later_request_head_left_unfinished_is_closed_after_the_header_timeout():
    """The header timeout holds for every request of a keep-alive connection, not only the
    first; a quiet keep-alive connection waits for the (longer) idle timeout."""
    async def main():
        server, port = await _server(header_timeout=0.3, idle_timeout=30)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_get("/streams/s?after=0", connection="keep-alive"))
            _, length = await _read_answer_head(reader)
            await reader.readexactly(length)
            quiet_kept = not await _closed_by_server(reader, 1.0)  # > header_timeout
            writer.write(b"GET /streams/s?after=0 HTTP/1.1\r\nHost: x\r\n")  # never ends
            closed = await _closed_by_server(reader, 5)
            writer.close()
            await asyncio.gather(writer.wait_closed(), return_exceptions=True)
            return quiet_kept, closed
        finally:
            await server.close()

    quiet_kept, closed = asyncio.run(main())
    assert quiet_kept, "a keep-alive connection was closed before its idle timeout"
    assert closed, "an unfinished second request head was held past the header timeout"


def test_control_puts_whose_body_never_comes_get_408_json_and_do_not_lock_out_a_reader():
    """PUT /params/NAME heads with a body that never comes, as many as the connection cap:
    each is answered 408 after the header timeout, then a reader is served."""
    from daqflow.core.graph import build_graph
    from daqflow.net.control import ControlServer

    tune = df.param(0.0, name="tune")
    graph = build_graph([df.collect(dsp.mix(io.simulated_adc(1e4, chunk=1000), freq=tune))])
    put = (b"PUT /params/tune HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: 20\r\n\r\n")  # and no body

    async def main():
        server = ControlServer(types.SimpleNamespace(graph=graph), header_timeout=0.3,
                               max_connections=4)
        port = int((await server.start()).rsplit(":", 1)[1])
        try:
            stuck = await asyncio.gather(*(_exchange(port, put) for _ in range(4)))
            return stuck, await _exchange(port, _get("/params"))
        finally:
            await server.close()

    stuck, reader = asyncio.run(main())
    for answer in stuck:
        assert answer is not None, "a PUT whose body never came was never answered"
        status, headers, body = answer
        assert status == 408 and headers["content-type"].startswith("application/json")
        assert "header_timeout" in json.loads(body)["error"]
    assert reader is not None and reader[0] == 200
    assert tune.value == 0.0


def test_a_reader_that_takes_none_of_a_big_answer_is_closed_after_the_idle_timeout():
    async def main():
        server, port = await _server(idle_timeout=0.3)
        await server._feeds["s"].publish(bytes(48 << 20))  # far more than socket buffers hold
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_get("/streams/s?after=1"))  # and never reads the answer
            held = await _wait_until(lambda: server.connections == 1, 5)
            dropped = await _wait_until(lambda: server.connections == 0, 5)
            writer.close()
            await asyncio.gather(writer.wait_closed(), return_exceptions=True)
            return held, dropped
        finally:
            await server.close()

    held, dropped = asyncio.run(main())
    assert held and dropped, "a reader that stopped reading held its connection"


def test_a_slow_reader_that_keeps_taking_its_answer_is_not_cut():
    async def main():
        server, port = await _server(idle_timeout=1.0)
        await server._feeds["s"].publish(bytes(8 << 20))
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_get("/streams/s?after=1"))
            _, length = await _read_answer_head(reader)
            got = 0
            with contextlib.suppress(ConnectionResetError):
                while got < length:
                    part = await reader.read(256 << 10)
                    if not part:
                        break
                    got += len(part)
                    await asyncio.sleep(0.05)
            writer.close()
            await asyncio.gather(writer.wait_closed(), return_exceptions=True)
            return got, length
        finally:
            await server.close()

    got, length = asyncio.run(main())
    assert got == length == 8 << 20


class _Failing(PacketServer):
    """A server whose routes fail as a bug, an aiohttp refusal and a timeout would."""

    async def _route(self, request, path):
        from aiohttp import web

        if path == "/bug":
            raise RuntimeError("a bug")
        if path == "/refused":
            raise web.HTTPForbidden(reason="not for you")
        if path == "/late":
            raise TimeoutError
        return await super()._route(request, path)


@pytest.mark.parametrize(("path", "status", "tracebacks"), [
    ("/bug", 500, 1), ("/refused", 403, 0), ("/late", 504, 0)])
def test_every_error_answer_has_the_json_body(path, status, tracebacks, caplog):
    async def main():
        server = _Failing()
        server.add_stream("s")
        port = int((await server.start()).rsplit(":", 1)[1])
        try:
            return await _exchange(port, _get(path)), await _exchange(port, _get("/streams"))
        finally:
            await server.close()

    with caplog.at_level(logging.DEBUG):
        (got, headers, body), good = asyncio.run(main())
    assert got == status and headers["content-type"].startswith("application/json")
    error = json.loads(body)
    assert error["status"] == status and error["error"] and "\n" not in error["error"]
    assert len([r for r in caplog.records if r.exc_info]) == tracebacks  # a bug's, once
    assert good[0] == 200


def test_serve_passes_its_connection_limits_to_its_server():
    with pytest.raises(ValueError, match="header_timeout"):
        net.serve(df.from_iterable([1]), header_timeout=0)
    with pytest.raises(ValueError, match="max_connections"):
        net.serve(df.from_iterable([1]), max_connections=1)

    async def main():
        ready = asyncio.get_running_loop().create_future()
        producer = asyncio.ensure_future(df.arun(net.serve(
            df.from_iterable([1, 2]), on_ready=ready.set_result, linger=2.0, header_timeout=0.3)))
        url = await asyncio.wait_for(asyncio.shield(ready), 10)
        port = int(url.split("/")[2].rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /streams/stream HTTP/1.1\r\n")  # never ends
        closed = await _closed_by_server(reader, 1.5)
        serving = not producer.done()
        writer.close()
        await asyncio.gather(writer.wait_closed(), return_exceptions=True)
        await producer
        return closed, serving

    closed, serving = asyncio.run(main())
    assert closed and serving  # closed by the header timeout, not by the server's end


def test_the_server_limits_stay_importable_from_the_http_module():
    from daqflow.net import http, http_server

    for name in ("MAX_REQUEST", "MAX_LINE", "MAX_FIELD", "MAX_HEADERS", "MAX_POLLERS",
                 "HEADER_TIMEOUT", "IDLE_TIMEOUT", "PacketServer", "StreamFeed"):
        assert getattr(http, name) is getattr(http_server, name)


SERVER = """
import asyncio, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
import numpy as np
import daqflow as df
from daqflow.net.http import PacketServer

async def main():
    server = PacketServer()  # every limit at its default
    feed = server.add_stream("s")
    base = await server.start()
    await feed.publish(df.Chunk(np.arange(8.0), 10.0, 0))
    print(base, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_300_half_open_connections_do_not_starve_a_reader_of_a_server_with_256_descriptors(
        tmp_path):
    """The issue's case, every limit at its default: 300 connections that never finish their
    request head, against a server process allowed 256 file descriptors."""
    script = tmp_path / "server.py"
    script.write_text(textwrap.dedent(SERVER))
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        base = process.stdout.readline().strip()
        port = int(base.rsplit(":", 1)[1])

        async def main():
            pairs = []
            for _ in range(300):
                try:
                    pairs.append(await asyncio.open_connection("127.0.0.1", port))
                except OSError:
                    break
                pairs[-1][1].write(b"GET /streams/s?after=0 HTTP/1.1\r\nHost: x\r\n")
            await asyncio.sleep(0.5)
            try:
                return await asyncio.wait_for(_exchange(port, _get("/streams/s?after=0")), 10)
            except TimeoutError:
                return None
            finally:
                for _, writer in pairs:
                    writer.close()

        answer = asyncio.run(main())
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    assert answer is not None, "the reader was not served"
    assert answer[0] == 200
