"""The faces of a run: `run` (blocking), `start` (a background `Running` handle), `arun`
(on the caller's loop). Each goes through the one driver, `daqflow.core.driver.drive`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from . import capture
from .driver import drive, make_executor
from .errors import BlockError
from .executor import DRAIN_TIMEOUT, Executor, RunObserver
from .graph import Graph, build_graph
from .live import ProgressObserver
from .report import Report
from .runtime import Runtime
from .stream import Stream
from .virtual_time import check_clock, is_virtual, loop_factory


def _watchers(progress: bool) -> list[RunObserver]:
    return [ProgressObserver()] if progress else []


def run(
    *sinks: Stream,
    duration: float | None = None,
    progress: bool = False,
    cluster: Any = None,
    transport: str | None = None,
    drain_timeout: float = DRAIN_TIMEOUT,
    serve: Any = None,
    clock: str = "wall",
) -> Report:
    """Run the graph above ``sinks`` and wait for it to end.

    Ctrl-C (SIGINT) or SIGTERM is an orderly stop: sources stop, FIFOs drain, the report comes
    back with ``stopped_by == "interrupt"``. A second one, or a drain longer than
    ``drain_timeout``, cuts the drain short: what the FIFOs hold is discarded (counted in the
    report), the sinks return their results and writers close; a block that does not end is
    named in ``report.stuck`` and left behind. Inside a running event loop (Jupyter), the
    graph runs on a background thread.

    Args:
        sinks: sink streams; everything upstream of them runs.
        duration: stop after this many seconds; None runs until the sources end.
        progress: show live per-block figures on stderr (a table on a terminal, a line per
            second otherwise).
        cluster: a ``dask.distributed.Client``: each `Process` (``proc=``) runs on one of its
            workers (extra ``cluster``); None runs them as local OS processes.
        transport: how edges between processes travel when their `Process` does not say:
            "shm" (the default on one machine: a shared ring with ZeroMQ ipc for control),
            "zmq" (ipc locally; tcp and the default with a cluster) or "http".
        drain_timeout: seconds the FIFOs may take to drain after a stop.
        serve: watch and steer the run over HTTP (extra ``net``; docs/control.md): a port on
            127.0.0.1 (0: a free one), or a mapping of ``host``, ``port``, ``token``.
        clock: "wall" (real time) or "virtual": sources, pacers, sleeps, timeouts and
            ``duration`` run on a simulated clock that jumps to the next deadline whenever
            the graph is idle, so a paced replay runs as fast as the CPU allows and gives the
            same outputs every time (docs/virtual-time.md). One process; no ``serve``.

    Returns:
        The `Report` (``report.results[sink_name]`` is each sink's result).

    Raises:
        GraphError: bad wiring, before anything runs. BlockError: a block failed (its
            ``report`` holds what the sinks got).
    """
    check_clock(clock, "run")
    capture.intercept(sinks)
    graph = build_graph(sinks)
    executor = make_executor(graph, cluster, transport, drain_timeout)
    check_virtual(clock, executor, serve, "run")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:  # a loop runs in this thread (Jupyter): run beside it
        running = Running(graph, duration, progress, runtime=executor, serve=serve, clock=clock)
        try:
            return running.wait()
        except KeyboardInterrupt:
            running.stop()
            return running.wait()
    with _signals_as_found(), asyncio.Runner(loop_factory=loop_factory(clock)) as runner:
        return runner.run(drive(executor, duration, observers=_watchers(progress), serve=serve,
                                signals=True))


@contextlib.contextmanager
def _signals_as_found() -> Iterator[None]:
    """Leave Ctrl-C's handler as it was, also when a block's KeyboardInterrupt or SystemExit
    ends the run: asyncio's runner then restores its own before the run's tasks end, and
    the run's `drive` would put back the (closed) runner's when it ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is not before:
            signal.signal(signal.SIGINT, before)


def check_virtual(clock: str, runtime: Any, serve: Any, where: str) -> bool:
    """Whether ``clock`` is "virtual" (refusing what virtual time cannot run, in one line
    naming ``where``); a clock other than "wall" and "virtual" is refused too."""
    if check_clock(clock, where) == "wall":
        return False
    if serve is not None:
        raise ValueError(f"{where}: clock='virtual' cannot serve= a control API (its clients "
                         "keep wall time): drop serve=, or run with clock='wall'")
    if not isinstance(runtime, Runtime):
        raise ValueError(f"{where}: clock='virtual' runs the graph in one process: drop proc=, "
                         "cluster= and transport=, or run with clock='wall'")
    return True


def start(
    *sinks: Stream,
    duration: float | None = None,
    progress: bool = False,
    cluster: Any = None,
    transport: str | None = None,
    drain_timeout: float = DRAIN_TIMEOUT,
    serve: Any = None,
    clock: str = "wall",
) -> Running:
    """Run the graph above ``sinks`` on a background thread; returns its `Running` handle
    (arguments as for `run`; with ``serve``, ``running.control_url`` is the control API's)."""
    check_clock(clock, "start")
    capture.intercept(sinks)
    graph = build_graph(sinks)
    executor = make_executor(graph, cluster, transport, drain_timeout)
    check_virtual(clock, executor, serve, "start")
    return Running(graph, duration, progress, runtime=executor, serve=serve, clock=clock)


class Running:
    """A graph running on its own thread and event loop.

    Use ``stop()`` for an orderly stop, ``wait()`` for the final report, ``report()`` for a
    live snapshot; as a context manager, leaving the block stops and waits.
    """

    def __init__(
        self,
        graph: Graph,
        duration: float | None = None,
        progress: bool = False,
        *,
        runtime: Executor | None = None,
        serve: Any = None,
        clock: str = "wall",
    ):
        self._runtime = runtime if runtime is not None else Runtime(graph)
        self._serve = serve
        self._loop_factory = loop_factory(clock)
        self._duration = duration
        self._progress = progress
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._done = threading.Event()
        self._report: Report | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="daqflow-graph", daemon=True)
        self._thread.start()
        self._ready.wait()

    def _main(self) -> None:
        ready = self._ready

        class Ready(RunObserver):
            def started(self, executor: Executor) -> None:
                ready.set()

        async def main() -> Report:
            self._loop = asyncio.get_running_loop()
            return await drive(self._runtime, self._duration, serve=self._serve,
                               observers=[Ready(), *_watchers(self._progress)])

        try:
            with asyncio.Runner(loop_factory=self._loop_factory) as runner:
                self._report = runner.run(main())
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()
            self._done.set()

    @property
    def control_url(self) -> str | None:
        """The control API's base URL ("http://127.0.0.1:PORT") when started with ``serve``."""
        return getattr(self._runtime, "control_url", None)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the graph runs on (None once it has ended)."""
        return None if self._done.is_set() else self._loop

    def done(self) -> bool:
        return self._done.is_set()

    def stop(self) -> None:
        """Orderly stop: sources stop, FIFOs drain to the sinks. Returns at once."""
        self.call_soon(self._runtime.request_stop, "stop")

    def call_soon(self, fn: Any, *args: Any) -> bool:
        """Schedule ``fn(*args)`` on the graph's loop; False if the graph has ended."""
        loop = self._loop
        if loop is None or self._done.is_set():
            return False
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # loop closed in between
            return False
        return True

    def wait(self, timeout: float | None = None) -> Report:
        """Wait for the end; returns the report.

        Raises:
            TimeoutError: still running after ``timeout`` seconds. BlockError: a block failed.
        """
        if not self._done.wait(timeout):
            raise TimeoutError(f"graph still running after {timeout} s")
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._report is not None
        return self._report

    def report(self) -> Report:
        """Figures so far (the final report once the graph has ended)."""
        if self._done.is_set():
            if isinstance(self._error, BlockError) and self._error.report is not None:
                return self._error.report
            if self._report is not None:
                return self._report
        return self._runtime.report()

    def diagnose(self, stall_after: float = 2.0) -> str:
        """A few lines naming the block that limits the graph and why, from the figures so
        far and what each block waits on now: no item moving for ``stall_after`` seconds is
        a stall, named with who waits on what (see `daqflow.core.diagnosis`; a `Diagnosis`:
        a str with ``block`` and ``cause``)."""
        if not self._done.is_set() and isinstance(self._runtime, Runtime):
            return self._runtime.diagnose(stall_after)
        from .diagnosis import diagnose

        return diagnose(self.report(), stall_after=stall_after)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        try:
            self.wait()
        except BlockError:
            if exc_info[0] is None:
                raise


async def arun(
    *sinks: Stream,
    duration: float | None = None,
    progress: bool = False,
    cluster: Any = None,
    transport: str | None = None,
    drain_timeout: float = DRAIN_TIMEOUT,
    clock: str = "wall",
) -> Report:
    """Run the graph above ``sinks`` on the current event loop.

    Args:
        sinks: sink streams (e.g. ``df.collect(s)``); everything upstream of them runs.
        duration: stop after this many seconds (orderly: FIFOs drain); None runs to the end.
        progress: show live figures on stderr: a table refreshed twice a second on a
            terminal (with rich), else one plain line every second (see `daqflow.core.live`).
        cluster, transport: where `Process` partitions run and how they connect (see `run`).
        drain_timeout: seconds the FIFOs may take to drain after a stop (see `run`).
        clock: the caller's loop keeps the time; "virtual" checks that it is a
            `daqflow.core.virtual_time.VirtualTimeLoop` (see `run`).

    Returns:
        The `Report`; ``report.results`` holds each sink's result by name.

    Raises:
        GraphError: bad wiring (nothing has run). BlockError: a block failed.
    """
    capture.intercept(sinks)
    executor = make_executor(build_graph(sinks), cluster, transport, drain_timeout)
    if check_virtual(clock, executor, None, "arun") and not is_virtual(asyncio.get_running_loop()):
        raise ValueError("arun: clock='virtual' needs the caller's loop to be a daqflow.core."
                         "virtual_time.VirtualTimeLoop, this one keeps wall time: use "
                         "df.run(..., clock='virtual') or df.start(..., clock='virtual')")
    return await drive(executor, duration, observers=_watchers(progress))
