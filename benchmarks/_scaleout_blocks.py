"""Blocks and raw reference workers for ``scaleout.py``: importable by name in spawned
processes (``benchmarks/`` is on the parent's ``sys.path``, which spawned children inherit).

Every receiver measures the same way: bytes received after the first packet, divided by the
time from the first packet to the last one (``rate_mbs``), so process start-up and the
connection set-up are not counted, on either side of a comparison.
"""

from __future__ import annotations

import asyncio
import hashlib
import resource
import time
import zlib
from typing import Any

import numpy as np

import daqflow as df
from daqflow import Chunk
from daqflow.net.partition import keep_large_buffers

RATE = 1e6
END = b""  # end marker of the raw transports


def payload(size: int, dtype: str) -> np.ndarray:
    """``size`` bytes of random ``dtype`` samples (read-only), the same in every process."""
    n = size // np.dtype(dtype).itemsize
    rng = np.random.default_rng(size)
    data = rng.standard_normal(2 * n).astype(np.float32).view(np.complex64)[:n] if dtype == "complex64" \
        else rng.standard_normal(n).astype(dtype)
    data = np.ascontiguousarray(data)
    data.flags.writeable = False
    return data


def rate_mbs(items: int, size: int, t_first: float, t_last: float) -> float:
    """MB/s (10**6 bytes) over the packets after the first one."""
    span = t_last - t_first
    return (items - 1) * size / span / 1e6 if items > 1 and span > 0 else float("nan")


# -- graph blocks ------------------------------------------------------------------------------

@df.block
async def timed_chunks(size: int, dtype: str, seconds: float):
    """Source: the same ``size``-byte Chunk (new index each time) for ``seconds``."""
    data = payload(size, dtype)
    n = data.size
    i = 0
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        yield Chunk(data, rate=RATE, index=i * n)
        i += 1


@df.block
async def meter(x: df.Stream):
    """Sink: [items, bytes of one item, time of the first item, time of the last item]."""
    items = size = 0
    t_first = t_last = 0.0
    async for chunk in x:
        t_last = time.perf_counter()
        if items == 0:
            t_first = t_last
            size = chunk.data.nbytes
        items += 1
    return [items, size, t_first, t_last]


@df.block
async def noise_chunks(n_chunks: int, samples: int, distinct: int = 4):
    """Source: ``n_chunks`` complex64 chunks cycling over ``distinct`` fixed noise vectors."""
    rng = np.random.default_rng(1)
    vectors = [
        rng.standard_normal(2 * samples).astype(np.float32).view(np.complex64) for _ in range(distinct)
    ]
    for i in range(n_chunks):
        yield Chunk(vectors[i % distinct], rate=RATE, index=i * samples)


def fft_work(data: np.ndarray, repeat: int) -> np.ndarray:
    """``repeat`` orthonormal FFTs in a row (numpy's pocketfft: one thread, complex64 stays)."""
    y = data
    for _ in range(repeat):
        y = np.fft.fft(y, norm="ortho")
    return y


@df.block
async def fft_stage(x: df.Stream, repeat: int):
    """Transform: ``repeat`` FFTs per chunk (the CPU-bound stage)."""
    async for chunk in x:
        yield chunk.replace(data=fft_work(chunk.data, repeat))


def minor_faults() -> int:
    """Minor page faults of this process so far (all threads)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


@df.block
async def checksum(x: df.Stream):
    """Sink: [items, sha256 of every item's bytes and index in order, minor page faults of its
    process from the first item to the end]."""
    h = hashlib.sha256()
    items = faults = 0
    async for chunk in x:
        if items == 0:
            faults = minor_faults()
        h.update(chunk.index.to_bytes(8, "little"))
        h.update(memoryview(np.ascontiguousarray(chunk.data)).cast("B"))
        items += 1
    return [items, h.hexdigest(), minor_faults() - faults]


# -- child-process workers (results go back on a multiprocessing queue) -------------------------

def raw_zmq_pull(address: str, hwm: int, ready: Any, results: Any) -> None:
    """Raw pyzmq PULL: connect, receive until the empty end frame; put the measurement."""
    keep_large_buffers()  # as partition children do: a fair comparison
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.connect(address)
    ready.put("ready")
    items = size = 0
    t_first = t_last = 0.0
    while True:
        frame = sock.recv(copy=False)
        if len(frame) == 0:
            break
        t_last = time.perf_counter()
        if items == 0:
            t_first, size = t_last, len(frame)
        items += 1
    sock.close(0)
    ctx.term()
    results.put([items, size, t_first, t_last])


def link_receiver(link: Any, address: str, ready: Any, results: Any) -> None:
    """daqflow's own receiving end of a partition link (ZmqRecvEnd / HttpRecvEnd) without a
    graph: connect, iterate the items; put the measurement."""
    keep_large_buffers()  # as partition children do: a fair comparison
    from daqflow.net.links import make_ends

    async def main() -> list:
        import zmq.asyncio

        ctx = zmq.asyncio.Context()
        end = make_ends(link, "recv", ctx)
        await end.connect(address)
        ready.put("ready")
        items = size = 0
        t_first = t_last = 0.0
        async for chunk in end.items():
            t_last = time.perf_counter()
            if items == 0:
                t_first, size = t_last, chunk.data.nbytes
            items += 1
        await end.close()
        ctx.term()
        return [items, size, t_first, t_last]

    results.put(asyncio.run(main()))


def raw_http_server(size: int, dtype: str, ready: Any, stop: Any) -> None:
    """Raw aiohttp: ``GET /data`` answers the same ``size`` bytes; runs until ``stop`` is set."""
    from aiohttp import web

    body = payload(size, dtype).tobytes()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/octet-stream")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/data", handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ready.put(runner.addresses[0][1])
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, stop.wait)
        await runner.cleanup()

    asyncio.run(main())


def shm_consumer(name: str, slots: int, slot_size: int, filled: Any, free: Any, copy_out: bool,
                 results: Any) -> None:
    """Consumer of the single-producer/single-consumer shared-memory ring (see
    ``scaleout.shm_ring``): waits on ``filled``, copies the slot out (an owned array, what a
    transport must hand downstream) or only looks at it in place, posts ``free``. Puts the
    measurement and the CRC-32 of the first packet (checked by the producer)."""
    keep_large_buffers()  # as partition children do: a fair comparison
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(name=name)
    lengths = np.ndarray((slots,), dtype=np.int64, buffer=shm.buf)
    ring = np.ndarray((slots, slot_size), dtype=np.uint8, buffer=shm.buf, offset=8 * slots)
    items = size = crc = 0
    t_first = t_last = 0.0
    k = 0
    while True:
        filled.acquire()
        n = int(lengths[k])
        if n == 0:
            free.release()
            break
        data = ring[k, :n].copy() if copy_out else ring[k, :n]
        t_last = time.perf_counter()
        if items == 0:
            t_first, size, crc = t_last, data.nbytes, zlib.crc32(data)
        items += 1
        del data
        free.release()
        k = (k + 1) % slots
    del lengths, ring
    shm.close()
    results.put([items, size, t_first, t_last, crc])
