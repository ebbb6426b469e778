"""µs per chunk per hop: daqflow pass-through blocks against a raw asyncio.Queue chain.

Both chains move the same Chunk objects through K hops with FIFOs of 4 items, in the same
run; the figure is (time of K hops - time of 1 hop) / ((K - 1) * items), so the source and
sink costs cancel. daqflow runs its blocks on its scheduler (the default) and, for
reference, as one asyncio task per block (``DAQFLOW_SCHEDULER=tasks``). Also: a fused map
stage (plain function, run inline).

    python benchmarks/hop_overhead.py [--items 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import daqflow as df
from _common import best_of, emit, time_asyncio_chain

BUFFER = 4


@df.block
async def passthrough(x: df.Stream):
    async for item in x:
        yield item


@df.block
def identity(item):
    return item


def chunk_items(n: int) -> list[df.Chunk]:
    c = df.Chunk(np.zeros(8192, np.complex64), 1e6)
    return [c] * n


def time_daqflow(items: list, hops: int) -> float:
    s = df.from_iterable(items)
    for _ in range(hops):
        s = passthrough(s, buffer=BUFFER)
    sink = df.null_sink(s, buffer=BUFFER)
    t0 = time.perf_counter()
    df.run(sink)
    return time.perf_counter() - t0


def time_daqflow_tasks(items: list, hops: int) -> float:
    """`time_daqflow` with one asyncio task per block (no shared scheduler)."""
    before = os.environ.get("DAQFLOW_SCHEDULER")
    os.environ["DAQFLOW_SCHEDULER"] = "tasks"
    try:
        return time_daqflow(items, hops)
    finally:
        if before is None:
            del os.environ["DAQFLOW_SCHEDULER"]
        else:
            os.environ["DAQFLOW_SCHEDULER"] = before


def time_fused(items: list, stages: int) -> float:
    s = df.from_iterable(items)
    for _ in range(stages):
        s = identity(s)
    sink = df.null_sink(s, buffer=BUFFER)
    t0 = time.perf_counter()
    df.run(sink)
    return time.perf_counter() - t0


def time_asyncio(items: list, hops: int) -> float:
    return time_asyncio_chain(items, hops, lambda item: item, BUFFER)


def per_hop_us(timer, items: list, k: int, repeat: int) -> float:
    t1 = best_of(lambda: timer(items, 1), repeat)
    tk = best_of(lambda: timer(items, k), repeat)
    return (tk - t1) / ((k - 1) * len(items)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--hops", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    items = chunk_items(args.items)
    raw = per_hop_us(time_asyncio, items, args.hops, args.repeat)
    ours = per_hop_us(time_daqflow, items, args.hops, args.repeat)
    own_tasks = per_hop_us(time_daqflow_tasks, items, args.hops, args.repeat)
    fused = per_hop_us(time_fused, items, args.hops, args.repeat)
    emit(
        "hop_overhead",
        {
            "asyncio_queue_us_per_hop": round(raw, 3),
            "daqflow_us_per_hop": round(ours, 3),
            "daqflow_task_per_block_us_per_hop": round(own_tasks, 3),
            "daqflow_fused_map_us_per_stage": round(fused, 3),
            "ratio_daqflow_to_asyncio": round(ours / raw, 3),
        },
        items=args.items,
        hops=args.hops,
        buffer=BUFFER,
        targets={"ratio_daqflow_to_asyncio": "<= 0.5 (issue 14)",
                 "daqflow_fused_map_us_per_stage": "<= 0.15 (issue 14)"},
    )


if __name__ == "__main__":
    main()
