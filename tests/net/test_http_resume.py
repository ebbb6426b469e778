"""Resuming: a reader process killed (SIGKILL) and restarted with after=<last seq it recorded>
loses nothing while the server retains the next packet; away longer, it is told exactly how
many packets it lost."""

import asyncio
import random
import sys
import zlib
from pathlib import Path

import numpy as np

import daqflow as df
from daqflow.net.http import PacketServer, http_packets

READER = Path(__file__).with_name("_http_reader.py")


def chunk(k, size=256):
    rng = np.random.default_rng(k)
    return df.Chunk(rng.standard_normal(size).astype("<f4"), 1e4, k * size, k * size / 1e4)


def records(path):
    return [line.split() for line in path.read_text().splitlines()]


def test_reader_killed_twenty_times_loses_nothing(tmp_path):
    log = tmp_path / "received.txt"
    rand = random.Random(1234)

    async def main():
        server = PacketServer(retention=256)
        base = await server.start()
        feed = server.add_stream("adc")
        url = base + "/streams/adc"
        crcs = {}
        stop = asyncio.Event()

        async def publish():
            k = 0
            while not stop.is_set():
                c = chunk(k)
                seq = await feed.publish(c)
                crcs[seq] = zlib.crc32(c.data.tobytes())
                k += 1
                await asyncio.sleep(0.004)  # ~250 packets/s: far less than retention per restart
            feed.end()

        publisher = asyncio.ensure_future(publish())
        kills = 0
        try:
            for _ in range(20):
                proc = await asyncio.create_subprocess_exec(sys.executable, str(READER), url, str(log))
                before = len(records(log)) if log.exists() else 0
                # kill at a random moment once it is reading (or, sometimes, still starting up)
                if rand.random() < 0.8:
                    while (len(records(log)) if log.exists() else 0) <= before:
                        await asyncio.sleep(0.005)
                await asyncio.sleep(rand.uniform(0.0, 0.15))
                proc.kill()
                await proc.wait()
                kills += 1
            stop.set()
            await publisher
            proc = await asyncio.create_subprocess_exec(sys.executable, str(READER), url, str(log))
            assert await asyncio.wait_for(proc.wait(), 20) == 0
        finally:
            stop.set()
            await server.close()
        return kills, crcs, feed.stats, feed.next_seq - 1

    kills, crcs, stats, last = asyncio.run(main())
    got = records(log)
    assert kills == 20
    assert stats["evicted"] == 0 or stats["evicted"] == last - 256
    assert [int(r[0]) for r in got] == list(range(1, last + 1))  # each once, in order
    assert got[-1][1] == "end" and all(r[1] == "chunk" for r in got[:-1])
    assert all(r[2] == "0" for r in got)  # nothing missed
    assert [int(r[3]) for r in got[:-1]] == [crcs[s] for s in range(1, last)]
    assert last > 100


def test_reader_away_longer_than_retention_is_told_exactly_what_it_lost():
    async def main():
        server = PacketServer(retention=16, retention_bytes=10**9)
        base = await server.start()
        feed = server.add_stream("adc")
        url = base + "/streams/adc"
        for k in range(10):
            await feed.publish(chunk(k))
        seen = []
        async for p in http_packets(url, after=0, timeout=0.5):
            seen.append(p)
            if p.seq == 7:
                break  # the reader goes away after seq 7
        evicted_before = feed.evicted
        for k in range(10, 60):  # 50 more: seq 11..60; retention keeps 45..60
            await feed.publish(chunk(k))
        feed.end()  # seq 61; retention keeps 46..61
        lost_by_eviction = feed.evicted - evicted_before
        resumed = [p async for p in http_packets(url, after=7, timeout=0.5)]
        await server.close()
        return seen, resumed, lost_by_eviction, feed.evicted

    seen, resumed, lost_by_eviction, evicted = asyncio.run(main())
    assert [p.seq for p in seen] == list(range(1, 8)) and all(p.missed == 0 for p in seen)
    assert evicted == 61 - 16 == lost_by_eviction
    first = resumed[0]
    assert first.seq == 46 and first.missed == 46 - 8  # packets 8..45, evicted while it was away
    assert first.missed == evicted - 7  # all evicted packets but the 7 it had read
    assert first.item.index == 45 * 256
    assert [p.seq for p in resumed] == list(range(46, 62)) and resumed[-1].kind == "end"
    assert all(p.missed == 0 for p in resumed[1:])
