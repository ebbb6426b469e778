"""threaded=True: a block's processing runs in its own worker thread, same order and results."""

import asyncio
import threading
import time

import numpy as np
import pytest

import daqflow as df
from daqflow.testing import chunks


def record_thread(seen):
    seen.add(threading.current_thread().name)


@pytest.mark.parametrize("threaded", [False, True])
def test_map_same_results_and_runs_off_the_loop(threaded):
    seen = set()

    @df.block
    def spectrum(chunk):
        record_thread(seen)
        return chunk.replace(data=np.abs(np.fft.fft(chunk.data)))

    data = np.random.default_rng(0).standard_normal(64 * 100)
    source = df.from_iterable(chunks(data, 1e3, 64))
    got = df.run(df.collect(spectrum(source, threaded=threaded))).results["collect"]
    expected = [np.abs(np.fft.fft(c.data)) for c in chunks(data, 1e3, 64)]
    assert len(got) == 100
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g.data, e)
    assert [g.index for g in got] == [64 * k for k in range(100)]
    on_loop = "MainThread" in seen
    assert on_loop is not threaded
    if threaded:
        assert seen == {next(iter(seen))} and "daqflow-spectrum" in next(iter(seen))


@pytest.mark.parametrize("threaded", [False, True])
def test_transform_source_and_sink_threaded(threaded):
    seen = {"source": set(), "transform": set(), "sink": set()}

    @df.block
    async def numbers(n):
        for k in range(n):
            record_thread(seen["source"])
            await asyncio.sleep(0)
            yield k

    @df.block
    async def running_sum(x: df.Stream):
        total = 0
        async for item in x:
            record_thread(seen["transform"])
            total += item
            yield total

    @df.block
    async def gather(x: df.Stream):
        out = []
        async for item in x:
            record_thread(seen["sink"])
            out.append(item)
        return out

    sink = gather(running_sum(numbers(200, threaded=threaded), threaded=threaded),
                  threaded=threaded)
    report = df.run(sink)
    assert report.results["gather"] == list(np.cumsum(range(200)))
    for where in seen.values():
        assert ("MainThread" in where) is not threaded
    assert report.blocks["running_sum"].threaded is threaded
    assert report.blocks["running_sum"].busy > 0


def test_threaded_source_stops_on_duration():
    @df.block
    async def ticks():
        k = 0
        while True:
            await asyncio.sleep(0.001)
            yield k
            k += 1

    report = df.run(df.collect(ticks(threaded=True)), duration=0.2)
    got = report.results["collect"]
    assert report.stopped_by == "duration"
    assert got == list(range(len(got))) and len(got) > 10


def test_two_heavy_threaded_maps_overlap_in_time():
    """numpy releases the GIL: two threaded FFT blocks on a fan-out run at the same time."""
    spans = {"a": [], "b": []}

    def heavy(tag):
        @df.block(name=f"heavy_{tag}")
        def work(chunk):
            t0 = time.perf_counter()
            for _ in range(20):
                np.fft.fft(chunk.data)
            spans[tag].append((t0, time.perf_counter()))
            return chunk

        return work

    data = np.zeros(1 << 16, np.complex64)
    source = df.from_iterable([df.Chunk(data, 1e6, k << 16) for k in range(20)])
    df.run(df.null_sink(heavy("a")(source, threaded=True)),
           df.null_sink(heavy("b")(source, threaded=True)))
    overlap = sum(
        max(0.0, min(a1, b1) - max(a0, b0)) for a0, a1 in spans["a"] for b0, b1 in spans["b"]
    )
    assert overlap > 0  # the two blocks' work intervals intersect: they ran concurrently
