"""Live progress: per-block recent rates, busy %, FIFO fill, drops, overflow; table or lines."""

import asyncio
import io as stdio
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

import daqflow as df
from daqflow import dsp, io
from daqflow.core import live
from daqflow.core.report import BlockReport, EdgeReport, Report


@df.block
async def numbers(period: float = 0.0):
    k = 0
    while True:
        if period:
            await asyncio.sleep(period)
        yield k
        k += 1


@df.block
async def slow_sink(x: df.Stream, period: float = 0.05) -> int:
    n = 0
    async for _ in x:
        await asyncio.sleep(period)
        n += 1
    return n


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def by_name(rows):
    return {f.name: f for f in rows}


def test_edge_report_size_is_what_the_fifo_holds_now():
    running = df.start(slow_sink(numbers(), buffer=4))
    try:
        wait_for(lambda: running.report().edges[0].size == 4)  # the slow sink keeps it full
        report = running.report()
        edge = report.edges[0]
        assert (edge.capacity, edge.size, edge.policy) == (4, 4, "block")
        row = by_name(live.figures(report))["slow_sink"]
        assert (row.fifo_items, row.fifo_capacity) == (4, 4)
        assert by_name(live.figures(report))["numbers"].fifo_capacity == 0  # a source: no FIFO
    finally:
        running.stop()
    assert running.wait(timeout=10).stopped_by == "stop"


def test_meter_gives_recent_rates_of_a_running_graph():
    adc = io.simulated_adc(1e5, chunk=1000)  # real time: 100 chunks/s
    meter = live.Meter(window=0.5)
    running = df.start(df.null_sink(dsp.mix(adc, freq=1e3), name="sink"))
    try:
        meter.update(running.report())
        for _ in range(4):
            time.sleep(0.25)
            rows = by_name(meter.update(running.report()))
    finally:
        running.stop()
        running.wait(timeout=10)
    for name in ("simulated_adc", "mix", "sink"):
        assert 50 < rows[name].items_per_s < 150, rows[name]
        assert 0.05e6 < rows[name].samples_per_s < 0.15e6
        assert 0 <= rows[name].busy < 0.5
        assert rows[name].dropped == 0 and rows[name].overflow == 0
    assert rows["simulated_adc"].realtime and rows["mix"].inline


def test_rates_fall_to_zero_when_a_block_stops_producing():
    running = df.start(df.null_sink(dsp.head(io.simulated_adc(1e5, chunk=1000), 20_000)))
    first = running.report()
    report = running.wait(timeout=10)  # the source ends after 20 chunks (0.2 s)
    time.sleep(0.05)
    later = dataclass_replace(report, duration=report.duration + 1.0)
    assert by_name(live.figures(later, report))["simulated_adc"].items_per_s == 0
    assert by_name(live.figures(report, first))["simulated_adc"].items_per_s > 0


def dataclass_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def test_drops_and_overflow_are_counted_where_they_happen():
    adc = io.simulated_adc(1e6, chunk=1000)  # 1000 chunks/s into sinks that take 20/s
    tuned = dsp.mix(adc, freq=1e3)  # an inline map: its FIFO's losses are the ADC's overflow
    lossy = slow_sink(adc, 0.05, buffer=2, policy="drop_oldest", name="lossy")
    late = slow_sink(tuned, 0.05, buffer=2, name="late")
    report = df.run(lossy, late, duration=0.5)
    rows = by_name(live.figures(report))
    # its own FIFO's policy keeps the newest: skips by design, not losses
    assert rows["lossy"].skipped > 0 and rows["lossy"].dropped == 0
    assert rows["late"].dropped > 0 and rows["late"].skipped == 0  # real-time overflow into its FIFO
    lossy_edge = next(e for e in report.edges if e.consumer == "lossy")
    assert report.display_skips == lossy_edge.dropped_samples > 0
    assert rows["simulated_adc"].overflow == report.overflow > 0
    assert report.overflow == sum(e.dropped_samples for e in report.edges if e.consumer == "late")
    assert rows["mix"].overflow == 0
    line = live.progress_line(report)
    assert f"overflow {report.overflow}" in line and "lossy:" in line
    assert f"skips {rows['lossy'].skipped}" in line
    assert f"display skips {report.display_skips} samples" in line
    assert f"display skips (FIFOs keeping the newest, by design): {report.display_skips}" in str(report)


def test_figures_arithmetic():
    def block(name, kind, n, busy, **kw):
        return BlockReport(name=name, kind=kind, items_in=n, items_out=n, samples_in=10 * n,
                           samples_out=10 * n, busy=busy, blocked=0.0, starved=0.0, wall=2.0, **kw)

    def edge(a, b, **kw):
        base = dict(producer=a, consumer=b, port="x", capacity=8, policy="block", items=0,
                    dropped_items=0, dropped_samples=0, discarded=0, high_water=0, blocked=0.0)
        return EdgeReport(**{**base, **kw})

    def report(t, n, busy):
        blocks = {"src": block("src", "source", n, busy, realtime=True),
                  "m": block("m", "map", n, busy, inline=True),
                  "out": block("out", "sink", n, busy)}
        edges = (edge("src", "m", inline=True, capacity=0, realtime=True),
                 edge("m", "out", size=3, dropped_items=2, dropped_samples=20, realtime=True))
        return Report(blocks=blocks, edges=edges, results={}, duration=t, stopped_by="end")

    rows = by_name(live.figures(report(3.0, 500, 1.0), report(1.0, 100, 0.5)))
    assert rows["out"].items_per_s == 200 and rows["out"].samples_per_s == 2000
    assert rows["out"].busy == 0.25
    assert (rows["out"].fifo_items, rows["out"].fifo_capacity, rows["out"].dropped) == (3, 8, 2)
    assert rows["src"].overflow == 20 and rows["m"].overflow == 0  # the host lost them
    assert rows["m"].fifo_capacity == 0
    since_start = by_name(live.figures(report(2.0, 100, 0.5)))
    assert since_start["src"].items_per_s == 50


def test_table_renders_with_rich():
    from rich.console import Console

    report = df.run(df.collect(dsp.head(io.simulated_adc(1e5, chunk=1000, realtime=False), 5000)))
    console = Console(file=stdio.StringIO(), width=140)
    console.print(live.table(report, live.figures(report)))
    text = console.file.getvalue()
    for word in ("items/s", "MS/s", "busy %", "fifo", "drops", "overflow", "simulated_adc",
                 "head", "collect", "0/8"):
        assert word in text, text


def test_show_falls_back_to_lines_on_a_terminal_without_rich(monkeypatch):
    class Tty(stdio.StringIO):
        def isatty(self):
            return True

    for name in ("rich", "rich.console", "rich.live", "rich.table"):
        monkeypatch.setitem(sys.modules, name, None)  # import rich -> ImportError
    out = Tty()

    async def main():
        task = asyncio.create_task(live.show(runtime.report, 0.05, out))
        report = await runtime.run(duration=0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return report

    from daqflow.core.graph import build_graph
    from daqflow.core.runtime import Runtime

    runtime = Runtime(build_graph([df.null_sink(numbers(0.001))]))
    asyncio.run(main())
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3
    assert all(line.startswith("[daqflow") and "numbers:" in line for line in lines)
    assert "\x1b" not in out.getvalue()


def test_show_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        asyncio.run(live.show(lambda: None, mode="fancy"))


SCRIPT = textwrap.dedent("""
    import sys
    import daqflow as df
    from daqflow import dsp, io
    adc = io.simulated_adc(1e6, chunk=10_000)
    report = df.run(df.null_sink(dsp.mix(adc, freq=-1e3), name="sink"), duration=DURATION,
                    progress=True)
    print(report.stopped_by, "rich imported:", "rich" in sys.modules)
""")


def test_run_progress_on_a_pipe_prints_plain_lines_and_never_imports_rich():
    code = SCRIPT.replace("DURATION", "2.4")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "duration rich imported: False"
    lines = out.stderr.splitlines()
    assert len(lines) == 2, out.stderr  # one a second
    for line in lines:
        assert line.startswith("[daqflow")
        for text in ("simulated_adc: ", "mix: ", "sink: ", "it/s", "MS/s", "busy", "drops",
                     "overflow 0"):
            assert text in line, line
        assert re.search(r"sink: .* fifo \d/8 drops 0", line), line
    assert "\x1b" not in out.stderr


def run_on_a_terminal(argv, timeout=60):
    """Run ``argv`` with stderr on a pseudo-terminal; returns (returncode, stdout, terminal bytes)."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "140"}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            env=env)
    os.close(slave)
    seen = b""
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            seen += data
        stdout, _ = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
        os.close(master)
    return proc.returncode, stdout.decode(), seen.decode(errors="replace")


def test_run_progress_on_a_terminal_draws_a_live_table():
    code = SCRIPT.replace("DURATION", "1.2")
    rc, stdout, terminal = run_on_a_terminal([sys.executable, "-c", code])
    assert rc == 0
    assert stdout.strip() == "duration rich imported: True"
    assert "\x1b[" in terminal  # drawn and redrawn in place
    for text in ("items/s", "busy %", "fifo", "overflow", "simulated_adc", "mix", "sink",
                 "stopped by duration"):
        assert text in terminal, terminal[-2000:]
    assert terminal.count("items/s") >= 3  # refreshed about twice a second
    assert "[daqflow" not in terminal  # no plain lines
