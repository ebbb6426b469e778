"""Channel: the bounded FIFO on every edge (order, capacity, end of stream, policies, counters)."""

import asyncio
import dataclasses
from collections import deque

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from daqflow.core import Channel, ChannelStatistics, Chunk, EndOfStream, ReceiverGone
from daqflow.core.channel import WouldBlock


def chunk(index, samples=2):
    return Chunk(np.zeros(samples), rate=1.0, index=index, time=float(index))


def chunks(n, samples=2):
    """n contiguous chunks of ``samples`` samples each."""
    return [chunk(k * samples, samples) for k in range(n)]


def drain(channel):
    """Everything left in a closed channel, without waiting."""
    out = []
    while True:
        try:
            out.append(channel.get_nowait())
        except EndOfStream:
            return out


def marks(items):
    """(index, gap mark) per chunk: samples lost (``overflow``) plus skipped (by a lossy
    policy, or on purpose upstream) just before it."""
    return [(c.index, c.meta.get("overflow", 0) + c.meta.get("skipped", 0)) for c in items]


# -- order, capacity, end of stream ---------------------------------------------------------
def test_items_come_out_in_the_order_they_went_in():
    async def main():
        channel = Channel(8)
        for x in range(5):
            await channel.put(x)
        return [await channel.get() for _ in range(5)]

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]


def test_put_waits_while_full_and_resumes_after_a_get():
    async def main():
        channel = Channel(2)
        await channel.put("a")
        await channel.put("b")
        putter = asyncio.create_task(channel.put("c"))
        await asyncio.sleep(0.01)
        assert not putter.done()
        assert len(channel) == 2
        assert await channel.get() == "a"
        await asyncio.wait_for(putter, timeout=1)
        assert [channel.get_nowait(), channel.get_nowait()] == ["b", "c"]
        return channel.statistics()

    stats = asyncio.run(main())
    assert stats.blocked >= 0.005
    assert stats.dropped_items == 0
    assert (stats.items_in, stats.items_out, stats.high_water) == (3, 3, 2)


def test_get_waits_for_an_item():
    async def main():
        channel = Channel(1)
        getter = asyncio.create_task(channel.get())
        await asyncio.sleep(0.01)
        assert not getter.done()
        await channel.put(42)
        return await asyncio.wait_for(getter, timeout=1), channel.statistics()

    item, stats = asyncio.run(main())
    assert item == 42
    assert stats.starved >= 0.005


def test_close_lets_the_consumer_drain_then_ends_the_stream():
    async def main():
        channel = Channel(4)
        await channel.put(1)
        await channel.put(2)
        channel.close()
        items = [x async for x in channel]
        with pytest.raises(EndOfStream):
            await channel.get()
        with pytest.raises(EndOfStream):
            channel.get_nowait()
        return items, channel.closed

    assert asyncio.run(main()) == ([1, 2], True)


def test_close_wakes_a_waiting_consumer_with_end_of_stream():
    async def main():
        channel = Channel(4)
        getter = asyncio.create_task(channel.get())
        await asyncio.sleep(0)
        channel.close()
        with pytest.raises(EndOfStream):
            await asyncio.wait_for(getter, timeout=1)

    asyncio.run(main())


def test_get_nowait_on_an_open_empty_channel_would_block():
    with pytest.raises(WouldBlock):
        Channel(1).get_nowait()


# -- receiver gone --------------------------------------------------------------------------
def test_close_receiver_discards_queued_items_and_fails_the_producer():
    async def main():
        channel = Channel(2)
        await channel.put(chunk(0))
        await channel.put(chunk(2))
        putter = asyncio.create_task(channel.put(chunk(4)))
        await asyncio.sleep(0)
        channel.close_receiver()
        with pytest.raises(ReceiverGone):
            await asyncio.wait_for(putter, timeout=1)
        with pytest.raises(ReceiverGone):
            await channel.put(chunk(6))
        with pytest.raises(ReceiverGone):
            channel.put_nowait(chunk(6))
        assert not channel.try_put(chunk(6))
        return channel

    channel = asyncio.run(main())
    assert channel.receiver_closed
    assert len(channel) == 0
    stats = channel.statistics()
    assert stats.discarded == 2
    assert stats.dropped_items == 0


# -- policies -------------------------------------------------------------------------------
def run_policy(policy, capacity, items, *, take_after=None):
    """Put ``items`` with ``put``, reading one item before the ``take_after``-th put; then
    close and drain. Returns every item read, in order, and the statistics."""

    async def main():
        channel = Channel(capacity, policy)
        taken = []
        for n, item in enumerate(items):
            if n == take_after:
                taken.append(channel.get_nowait())
            await channel.put(item)
        channel.close()
        return taken + drain(channel), channel.statistics()

    return asyncio.run(main())


def test_drop_newest_keeps_the_queue_and_marks_the_next_chunk_that_gets_in():
    # capacity 2: the chunks at 4 and 6 are dropped; after a read, the one at 8 gets in
    # marked with their 4 samples
    got, stats = run_policy("drop_newest", 2, chunks(5), take_after=4)
    assert marks(got) == [(0, 0), (2, 0), (8, 4)]
    assert (stats.dropped_items, stats.dropped_samples) == (2, 4)
    assert (stats.items_in, stats.items_out) == (3, 3)


def test_drop_newest_leaves_a_trailing_loss_unmarked_but_counted():
    got, stats = run_policy("drop_newest", 2, chunks(4))
    assert marks(got) == [(0, 0), (2, 0)]
    assert stats.dropped_samples == 4


def test_drop_oldest_evicts_the_oldest_and_marks_the_new_head():
    got, stats = run_policy("drop_oldest", 3, chunks(4))
    assert marks(got) == [(2, 2), (4, 0), (6, 0)]
    assert (stats.dropped_items, stats.dropped_samples) == (1, 2)


def test_drop_oldest_with_capacity_one_marks_the_item_that_replaces_it():
    got, stats = run_policy("drop_oldest", 1, chunks(2, samples=3))
    assert marks(got) == [(3, 3)]
    assert stats.dropped_samples == 3


def test_drop_oldest_carries_marks_of_evicted_chunks_forward():
    # capacity 2, four chunks of 2: chunks 0 and 2 are evicted, 4 and 6 remain;
    # the 4 samples lost before chunk 4 must all be marked on it
    got, stats = run_policy("drop_oldest", 2, chunks(4))
    assert stats.dropped_samples == 4
    assert marks(got) == [(4, 4), (6, 0)]


def marked_upstream():
    """Chunks 0-2, 5-7, 7-9: the second carries the 3 samples lost before it upstream."""
    return chunk(0), chunk(5).with_meta(overflow=3), chunk(7)


def test_drop_newest_passes_the_mark_of_a_dropped_chunk_on():
    a, b, c = marked_upstream()
    channel = Channel(1, "drop_newest")
    channel.put_nowait(a)
    channel.put_nowait(b)  # dropped, with the 3 samples marked on it
    assert channel.get_nowait() is a
    channel.put_nowait(c)
    channel.close()
    assert marks(drain(channel)) == [(7, 3 + 2)]


def test_drop_oldest_passes_the_mark_of_an_evicted_chunk_on():
    a, b, c = marked_upstream()
    channel = Channel(1, "drop_oldest")
    for item in (a, b, c):  # b evicts a (and is marked 3 + 2), c evicts b
        channel.put_nowait(item)
    channel.close()
    assert marks(drain(channel)) == [(7, 7)]


def retuned_upstream():
    """Chunks 0-2, 6-8 (after 4 samples skipped on purpose at a retune to 2 MHz), 8-10."""
    return (chunk(0), chunk(6).with_meta(skipped=4, params={"tune": 2e6}, center_freq=2e6),
            chunk(8).with_meta(center_freq=2e6))


def gap_marks(item):
    return (item.index, item.meta.get("overflow", 0), item.meta.get("skipped", 0),
            item.meta.get("params"), item.meta.get("center_freq"))


def test_a_dropped_chunk_hands_its_retune_marks_to_the_next_chunk_that_gets_in():
    a, b, c = retuned_upstream()
    channel = Channel(1, "drop_newest")
    channel.put_nowait(a)
    channel.put_nowait(b)  # dropped by design: its 2 samples skipped, and its 4 skipped upstream
    assert channel.get_nowait() is a
    channel.put_nowait(c)
    channel.close()
    # the jump from 2 to 8 is 2 + 4 skipped, and the retune is still announced
    assert [gap_marks(x) for x in drain(channel)] == [(8, 0, 6, {"tune": 2e6}, 2e6)]


def test_an_evicted_chunk_hands_its_retune_marks_to_the_next_chunk():
    a, b, c = retuned_upstream()
    channel = Channel(1, "drop_oldest")
    for item in (a, b, c):  # b evicts a (b: 2 skipped), c evicts b (c: 2 + 2 + 4 skipped)
        channel.put_nowait(item)
    channel.close()
    assert [gap_marks(x) for x in drain(channel)] == [(8, 0, 8, {"tune": 2e6}, 2e6)]


def test_a_lossy_policy_marks_its_drops_skipped_and_keeps_losses_from_upstream_lost():
    """A consumer that keeps only the newest chose to skip: its FIFO's drops are marked
    ``skipped`` (by design), while losses a dropped chunk carried stay ``overflow``."""
    a, b, c = marked_upstream()  # b: 3 samples lost upstream
    channel = Channel(1, "drop_newest")
    channel.put_nowait(a)
    channel.put_nowait(b)  # dropped by design
    assert channel.get_nowait() is a
    channel.put_nowait(c)
    channel.close()
    assert [gap_marks(x)[:3] for x in drain(channel)] == [(7, 3, 2)]
    # a "block" FIFO fed by a producer that cannot wait: that drop is a loss
    channel = Channel(1, "block")
    channel.put_nowait(a)
    channel.put_nowait(chunk(2))
    assert channel.get_nowait() is a
    channel.put_nowait(chunk(4))
    channel.close()
    assert [gap_marks(x)[:3] for x in drain(channel)] == [(4, 2, 0)]


@pytest.mark.parametrize("policy, kept", [("drop_oldest", [3, 4]), ("drop_newest", [0, 1])])
def test_drops_of_plain_items_count_one_sample_each(policy, kept):
    got, stats = run_policy(policy, 2, list(range(5)))
    assert got == kept
    assert stats.dropped_items == stats.dropped_samples == 3


def test_defaults_are_eight_items_with_backpressure():
    channel = Channel()
    assert (channel.policy, channel.capacity) == ("block", 8)


@pytest.mark.parametrize(
    "capacity, policy, match",
    [(0, "block", "capacity"), (-1, "block", "capacity"), (2.0, "block", "capacity"),
     (2, "drop", "policy"), (2, None, "policy")],
)
def test_bad_capacity_or_policy_is_refused(capacity, policy, match):
    with pytest.raises(ValueError, match=match):
        Channel(capacity, policy)


# -- put_nowait and try_put -----------------------------------------------------------------
def test_put_nowait_on_a_full_block_channel_drops_and_marks_the_next_chunk():
    channel = Channel(1, "block")
    a, b, c, d = chunks(4)
    assert channel.put_nowait(a)
    assert not channel.put_nowait(b)
    assert not channel.put_nowait(c)
    assert channel.get_nowait() is a
    assert channel.put_nowait(d)
    channel.close()
    assert marks(drain(channel)) == [(6, 4)]
    stats = channel.statistics()
    assert (stats.dropped_items, stats.dropped_samples, stats.blocked) == (2, 4, 0.0)


def test_put_nowait_on_a_full_drop_oldest_channel_evicts():
    channel = Channel(1, "drop_oldest")
    a, b = chunks(2)
    assert channel.put_nowait(a)
    assert channel.put_nowait(b)
    channel.close()
    assert marks(drain(channel)) == [(2, 2)]


def test_a_waiting_put_after_a_put_nowait_drop_still_marks_its_chunk():
    async def main():
        channel = Channel(1, "block")
        a, b, c = chunks(3)
        channel.put_nowait(a)
        channel.put_nowait(b)  # dropped: 2 samples lost before the next chunk
        putter = asyncio.create_task(channel.put(c))  # full: waits
        await asyncio.sleep(0)
        first = channel.get_nowait()
        await asyncio.wait_for(putter, timeout=1)
        channel.close()
        return [first, *drain(channel)]

    assert marks(asyncio.run(main())) == [(0, 0), (4, 2)]


def test_try_put_appends_only_when_that_needs_no_wait_drop_or_mark():
    channel = Channel(1, "block")
    a, b, c, d = chunks(4)
    assert channel.try_put(a)
    before = channel.statistics()
    assert not channel.try_put(b)  # full: nothing done, nothing dropped
    assert channel.statistics() == before
    assert not channel.put_nowait(c)  # dropped: the next chunk must carry a mark
    channel.get_nowait()
    assert not channel.try_put(d)  # so try_put leaves it to put, which marks
    assert len(channel) == 0
    assert channel.put_nowait(d)
    assert marks([channel.get_nowait()]) == [(6, 2)]
    channel.close_receiver()
    assert not channel.try_put(d)


# -- counters -------------------------------------------------------------------------------
def test_high_water_is_the_largest_fill_seen():
    channel = Channel(8)
    for x in range(5):
        channel.put_nowait(x)
    for _ in range(4):
        channel.get_nowait()
    channel.put_nowait(5)
    stats = channel.statistics()
    assert (stats.size, stats.high_water) == (2, 5)


def test_statistics_is_a_frozen_snapshot():
    channel = Channel(3, "drop_newest")
    channel.put_nowait(chunk(0))
    stats = channel.statistics()
    assert isinstance(stats, ChannelStatistics)
    assert dataclasses.is_dataclass(stats)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.size = 0
    channel.put_nowait(chunk(2))
    assert stats.size == stats.items_in == 1  # a snapshot: later puts do not change it
    assert dataclasses.asdict(stats) == {
        "capacity": 3, "policy": "drop_newest", "size": 1, "items_in": 1, "items_out": 0,
        "dropped_items": 0, "dropped_samples": 0, "discarded": 0, "high_water": 1,
        "blocked": 0.0, "starved": 0.0, "closed": False,
    }


# -- model: random put_nowait / get_nowait sequences ----------------------------------------
OPS = st.lists(st.one_of(st.integers(1, 4), st.none()), max_size=60)  # n: put n samples; None: get


def play(policy, capacity, ops):
    """Apply ``ops`` to a Channel and to a deque model of its policy, then close and drain.

    Returns the chunks the consumer got, the total samples put, and the statistics."""
    channel, model = Channel(capacity, policy), deque()
    got, index = [], 0
    for op in ops:
        if op is None:
            try:
                item = channel.get_nowait()
            except WouldBlock:
                assert not model
                continue
            assert item.index == model.popleft()
            got.append(item)
            continue
        queued = channel.put_nowait(chunk(index, op))
        if len(model) < capacity or policy == "drop_oldest":
            if len(model) == capacity:
                model.popleft()
            model.append(index)
        assert queued == (model[-1] == index)
        assert len(channel) == len(model)
        index += op
    channel.close()
    rest = drain(channel)
    assert [c.index for c in rest] == list(model)
    return got + rest, index, channel.statistics()


def assert_marks_equal_gaps(policy, got, total):
    end = 0
    for c in got:
        assert c.meta.get("overflow", 0) + c.meta.get("skipped", 0) == c.index - end, c.index
        end = c.end_index
    if policy == "drop_oldest":  # the newest chunk always gets in
        assert end == total


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["block", "drop_oldest", "drop_newest"]), st.integers(1, 4), OPS)
def test_every_sample_put_is_delivered_or_counted_as_dropped(policy, capacity, ops):
    got, total, stats = play(policy, capacity, ops)
    assert sum(c.samples for c in got) + stats.dropped_samples == total
    assert stats.items_out == len(got)
    assert stats.high_water <= capacity
    indices = [c.index for c in got]
    assert indices == sorted(set(indices))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["block", "drop_newest"]), st.integers(1, 4), OPS)
def test_each_run_of_dropped_chunks_is_marked_on_the_next_chunk_queued(policy, capacity, ops):
    got, total, _ = play(policy, capacity, ops)
    assert_marks_equal_gaps(policy, got, total)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), OPS)
@example(2, [2, 2, 2, 2])
def test_each_run_of_evicted_chunks_is_marked_on_the_next_chunk(capacity, ops):
    got, total, _ = play("drop_oldest", capacity, ops)
    assert_marks_equal_gaps("drop_oldest", got, total)
