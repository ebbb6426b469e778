"""The arithmetic of losses, on recorded driver results (no device needed):
`LossClock` turns readStream's timestamps and overflow reports into sample counts, and
`Handoff` drops whole chunks when the loop is behind and marks the next one exactly."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

import daqflow as df
from daqflow import io
from daqflow.io.handoff import Handoff
from daqflow.io.soapy import LossClock

RATE = 1e6  # 1 sample per microsecond: timeNs steps of 1000 per sample


def test_hardware_time_gives_the_exact_loss():
    clock = LossClock(RATE, hardware_time=True)
    # (samples returned, timeNs) as a device with hardware time returned them, with an
    # overflow (ret -4) between the 2nd and 3rd read and a late stamp after it
    assert clock.on_samples(0, 1000, 5_000_000, now=0.0) == 0
    assert clock.on_samples(1000, 1000, 6_000_000, now=0.001) == 0
    assert clock.on_overflow(2000, now=0.002) == 0  # the next stamp will tell
    assert clock.on_samples(2000, 1000, 10_500_000, now=0.006) == 3500
    assert clock.on_samples(5500, 1000, 11_500_000, now=0.007) == 0
    # a stamp that rounds (sub-sample jitter) is not a loss
    assert clock.on_samples(6500, 1000, 12_500_400, now=0.008) == 0
    assert clock.time_of(0, 5_000_000) == pytest.approx(0.005)


def test_without_hardware_time_an_overflow_is_estimated_from_the_host_clock():
    clock = LossClock(RATE, hardware_time=False)
    assert clock.on_samples(0, 1000, None, now=10.0) == 0  # anchors: index 1000 at 10.0 s
    assert clock.on_samples(1000, 1000, None, now=10.001) == 0
    # at 10.010 s the clock has produced 10000 samples since the anchor; 1000 arrived
    assert clock.on_overflow(2000, now=10.010) == 9000
    # an overflow right after re-anchoring still counts at least one sample
    assert clock.on_overflow(11000, now=10.010) == 1
    assert clock.time_of(2000, None) == pytest.approx(0.002)


def _chunk(index: int, n: int = 10) -> df.Chunk:
    return df.Chunk(np.zeros(n, np.complex64), RATE, index)


def test_a_full_handoff_drops_whole_chunks_and_marks_the_next_exactly():
    async def scenario():
        handoff = Handoff(2, asyncio.get_running_loop())
        queued = [handoff.offer(_chunk(10 * k)) for k in range(5)]  # nobody reads
        assert queued == [True, True, False, False, False]
        assert (handoff.dropped_chunks, handoff.dropped_samples, handoff.lost_unmarked) == (3, 30, 30)
        got = [await handoff.get(), await handoff.get()]
        assert [c.index for c in got] == [0, 10] and all("overflow" not in c.meta for c in got)
        handoff.offer(_chunk(50).with_meta(overflow=7))  # the driver had lost 7 more
        later = await handoff.get()
        assert later.index == 50 and later.meta["overflow"] == 37
        waiter = asyncio.ensure_future(handoff.get())
        await asyncio.sleep(0)
        handoff.finish(RuntimeError("device gone"))
        with pytest.raises(RuntimeError, match="device gone"):
            await waiter

    asyncio.run(scenario())


def test_a_producer_thread_wakes_the_consumer_and_ends_the_stream():
    async def scenario():
        handoff = Handoff(1000, asyncio.get_running_loop())

        def produce():
            for k in range(1000):
                assert handoff.offer(_chunk(10 * k))
                if k % 100 == 0:
                    time.sleep(0.001)  # let the consumer catch up and wait again
            handoff.finish()

        thread = asyncio.get_running_loop().run_in_executor(None, produce)
        seen = []
        while (chunk := await handoff.get()) is not None:
            seen.append(chunk.index)
        await thread
        return seen

    assert asyncio.run(scenario()) == list(range(0, 10000, 10))


def test_a_dropped_chunk_hands_its_retune_marks_to_the_next_one_through():
    async def scenario():
        handoff = Handoff(1, asyncio.get_running_loop())
        assert handoff.offer(_chunk(0))
        retuned = _chunk(15).with_meta(skipped=4, params={"tune": 2e6}, overflow=1,
                                       overflow_estimated=True)
        assert not handoff.offer(retuned)  # dropped: 10 samples and 1 marked lost, 4 skipped
        assert handoff.lost_unmarked == 11
        assert (await handoff.get()).index == 0
        assert handoff.offer(_chunk(25))
        assert handoff.lost_unmarked == 11  # marked on a chunk still queued: not reported yet
        after = await handoff.get()
        assert handoff.lost_unmarked == 0
        return after

    after = asyncio.run(scenario())
    assert after.index - 10 == after.meta["overflow"] + after.meta["skipped"] == 11 + 4
    assert after.meta["params"] == {"tune": 2e6} and after.meta["overflow_estimated"] is True


@df.block(name="stuck_once")
async def stuck_once(x: df.Stream):
    """Blocks the loop for 0.5 s at the first chunk (the radio's reader thread goes on)."""
    seen = 0
    async for chunk in x:
        if not seen:
            time.sleep(0.5)
        seen += chunk.samples
    return seen


def test_what_the_handoff_dropped_after_its_last_delivered_chunk_is_reported(loopback_radio):
    # The radio delivers exactly 98 chunks of 4096 samples, then stalls; while the loop is
    # stuck, most of them are dropped in the handoff and no later chunk can carry the mark.
    total = 98 * 4096
    radio = io.soapy_source(f"{loopback_radio},stall_after={total}", rate=4e6, freq=100e6,
                            chunk=4096, timeout=20)
    report = df.run(stuck_once(radio, buffer=64), duration=1.5)
    delivered = report.results["stuck_once"]
    lost = report.blocks["soapy_source"].lost
    assert lost > total // 2, report  # most of it was dropped in the handoff
    assert delivered + lost + report.dropped_samples == total
    assert report.overflow == lost + report.dropped_samples
