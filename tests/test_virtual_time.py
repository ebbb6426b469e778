"""Replay in virtual time: ``df.run(..., clock="virtual")`` runs real-time sources, pacers,
sleeps and timeouts on a simulated clock, deterministically (issue 16 item 8)."""

from __future__ import annotations

import asyncio
import time
from collections import deque

import numpy as np
import pytest

import daqflow as df
from daqflow import dsp, io
from daqflow.core.virtual_time import VirtualTimeLoop


@df.block
async def stamped(stream: df.Stream) -> list:
    """Each chunk with the loop time it arrived at (s)."""
    loop = asyncio.get_running_loop()
    return [(c, loop.time()) async for c in stream]


@df.block
async def slow(stream: df.Stream, pause: float) -> list:
    """(index, meta) of each chunk; ``pause`` seconds of sleep after each."""
    got = []
    async for c in stream:
        got.append((c.index, dict(c.meta)))
        await asyncio.sleep(pause)
    return got


@df.block
async def in_thread(stream: df.Stream, pause: float) -> list:
    """(index, meta) of each chunk, after ``pause`` real seconds in a thread per chunk."""
    got = []
    async for c in stream:
        await asyncio.to_thread(time.sleep, pause)
        got.append((c.index, dict(c.meta)))
    return got


@df.block
def sleepy(chunk: df.Chunk, pause: float) -> df.Chunk:
    time.sleep(pause)  # real seconds: a threaded map's work
    return chunk


def chunks(report: df.Report, name: str) -> list:
    return [(c.index, c.time, dict(c.meta), c.data) for c in report.results[name]]


def assert_same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for (i, t, m, d), (j, u, n, e) in zip(a, b, strict=True):
        assert (i, t, m) == (j, u, n)
        np.testing.assert_array_equal(d, e)


def decimated(clock: str, duration: float, seed: int = 7) -> df.Report:
    adc = io.simulated_adc(100_000, chunk=1000, noise=0.3, seed=seed)
    taps = dsp.lowpass(31, 4000, rate=100_000)
    return df.run(df.collect(dsp.fir_decimate(adc, taps, 10), name="out"),
                  duration=duration, clock=clock)


def test_an_hour_of_a_paced_source_replays_in_virtual_time() -> None:
    adc = io.simulated_adc(2000, chunk=2000, seed=1)
    taps = dsp.lowpass(15, 200, rate=2000)
    report = df.run(stamped(dsp.fir_decimate(adc, taps, 4), name="out"),
                    duration=3600, clock="virtual")
    got = report.results["out"]
    assert report.stopped_by == "duration" and report.overflow == 0
    assert len(got) == 3600 and sum(c.samples for c, _ in got) == 3600 * 500
    assert [c.index for c, _ in got] == [500 * k for k in range(3600)]
    assert [c.time for c, _ in got] == [k * 1.0 for k in range(3600)]
    # each chunk reached the sink when its last sample existed: 1 s, 2 s, ... of loop time
    arrivals = np.array([t for _, t in got])
    np.testing.assert_allclose(arrivals - arrivals[0], np.arange(3600), atol=1e-6)


def test_virtual_runs_repeat_exactly_and_equal_a_wall_clock_run() -> None:
    first, second = decimated("virtual", 0.5), decimated("virtual", 0.5)
    assert first.overflow == 0 and len(first.results["out"]) == 50
    assert_same(chunks(first, "out"), chunks(second, "out"))
    wall = decimated("wall", 0.5)
    assert wall.overflow == 0  # a light graph keeps up in real time
    assert_same(chunks(first, "out"), chunks(wall, "out"))


def predicted(period: float, count: int, chunk: int, pause: float, capacity: int) -> list:
    """What a sink pausing ``pause`` s per chunk gets behind a FIFO of ``capacity`` from a
    source that never waits (chunk k due at (k + 1) * period; a full FIFO drops it and the
    next chunk queued carries the loss): (index, meta) per chunk, as in `slow`, and the
    samples lost after the last chunk queued."""
    fifo: deque = deque()
    got, free, lost = [], 0.0, 0
    for k in range(count):
        due = (k + 1) * period
        while fifo and free < due:  # the sink takes what is queued while it can
            got.append(fifo.popleft())
            free += pause
        if len(fifo) >= capacity:
            lost += chunk
        else:
            fifo.append((k * chunk, {"overflow": lost} if lost else {}))
            lost = 0
        if free < due:  # the sink was waiting: it takes this one at once
            got.append(fifo.popleft())
            free = due + pause
    return got + list(fifo), lost  # (the stop's drain)


def test_a_slow_sink_loses_what_the_fifo_model_predicts_every_time() -> None:
    def once() -> df.Report:
        adc = io.simulated_adc(10_000, chunk=100, seed=3)
        return df.run(slow(adc, 0.0237, buffer=3, name="sink"), duration=1.0, clock="virtual")

    first, second = once(), once()
    expected, lost_at_end = predicted(0.01, 100, 100, 0.0237, 3)
    assert first.results["sink"] == expected == second.results["sink"]
    lost = sum(m.get("overflow", 0) for _, m in expected) + lost_at_end
    assert lost > 0 and first.overflow == lost == second.overflow


def test_executor_work_holds_the_virtual_clock() -> None:
    adc = io.simulated_adc(10_000, chunk=100, seed=3)
    report = df.run(in_thread(adc, 0.004, buffer=2, name="sink"), duration=0.3, clock="virtual")
    got = report.results["sink"]
    assert report.overflow == 0 and [i for i, _ in got] == [100 * k for k in range(30)]


def test_a_threaded_map_holds_the_virtual_clock() -> None:
    adc = io.simulated_adc(10_000, chunk=100, seed=3)
    report = df.run(df.collect(sleepy(adc, 0.004, threaded=True, buffer=2), name="out"),
                    duration=0.3, clock="virtual")
    assert report.overflow == 0
    assert [c.index for c in report.results["out"]] == [100 * k for k in range(30)]


def test_a_threaded_source_runs_on_the_virtual_clock() -> None:
    def once(threaded: bool) -> df.Report:
        adc = io.simulated_adc(1000, chunk=1000, noise=1.0, seed=5, threaded=threaded)
        return df.run(df.collect(adc, name="out"), duration=600, clock="virtual")

    threaded = once(True)
    assert len(threaded.results["out"]) == 600
    assert_same(chunks(threaded, "out"), chunks(once(False), "out"))


def test_a_drain_is_cut_after_drain_timeout_seconds_of_virtual_time() -> None:
    def once() -> df.Report:
        adc = io.simulated_adc(10_000, chunk=100, seed=3)
        return df.run(slow(adc, 0.3, buffer=8, name="sink"), duration=0.5, clock="virtual",
                      drain_timeout=1.0)

    first, second = once(), once()
    assert first.drain_cut == second.drain_cut == "timeout"
    assert first.results["sink"] == second.results["sink"]
    # the sink takes a chunk every 0.3 s from 0.01 s: 2 before the stop at 0.5 s, 3 while the
    # 8 queued drain (0.61, 0.91, 1.21 s); the cut at 1.5 s discards the other 5
    assert len(first.results["sink"]) == 5
    assert first.discarded_items == second.discarded_items == 5


def test_sigmf_replay_paced_at_its_rate_in_virtual_time(tmp_path) -> None:
    rate, total = 48_000.0, 48_000 * 20
    samples = np.exp(2j * np.pi * 0.01 * np.arange(total)).astype(np.complex64)
    source = df.from_iterable([df.Chunk(samples[k:k + 4800], rate, k, k / rate)
                               for k in range(0, total, 4800)])
    df.run(io.sigmf_writer(source, tmp_path / "rec"))
    report = df.run(stamped(io.sigmf_source(tmp_path / "rec", realtime=True, chunk=4800),
                            name="out"), clock="virtual")
    got = report.results["out"]
    np.testing.assert_array_equal(np.concatenate([c.data for c, _ in got]), samples)
    arrivals = np.array([t for _, t in got])  # paced: a chunk every 0.1 s of loop time
    np.testing.assert_allclose(np.diff(arrivals), 0.1, atol=1e-9)
    assert arrivals[-1] - arrivals[0] == pytest.approx(19.9)


def test_start_runs_in_virtual_time_too() -> None:
    adc = io.simulated_adc(100_000, chunk=1000, noise=0.3, seed=7)
    taps = dsp.lowpass(31, 4000, rate=100_000)
    running = df.start(df.collect(dsp.fir_decimate(adc, taps, 10), name="out"),
                       duration=0.5, clock="virtual")
    assert_same(chunks(running.wait(), "out"), chunks(decimated("virtual", 0.5), "out"))


def test_arun_on_a_virtual_time_loop() -> None:
    async def main() -> df.Report:
        return await df.arun(df.collect(io.simulated_adc(1000, chunk=100), name="out"),
                             duration=3600, clock="virtual")

    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        report = runner.run(main())
    assert len(report.results["out"]) == 36_000


def test_what_virtual_time_refuses() -> None:
    def sink() -> df.Stream:
        return df.collect(io.simulated_adc(1000, chunk=100))

    with pytest.raises(ValueError, match=r"^run: clock must be 'wall' or 'virtual', got 'fast'$"):
        df.run(sink(), clock="fast")
    with pytest.raises(ValueError, match=r"^start: clock must be 'wall' or 'virtual'"):
        df.start(sink(), clock="Virtual")
    with pytest.raises(ValueError, match=r"^run: clock='virtual' cannot serve="):
        df.run(sink(), clock="virtual", serve=0)
    with pytest.raises(ValueError, match=r"^arun: clock='virtual' needs the caller's loop"):
        asyncio.run(df.arun(sink(), clock="virtual"))


def test_diagnose_of_a_virtual_run_sees_no_stall_in_real_seconds() -> None:
    """Progress is not noted in real seconds in virtual time: a busy replay was diagnosed as
    'no progress' once 2 real seconds had passed."""
    adc = io.simulated_adc(1e5, chunk=1000, noise=0.1, seed=1)
    running = df.start(df.null_sink(dsp.fir(adc, np.ones(64, np.float32) / 64)),
                       duration=36_000, clock="virtual")
    try:
        time.sleep(2.5)
        text = running.diagnose(stall_after=2.0)
    finally:
        running.stop()
        running.wait(30)
    assert text.cause not in ("stall", "deadlock"), text


def test_progress_of_a_virtual_run_comes_once_per_real_second() -> None:
    """A line per virtual second printed 3600 lines for an hour's replay in seconds."""
    import contextlib
    import io as textio

    from daqflow.core import live

    out = textio.StringIO()
    adc = io.simulated_adc(1e5, chunk=10_000, noise=0.1, seed=1)
    with contextlib.redirect_stderr(out):
        report = df.run(df.null_sink(adc), duration=600, clock="virtual", progress=True)
    lines = [x for x in out.getvalue().splitlines() if x.startswith("[daqflow")]
    assert report.blocks["simulated_adc"].samples_out == 60_000_000
    # lines come per real second (about report.duration of them), not per virtual second
    assert len(lines) <= report.duration / live.LINE_INTERVAL + 1 < 600
