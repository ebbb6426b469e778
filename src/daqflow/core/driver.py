"""The one driver of a run: every way of running a graph (`run`, `start`, `iterate`, `arun`,
`daqflow.gui.run`, ``daqflow top``/``serve``, a partition's child) goes through `drive`.

`drive` runs an `Executor` on the current loop with what surrounds a run: Ctrl-C and SIGTERM
as an orderly stop (main thread only), the control API (``serve=``), and the run's observers
(started, ticked every ``interval`` seconds, ended with the final report).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .bootstrap import refuse_while_bootstrapping
from .errors import BlockError
from .executor import DRAIN_TIMEOUT, Executor, RunObserver, partitioned_executor
from .graph import Graph
from .live import tick_forever
from .report import Report
from .runtime import Runtime

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def make_executor(graph: Graph, cluster: Any = None, transport: str | None = None,
                  drain_timeout: float = DRAIN_TIMEOUT) -> Executor:
    """The executor for ``graph``: the in-process `Runtime`, or the one `daqflow.net`
    registered for blocks in other processes (``proc=``) or on Dask workers (``cluster=``)."""
    refuse_while_bootstrapping()
    if not drain_timeout > 0:
        raise ValueError(f"drain_timeout must be > 0 seconds, got {drain_timeout!r}")
    if cluster is None and transport is None and not any(n.proc for n in graph.nodes):
        return Runtime(graph, drain_timeout=drain_timeout)
    return partitioned_executor()(graph, cluster=cluster, transport=transport,
                                  drain_timeout=drain_timeout)


#: ``(executor, serve) -> async context`` serving a run's control API: registered by
#: `daqflow.net` (core imports nothing above it)
_control_server: Callable[[Any, Any], Any] | None = None


def register_control_server(factory: Callable[[Any, Any], Any]) -> None:
    """Register what serves a run's control API (``serve=``)."""
    global _control_server
    _control_server = factory


def control(executor: Any, serve: Any) -> Any:
    """An async context serving ``executor``'s control API, or doing nothing when ``serve``
    is None."""
    if serve is None:
        return contextlib.nullcontext()
    if _control_server is None:
        raise ImportError("serve= needs daqflow.net: pip install 'daqflow[net]'")
    return _control_server(executor, serve)


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
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    held = _held = _Held()
    for sig in STOP_SIGNALS:
        signal.signal(sig, held)
    try:
        yield
    finally:
        _held = None
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if held.came and not held.ran:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_signals(loop: asyncio.AbstractEventLoop, interrupt: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C and SIGTERM call ``interrupt`` on the loop while the run lasts (main thread
    only; on a loop without signal handlers, such as Qt's, through `signal.signal`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    on_loop: list[int] = []
    saved: dict[int, Any] = {}
    for sig in STOP_SIGNALS:
        previous = signal.getsignal(sig)
        try:
            loop.add_signal_handler(sig, interrupt)
            on_loop.append(sig)
        except (NotImplementedError, RuntimeError):
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, lambda signum, frame: loop.call_soon_threadsafe(interrupt))
        except ValueError:
            continue
        saved[sig] = previous
    held = _held
    if held is not None:
        held.ran = True
        if held.came:  # a Ctrl-C while the run was set up: it stops in order at once
            held.came.clear()
            loop.call_soon(interrupt)
    try:
        yield
    finally:
        for sig, previous in saved.items():
            if sig in on_loop:
                loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)


async def drive(executor: Executor, duration: float | None = None, *,
                observers: Iterable[RunObserver] = (), serve: Any = None,
                signals: bool = False, on_interrupt: Callable[[], None] | None = None) -> Report:
    """Run ``executor`` on this loop to its end (or ``duration`` seconds); returns the report.

    Args:
        executor: what runs the graph (`make_executor`).
        duration: stop after this many seconds; None runs until the sources end.
        observers: watch the run (`RunObserver`): started, ticked, told of a failure, ended.
        serve: the control API to open around the run (see `daqflow.run`).
        signals: Ctrl-C and SIGTERM stop the run in order (main thread only; a second one
            cuts the drain short).
        on_interrupt: what a Ctrl-C does (default: ``executor.request_stop("interrupt")``).

    Raises:
        BlockError: a block failed (observers have seen the final report).
    """
    watchers = list(observers)
    executor.observers.extend(watchers)
    interrupt = on_interrupt or (lambda: executor.request_stop("interrupt"))
    loop = asyncio.get_running_loop()
    tickers: list[asyncio.Task[None]] = []
    begun: list[RunObserver] = []  # those told the run started: they are told it ended
    report: Report | None = None
    with _stop_signals(loop, interrupt) if signals else contextlib.nullcontext():
        try:
            async with control(executor, serve):
                for watcher in watchers:
                    watcher.started(executor)
                    begun.append(watcher)
                    if watcher.interval is not None:
                        tickers.append(loop.create_task(tick_forever(watcher, executor.report)))
                try:
                    report = await executor.run(duration=duration)
                except BlockError as exc:
                    report = exc.report
                    raise
        finally:
            for ticker in tickers:
                ticker.cancel()
            await asyncio.gather(*tickers, return_exceptions=True)
            final = report if report is not None else executor.report()
            for watcher in begun:
                watcher.ended(final)
    return report
