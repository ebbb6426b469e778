"""Running a graph with live views: Qt's event loop is the asyncio loop (qasync).

`run` starts (or reuses) the QApplication, runs a qasync loop on it, opens a `Window` with
every view sink of the graph and a control per Param, and runs the graph on that loop, so the
blocks, the views and the widgets share one thread and nothing needs a lock. `arun` does the
same inside a qasync loop that already runs (an existing Qt application).

Stop rules, besides the graph's own (end, ``duration``, a failing block):

- closing the window is an orderly stop (``stopped_by == "stop"``): sources stop, FIFOs
  drain, writers flush and close; the report comes back once they have;
- when the graph ends, the window closes, unless ``keep_open=True``: then it stays (with the
  final figures) until the user closes it;
- Ctrl-C (SIGINT) or SIGTERM under `run` is an orderly stop (``"interrupt"``) and closes the
  window; a second one cancels everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from time import perf_counter
from typing import Any

from ..core import BlockError, Report, Stream, build_graph, capture
from ..core.driver import drive, make_executor
from ..core.executor import RunObserver
from ..core.live import ProgressObserver
from ..core.params import Param
from ._qt import QtWidgets, qasync
from .controls import find_params
from .pacing import BUDGET, Pacing
from .sinks import is_view
from .view import View
from .window import Window

PACING_INTERVAL = 0.2  # seconds between two looks at the graph's load (for the pacing)
STATUS_EVERY = 5  # pacing intervals between two updates of the window's status line

_app: QtWidgets.QApplication | None = None  # the QApplication `run` made (kept alive)


class Session:
    """One run of a graph with its views: the runtime, the window, the pacing.

    Made by `run`/`arun`; exposed (``on_start``) for programs and tests that drive it.

    Attributes:
        runtime: the graph's runtime (``runtime.report()`` is a live snapshot).
        window: the `Window`, or None (``window=False``).
        views: (sink name, `View`) of every view sink in the graph, in graph order.
        params: the Params given controls.
        pacing: the views' shared `Pacing`.
    """

    def __init__(self, sinks: tuple[Stream, ...], *, window: bool = True, keep_open: bool = False,
                 title: str | None = None, params: Iterable[Param[Any]] = (),
                 budget: float = BUDGET, columns: int | None = None):
        capture.intercept(sinks)
        graph = build_graph(sinks)
        self.runtime = make_executor(graph)
        self.views: list[tuple[str, View]] = [
            (graph.names[node], node.params["view"]) for node in graph.nodes if is_view(node)
        ]
        found = {id(p): p for p in find_params(graph.nodes)}
        for p in params:
            if not isinstance(p, Param):
                raise TypeError(f"params: expected daqflow Params, got {type(p).__name__}")
            found.setdefault(id(p), p)
        self.params = list(found.values())
        self.pacing = Pacing(budget)
        self.keep_open = bool(keep_open)
        self.window: Window | None = None
        self._want_window = bool(window)
        self._title = title or "daqflow: " + ", ".join(graph.names[s] for s in graph.sinks)
        self._columns = columns
        self._view_names = {name for name, _ in self.views}
        self._finished = False
        self._closed: asyncio.Event | None = None
        self._busy = (0.0, 0.0, perf_counter())

    @property
    def finished(self) -> bool:
        """True once the graph has ended (the window may still be open: ``keep_open``)."""
        return self._finished

    # -- control -------------------------------------------------------------------------
    def stop(self, reason: str = "stop") -> None:
        """Orderly stop of the graph (as closing the window does)."""
        if not self._finished:
            self.runtime.request_stop(reason)

    def interrupt(self) -> None:
        """Ctrl-C: stop in order and close the window (a second one cancels everything)."""
        self.keep_open = False
        if self._finished:
            if self.window is not None:
                self.window.close()
            return
        self.runtime.request_stop("interrupt")

    def close_window(self) -> None:
        """Close the window (the graph, if running, stops in order)."""
        if self.window is not None:
            self.window.close()

    def _on_closed(self) -> None:
        if self._closed is not None:
            self._closed.set()
        self.stop("stop")

    # -- figures -------------------------------------------------------------------------
    def load(self, report: Report) -> tuple[float, float]:
        """Shares of the loop's time the graph's blocks (not the views) and the views took
        since last asked."""
        busy = sum(b.busy for name, b in report.blocks.items()
                   if not b.threaded and name not in self._view_names)
        drawing = self.pacing.drawing()
        now = perf_counter()
        busy0, drawing0, then = self._busy
        self._busy = (busy, drawing, now)
        if now <= then:
            return 0.0, 0.0
        return (busy - busy0) / (now - then), max(0.0, drawing - drawing0) / (now - then)

    # -- running -------------------------------------------------------------------------
    async def run(self, duration: float | None = None, progress: bool = False) -> Report:
        """Open the window, run the graph, close (or keep) the window; returns the report."""
        self._closed = asyncio.Event()
        saved = [(view, view.pacing) for _, view in self.views]
        for _, view in self.views:
            view.pacing = self.pacing
        if self._want_window:
            self.window = Window(self.views, self.params, self._title, self._columns)
            self.window.closed.connect(self._on_closed)
            self.window.show()
        watchers: list[RunObserver] = [_Status(self)]
        if progress:
            watchers.append(ProgressObserver())
        error: BlockError | None = None
        try:
            try:
                report = await drive(self.runtime, duration, observers=watchers)
            except BlockError as exc:
                error = exc
                report = exc.report if exc.report is not None else self.runtime.report()
            finally:
                self._finished = True
            window = self.window
            if window is not None and window.isVisible():
                window.show_report(report, "failed" if error else "ended")
                if self.keep_open:
                    await self._closed.wait()
                else:
                    window.close()
        finally:
            for view, pacing in saved:
                view.pacing = pacing
            if self.window is not None:
                if self.window.isVisible():  # cancelled, or failed before the graph ran
                    self.window.close()
                self.window.release_views()  # its views' widgets stay for a next run
        if error is not None:
            raise error
        return report


class _Status(RunObserver):
    """Every `PACING_INTERVAL` seconds: the views' pacing learns the graph's load, and every
    `STATUS_EVERY` ticks the window's status line shows the figures."""

    interval = PACING_INTERVAL

    def __init__(self, session: Session):
        self._session = session
        self._ticks = 0

    def tick(self, report: Report) -> None:
        session = self._session
        self._ticks += 1
        session.pacing.observe(*session.load(report))
        if session.window is not None and self._ticks % STATUS_EVERY == 0:
            session.window.show_report(report)


async def arun(*sinks: Stream, duration: float | None = None, progress: bool = False,
               keep_open: bool = False, window: bool = True, title: str | None = None,
               params: Iterable[Param[Any]] = (), budget: float = BUDGET,
               columns: int | None = None, on_start: Any = None) -> Report:
    """Run the graph above ``sinks`` with its views, inside a running qasync loop.

    Args:
        sinks: sink streams (view sinks and any others, e.g. writers).
        duration: stop after this many seconds (orderly); None runs to the end, or until the
            window is closed.
        progress: print a status line to stderr every second.
        keep_open: when the graph ends, keep the window until the user closes it.
        window: open a window with the views (False: the views' widgets are embedded by the
            caller, ``view_of(sink).widget``).
        title: the window title.
        params: Params to give controls to, besides those the blocks use.
        budget: share of the loop's time the views may take while the graph runs flat out.
        columns: views per row in the window.
        on_start: called with the `Session` once the window is shown (for programs that
            drive it).

    Returns:
        The `Report` (each view's result is ``{"shown": n, "skipped": m}``).

    Raises:
        GraphError: bad wiring. BlockError: a block failed (after the window closes, with
            ``keep_open`` once the user closed it).
    """
    session = Session(sinks, window=window, keep_open=keep_open, title=title, params=params,
                      budget=budget, columns=columns)
    if on_start is None:
        return await session.run(duration, progress)
    loop = asyncio.get_running_loop()
    loop.call_soon(on_start, session)
    return await session.run(duration, progress)


def application() -> QtWidgets.QApplication:
    """The QApplication (made if there is none)."""
    global _app
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = _app = QtWidgets.QApplication([sys.argv[0] if sys.argv and sys.argv[0] else "daqflow"])
    return app  # type: ignore[return-value]


@contextlib.contextmanager
def _signals(loop: asyncio.AbstractEventLoop, session_box: list[Session]) -> Iterator[None]:
    """SIGINT/SIGTERM stop the session in order (handled on the loop, not in the handler)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if session_box:
            loop.call_soon_threadsafe(session_box[0].interrupt)

    saved = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):
            saved[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)


def run(*sinks: Stream, duration: float | None = None, progress: bool = False,
        keep_open: bool = False, window: bool = True, title: str | None = None,
        params: Iterable[Param[Any]] = (), budget: float = BUDGET, columns: int | None = None,
        on_start: Any = None) -> Report:
    """Run the graph above ``sinks`` with a window of its views; returns when it has ended.

    Starts a QApplication if there is none (else uses it) and runs a qasync event loop on it
    for the time of the run. Closing the window stops the graph in order (writers flush);
    when the graph ends the window closes, unless ``keep_open``. Ctrl-C stops in order.

    Args:
        sinks, duration, progress, keep_open, window, title, params, budget, columns,
            on_start: as `arun`.

    Returns:
        The `Report`; ``report.results[name]`` of a view is ``{"shown": n, "skipped": m}``.

    Raises:
        RuntimeError: called while an event loop runs in this thread (use ``await arun``).
        GraphError: bad wiring. BlockError: a block failed.
    """
    capture.intercept(sinks)  # a dry run (daqflow graph) stops here, before Qt starts
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("daqflow.gui.run: an event loop already runs in this thread; "
                           "use `await daqflow.gui.arun(...)` in it")
    app = application()
    quit_on_close = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)  # the window's close stops the graph, not the app
    loop = qasync.QEventLoop(app)
    box: list[Session] = []

    def started(session: Session) -> None:
        box.append(session)
        if on_start is not None:
            on_start(session)

    try:
        with _signals(loop, box):
            return loop.run_until_complete(arun(
                *sinks, duration=duration, progress=progress, keep_open=keep_open, window=window,
                title=title, params=params, budget=budget, columns=columns, on_start=started))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
            app.setQuitOnLastWindowClosed(quit_on_close)
