"""Stall diagnosis: `Running.diagnose()` / `Report.diagnose()` name the block that limits a real
graph and why (CPU-bound, a slow sink's backpressure, a source waiting on its device, a stall
or deadlock), and `daqflow top` (also with --attach) shows it as a line."""

import asyncio
import dataclasses
import itertools
import subprocess
import sys
import textwrap
import threading
import time
from time import perf_counter

import pytest

import daqflow as df
from daqflow import io
from daqflow.core.diagnosis import Diagnosis, diagnose
from daqflow.core.report import BlockReport, EdgeReport, Report


@df.block
async def counter():
    """0, 1, 2, ... as fast as it is read."""
    for k in itertools.count():
        yield k


@df.block
def burn(x, seconds: float = 0.005):
    """Burns ``seconds`` of CPU per item (no yield: a busy loop)."""
    t0 = perf_counter()
    while perf_counter() - t0 < seconds:
        pass
    return x


@df.block
def mix(x):
    return x


@df.block
async def slow_sink(x: df.Stream, period: float = 0.01) -> int:
    n = 0
    async for _ in x:
        await asyncio.sleep(period)
        n += 1
    return n


@df.block
async def join(x: df.Stream, y: df.Stream) -> int:
    """Reads all of x before any of y: fed both from one source, it deadlocks."""
    n = 0
    async for _ in x:
        n += 1
    async for _ in y:
        n += 1
    return n


@df.block
async def stuck(x: df.Stream):
    """Awaits an event nobody sets."""
    never = asyncio.Event()
    async for item in x:
        await never.wait()
        yield item


def diagnosed_after(seconds, *sinks, stall_after=2.0, **options):
    """(live diagnosis after ``seconds``, diagnosis of the final report) of a graph."""
    running = df.start(*sinks, **options)
    try:
        time.sleep(seconds)
        live = running.diagnose(stall_after=stall_after)
    finally:
        running.stop()
    return live, running.wait().diagnose()


def wait_for_cause(running, cause, stall_after, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        found = running.diagnose(stall_after=stall_after)
        if found.cause == cause or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("options", [{"buffer": 4}, {}], ids=["own-task", "inline"])
def test_cpu_bound_block_is_named(options):
    live, final = diagnosed_after(1.0, df.null_sink(burn(counter(), **options)))
    for found in (live, final):
        assert isinstance(found, Diagnosis) and isinstance(found, str)
        assert (found.block, found.cause) == ("burn", "cpu"), found
        assert found.startswith("limited by burn: CPU-bound, busy ")
        assert "\n" not in found
    if options:  # a FIFO of its own: the evidence is that FIFO, full
        assert "its input FIFO full" in final and "downstream starved" in final


def test_cpu_bound_block_behind_a_real_time_source_counts_the_loss():
    adc = io.simulated_adc(1e6, chunk=8192)  # 122 chunks/s; burn takes 50 a second
    live, final = diagnosed_after(1.0, df.null_sink(burn(adc, seconds=0.02, buffer=4)))
    for found in (live, final):
        assert (found.block, found.cause) == ("burn", "cpu"), found
    assert "real-time sources lost" in final or "dropped" in final


def test_slow_sink_backpressure_names_the_chain_of_full_fifos():
    live, final = diagnosed_after(1.0, slow_sink(mix(counter(), buffer=4)))
    for found in (live, final):
        assert (found.block, found.cause) == ("slow_sink", "backpressure"), found
        assert found.startswith("backpressure from slow_sink: sink ")
        assert "FIFOs full back to counter (counter → mix → slow_sink)" in found


def test_a_source_waiting_on_its_device_keeps_up():
    live, final = diagnosed_after(1.0, df.null_sink(io.simulated_adc(1e6, chunk=8192)))
    for found in (live, final):
        assert (found.block, found.cause) == ("simulated_adc", "device"), found
        assert "simulated_adc waits on its device" in found and "the graph keeps up" in found
        assert "busiest block: " in found


def test_two_blocks_waiting_on_each_other_are_a_deadlock():
    source = counter()
    running = df.start(join(source, source, buffer=2))
    try:
        found = wait_for_cause(running, "deadlock", stall_after=0.3)
    finally:
        running.stop()
    final = running.wait()
    assert (found.block, found.cause) == ("join", "deadlock"), found
    lines = found.splitlines()
    assert lines[0].startswith("no progress for ") and "a deadlock" in lines[0]
    assert "join waits on one input while another is full" in lines[0]
    assert "  counter waits to put into join.y (full)" in lines
    assert "  join waits for input from counter (its x FIFO is empty)" in lines
    # afterwards the figures tell it too: y full while join waited for x
    after = final.diagnose()
    assert (after.block, after.cause) == ("join", "uneven"), after
    assert "its y FIFO (from counter) full" in after


@pytest.mark.parametrize("source", ["from_iterable", "simulated_adc"])
def test_a_block_awaiting_an_event_nobody_sets_stalls_the_graph(source):
    upstream = df.from_iterable(range(100)) if source == "from_iterable" else \
        io.simulated_adc(1e6)  # real-time: keeps making chunks, which is no progress
    running = df.start(df.null_sink(stuck(upstream)), drain_timeout=0.5)
    try:
        found = wait_for_cause(running, "stall", stall_after=0.3)
    finally:
        running.stop()
    running.wait()
    assert (found.block, found.cause) == ("stuck", "stall"), found
    lines = found.splitlines()
    assert "stuck holds the graph: it awaits something outside its FIFOs" in lines[0]
    assert "  null_sink waits for input from stuck (its stream FIFO is empty)" in lines
    if source == "from_iterable":
        assert "  from_iterable waits to put into stuck.x (full)" in lines
    else:
        assert "  simulated_adc waits on its device (or its own clock)" in lines


def test_a_block_that_never_yields_holds_the_loop():
    holding, release = threading.Event(), threading.Event()

    @df.block
    def hog(x):
        holding.set()
        release.wait(30)  # blocks the graph's loop until the test lets go
        return x

    running = df.start(df.null_sink(hog(counter(), buffer=2)))
    try:
        assert holding.wait(10)
        found = wait_for_cause(running, "stall", stall_after=0.3)
    finally:
        release.set()
        running.stop()
    running.wait()
    assert (found.block, found.cause) == ("hog", "stall"), found
    assert "hog holds the loop (its code has not yielded)" in found.line


def test_a_live_graph_that_moves_is_not_stalled():
    # items flow all the time (one each 5 ms): no stall is told
    running = df.start(slow_sink(counter(), period=0.005))
    try:
        time.sleep(0.8)
        found = running.diagnose(stall_after=0.3)
    finally:
        running.stop()
    running.wait()
    assert found.cause == "backpressure", found


def test_no_bottleneck_names_the_busiest_block():
    def block(name, kind, busy, blocked=0.0):
        return BlockReport(name, kind, 10, 10, 10, 10, busy, blocked, 0.0, 1.0)

    report = Report(
        blocks={"src": block("src", "source", 0.1), "avg": block("avg", "transform", 0.35),
                "out": block("out", "sink", 0.1)},
        edges=(EdgeReport("src", "avg", "x", 8, "block", 10, 0, 0, 0, 3, 0.01),
               EdgeReport("avg", "out", "stream", 8, "block", 10, 0, 0, 0, 2, 0.0)),
        results={}, duration=1.0, stopped_by="end")
    # the source waits 90 % outside its FIFOs: on its device
    assert (diagnose(report).block, diagnose(report).cause) == ("src", "device")
    # busier, and waiting on its FIFO at times (not full a quarter of the time): no bottleneck
    busier = dict(report.blocks, src=block("src", "source", 0.3, blocked=0.24))
    edges = (dataclasses.replace(report.edges[0], blocked=0.24), report.edges[1])
    found = Report(busier, edges, {}, 1.0, "end").diagnose()
    assert found == "no bottleneck (busiest block: avg, busy 35 %)"
    assert (found.block, found.cause) == ("avg", "none")


SLOW = """
    import asyncio, itertools
    import daqflow as df

    @df.block
    async def counter():
        for k in itertools.count():
            yield k

    @df.block
    async def slow_sink(x: df.Stream) -> int:
        n = 0
        async for _ in x:
            await asyncio.sleep(0.01)
            n += 1
        return n

    df.run(slow_sink(counter()), duration=100)
"""


def test_top_prints_the_diagnosis_under_its_lines_and_report(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent(SLOW))
    out = subprocess.run([sys.executable, "-m", "daqflow", "top", str(script), "--duration",
                          "1.0", "--interval", "0.4"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    figures = [n for n, line in enumerate(lines) if line.startswith("[daqflow")]
    assert figures
    for n in figures:
        assert lines[n + 1].startswith("  backpressure from slow_sink: sink "), lines[n + 1]
    assert "\ndiagnosis: backpressure from slow_sink: sink " in out.stdout


def test_top_on_a_terminal_shows_the_diagnosis_under_the_table(tmp_path):
    from test_cli_top import run_on_a_terminal

    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent(SLOW))
    rc, stdout, terminal = run_on_a_terminal(
        [sys.executable, "-m", "daqflow", "top", str(script), "--duration", "1.0",
         "--interval", "0.3"])
    assert rc == 0
    assert "backpressure from slow_sink" in terminal and "busy %" in terminal
    assert "diagnosis: backpressure from slow_sink" in stdout


def test_top_attach_shows_the_diagnosis(capsys):
    pytest.importorskip("aiohttp")
    from daqflow.net.attach import attach

    running = df.start(slow_sink(counter()), serve=0)

    async def watch():
        asyncio.get_running_loop().call_later(1.2, running.stop)
        return await attach(running.control_url, interval=0.3, mode="lines")

    try:
        last = asyncio.run(watch())
    finally:
        running.stop()
        running.wait()
    err = capsys.readouterr().err
    assert "\n  backpressure from slow_sink: sink " in err
    assert last.diagnose().block == "slow_sink"
