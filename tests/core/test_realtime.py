"""Real-time sources: a clock-driven ADC never waits; what it cannot deliver is counted and
marked on the next chunk (``meta["overflow"]``), and its chunks come on absolute deadlines."""

import asyncio
import time

import pytest

import daqflow as df
from daqflow import io

RATE = 100_000.0  # Hz
CHUNK = 100  # samples: a chunk every 1 ms
SINK_DELAY = 0.003  # s per chunk: the sink takes at most a third of them

@df.block
async def slow_collect(x: df.Stream, delay: float):
    """``collect`` that sleeps ``delay`` seconds after each item."""
    items = []
    async for item in x:
        items.append(item)
        await asyncio.sleep(delay)
    return items


@df.block
def passthrough(chunk):
    return chunk


def run_adc_into_slow_sink(realtime, *, through_map=False, duration=0.3):
    """The ADC feeding ``slow_collect`` through a 2-chunk FIFO; returns report and chunks."""
    stream = io.simulated_adc(RATE, chunk=CHUNK, realtime=realtime, seed=1)
    if through_map:
        stream = passthrough(stream)  # fused: runs inline in the ADC's task
    report = df.run(slow_collect(stream, SINK_DELAY, buffer=2), duration=duration)
    return report, report.results["slow_collect"]


def gaps(chunks):
    """(chunk, samples missing just before it) for each chunk, from index 0."""
    end, out = 0, []
    for chunk in chunks:
        out.append((chunk, chunk.index - end))
        end = chunk.end_index
    return out


@pytest.mark.parametrize("through_map", [False, True], ids=["direct", "inline-map"])
def test_a_slow_sink_makes_a_realtime_source_lose_samples_counted_and_marked(through_map):
    report, chunks = run_adc_into_slow_sink(True, through_map=through_map)
    produced = report.blocks["simulated_adc"].samples_out
    delivered = sum(c.samples for c in chunks)
    assert report.stopped_by == "duration"
    assert report.overflow > 0
    assert produced == delivered + report.overflow
    assert report.blocks["slow_collect"].samples_in == delivered
    (edge,) = [e for e in report.edges if e.consumer == "slow_collect"]
    assert edge.realtime
    assert edge.dropped_samples == report.overflow
    for chunk, gap in gaps(chunks):
        if gap:
            assert chunk.meta["overflow"] == gap
        else:
            assert "overflow" not in chunk.meta
    trailing = produced - chunks[-1].end_index  # lost after the last chunk: counted, unmarked
    assert sum(gap for _, gap in gaps(chunks)) + trailing == report.overflow


def test_without_realtime_the_same_slow_sink_loses_nothing():
    report, chunks = run_adc_into_slow_sink(False)
    assert report.overflow == report.dropped_samples == 0
    assert not report.blocks["simulated_adc"].realtime
    assert [c.index for c in chunks] == [k * CHUNK for k in range(len(chunks))]
    assert not any(c.meta for c in chunks)
    assert report.blocks["slow_collect"].blocked == 0.0
    assert report.blocks["simulated_adc"].blocked > 0.1  # backpressure: it waited for the sink


def test_without_realtime_every_sample_produced_reaches_the_sink():
    report, chunks = run_adc_into_slow_sink(False, duration=0.1)
    delivered = sum(c.samples for c in chunks)
    assert report.blocks["slow_collect"].samples_in == delivered
    assert report.blocks["simulated_adc"].samples_out == delivered


@df.block
async def arrivals(x: df.Stream):
    """Each item with the loop time it arrived at (seconds, ``time.monotonic`` clock)."""
    loop = asyncio.get_running_loop()
    return [(item, loop.time()) async for item in x]


def test_a_realtime_source_is_paced_by_its_sample_rate():
    rate, chunk, duration = 20_000.0, 200, 0.5  # a chunk every 10 ms
    t0 = time.monotonic()  # the event loop's clock
    report = df.run(arrivals(io.simulated_adc(rate, chunk=chunk, seed=2)), duration=duration)
    got = report.results["arrivals"]
    delivered = sum(c.samples for c, _ in got)
    assert 0.7 * rate * duration <= delivered <= 1.3 * rate * duration
    for c, arrived in got:
        assert c.time == c.index / rate
        assert c.rate == rate
        due = t0 + c.end_index / rate  # its last sample exists only then
        assert due <= arrived < due + 0.1


@df.block
async def blocking_collect(x: df.Stream, hold: float):
    """``collect`` that holds the event loop ``hold`` seconds per item (as careless code does)."""
    items = []
    async for item in x:
        items.append(item)
        time.sleep(hold)
    return items


@pytest.mark.parametrize("source", ["simulated_adc", "simulated_fm"])
def test_a_source_held_back_by_the_loop_loses_what_its_clock_ran_past(source):
    # 2 MS/s in 8192-sample chunks (4.1 ms each) behind a sink that holds the loop 20 ms per
    # chunk: the FIFO never fills, yet the clock runs 5x faster than the graph takes samples
    from daqflow.demo_fm import simulated_fm

    rate, chunk, duration, backlog = 2e6, 8192, 1.5, 0.25
    make = io.simulated_adc if source == "simulated_adc" else simulated_fm
    report = df.run(blocking_collect(make(rate, chunk=chunk, seed=3), 0.02), duration=duration)
    got = report.results["blocking_collect"]
    last = got[-1]
    # delivered data never claims a time the clock left behind (it was 0.3 s of 1.5 s)
    assert last.end_index / rate >= duration - backlog - 0.3
    # every jump is marked, and delivered + marked lost = everything the clock produced
    end = 0
    for c in got:
        assert c.index - end == c.meta.get("overflow", 0)
        assert c.time == c.index / rate
        end = c.end_index
    delivered = sum(c.samples for c in got)
    lost = report.blocks[source].lost
    assert lost >= last.end_index - delivered > rate * 0.5
    # delivered + lost = what the clock produced from the start to the stop, to one chunk
    assert rate * duration - chunk <= delivered + lost <= rate * duration
    assert report.overflow == report.source_lost == lost
    assert "at the sources" in str(report)


@df.block
async def collect_holding_at(x: df.Stream, at: float, hold: float):
    """``collect`` that holds the event loop ``hold`` seconds once, at the first chunk whose
    samples reach ``at`` seconds (so the loop is busy when a stop falls due)."""
    items, held = [], False
    async for item in x:
        items.append(item)
        if not held and item.end_index / item.rate >= at:
            held = True
            time.sleep(hold)
    return items


@pytest.mark.parametrize("source", ["simulated_adc", "simulated_fm"])
def test_duration_gives_the_samples_the_clock_produced_in_that_time_though_the_loop_is_late(source):
    """The stop falls due while the loop is held: the source still delivers everything its
    clock produced until the deadline (it used to be cancelled ~0.2 s short of it)."""
    from daqflow.demo_fm import simulated_fm

    rate, chunk, duration = 1e6, 10_000, 1.0
    make = io.simulated_adc if source == "simulated_adc" else simulated_fm
    report = df.run(collect_holding_at(make(rate, chunk=chunk), duration - 0.1, 0.2),
                    duration=duration)
    got = report.results["collect_holding_at"]
    delivered = sum(c.samples for c in got)
    assert report.blocks[source].lost == 0
    assert [c.index for c in got] == [k * chunk for k in range(len(got))]  # no gap
    assert delivered == rate * duration  # its clock started with the block
    assert report.stopped_by == "duration"
