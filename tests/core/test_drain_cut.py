"""A stop whose drain cannot finish: the drain timeout or a second Ctrl-C cuts it short, what
the FIFOs held is counted as discarded (report and totals), the sinks still return their
results, and a block that never returns is named instead of hanging the run."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import daqflow as df
from daqflow import io

CHUNK = 1000  # samples


@df.block
async def slow_count(stream: df.Stream, delay: float):
    """Counts items, ``delay`` seconds each (awaited: the loop stays free)."""
    items = 0
    async for _ in stream:
        await asyncio.sleep(delay)
        items += 1
    return {"items": items}


def test_a_drain_timeout_counts_what_it_discards_and_the_sink_still_returns():
    adc = io.simulated_adc(1e5, chunk=CHUNK, realtime=False, seed=1)
    report = df.run(slow_count(adc, 0.05, buffer=40), duration=0.3, drain_timeout=0.4)
    assert report.drain_cut == "timeout" and report.stopped_by == "duration"
    assert report.cut_short == ("slow_count",) and report.stuck == ()
    (edge,) = report.edges
    got = report.results["slow_count"]["items"]  # the sink's result survived the cut
    assert edge.discarded > 0 and edge.discarded_samples == edge.discarded * CHUNK
    assert report.blocks["simulated_adc"].items_out == got + edge.discarded
    assert report.blocks["slow_count"].items_in == got
    assert (report.discarded_items, report.discarded_samples) == (edge.discarded, edge.discarded_samples)
    text = str(report)
    assert f"discarded unread in FIFOs: {edge.discarded} items ({edge.discarded_samples} samples)" in text
    assert "drain cut short by the drain timeout; still running then: 'slow_count'" in text


def test_a_drain_that_finishes_in_time_discards_nothing():
    adc = io.simulated_adc(1e5, chunk=CHUNK, realtime=False, seed=1)
    report = df.run(slow_count(adc, 0.01, buffer=4), duration=0.2, drain_timeout=5)
    assert report.drain_cut is None and report.discarded_items == 0
    assert report.results["slow_count"]["items"] == report.blocks["simulated_adc"].items_out
    assert "drain cut short" not in str(report)


def test_a_hung_threaded_map_is_named_and_the_run_returns():
    release = threading.Event()

    @df.block
    def hung(chunk):
        release.wait(60)  # a driver call that never returns (released when the test ends)
        return chunk

    adc = io.simulated_adc(1e5, chunk=CHUNK, realtime=False, seed=1)
    t0 = time.monotonic()
    try:
        report = df.run(df.collect(hung(adc, threaded=True)), duration=0.2, drain_timeout=0.3)
    finally:
        release.set()
    assert time.monotonic() - t0 < 30  # it hung for ever before
    assert report.drain_cut == "timeout"
    assert report.stuck == ("hung",)
    assert report.results["collect"] == []
    assert "did not stop when cancelled (left running): 'hung'" in str(report)


SCRIPT = textwrap.dedent("""
    import asyncio, sys, time
    import daqflow as df
    from daqflow import io

    @df.block
    def hung(chunk):
        time.sleep(3600)
        return chunk

    @df.block
    async def slow(stream: df.Stream):
        n = 0
        async for _ in stream:
            await asyncio.sleep(0.2)
            n += 1
        return n

    adc = io.simulated_adc(1e5, chunk=1000, realtime=False)
    sink = slow(adc, buffer=40) if sys.argv[1] == "slow" else df.collect(hung(adc, threaded=True))
    duration = 0.3 if sys.argv[1] == "slow" else None
    print("running", flush=True)
    print(df.run(sink, duration=duration), flush=True)
""")


def run_and_signal(kind, signals):
    """Runs SCRIPT ``kind`` in a child, sends ``signals`` (a list of (delay s, signal));
    returns (seconds from the first signal to the exit, exit code, stdout)."""
    child = subprocess.Popen([sys.executable, "-c", SCRIPT, kind], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "running\n"
        time.sleep(0.8)  # the graph runs (and, for "slow", its duration has ended)
        t0 = time.monotonic()
        for delay, sig in signals:
            time.sleep(delay)
            os.kill(child.pid, sig)
        out, err = child.communicate(timeout=60)
        return time.monotonic() - t0, child.returncode, out + err
    finally:
        child.kill()
        child.wait()


def test_ctrl_c_cuts_a_duration_drain_short():
    took, code, out = run_and_signal("slow", [(0, signal.SIGINT)])
    assert code == 0, out
    assert took < 8  # the 10 s drain timeout did not have to pass
    assert "drain cut short by an interrupt; still running then: 'slow'" in out
    assert "results: slow=" in out


def test_two_ctrl_c_end_a_run_held_by_a_hung_thread():
    took, code, out = run_and_signal("hung", [(0, signal.SIGINT), (0.3, signal.SIGINT)])
    assert code == 0, out
    assert took < 8
    assert "stopped by interrupt" in out and "did not stop when cancelled (left running): 'hung'" in out


def test_sigterm_twice_ends_a_run_held_by_a_hung_thread():
    took, code, out = run_and_signal("hung", [(0, signal.SIGTERM), (0.3, signal.SIGTERM)])
    assert code == 0, out
    assert took < 8
    assert "did not stop when cancelled (left running): 'hung'" in out
