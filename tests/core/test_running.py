"""run / arun / start / iterate: the ways to run a graph."""

import asyncio
import itertools
import threading
import time

import pytest

import daqflow as df
from daqflow import io


@df.block
async def counter(period: float = 0.0):
    """0, 1, 2, ... forever, optionally paced."""
    for k in itertools.count():
        if period:
            await asyncio.sleep(period)
        yield k


@df.block
def fail_at(x, n):
    if x == n:
        raise RuntimeError(f"item {n} is bad")
    return x


def test_run_returns_report_with_results_by_name():
    report = df.run(df.collect(df.from_iterable(range(5)), name="got"))
    assert report.results == {"got": [0, 1, 2, 3, 4]}
    assert report.stopped_by == "end"
    assert report.blocks["from_iterable"].items_out == 5
    assert report.blocks["got"].items_in == 5


def test_duration_stops_an_endless_source_in_order():
    report = df.run(df.collect(counter(0.001)), duration=0.3)
    got = report.results["collect"]
    assert report.stopped_by == "duration"
    assert got == list(range(len(got))) and len(got) > 10
    assert 0.25 < report.duration < 2.0


def test_arun_inside_asyncio():
    async def main():
        return await df.arun(df.collect(df.from_iterable("xyz")))

    assert asyncio.run(main()).results["collect"] == ["x", "y", "z"]


def test_run_inside_a_running_loop_uses_a_background_thread():
    async def cell():
        return df.run(df.collect(df.from_iterable([1, 2])))

    assert asyncio.run(cell()).results["collect"] == [1, 2]


def test_start_stop_wait_and_live_report():
    running = df.start(df.collect(counter(0.001), name="c"))
    deadline = time.monotonic() + 5
    while running.report().blocks["c"].items_in < 20:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not running.done()
    running.stop()
    report = running.wait(timeout=5)
    assert running.done()
    assert report.stopped_by == "stop"
    assert report.results["c"] == list(range(len(report.results["c"])))


def test_start_as_context_manager_stops_on_exit():
    with df.start(df.null_sink(counter(0.001))) as running:
        time.sleep(0.05)
    assert running.done()
    assert running.report().results["null_sink"] > 0


def test_wait_timeout():
    running = df.start(df.null_sink(counter(0.01)))
    with pytest.raises(TimeoutError):
        running.wait(timeout=0.05)
    running.stop()
    running.wait(timeout=5)


def test_start_error_surfaces_in_wait():
    running = df.start(df.collect(fail_at(df.from_iterable(range(10)), 3)))
    with pytest.raises(df.BlockError) as err:
        running.wait(timeout=5)
    assert err.value.block == "fail_at"
    assert err.value.report.results["collect"] == [0, 1, 2]


def test_iterate_yields_items_as_they_arrive_and_stops_on_break():
    before = threading.active_count()
    got = []
    for k in df.iterate(counter(0.001)):
        got.append(k)
        if k == 9:
            break
    assert got == list(range(10))
    time.sleep(0.1)
    assert threading.active_count() <= before + 1  # graph thread gone (blocking loop may stay)


def test_iterate_runs_to_end_of_stream():
    assert list(df.iterate(df.from_iterable(range(100)), buffer=3)) == list(range(100))


def test_iterate_with_duration_and_realtime_adc():
    chunks = list(df.iterate(io.simulated_adc(1e5, chunk=1000), duration=0.2))
    assert 5 <= len(chunks) <= 40
    assert [c.index for c in chunks] == [1000 * k for k in range(len(chunks))]


def test_iterate_raises_block_error_after_good_items():
    got = []
    with pytest.raises(df.BlockError, match="fail_at"):
        for x in df.iterate(fail_at(df.from_iterable(range(10)), 5)):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]


def test_run_block_helper():
    from daqflow.testing import run_block

    @df.block
    async def pairs(x: df.Stream):
        buf = []
        async for item in x:
            buf.append(item)
            if len(buf) == 2:
                yield tuple(buf)
                buf = []

    assert run_block(pairs, [1, 2, 3, 4, 5]) == [(1, 2), (3, 4)]
    assert run_block(fail_at, [1, 2], n=7) == [1, 2]
    assert run_block(df.null_sink, [1, 2, 3]) == [3]


def test_progress_prints_plain_status_lines(capsys):
    df.run(df.null_sink(counter(0.001), name="sink"), duration=1.3, progress=True)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("[daqflow")]
    assert lines, err
    assert "sink:" in lines[0] and "MS/s" in lines[0] and "\x1b" not in err
