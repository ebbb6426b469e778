"""Maps fused one after another run as plain calls in their host's task: each map is still
counted, timed and named on its own, a None drops an item at that map, and a map that fans out
ends the chain there."""

import asyncio

import numpy as np
import pytest

import daqflow as df


@df.block
def plus_one(chunk: df.Chunk) -> df.Chunk:
    return chunk.replace(data=chunk.data + 1)


@df.block
def evens_only(chunk: df.Chunk) -> df.Chunk | None:
    return chunk if chunk.index % 2 == 0 else None


@df.block
def doubled(chunk: df.Chunk) -> df.Chunk:
    return chunk.replace(data=chunk.data * 2)


@df.block
def broken(chunk: df.Chunk) -> df.Chunk:
    if chunk.index == 3:
        raise ValueError("sample 3 is cursed")
    return chunk


def items(n: int) -> list[df.Chunk]:
    return [df.Chunk(np.full(4, i, np.int64), 1.0, index=i) for i in range(n)]


def test_a_chain_of_maps_gives_each_maps_output_and_counts_each():
    tail = doubled(evens_only(plus_one(df.from_iterable(items(10)))))
    report = df.run(df.collect(tail))
    out = report.results["collect"]
    assert [c.index for c in out] == [0, 2, 4, 6, 8]
    assert [int(c.data[0]) for c in out] == [2 * (i + 1) for i in (0, 2, 4, 6, 8)]
    blocks = report.blocks
    assert (blocks["plus_one"].items_out, blocks["evens_only"].items_out,
            blocks["doubled"].items_out) == (10, 5, 5)
    assert blocks["plus_one"].samples_out == 40 and blocks["doubled"].samples_out == 20
    assert all(blocks[name].busy > 0 for name in ("plus_one", "evens_only", "doubled"))
    fused = {(e.producer, e.consumer) for e in report.edges if e.inline}
    assert {("from_iterable", "plus_one"), ("plus_one", "evens_only"),
            ("evens_only", "doubled")} <= fused


def test_a_map_failing_inside_a_chain_is_the_one_named():
    tail = doubled(broken(plus_one(df.from_iterable(items(10)))))
    with pytest.raises(df.BlockError, match=r"block 'broken' failed: ValueError: sample 3 is cursed"):
        df.run(df.collect(tail))


def test_a_map_that_fans_out_feeds_every_reader_and_the_chain_after_it():
    middle = plus_one(df.from_iterable(items(6)))
    left, right = df.collect(doubled(middle), name="left"), df.collect(middle, name="right")
    report = df.run(left, right)
    assert [int(c.data[0]) for c in report.results["left"]] == [2 * (i + 1) for i in range(6)]
    assert [int(c.data[0]) for c in report.results["right"]] == [i + 1 for i in range(6)]
    assert report.blocks["plus_one"].items_out == 6 and report.blocks["doubled"].items_out == 6


@df.block
async def first_three(x: df.Stream) -> int:
    taken = 0
    async for _ in x:
        taken += 1
        if taken == 3:
            return taken
    return taken


@df.block
async def endless():
    index = 0
    while True:
        yield df.Chunk(np.zeros(4), 1.0, index=index)
        index += 4
        await asyncio.sleep(0)


@df.block
async def slow(x: df.Stream) -> None:
    async for _ in x:
        await asyncio.sleep(0.01)


def one_to_one(report, names):
    return {name: (report.blocks[name].items_in, report.blocks[name].items_out) for name in names}


def test_a_reader_that_leaves_early_leaves_each_map_with_as_many_out_as_in():
    """The item a chain made when its reader had gone was never delivered: no map counts it
    (they once did: 16 in, 17 out)."""
    report = df.run(first_three(doubled(plus_one(df.from_iterable(items(50))))))
    counts = one_to_one(report, ["plus_one", "doubled"])
    assert all(taken == made for taken, made in counts.values()), counts


def test_a_stop_under_backpressure_leaves_each_map_with_as_many_out_as_in():
    report = df.run(slow(doubled(plus_one(endless())), buffer=1), duration=0.3)
    counts = one_to_one(report, ["plus_one", "doubled"])
    assert all(taken == made for taken, made in counts.values()), counts
    assert report.blocks["doubled"].items_out == report.blocks["slow"].items_in


@df.block
async def every_item(x: df.Stream) -> int:
    taken = 0
    async for _ in x:
        taken += 1
    return taken


def test_a_stop_while_a_fan_out_after_the_maps_waits_keeps_them_one_to_one():
    """The stop cancels the put to the slow reader after the fast one took the item: the
    item is delivered (pushed to the slow FIFO too) and counted by every map (the maps
    before the last once gave their count back: 30 in, 31 out)."""
    tail = doubled(plus_one(endless()))
    report = df.run(every_item(tail), slow(tail, buffer=1), duration=0.3)
    counts = one_to_one(report, ["plus_one", "doubled"])
    assert all(taken == made for taken, made in counts.values()), counts
    assert report.blocks["endless"].items_out == report.blocks["plus_one"].items_in
