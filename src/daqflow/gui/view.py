"""`View`: the base of every live view: its Qt widget (made in Qt's thread when first asked
for), what it keeps of the items it reads (`take`), how it draws them (`draw`), and what its
frames cost (for its window's `daqflow.gui.Pacing`)."""

from __future__ import annotations

import abc
import atexit
import inspect
import weakref
from time import perf_counter
from typing import Any

from ._qt import QtCore, QtWidgets, isValid, shiboken_delete
from .pacing import Pacing, default_pacing
from .widgets import MAX_FPS, check_fps


class View(abc.ABC):
    """A live view: its widget, what it keeps of the items it reads, how it draws them.

    Subclasses define `make_widget` (build the Qt widget), `take` (called for every item
    read: keep what `draw` needs, cheaply) and `draw` (update the widget from what was
    taken; called at most ``max_fps`` times a second; it may return an awaitable, which the
    sink awaits before reading on). A view's widget is made in Qt's thread when first asked
    for; the sink runs there (under qasync, that is the loop's thread).

    Args:
        title: shown above the plot (default none; a window labels each view by its sink).
        max_fps: redraws per second at most.

    Attributes:
        shown: frames drawn in the current (or last) run.
        skipped: items read but not drawn (a newer one came before the frame).
        cost: seconds one frame costs (taking items in, draw, paint), smoothed.
        spent: seconds all frames of the run have cost.
        pacing: the `Pacing` shared with the other views of its window.
    """

    kind = "view"

    def __init__(self, title: str | None = None, max_fps: float = MAX_FPS):
        self.title = title
        self.max_fps = check_fps(max_fps)
        self.pacing: Pacing = default_pacing
        self.shown = 0
        self.skipped = 0
        self.cost = 0.0
        self.spent = 0.0
        self._widget: QtWidgets.QWidget | None = None
        self._painted = 0.0
        self._spent = 0.0

    # -- what subclasses define ----------------------------------------------------------
    @abc.abstractmethod
    def make_widget(self) -> QtWidgets.QWidget:
        """The view's widget (called once, in Qt's thread)."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget the data of an earlier run (called when a run starts)."""

    @abc.abstractmethod
    def take(self, item: Any) -> None:
        """Keep what the next frame shows from one item (no drawing here)."""

    @abc.abstractmethod
    def draw(self) -> None:
        """Draw what `take` kept (may return an awaitable)."""

    # -- the widget ----------------------------------------------------------------------
    @property
    def widget(self) -> QtWidgets.QWidget:
        """The Qt widget (made on first use; needs a QApplication, in its thread)."""
        if self._widget is None or not isValid(self._widget):
            check_qt_thread(f"{type(self).__name__}.widget")
            self._widget = self.make_widget()
            self._painted = 0.0
            _made(self._widget)
        return self._widget

    @property
    def fps(self) -> float:
        """Redraws per second the pacing allows now."""
        return 1.0 / self.pacing.interval(self.max_fps, self.cost)

    # -- the sink's side -----------------------------------------------------------------
    def _open(self) -> None:
        check_qt_thread(f"view sink {self.kind!r}")
        self.widget  # noqa: B018 (made now, in Qt's thread)
        self.shown = self.skipped = 0
        self.cost = self._spent = self.spent = 0.0
        self._painted = getattr(self._widget, "paint_seconds", 0.0)
        self.reset()
        self.pacing.add(self)

    def _close(self) -> None:
        self.pacing.discard(self)

    def _draw(self) -> Any:
        """Draw (counting the time); returns what ``draw`` returned if it is awaitable."""
        t0 = perf_counter()
        result = self.draw()
        self._spent += perf_counter() - t0
        self.shown += 1
        return result if inspect.isawaitable(result) else None

    def _next(self) -> float:
        """Seconds to wait before the next frame, from what this one cost."""
        spent, self._spent = self._spent, 0.0  # taking items in, and drawing
        painted = getattr(self._widget, "paint_seconds", 0.0)
        spent += max(0.0, painted - self._painted)  # the paints since the last frame
        self._painted = painted
        self.spent += spent
        if self.shown > 1:  # the first frame lays the widget out: not a fair cost
            self.cost = spent if self.cost == 0.0 else 0.7 * self.cost + 0.3 * spent
        return self.pacing.interval(self.max_fps, self.cost)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} shown={self.shown} skipped={self.skipped}>"


_widgets: weakref.WeakSet[QtWidgets.QWidget] = weakref.WeakSet()


_cleanup: list[bool] = []


def _made(widget: QtWidgets.QWidget) -> None:
    """Keep track of the views' widgets, to delete those without a parent at exit."""
    if not _cleanup:
        atexit.register(_delete_orphans)
        _cleanup.append(True)
    _widgets.add(widget)


def _delete_orphans() -> None:
    """At exit, while the QApplication still exists: delete the views' widgets nobody holds
    in a window (else Python may free them after Qt has gone, and crash)."""
    if QtWidgets.QApplication.instance() is None:
        return
    for widget in list(_widgets):
        if isValid(widget) and widget.parent() is None:
            shiboken_delete(widget)
    _widgets.clear()


def check_qt_thread(what: str) -> None:
    app = QtWidgets.QApplication.instance()
    if app is None:
        raise RuntimeError(f"{what} needs a QApplication: run the graph with daqflow.gui.run(...) "
                           "(or await daqflow.gui.arun(...) inside a qasync loop)")
    if app.thread() != QtCore.QThread.currentThread():
        raise RuntimeError(f"{what} must run in Qt's thread: run the graph with "
                           "daqflow.gui.run(...), not daqflow.run/start (a background thread)")
