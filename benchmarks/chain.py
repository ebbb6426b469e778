"""MS/s end to end through chains of K stages: daqflow blocks against raw asyncio tasks.

For K stages and a chunk size (complex64 samples), in the same run:

- ``passthrough``: daqflow async-generator stages that re-yield each chunk (``buffer=4``);
- ``copy``: daqflow async-generator stages that yield a new Chunk over a copy of the data;
- ``asyncio_copy``: the same copying stages as raw asyncio tasks joined by
  ``asyncio.Queue(maxsize=4)``;
- ``map_copy``: the same copy as plain-function map stages (fused: run inline, no FIFO).

The source repeats one preallocated chunk, so its cost is small; a null sink ends each chain.
Item counts are calibrated per case so one run takes about ``--seconds``; each figure is the
best of ``--repeat`` runs. ``ratio_copy_to_asyncio`` > 1 means daqflow is faster.

``*_faults_per_item`` counts minor page faults per item in the best run. A 65536-sample
complex64 copy (512 KiB) sits at glibc's mmap/trim thresholds: depending on the order in
which a chain frees its copies, the heap is trimmed and every new copy faults its pages in
again (~128 faults, ~0.2 ms per item), whatever the framework. ``--tune-malloc`` fixes those
thresholds as ``df.run`` does by default (`daqflow.core.allocator`), so the figures show the
framework rather than the allocator; without it both frameworks run on glibc's own
behaviour (``DAQFLOW_MALLOC=system``).

    python benchmarks/chain.py [--stages 1,5,10] [--sizes 1024,8192,65536] [--repeat 3]
                               [--seconds 0.2] [--tune-malloc]
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import resource
import time
from collections.abc import Callable

import numpy as np

import daqflow as df
from _common import emit, time_asyncio_chain
from daqflow.core import allocator

BUFFER = 4
RATE = 1e6
PILOT_SECONDS = 0.02  # a calibration run at least this long

Timer = Callable[[df.Chunk, int, int], float]


def copy_chunk(c: df.Chunk) -> df.Chunk:
    return df.Chunk(np.copy(c.data), c.rate, c.index, c.time, c.meta)


@df.block
async def passthrough(x: df.Stream):
    async for c in x:
        yield c


@df.block
async def copying(x: df.Stream):
    async for c in x:
        yield df.Chunk(np.copy(c.data), c.rate, c.index, c.time, c.meta)


@df.block
def copy_map(c):
    return df.Chunk(np.copy(c.data), c.rate, c.index, c.time, c.meta)


def _time_graph(chunk: df.Chunk, n: int, stages: int, factory: df.BlockFactory, **options) -> float:
    items = [chunk] * n
    t0 = time.perf_counter()
    s = df.from_iterable(items)
    for _ in range(stages):
        s = factory(s, **options)
    report = df.run(df.null_sink(s, buffer=BUFFER))
    elapsed = time.perf_counter() - t0
    assert report.results["null_sink"] == n
    return elapsed


def time_passthrough(chunk: df.Chunk, n: int, stages: int) -> float:
    return _time_graph(chunk, n, stages, passthrough, buffer=BUFFER)


def time_copy(chunk: df.Chunk, n: int, stages: int) -> float:
    return _time_graph(chunk, n, stages, copying, buffer=BUFFER)


def time_map_copy(chunk: df.Chunk, n: int, stages: int) -> float:
    return _time_graph(chunk, n, stages, copy_map)


def time_asyncio_copy(chunk: df.Chunk, n: int, stages: int) -> float:
    def copy(c: df.Chunk) -> df.Chunk:
        return df.Chunk(np.copy(c.data), c.rate, c.index, c.time, c.meta)

    return time_asyncio_chain([chunk] * n, stages, copy, BUFFER)


CASES: dict[str, Timer] = {
    "passthrough": time_passthrough,
    "copy": time_copy,
    "asyncio_copy": time_asyncio_copy,
    "map_copy": time_map_copy,
}


def calibrate(timer: Timer, chunk: df.Chunk, stages: int, seconds: float) -> int:
    """Items for one run of about ``seconds`` (the pilot runs also warm up)."""
    n = 32
    while True:
        t = timer(chunk, n, stages)
        if t >= PILOT_SECONDS or n >= 1 << 24:
            return max(16, math.ceil(n * seconds / t))
        n *= 4


def best_run(fn: Callable[[], float], repeat: int) -> tuple[float, int]:
    """(seconds, minor page faults) of the fastest of ``repeat`` runs."""
    runs = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t = fn()
        runs.append((t, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before))
    return min(runs)


def tune_malloc(wanted: bool) -> bool:
    """Fixed glibc thresholds (daqflow's own, `daqflow.core.allocator`: freed copies stay in
    the heap, no trim, no mmap per copy), or glibc's own behaviour, for both frameworks."""
    os.environ[allocator.ENVIRONMENT] = "streaming" if wanted else "system"
    return allocator.tune_for_streaming()


def parse_ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=parse_ints, default=[1, 5, 10], help="K values, e.g. 1,5,10")
    parser.add_argument("--sizes", type=parse_ints, default=[1024, 8192, 65536],
                        help="chunk sizes in complex64 samples")
    parser.add_argument("--seconds", type=float, default=0.2, help="target length of one run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tune-malloc", action="store_true",
                        help="fix glibc's trim/mmap thresholds (no page faults per copy)")
    args = parser.parse_args()
    tuned = tune_malloc(args.tune_malloc)  # (before any graph runs: df.run would set them)

    results = []
    for size in args.sizes:
        chunk = df.Chunk(np.ones(size, np.complex64), RATE)
        for k in args.stages:
            row: dict[str, object] = {"stages": k, "chunk": size}
            for case, timer in CASES.items():
                # daqflow and asyncio copying chains move the same number of items
                if case != "asyncio_copy":
                    n = calibrate(timer, chunk, k, args.seconds)
                t, faults = best_run(functools.partial(timer, chunk, n, k), args.repeat)
                row[f"{case}_items"] = n
                row[f"{case}_msps"] = round(n * size / t / 1e6, 2)
                row[f"{case}_faults_per_item"] = round(faults / n, 1)
            row["ratio_copy_to_asyncio"] = round(row["copy_msps"] / row["asyncio_copy_msps"], 3)
            results.append(row)
    target = next(
        (r for r in results if r["stages"] == 10 and r["chunk"] == 8192), None
    )
    emit(
        "chain",
        results,
        buffer=BUFFER,
        dtype="complex64",
        repeat=args.repeat,
        seconds_per_run=args.seconds,
        malloc_tuned=tuned,
        targets={"ratio_copy_to_asyncio (10 stages, 8192)": ">= 1.0"},
        target_met=None if target is None else target["ratio_copy_to_asyncio"] >= 1.0,
    )


if __name__ == "__main__":
    main()
