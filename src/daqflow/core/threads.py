"""Where blocks' code runs off the graph's loop, and how its time is counted: `Timed`
(busy seconds per step), `Worker` (a daemon thread with its own loop, for ``threaded=True``
generators and sinks), `CallThread` (a daemon thread calling a ``threaded=True`` map), and
`daqflow.core.ports.ThreadPort` (an input FIFO read from a worker's loop).

The threads are daemons and every join is bounded: a block whose code never returns (a hung
driver call) cannot hang the run's end or the interpreter's exit; the runtime names it."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable
from time import perf_counter
from typing import Any

from .loops import loop_thread


class Busy:
    """Seconds a block's code ran in one thread (one writer per instance: no lock needed)."""

    __slots__ = ("busy",)

    def __init__(self) -> None:
        self.busy = 0.0


class Timed:
    """Awaits a coroutine and adds the time each of its steps runs to ``clock.busy``."""

    __slots__ = ("_clock", "_coro")

    def __init__(self, coro: Any, clock: Any):
        self._coro = coro
        self._clock = clock

    def __await__(self) -> Any:
        coro, clock = self._coro, self._clock
        send, throw = coro.send, coro.throw
        value: Any = None
        exc: BaseException | None = None
        while True:
            t0 = perf_counter()
            try:
                signal = send(value) if exc is None else throw(exc)
            except StopIteration as stop:
                clock.busy += perf_counter() - t0
                return stop.value
            except BaseException:
                clock.busy += perf_counter() - t0
                raise
            clock.busy += perf_counter() - t0
            exc = None
            try:
                value = yield signal
            except BaseException as thrown:  # cancellation, close(): pass it in
                exc, value = thrown, None


async def timed(coro: Any, clock: Any) -> Any:
    return await Timed(coro, clock)


class Worker:
    """A dedicated thread with its own event loop, for a ``threaded=True`` generator or sink."""

    def __init__(self, name: str):
        self.name = name  # the block's
        self.loop, self._thread = loop_thread(f"daqflow-{name}")

    async def run(self, coro: Any) -> Any:
        """Run ``coro`` on the worker's loop; a cancel here waits until it is cancelled there."""
        cf = asyncio.run_coroutine_threadsafe(coro, self.loop)
        fut = asyncio.wrap_future(cf)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            cf.cancel()
            with contextlib.suppress(BaseException):  # waiting for it to end; a second
                await fut  # cancel (a drain cut short) stops waiting for a hung one
            raise

    def close(self, timeout: float | None = None) -> bool:
        """Stop the loop and join the thread for at most ``timeout`` seconds (a daemon: a
        hung block cannot hang the exit); True if the thread has ended."""
        with contextlib.suppress(RuntimeError):  # its loop has closed already
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        return not self._thread.is_alive()


async def in_worker(worker: Worker, agen: Any, clock: Busy) -> AsyncIterator[Any]:
    """Items of an async generator that runs on a worker thread's loop."""
    try:
        while True:
            try:
                item = await worker.run(timed(agen.__anext__(), clock))
            except StopAsyncIteration:
                return
            yield item
    finally:
        await worker.run(agen.aclose())


class CallThread:
    """A daemon thread that makes a ``threaded=True`` map's calls, one at a time, in order.

    Unlike a thread pool's, its thread is a daemon: a call that never returns cannot hold the
    interpreter at exit, and the awaiting task can be cancelled at once."""

    def __init__(self, name: str, clock: Busy):
        self.name = name  # the block's
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._clock = clock
        self._thread = threading.Thread(target=self._serve, name=f"daqflow-{name}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            job = self._calls.get()
            if job is None:
                return
            fn, item, future = job
            t0 = perf_counter()
            try:
                result, error = fn(item), None
            except BaseException as exc:  # handed to the awaiting task
                result, error = None, exc
            self._clock.busy += perf_counter() - t0
            with contextlib.suppress(RuntimeError):  # the graph's loop has closed
                future.get_loop().call_soon_threadsafe(_settle, future, result, error)

    async def call(self, fn: Callable[[Any], Any], item: Any) -> Any:
        """``fn(item)`` on the thread; cancelling the wait leaves the call to finish alone."""
        future = asyncio.get_running_loop().create_future()
        self._calls.put((fn, item, future))
        return await future

    def close(self, timeout: float | None = None) -> bool:
        """Let the thread end after its current call; True if it ended within ``timeout`` s."""
        self._calls.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # its task was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
