"""core.clock: `Pacer` (throttle, file replay, plot sinks, gui views, web views), `Grid` and
`ticks` (the pollers' clock: hw.poll, instruments.visa_poll)."""

import asyncio
import itertools
import math
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daqflow.core import Pacer
from daqflow.core.clock import Grid, ticks
from daqflow.core.virtual_time import VirtualTimeLoop


def in_virtual_time(coroutine):
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


# --- the arithmetic: the caller passes loop time ---

def test_a_display_pacer_counts_from_when_the_last_item_went():
    p = Pacer.per_second(10.0, catch_up=False)
    assert p.ready(0.0) and p.delay(0.0) == 0.0  # the first item goes at once
    assert p.went(0.0) == pytest.approx(0.1)
    assert not p.ready(0.05) and p.delay(0.05) == pytest.approx(0.05)
    assert p.ready(0.1)
    p.went(0.5)  # late (nothing came): the next one is 0.1 s after it, no burst
    assert p.due == pytest.approx(0.6)
    assert not p.ready(0.55)


def test_a_catch_up_pacer_keeps_the_grid_of_its_first_item():
    p = Pacer.per_second(1000.0)  # samples per second; catch_up is the default
    assert p.went(2.0, 100) == pytest.approx(2.1)  # 100 samples take 0.1 s from t0 = 2.0
    p.went(2.35, 100)  # they came late: the deadline stays on the grid
    assert p.due == pytest.approx(2.2) and p.ready(2.35)
    p.went(2.36, 300)
    assert p.due == pytest.approx(2.5) and p.delay(2.36) == pytest.approx(0.14)
    assert p.ticks == 500 and p.deadline(0) == pytest.approx(2.0)


@given(st.lists(st.tuples(st.floats(0.0, 0.5), st.integers(0, 10_000)), min_size=1, max_size=50),
       st.floats(1.0, 1e6))
def test_catch_up_deadlines_are_t0_plus_sent_over_rate(steps, rate):
    p = Pacer.per_second(rate)
    now, t0, sent = 1.0, 1.0, 0
    for gap, count in steps:
        now += gap
        p.went(now, count)
        sent += count
    assert p.due == pytest.approx(t0 + steps[0][0] + sent / rate)


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50), st.floats(0.01, 100.0))
def test_display_items_that_wait_for_ready_are_never_closer_than_the_period(gaps, rate):
    p = Pacer.per_second(rate, catch_up=False)
    now, went = 0.0, []
    for gap in gaps:
        now += gap
        if p.ready(now):
            p.went(now)
            went.append(now)
    assert all(b - a >= 1 / rate * (1 - 1e-9) for a, b in itertools.pairwise(went))


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50), st.floats(0.01, 10.0))
def test_a_display_never_bursts_after_a_late_item(gaps, period):
    p = Pacer(period, catch_up=False)
    now = 0.0
    for gap in gaps:
        now = max(now + gap, p.due)  # each item waits until ready, maybe longer
        assert p.went(now) == pytest.approx(now + period)  # the next is a full period later


def test_no_limit_and_the_period_that_changes():
    p = Pacer.per_second(None, catch_up=False)
    assert p.rate == math.inf and p.period == 0.0 and Pacer.per_second(math.inf).period == 0.0
    p.went(5.0)
    assert p.ready(5.0)
    p.period = 0.25  # a gui view sets it from what its last frame cost
    assert p.went(5.0) == 5.25 and p.rate == 4.0
    p.period = 1.0  # a new period counts from the current deadline
    assert p.due == 5.25 and p.went(5.3) == 6.3  # (late: a display moves on from now)
    every = Pacer(0.5, catch_up=False)
    assert every.rate == 2.0 and every.went(1.0) == 1.5
    every.reset()
    assert every.ready(0.0) and every.next_deadline is None and every.ticks == 0


def test_ticks_added_before_a_wait_count_as_items():
    p = Pacer(0.001)  # a tick per sample, as wav_source: a chunk of 100 is due 0.1 s later
    p.ticks += 99
    assert p.went(3.0) == pytest.approx(3.1)
    p.ticks += 99
    assert p.went(3.0) == pytest.approx(3.2) and p.next_deadline == pytest.approx(3.201)


@pytest.mark.parametrize("make, message", [
    (lambda: Pacer.per_second(0), "rate must be > 0"),
    (lambda: Pacer.per_second(-1.0), "rate must be > 0"),
    (lambda: Pacer.per_second(math.nan), "rate must be > 0"),
    (lambda: Pacer(-0.1), "period must be"),
    (lambda: Pacer(math.inf), "period must be"),
    (lambda: Pacer(math.nan), "period must be"),
    (lambda: Pacer(1.0).went(0.0, -1), "count must be >= 0"),
    (lambda: Grid(0), "period must be > 0"),
])
def test_refuses_nonsense(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- wait(): the same arithmetic plus one sleep ---

def test_wait_keeps_the_grid_without_drift_and_catches_up_when_late():
    async def main():
        loop = asyncio.get_running_loop()
        p = Pacer(0.1)
        t0 = loop.time()
        woke = []
        for k in range(1, 6):
            late = await p.wait()
            woke.append((loop.time() - t0, late))
            if k == 2:
                await asyncio.sleep(0.35)  # the caller falls behind by three ticks
        return woke

    woke = in_virtual_time(main())
    times = [t for t, _ in woke]
    assert times[:2] == pytest.approx([0.1, 0.2])
    assert times[2:4] == pytest.approx([0.55, 0.55])  # ticks 3 and 4 at once: catching up
    assert woke[2][1] == pytest.approx(0.25) and woke[3][1] == pytest.approx(0.15)
    assert times[4] == pytest.approx(0.55)  # tick 5 (0.5) was due too: still on t0 + k * 0.1
    assert all(late >= 0 for _, late in woke)


def test_wait_on_a_display_pacer_never_bursts():
    async def main():
        loop = asyncio.get_running_loop()
        p = Pacer(0.1, catch_up=False)
        t0 = loop.time()
        woke = []
        for k in range(4):
            await p.wait()
            woke.append(loop.time() - t0)
            if k == 1:
                await asyncio.sleep(0.35)
        return woke

    assert in_virtual_time(main()) == pytest.approx([0.1, 0.2, 0.65, 0.75])


def test_wait_counts_samples_as_throttle_does():
    async def main():
        loop = asyncio.get_running_loop()
        p = Pacer.per_second(1000.0)
        t0 = loop.time()
        woke = []
        for samples in (100, 300, 100):  # each leaves when its last sample is due
            await p.wait(samples)
            woke.append(loop.time() - t0)
        return woke

    assert in_virtual_time(main()) == pytest.approx([0.1, 0.4, 0.5])


# --- Grid and ticks: missed ticks are skipped ---

def test_a_grid_skips_the_ticks_missed_and_keeps_its_phase():
    async def main():
        loop = asyncio.get_running_loop()
        grid = Grid(0.1)
        t0 = loop.time()
        grid.start(t0)
        seen = [(await grid.next_tick(), loop.time() - t0)]
        await asyncio.sleep(0.35)  # held past ticks 2, 3 and 4
        seen.append((await grid.next_tick(), loop.time() - t0))
        seen.append((await grid.next_tick(), loop.time() - t0))
        return seen, grid.deadline(7) - t0

    seen, deadline = in_virtual_time(main())
    assert [k for k, _ in seen] == [1, 4, 5]  # 4 is taken at once (0.45), 5 on the grid
    assert [t for _, t in seen] == pytest.approx([0.1, 0.45, 0.5])
    assert deadline == pytest.approx(0.7)


def test_ticks_count_deadlines_and_skip_the_missed_ones():
    interval = 0.01

    async def main():
        seen = []
        async for tick in ticks(interval):
            seen.append(tick)
            if tick.k == 2:
                time.sleep(interval * 5.5)  # hold the loop past five deadlines
            if len(seen) == 5:
                return seen

    seen = asyncio.run(main())
    assert seen[0].k == 0 and seen[0].missed == 0 and seen[0].time(interval) == 0.0
    after = seen[3]
    assert after.missed >= 4 and after.k == 3 + after.missed  # skipped, not caught up
    assert after.late < interval  # the latest deadline due is taken, not an old one
    for a, b in itertools.pairwise(seen):
        assert b.k == a.k + 1 + b.missed


def test_ticks_refuse_a_bad_interval():
    async def main():
        async for _ in ticks(0):
            pass

    with pytest.raises(ValueError, match="interval must be > 0"):
        asyncio.run(main())
