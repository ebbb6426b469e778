"""daqflow under Twisted (its asyncio reactor) and trio (trio-asyncio, anyio).

Twisted's reactor can be installed once per process, and importing trio_asyncio replaces
``asyncio.new_event_loop`` process-wide; so every run that uses either happens in a child
Python (`_child`), which saves what it got for the test to compare with `df.run` here.
"""

import functools
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import numpy as np
import pytest

import daqflow as df

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

#: a deterministic graph (seeded, not real-time, a fixed length): an ADC, a decimating FIR,
#: a collect; the children and this process build it from this same text
GRAPH = """
import daqflow as df
from daqflow import dsp, io

def graph():
    adc = io.simulated_adc(rate=1e6, chunk=4096, tones=[(125e3, 1.0)], noise=0.1, seed=7,
                           realtime=False)
    taps = dsp.lowpass(31, 100e3, rate=1e6)
    return df.collect(dsp.head(dsp.fir_decimate(adc, taps, 4), 25_000), name="out")
"""


def _graph() -> df.Stream:
    namespace: dict = {}
    exec(GRAPH, namespace)
    return namespace["graph"]()


def _samples(report: df.Report) -> np.ndarray:
    """The collected samples, checked to be contiguous."""
    chunks = report.results["out"]
    assert [c.index for c in chunks] == list(np.cumsum([0] + [c.samples for c in chunks])[:-1])
    return np.concatenate([c.data for c in chunks])


def _child(code: str, *args: str, timeout: float = 60) -> str:
    """Run ``code`` in a fresh Python; its stdout (it must exit 0)."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


# Importing trio_asyncio makes asyncio.new_event_loop() return trio-asyncio's own loops,
# bound to the thread that made them (and refused inside trio): the loops of daqflow's own
# threads are made in those threads, by the policy outside trio (`core/loops.py`).


def test_threaded_blocks_work_once_trio_asyncio_is_imported():
    # before: df.run hung (its workers' loops failed in their threads), and under
    # trio-asyncio a worker's loop was refused (BlockError)
    out = _child("""
        import numpy as np
        import trio, trio_asyncio
        import daqflow as df

        @df.block
        async def ramp(n: int):
            for i in range(n):
                yield np.full(4, i, np.float32)

        @df.block
        async def total(x: df.Stream):
            return sum([float(c[0]) async for c in x])

        graph = lambda: total(ramp(50, threaded=True), threaded=True, name="total")
        print("run", df.run(graph()).results["total"])

        async def main():
            async with trio_asyncio.open_loop():
                report = await trio_asyncio.aio_as_trio(df.arun)(graph())
                print("trio", report.results["total"])

        trio.run(main)
    """, timeout=30)
    assert out == "run 1225.0\ntrio 1225.0\n"


def test_the_blocking_facade_works_once_trio_asyncio_is_imported():
    # before: the facade's first call hung (its loop was made in the calling thread)
    out = _child("""
        import trio, trio_asyncio
        import daqflow as df
        from daqflow.instruments import SimScope

        with df.blocking(SimScope(timebase=1e-4)) as scope:
            print("facade", scope.run_single(2).shape)

        async def main():  # an instrument on the trio-asyncio loop, called from a thread
            async with trio_asyncio.open_loop():
                scope = SimScope(timebase=1e-4)
                await trio_asyncio.aio_as_trio(scope.connect)()
                trace = await trio.to_thread.run_sync(df.blocking(scope).run_single, 2)
                print("routed", trace.shape)
                try:  # from trio code itself: refused, as the loop that must answer would wait
                    df.blocking(scope).run_single(2)
                except RuntimeError as refused:
                    print("refused", "would deadlock" in str(refused))
                await trio_asyncio.aio_as_trio(scope.close)()
                # and the reverse: one on the facade's loop, awaited from trio-asyncio
                with df.blocking(SimScope(timebase=1e-4, channels=2)) as other:
                    trace = await trio_asyncio.aio_as_trio(other.wrapped.run_single)(2)
                    print("awaited", trace.shape)

        trio.run(main)
    """, timeout=20)
    assert out == "facade (1000,)\nrouted (1000,)\nrefused True\nawaited (1000, 2)\n"


def _example(name: str) -> dict[str, str]:
    """Run examples/NAME for 1 s; its output lines by their first word."""
    out = subprocess.run([sys.executable, str(EXAMPLES / name), "1"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert not out.stderr, out.stderr  # no warnings either
    return {line.split(":", 1)[0]: line for line in out.stdout.splitlines()}


def _check_graph_and_scope(lines: dict[str, str]) -> None:
    graph = re.fullmatch(r"graph: (\d+) samples, (\d+) spectra, peak at ([\d.]+) kHz", lines["graph"])
    assert graph, lines
    samples, rows, peak = int(graph[1]), int(graph[2]), float(graph[3])
    assert samples == (10**6 // 8192) * 8192  # 1 s of a 1 MHz clock, in whole 8192-sample chunks
    assert rows == ((samples - 1024) // 512 + 1) // 8  # Welch frames, half overlap, 8 a row
    assert peak == 125.0  # the tone, within a bin (0.98 kHz)
    scope = re.fullmatch(r"scope: run_single\(avg=10\) gave shape \((\d+),\), ([\d.]+) V rms",
                         lines["scope"])
    assert scope, lines
    assert int(scope[1]) == 1000 and abs(float(scope[2]) - 2**-0.5) < 0.01  # a 1 V sine


def test_the_twisted_example_runs_graph_scope_and_web_endpoint_together():
    lines = _example("twisted_graph.py")
    _check_graph_and_scope(lines)
    web = re.fullmatch(r"twisted: the web endpoint answered (\d+) requests while the graph ran, "
                       r"the last: (.*)", lines["twisted"])
    assert web and int(web[1]) >= 1, lines
    assert "'peak_hz': 125000.0" in web[2]  # served over HTTP from what the graph found


def test_ctrl_c_in_the_twisted_example_ends_the_graph_before_the_reactor_stops():
    child = subprocess.Popen([sys.executable, str(EXAMPLES / "twisted_graph.py"), "30"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the first HTTP answer: the reactor runs (its SIGINT handler is in place), so does the graph
        assert child.stdout.readline().startswith("first answer from http://127.0.0.1:")
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert out == "stopped: the reactor stopped and the graph was cancelled\n", err


def test_the_trio_example_runs_graph_scope_and_a_trio_task_together():
    lines = _example("trio_graph.py")
    _check_graph_and_scope(lines)
    seen = re.fullmatch(r"trio: a trio task looked (\d+) times while the graph ran, "
                        r"the last: (.*)", lines["trio"])
    assert seen and int(seen[1]) >= 1, lines
    assert "'peak_hz': 125000.0" in seen[2]


def test_a_graph_under_twisted_gives_the_samples_of_df_run(tmp_path):
    out = _child(GRAPH + """
import asyncio, sys
import numpy as np
from twisted.internet import asyncioreactor

loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
asyncioreactor.install(loop)
from twisted.internet import defer, task
from daqflow.instruments import SimScope

def as_deferred(coro):
    return defer.Deferred.fromFuture(loop.create_task(coro))

async def trace():
    async with SimScope(timebase=1e-4, channels=2) as scope:
        assert scope.home_loop is loop
        return await scope.run_single(avg=3)

async def main(reactor):
    report = await as_deferred(df.arun(graph()))
    np.save(sys.argv[1], np.concatenate([c.data for c in report.results["out"]]))
    print("trace", (await as_deferred(trace())).shape)

task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor)))
""", str(tmp_path / "twisted.npy"))
    assert out == "trace (1000, 2)\n"
    expected = _samples(df.run(_graph()))
    assert len(expected) == 25_000
    np.testing.assert_array_equal(np.load(tmp_path / "twisted.npy"), expected)


def test_a_graph_under_trio_asyncio_gives_the_samples_of_df_run(tmp_path):
    out = _child(GRAPH + """
import sys
import numpy as np
import trio, trio_asyncio
from daqflow.instruments import SimScope

async def main():
    got = {}
    async def run():
        got["report"] = await trio_asyncio.aio_as_trio(df.arun)(graph())
    async def trace():
        scope = SimScope(timebase=1e-4, channels=2)
        await trio_asyncio.aio_as_trio(scope.connect)()
        got["home"] = type(scope.home_loop).__name__
        got["trace"] = await trio_asyncio.aio_as_trio(scope.run_single)(avg=3)
        await trio_asyncio.aio_as_trio(scope.close)()
    async with trio_asyncio.open_loop(), trio.open_nursery() as nursery:
        nursery.start_soon(run)
        nursery.start_soon(trace)
    np.save(sys.argv[1], np.concatenate([c.data for c in got["report"].results["out"]]))
    print("trace", got["trace"].shape, got["home"])

trio.run(main)
""", str(tmp_path / "trio.npy"))
    assert out == "trace (1000, 2) TrioEventLoop\n"
    np.testing.assert_array_equal(np.load(tmp_path / "trio.npy"), _samples(df.run(_graph())))


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_runs_a_graph_on_either_backend(backend):
    async def main() -> df.Report:
        if backend == "asyncio":  # anyio on asyncio: the graph runs on anyio's loop
            return await df.arun(_graph())
        # on trio, without trio-asyncio: the blocking run, in one of anyio's worker threads
        return await anyio.to_thread.run_sync(functools.partial(df.run, _graph()))

    np.testing.assert_array_equal(_samples(anyio.run(main, backend=backend)),
                                  _samples(df.run(_graph())))
