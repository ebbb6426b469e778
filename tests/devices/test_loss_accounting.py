"""The arithmetic of losses, on recorded driver results (no device needed):
`LossClock` turns readStream's timestamps and overflow reports into sample counts, and
`Handoff` drops whole chunks when the loop is behind and marks the next one exactly."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

import daqflow as df
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
