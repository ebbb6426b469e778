"""The HTTP boundary over real loopback HTTP: serve / http_source, raw requests, auth, limits."""

import asyncio
import json
import time

import numpy as np
import pytest

import daqflow as df
from daqflow import net
from daqflow.net.http import (
    HttpStatusError,
    PacketServer,
    RemoteError,
    http_packets,
    http_source,
    serve,
)


def chunks(n, size=64, rate=1e3, dtype="<c8", seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        data = (rng.standard_normal(size) + 1j * rng.standard_normal(size)).astype(dtype)
        out.append(df.Chunk(data, rate, k * size, k * size / rate,
                            {"center_freq": 1e8 + k, "tag": f"c{k}", "list": [k, 0.5]}))
    return out


async def raw_get(port, target, headers=(), method="GET"):
    """A literal HTTP/1.1 request (curl-style); returns (status, headers dict, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close", *headers]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for field in fields:
        key, _, value = field.partition(":")
        hdrs[key.strip().lower()] = value.strip()
    return int(status_line.split()[1]), hdrs, body


async def when_ready(ready, producer):
    """The URL ``on_ready`` gave, or the producer's error if it failed before binding."""
    await asyncio.wait([ready, producer], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        producer.result()
        raise AssertionError("on_ready was not called")
    return ready.result()


async def started(**kwargs):
    server = PacketServer(**kwargs)
    base = await server.start()
    return server, base, int(base.rsplit(":", 1)[1])


def test_graph_to_graph_bit_exact():
    sent = chunks(30)

    async def main():
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        producer = asyncio.ensure_future(df.arun(
            serve(df.from_iterable(sent), name="adc", on_ready=ready.set_result, linger=0.3)))
        url = await when_ready(ready, producer)
        assert url.endswith("/streams/adc") and url.startswith("http://127.0.0.1:")
        consumer = await df.arun(df.collect(http_source(url)))
        return (await producer).results["serve"], consumer.results["collect"]

    result, got = asyncio.run(main())
    assert result["published"] == 30 and result["evicted"] == 0
    assert result["bytes"] == sum(c.data.nbytes for c in sent)
    assert len(got) == len(sent)
    for a, b in zip(sent, got, strict=True):
        assert b.data.dtype == np.dtype("<c8") and b.data.tobytes() == a.data.tobytes()
        assert (b.rate, b.index, b.time) == (a.rate, a.index, a.time)
        assert dict(b.meta) == dict(a.meta)


def test_raw_request_headers_and_body():
    async def main():
        server, _base, port = await started()
        feed = server.add_stream("s")
        c = chunks(1, size=5)[0]
        await feed.publish(c)
        await feed.publish(np.arange(6, dtype="<i2").reshape(2, 3))
        await feed.publish(b"\x00\x01raw")
        await feed.publish({"x": [1, 2]})
        feed.end()
        answers = [await raw_get(port, f"/streams/s?after={n}&timeout=1") for n in range(5)]
        await server.close()
        return c, answers

    c, answers = asyncio.run(main())
    status, h, body = answers[0]
    assert status == 200
    assert h["content-type"] == "application/octet-stream" and h["x-daqflow-kind"] == "chunk"
    assert (h["x-daqflow-seq"], h["x-daqflow-dtype"], h["x-daqflow-shape"]) == ("1", "<c8", "5")
    assert float(h["x-daqflow-rate"]) == c.rate and int(h["x-daqflow-index"]) == c.index
    assert float(h["x-daqflow-time"]) == c.time and h["x-daqflow-missed"] == "0"
    assert json.loads(h["x-daqflow-meta"]) == dict(c.meta)
    assert int(h["content-length"]) == len(body) == 40
    assert np.array_equal(np.frombuffer(body, "<c8"), c.data)
    status, h, body = answers[1]
    assert (h["x-daqflow-kind"], h["x-daqflow-dtype"], h["x-daqflow-shape"]) == ("array", "<i2", "2,3")
    assert np.frombuffer(body, "<i2").reshape(2, 3).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert answers[2][1]["x-daqflow-kind"] == "bytes" and answers[2][2] == b"\x00\x01raw"
    assert answers[3][1]["content-type"].startswith("application/json")
    assert json.loads(answers[3][2]) == {"x": [1, 2]}
    status, h, body = answers[4]
    assert (status, h["x-daqflow-kind"], h["x-daqflow-seq"], body) == (200, "end", "5", b"")


def test_listing_timeout_and_bad_requests():
    async def main():
        server, _base, port = await started(retention=3)
        feed = server.add_stream("a")
        server.add_stream("b")
        for c in chunks(5, size=4):
            await feed.publish(c)
        out = {"list": await raw_get(port, "/streams")}
        t0 = asyncio.get_running_loop().time()
        out["204"] = await raw_get(port, "/streams/a?after=5&timeout=0.2")
        out["waited"] = asyncio.get_running_loop().time() - t0
        out["newest"] = await raw_get(port, "/streams/a?timeout=0")  # no after: the newest
        out["missed"] = await raw_get(port, "/streams/a?after=0")
        out["404"] = await raw_get(port, "/streams/zzz?after=0")
        out["404b"] = await raw_get(port, "/nothing")
        for bad in ["-1", "x", "1.5", "", "99999999999999999999999", "6", "1e3"]:
            out[f"400 {bad}"] = await raw_get(port, f"/streams/a?after={bad}")
        out["400t"] = await raw_get(port, "/streams/a?after=0&timeout=nan")
        out["405"] = await raw_get(port, "/streams/a?after=0", method="POST")
        out["ok"] = await raw_get(port, "/streams/a?after=4")
        await server.close()
        return out

    out = asyncio.run(main())
    listing = json.loads(out["list"][2])
    assert [s["name"] for s in listing] == ["a", "b"]
    expected = {"next": 6, "oldest": 3, "ended": False, "dtype": "<c8", "rate": 1e3, "retained": 3}
    assert {k: listing[0][k] for k in expected} == expected
    assert listing[1]["next"] == 1 and listing[1]["oldest"] == 1
    status, h, body = out["204"]
    assert status == 204 and h["x-daqflow-next"] == "6" and body == b""
    assert 0.15 < out["waited"] < 2
    assert out["newest"][1]["x-daqflow-seq"] == "5"
    status, h, _ = out["missed"]
    assert status == 200 and h["x-daqflow-seq"] == "3" and h["x-daqflow-missed"] == "2"
    assert out["404"][0] == 404 and out["404b"][0] == 404
    for key, answer in out.items():
        if key.startswith("400"):
            status, _, body = answer
            assert status == 400, key
            assert "error" in json.loads(body)
    assert out["405"][0] == 405 and out["405"][1]["allow"] == "GET"
    assert out["ok"][0] == 200 and out["ok"][1]["x-daqflow-seq"] == "5"


def test_end_packet_for_late_readers_and_http_packets():
    async def main():
        server, base, _ = await started()
        feed = server.add_stream("s")
        for c in chunks(3):
            await feed.publish(c)
        feed.end()
        feed.end()  # once only
        got = [p async for p in http_packets(base + "/streams/s", after=0)]
        late = [p async for p in http_packets(base + "/streams/s", after=3)]
        with pytest.raises(HttpStatusError, match="ended"):
            async for _ in http_packets(base + "/streams/s", after=4):
                pass
        with pytest.raises(RuntimeError, match="ended"):
            await feed.publish(1)
        await server.close()
        return got, late

    got, late = asyncio.run(main())
    assert [(p.seq, p.kind) for p in got] == [(1, "chunk"), (2, "chunk"), (3, "chunk"), (4, "end")]
    assert [(p.seq, p.kind, p.item) for p in late] == [(4, "end", None)]


class Unsendable:
    pass


def test_remote_error_stops_the_consumer_with_block_error():
    async def main():
        ready = asyncio.get_running_loop().create_future()
        items = [*chunks(2), Unsendable()]
        producer = asyncio.ensure_future(df.arun(serve(
            df.from_iterable(items), on_ready=ready.set_result, linger=0.3, block_name="sender")))
        url = await when_ready(ready, producer)
        got = []

        @df.block
        async def keep(x: df.Stream):
            async for item in x:
                got.append(item)

        with pytest.raises(df.BlockError) as consumer_error:
            await df.arun(keep(http_source(url, name="receiver")))
        with pytest.raises(df.BlockError) as producer_error:
            await producer
        return got, consumer_error.value, producer_error.value

    got, consumer, producer = asyncio.run(main())
    assert len(got) == 2
    assert consumer.block == "receiver" and isinstance(consumer.cause, RemoteError)
    assert consumer.cause.block == "sender" and consumer.cause.error == "TypeError"
    assert "'sender'" in str(consumer) and "Unsendable" in str(consumer)
    assert producer.block == "sender" and isinstance(producer.cause, TypeError)


def test_meta_over_limit_fails_the_block_naming_the_limit():
    big = df.Chunk(np.zeros(4), 1.0, meta={"note": "x" * 20000})
    with pytest.raises(df.BlockError, match="max_meta=16384") as err:
        df.run(serve(df.from_iterable([big]), block_name="big_meta"))
    assert err.value.block == "big_meta"


def test_client_max_packet():
    async def main():
        server, base, _ = await started()
        feed = server.add_stream("s")
        await feed.publish(np.zeros(100, "<f8"))
        with pytest.raises(ValueError, match="max_packet=100"):
            async for _ in http_packets(base + "/streams/s", max_packet=100):
                pass
        await server.close()

    asyncio.run(main())


def test_non_loopback_bind_needs_a_token():
    src = df.from_iterable([1])
    for host in ["0.0.0.0", "192.0.2.7", "::", "example.org"]:
        with pytest.raises(ValueError, match="bearer token is required"):
            serve(src, host=host)
        with pytest.raises(ValueError, match="bearer token is required"):
            PacketServer(host=host)
    serve(src, host="0.0.0.0", token="secret")  # builds (never run here)
    for host in ["127.0.0.1", "127.8.9.10", "::1", "localhost"]:
        serve(src, host=host)


def test_bearer_token():
    async def main():
        server, base, port = await started(token="s3cret")
        feed = server.add_stream("s")
        await feed.publish({"v": 1})
        out = [
            await raw_get(port, "/streams/s?after=0"),
            await raw_get(port, "/streams/s?after=0", ["Authorization: Bearer wrong"]),
            await raw_get(port, "/streams/s?after=0", ["Authorization: Basic s3cret"]),
            await raw_get(port, "/streams", ["Authorization: Bearer s3cre"]),
            await raw_get(port, "/streams/s?after=0", ["Authorization: Bearer s3cret"]),
        ]
        with pytest.raises(HttpStatusError, match="401"):
            async for _ in http_packets(base + "/streams/s", token="nope"):
                pass
        packets = []
        async for p in http_packets(base + "/streams/s", token="s3cret"):
            packets.append(p)
            break
        await server.close()
        return out, packets

    out, packets = asyncio.run(main())
    for status, h, _ in out[:4]:
        assert status == 401 and h["www-authenticate"].startswith("Bearer")
    assert out[4][0] == 200 and json.loads(out[4][2]) == {"v": 1}
    assert packets[0].item == {"v": 1}


def test_window_backpressure():
    async def main():
        server, _base, port = await started()
        feed = server.add_stream("s", window=2)
        assert await feed.publish(1) == 1
        assert await feed.publish(2) == 2
        third = asyncio.ensure_future(feed.publish(3))
        await asyncio.sleep(0.2)
        blocked = not third.done()
        await raw_get(port, "/streams/s?after=1&timeout=0")  # acknowledges seq 1: one credit
        seq = await asyncio.wait_for(third, 2)
        fourth = asyncio.ensure_future(feed.publish(4))
        await asyncio.sleep(0.1)
        blocked_again = not fourth.done()
        await server.close()
        with pytest.raises(RuntimeError, match="closed"):
            await asyncio.wait_for(fourth, 2)
        return blocked, seq, blocked_again, feed.stats

    blocked, seq, blocked_again, stats = asyncio.run(main())
    assert blocked and seq == 3 and blocked_again
    assert stats["acked"] == 1 and stats["published"] == 3


def test_http_source_marks_missed_packets_and_overflow():
    async def main():
        server, base, _ = await started(retention=2)
        feed = server.add_stream("s")
        sent = chunks(6, size=100)
        consumer = asyncio.ensure_future(df.arun(df.collect(http_source(base + "/streams/s"))))
        await feed.publish(sent[0])
        while not (feed.acked == 1 and server.pollers == 1):  # the reader waits for seq 2
            await asyncio.sleep(0.01)
        for c in sent[1:]:  # no await in between: seq 2..4 are evicted before it looks
            await feed.publish(c)
        while feed.acked < 6:
            await asyncio.sleep(0.01)
        feed.end()
        report = await asyncio.wait_for(consumer, 5)
        await server.close()
        return report.results["collect"]

    got = asyncio.run(main())
    assert [c.index for c in got] == [0, 400, 500]
    assert dict(got[1].meta)["missed_packets"] == 3 and got[1].meta["overflow"] == 300
    assert "overflow" not in got[2].meta and "missed_packets" not in got[2].meta


def test_a_failure_upstream_of_serve_reaches_readers_as_an_error_packet():
    """A block failing before `serve` must not look like a clean end to remote readers."""

    @df.block
    def breaks_at_three(x):
        if x == 3:
            raise ValueError("sensor unplugged")
        return x

    urls = []
    serving = df.start(net.serve(breaks_at_three(df.from_iterable(range(10))), on_ready=urls.append,
                                 linger=3.0))
    try:
        deadline = time.monotonic() + 10
        while not urls and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(df.BlockError) as info:
            df.run(df.collect(net.http_source(urls[0])))
        assert "breaks_at_three" in str(info.value) and "sensor unplugged" in str(info.value)
        assert info.value.report.results["collect"] == [0, 1, 2]
    finally:
        serving.stop()
        with pytest.raises(df.BlockError, match="sensor unplugged"):
            serving.wait()
