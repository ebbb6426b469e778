"""Blocking faces of the runtime: `run`, `start` (a background `Running` handle), `iterate`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

from . import capture
from .bootstrap import refuse_while_bootstrapping
from .decorator import block
from .errors import BlockError, EndOfStream, ReceiverGone
from .graph import Graph, build_graph
from .report import Report
from .runtime import DRAIN_TIMEOUT, Runtime
from .stream import Stream
from .virtual_time import check_clock, loop_factory

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def make_runtime(graph: Graph, cluster: Any = None, transport: str | None = None,
                 drain_timeout: float = DRAIN_TIMEOUT) -> Any:
    """The runtime for ``graph``: in this process, or split over processes (``proc=``) or
    Dask workers (``cluster=``) by `daqflow.net.partition` (extra ``net``)."""
    refuse_while_bootstrapping()
    if not drain_timeout > 0:
        raise ValueError(f"drain_timeout must be > 0 seconds, got {drain_timeout!r}")
    if cluster is None and transport is None and not any(n.proc for n in graph.nodes):
        return Runtime(graph, drain_timeout=drain_timeout)
    try:
        from daqflow.net.partition import PartitionedRuntime
    except ImportError as exc:
        raise ImportError(
            f"running blocks in other processes needs daqflow.net: pip install 'daqflow[net]' ({exc})"
        ) from exc
    return PartitionedRuntime(graph, cluster=cluster, transport=transport,
                              drain_timeout=drain_timeout)


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
    runtime = make_runtime(graph, cluster, transport, drain_timeout)
    check_virtual(clock, runtime, serve, "run")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:  # a loop runs in this thread (Jupyter): run beside it
        running = Running(graph, duration, progress, runtime=runtime, serve=serve, clock=clock)
        try:
            return running.wait()
        except KeyboardInterrupt:
            running.stop()
            return running.wait()
    with asyncio.Runner(loop_factory=loop_factory(clock)) as runner:
        return runner.run(_run_with_signals(runtime, duration, progress, serve))


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


#: ``(runtime, serve) -> async context`` serving a run's control API: set by the package's
#: face to `daqflow.net.control.serving` (core imports nothing above it)
control_server: Any = None


def control(runtime: Any, serve: Any) -> Any:
    """An async context serving ``runtime``'s control API (`control_server`), or doing
    nothing when ``serve`` is None."""
    if serve is None:
        return contextlib.nullcontext()
    if control_server is None:
        raise ImportError("serve= needs daqflow.net's control server (import daqflow)")
    return control_server(runtime, serve)


class _Held:
    """Stop signals that came while `signals_held` held them, and whether a run began."""

    def __init__(self) -> None:
        self.came: list[int] = []
        self.ran = False

    def __call__(self, signum: int, frame: object) -> None:
        self.came.append(signum)


_held: _Held | None = None


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM around a run (main thread only): one that comes while the
    run is set up becomes its orderly stop as soon as its own handlers are in place, and one
    that comes as it ends is ignored (the report still prints), instead of a
    KeyboardInterrupt inside asyncio's start-up or shut-down. If no run began, a held
    signal raises KeyboardInterrupt when the block ends."""
    global _held
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    held = _held = _Held()
    for sig in _STOP_SIGNALS:
        signal.signal(sig, held)
    try:
        yield
    finally:
        _held = None
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if held.came and not held.ran:
        raise KeyboardInterrupt


async def _run_with_signals(runtime: Any, duration: float | None, progress: bool,
                            serve: Any = None) -> Report:
    loop = asyncio.get_running_loop()
    installed: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in _STOP_SIGNALS:
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, runtime.request_stop, "interrupt")
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            installed[sig] = previous
    held = _held
    if held is not None:
        held.ran = True
        if held.came:  # a Ctrl-C while the run was set up: it stops in order at once
            held.came.clear()
            loop.call_soon(runtime.request_stop, "interrupt")
    try:
        async with control(runtime, serve):
            return await runtime.run(duration=duration, progress=progress)
    finally:
        for sig, previous in installed.items():
            loop.remove_signal_handler(sig)
            if previous is not None:
                signal.signal(sig, previous)  # (asyncio would leave the default one)


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
    runtime = make_runtime(graph, cluster, transport, drain_timeout)
    check_virtual(clock, runtime, serve, "start")
    return Running(graph, duration, progress, runtime=runtime, serve=serve, clock=clock)


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
        runtime: Any = None,
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
        async def main() -> Report:
            self._loop = asyncio.get_running_loop()
            async with control(self._runtime, self._serve):
                self._ready.set()
                return await self._runtime.run(duration=self._duration, progress=self._progress)

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
        if not self._done.is_set() and hasattr(self._runtime, "wait_states"):
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


class _Handoff:
    """Bounded FIFO from the graph's loop (``put``) to a plain thread (``get``)."""

    def __init__(self, capacity: int):
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"iterate: buffer must be an int >= 1 item, got {capacity!r}")
        self._capacity = capacity
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self._space: asyncio.Future[None] | None = None
        self._closed = False
        self._gone = False

    async def put(self, item: Any) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                if self._gone:
                    raise ReceiverGone
                if len(self._items) < self._capacity:
                    self._items.append(item)
                    self._cond.notify()
                    return
                space = self._space = loop.create_future()
            await space

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self) -> Any:
        """Next item; raises EndOfStream once closed and empty."""
        with self._cond:
            while not self._items:
                if self._closed:
                    raise EndOfStream
                self._cond.wait()
            item = self._items.popleft()
            space, self._space = self._space, None
        _wake(space)
        return item

    def close_receiver(self) -> None:
        with self._cond:
            self._gone = True
            self._items.clear()
            space, self._space = self._space, None
        _wake(space)


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is None:
        return

    def resolve() -> None:
        if not future.done():
            future.set_result(None)

    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
        future.get_loop().call_soon_threadsafe(resolve)


@block(name="iterate")
async def _relay(stream: Stream, handoff: _Handoff) -> None:
    """Hands items to the thread that iterates; stops when that thread stops reading."""
    try:
        async for item in stream:
            await handoff.put(item)
    except ReceiverGone:
        pass
    finally:
        handoff.close()


def iterate(stream: Stream, duration: float | None = None, *, buffer: int = 8) -> Iterator[Any]:
    """Iterate over a stream's items as they arrive, from plain blocking code.

    The graph above ``stream`` runs on a background thread; leaving the loop (``break``, an
    exception, or closing the iterator) stops it.

    Args:
        stream: any stream (not a sink).
        duration: stop the graph after this many seconds.
        buffer: items held between the graph and this thread.

    >>> import daqflow as df
    >>> [x for x in df.iterate(df.from_iterable(range(3)))]
    [0, 1, 2]

    Raises:
        BlockError: a block failed (after the items that came before the failure).
    """
    handoff = _Handoff(buffer)
    sink = _relay(stream, handoff)
    capture.intercept((sink,))
    graph = build_graph((sink,))
    running = Running(graph, duration, runtime=make_runtime(graph))
    try:
        while True:
            try:
                item = handoff.get()
            except EndOfStream:
                break
            yield item
    finally:
        handoff.close_receiver()
        running.stop()
        running.wait()
