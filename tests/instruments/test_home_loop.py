"""An instrument lives on the loop it was connected on: calls from elsewhere go there.

A graph streams from it on one loop while a script thread calls ``df.blocking(...)`` (the
facade's own loop), or the other way round; the calls are routed to the instrument's loop,
or refused in one line when that cannot work (its loop has ended or is waiting on the
caller). Never "bound to a different event loop", never a hang.
"""

import asyncio
import threading

import numpy as np
import pytest

import daqflow as df
from daqflow.instruments import Multimeter, SimScope


def _blocking_calls_while_streaming(instrument, call, seconds=1.0):
    """Stream from ``instrument`` (already connected) for ``seconds`` on a fresh loop while
    another thread makes blocking ``call(proxy)``s; returns (report, results, errors)."""
    proxy = df.blocking(instrument)
    results, errors = [], []

    def script():
        try:
            for _ in range(5):
                results.append(call(proxy))
        except BaseException as exc:
            errors.append(exc)

    async def main():
        thread = threading.Thread(target=script)
        thread.start()
        try:
            return await df.arun(df.collect(instrument.stream(), name="traces"), duration=seconds)
        finally:
            await asyncio.to_thread(thread.join, 30)

    return asyncio.run(asyncio.wait_for(main(), 60)), results, errors


def test_blocking_run_single_while_a_graph_streams_from_the_blocking_loop():
    """Connected by the blocking facade; the graph runs on another loop."""
    scope = SimScope(points=200)
    with df.blocking(scope):
        report, results, errors = _blocking_calls_while_streaming(
            scope, lambda proxy: proxy.run_single(avg=3))
    assert errors == []
    assert len(results) == 5 and all(r.shape == (200,) for r in results)
    traces = report.results["traces"]
    assert len(traces) > 0
    numbers = [t.meta["trace"] for t in traces]
    assert numbers == sorted(numbers)  # one trace at a time, in order, across both callers


def test_blocking_run_single_from_a_thread_while_the_graph_loop_owns_the_instrument():
    """Connected on the graph's loop; a script thread calls through the facade."""
    scope = SimScope(points=100)
    results, errors = [], []

    def script(proxy):
        try:
            for _ in range(5):
                results.append(proxy.run_single(avg=2))
        except BaseException as exc:
            errors.append(exc)

    async def main():
        async with scope:
            thread = threading.Thread(target=script, args=(df.blocking(scope),))
            thread.start()
            try:
                return await df.arun(df.collect(scope.stream(), name="traces"), duration=1.0)
            finally:
                await asyncio.to_thread(thread.join, 30)

    report = asyncio.run(asyncio.wait_for(main(), 60))
    assert errors == []
    assert len(results) == 5 and len(report.results["traces"]) > 0


def test_a_visa_instrument_answers_both_loops():
    dmm = Multimeter.simulated()
    with df.blocking(dmm):
        report, results, errors = _blocking_calls_while_streaming(
            dmm, lambda proxy: proxy.read(), seconds=0.5)
    assert errors == []
    assert len(results) == 5 and all(np.isfinite(r) for r in results)
    assert len(report.results["traces"]) > 0


def test_a_call_on_a_loop_that_has_ended_is_refused_in_one_line():
    scope = SimScope(name="scope7")

    async def connect_only():
        await scope.connect()  # and never close: its loop ends with it

    asyncio.run(connect_only())

    async def use():
        return await scope.run_single()

    with pytest.raises(RuntimeError, match=r"scope7.*event loop that is no longer running") as info:
        asyncio.run(use())
    assert "\n" not in str(info.value)

    async def reconnect():
        await scope.close()  # allowed from here: the old loop is gone
        async with scope:
            return await scope.run_single()

    assert asyncio.run(reconnect()).shape == (scope.points,)


def test_a_blocking_call_from_the_instruments_own_running_loop_is_refused_not_hung():
    """Sync code inside the loop that owns the instrument (Jupyter's cells run so): waiting
    for the facade would block the very loop that must answer."""
    scope = SimScope(name="scope8")

    async def main():
        async with scope:
            with pytest.raises(RuntimeError, match=r"scope8.*await it") as info:
                df.blocking(scope).run_single()
            return str(info.value)

    message = asyncio.run(asyncio.wait_for(main(), 10))
    assert "\n" not in message
