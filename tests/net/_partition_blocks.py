"""Blocks for the partition tests: importable by name in child processes."""

from __future__ import annotations

import asyncio
import os

import numpy as np

import daqflow as df
from daqflow import Chunk


@df.block
async def ramp(n_chunks: int, size: int, dtype: str = "float64"):
    """Source: chunks of a known ramp (rate 1 kHz)."""
    for i in range(n_chunks):
        data = (np.arange(i * size, (i + 1) * size) % 65521).astype(dtype)
        yield Chunk(data, rate=1e3, index=i * size, meta={"n": i})


@df.block
def scale(chunk, factor: float = 2.0):
    return chunk.replace(data=chunk.data * factor)


@df.block
async def fft_mag(x: df.Stream, repeat: int = 1):
    """Transform: |FFT| of each chunk, computed ``repeat`` times (CPU load)."""
    async for chunk in x:
        for _ in range(repeat):
            out = np.abs(np.fft.fft(chunk.data))
        yield chunk.replace(data=out)


@df.block
async def slow_sink(x: df.Stream, delay: float):
    """Sink: takes ``delay`` seconds per chunk; returns (count, pid)."""
    n = 0
    async for _chunk in x:
        n += 1
        await asyncio.sleep(delay)
    return [n, os.getpid()]


@df.block
def explode(chunk, at: int):
    if chunk.meta["n"] == at:
        raise ValueError(f"bad chunk {at}")
    return chunk


@df.block
async def pid_of(x: df.Stream):
    async for _ in x:
        pass
    return os.getpid()


@df.block
async def pid_file_sink(x: df.Stream, path: str, delay: float):
    """Sink: writes its process id to ``path``, then takes ``delay`` seconds per item."""
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    n = 0
    async for _ in x:
        n += 1
        await asyncio.sleep(delay)
    return n


@df.block
async def counter(rate: float = 1e4, size: int = 256):
    """Endless source of int64 sample counts (stop it with duration= or stop())."""
    i = 0
    while True:
        yield Chunk(np.arange(i, i + size, dtype=np.int64), rate=rate, index=i)
        i += size
        await asyncio.sleep(0)


@df.block
def to_object(chunk):
    return object()


@df.block
def tag_pid(chunk):
    return chunk.with_meta(pid=os.getpid())


@df.block
async def touch_then_ramp(path: str, n_chunks: int, size: int):
    """Source: creates ``path`` when it starts, then yields a ramp."""
    open(path, "w").close()
    for i in range(n_chunks):
        yield Chunk(np.arange(i * size, (i + 1) * size, dtype=np.float64), rate=1e3, index=i * size)


def sized_chunk(k: int, size: int) -> Chunk:
    """Chunk number ``k``: ``size`` float64 samples, different for every k."""
    data = np.random.default_rng(k).standard_normal(size)
    return Chunk(data, rate=1e3, index=k)


@df.block
async def sized_chunks(sizes: list):
    for k, size in enumerate(sizes):
        yield sized_chunk(k, size)


@df.block
async def why_ended(x: df.Stream):
    """Sink: [items, block that failed upstream, its message] (None, None: a clean end)."""
    from daqflow.core.channel import upstream_failure

    n = 0
    async for _ in x:
        n += 1
    failure = upstream_failure(x)
    return [n, None, None] if failure is None else [n, failure[0], str(failure[1])]


@df.block
async def pid_then_ramp(path: str, size: int, delay: float):
    """Source: writes its process id to ``path``, then a ramp, a chunk per ``delay`` s, for ever."""
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    i = 0
    while True:
        await asyncio.sleep(delay)
        yield Chunk(np.arange(i * size, (i + 1) * size, dtype=np.float64), rate=1e3, index=i * size)
        i += 1


def shaped_item_list() -> list:
    """One item of each shape class: 0-d, empty 1-d and 2-d, n-d, Fortran order, strided,
    bool and complex, as arrays and as Chunks."""
    base = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    return [
        np.array(5.0), np.array(True), np.zeros(0, np.complex64), np.zeros((0, 3), np.int16),
        base, np.asfortranarray(base), base[:, ::2], np.array([[True, False]]),
        (np.arange(6) + 1j).astype(np.complex128),
        Chunk(np.zeros((0, 2), np.complex64), rate=1e3, index=5),
        Chunk(np.asfortranarray(np.ones((3, 2), np.float32)), rate=1e3, index=9),
        Chunk(np.arange(10, dtype=np.int32)[::2], rate=1e3, index=14),
    ]


@df.block
async def shaped_items():
    for item in shaped_item_list():
        yield item
