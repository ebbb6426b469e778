"""Shared helpers for the benchmark scripts (each script prints one JSON document)."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any


def best_of(fn: Callable[[], float], repeat: int) -> float:
    """Smallest of ``repeat`` timings (seconds): the least disturbed run on a noisy machine."""
    return min(fn() for _ in range(repeat))


def emit(name: str, results: Any, **extra: Any) -> None:
    doc = {
        "benchmark": name,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **extra,
        "results": results,
    }
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")


def time_asyncio_chain(items: list, stages: int, work: Callable[[Any], Any], buffer: int) -> float:
    """Seconds to pass ``items`` through ``stages`` raw asyncio tasks joined by
    ``asyncio.Queue(maxsize=buffer)``, each applying ``work`` to every item: the reference
    the daqflow figures are compared with, in the same run."""
    done = object()

    async def source(q: asyncio.Queue) -> None:
        for item in items:
            await q.put(item)
        await q.put(done)

    async def stage(qin: asyncio.Queue, qout: asyncio.Queue) -> None:
        while (item := await qin.get()) is not done:
            await qout.put(work(item))
        await qout.put(done)

    async def sink(q: asyncio.Queue) -> int:
        count = 0
        while (await q.get()) is not done:
            count += 1
        return count

    async def main() -> int:
        queues = [asyncio.Queue(maxsize=buffer) for _ in range(stages + 1)]
        tasks = [asyncio.create_task(source(queues[0]))]
        tasks += [asyncio.create_task(stage(queues[i], queues[i + 1])) for i in range(stages)]
        tasks.append(asyncio.create_task(sink(queues[-1])))
        return (await asyncio.gather(*tasks))[-1]

    t0 = time.perf_counter()
    count = asyncio.run(main())
    elapsed = time.perf_counter() - t0
    assert count == len(items), (count, len(items))
    return elapsed
