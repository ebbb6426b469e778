"""The HTTP server keeps a well-behaved reader served: header and idle timeouts, a connection
cap, JSON error bodies for what the parser refuses, GET bodies over the limit refused."""

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import daqflow as df
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
