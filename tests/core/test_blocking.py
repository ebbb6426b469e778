"""daqflow.blocking: coroutine methods called from plain code, threads, and running loops."""

import asyncio
import concurrent.futures
import threading

import pytest

import daqflow as df
from daqflow.core.facade import background_loop


class Meter:
    """A small async object standing in for an instrument driver (the thing under test is the proxy)."""

    def __init__(self):
        self.gain = 1.0
        self.loop = None
        self.opened = 0
        self.closed = 0

    async def __aenter__(self):
        self.opened += 1
        return self

    async def __aexit__(self, *exc):
        self.closed += 1
        return False

    async def read(self, n: int) -> float:
        self.loop = asyncio.get_running_loop()
        await asyncio.sleep(0.001)
        return n * self.gain

    async def fail(self):
        raise ValueError("over range")

    def describe(self) -> str:
        return f"meter gain={self.gain}"


def test_plain_call_returns_result_and_keeps_one_loop():
    meter = df.blocking(Meter())
    assert meter.read(3) == 3.0
    first = meter.wrapped.loop
    meter.gain = 2.0  # attributes write through
    assert meter.wrapped.gain == 2.0
    assert meter.read(3) == 6.0
    assert meter.wrapped.loop is first  # every call on the same background loop
    assert meter.describe() == "meter gain=2.0"


def test_errors_propagate_with_their_type():
    with pytest.raises(ValueError, match="over range"):
        df.blocking(Meter()).fail()


def test_submit_returns_concurrent_future():
    meter = df.blocking(Meter())
    futures = [meter.submit.read(k) for k in range(5)]
    assert all(isinstance(f, concurrent.futures.Future) for f in futures)
    assert [f.result(timeout=5) for f in futures] == [0.0, 1.0, 2.0, 3.0, 4.0]
    with pytest.raises(AttributeError, match="not a coroutine method"):
        _ = meter.submit.describe


def test_context_manager_runs_async_enter_and_exit():
    inner = Meter()
    with df.blocking(inner) as meter:
        assert meter.read(1) == 1.0
        assert inner.opened == 1
    assert inner.closed == 1


def test_from_plain_threads_concurrently():
    meter = df.blocking(Meter())
    results = {}

    def worker(k):
        results[k] = meter.read(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert results == {k: float(k) for k in range(8)}


def test_from_inside_a_running_loop_thread_like_jupyter():
    meter = df.blocking(Meter())

    async def cell():
        # Jupyter runs cells inside a running loop; the proxy uses its own loop thread
        assert meter.read(4) == 4.0
        return meter.wrapped.loop is not asyncio.get_running_loop()

    assert asyncio.run(cell())


def test_call_from_the_facade_own_loop_raises_instead_of_deadlock():
    meter = df.blocking(Meter())

    async def inside():
        return meter.read(1)  # runs on the facade's loop: a blocking wait would deadlock

    future = asyncio.run_coroutine_threadsafe(inside(), background_loop())
    with pytest.raises(RuntimeError, match="deadlock"):
        future.result(timeout=5)
