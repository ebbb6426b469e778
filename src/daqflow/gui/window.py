"""`Window`: the views of a graph in a grid, their controls beside them, figures below."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from ..core import Report
from ..core.params import Param
from ._qt import QtCore, QtWidgets
from .controls import Controls
from .view import View


def status_text(report: Report, views: Sequence[tuple[str, View]] = (), state: str = "running") -> str:
    """One line: time, the sources' rates, samples lost, each view's frames.

    Items the views' own FIFOs drop (they keep the newest) are not losses: they are counted
    apart, as items the views left out; so are other FIFOs' skips by design (a lossy policy).
    """
    names = {name for name, _ in views}
    parts = [f"{state} {report.duration:.1f} s"]
    for b in report.blocks.values():
        if b.kind == "source":
            parts.append(f"{b.name} {b.samples_per_s / 1e6:.3g} MS/s")
    parts.append(f"overflow {report.overflow} samples")
    dropped = sum(e.dropped_items for e in report.edges
                  if e.consumer not in names and not e.by_design)
    if dropped:
        parts.append(f"dropped {dropped} items")
    skipped = sum(e.dropped_items for e in report.edges if e.consumer not in names and e.by_design)
    if skipped:
        parts.append(f"skipped {skipped} items by design")
    for name, view in views:
        parts.append(f"{name} {view.shown} frames")
    left_out = sum(e.dropped_items for e in report.edges if e.consumer in names)
    if left_out:
        parts.append(f"views left out {left_out} items")
    if report.error:
        parts.append(report.error)
    return " | ".join(parts)


class Window(QtWidgets.QMainWindow):
    """A main window holding views (each in a box titled with its sink's name) in a grid,
    a dock of controls for Params, and a status line.

    Closing it emits ``closed``; `daqflow.gui.arun` then stops the graph in order.

    Args:
        views: (name, `View`) pairs.
        params: Params to give controls to (none: no dock).
        title: the window title.
        columns: views per row (default: 1 for up to 2 views, else 2).
    """

    closed = QtCore.Signal()

    def __init__(self, views: Iterable[tuple[str, View]], params: Iterable[Param[Any]] = (),
                 title: str = "daqflow", columns: int | None = None):
        super().__init__()
        self.setWindowTitle(title)
        self.views = list(views)
        self._held: list[QtWidgets.QWidget] = []
        central = QtWidgets.QWidget()
        grid = QtWidgets.QGridLayout(central)
        n = len(self.views)
        cols = columns or (1 if n <= 2 else 2)
        self.boxes: dict[str, QtWidgets.QGroupBox] = {}
        for k, (name, view) in enumerate(self.views):
            box = QtWidgets.QGroupBox(name)
            inner = QtWidgets.QVBoxLayout(box)
            inner.setContentsMargins(2, 2, 2, 2)
            widget = view.widget
            inner.addWidget(widget)
            self._held.append(widget)
            grid.addWidget(box, k // cols, k % cols)
            self.boxes[name] = box
        if not self.views:
            grid.addWidget(QtWidgets.QLabel("no views in this graph"), 0, 0)
        self.setCentralWidget(central)
        params = list(params)
        self.controls: Controls | None = None
        if params:
            self.controls = Controls(params)
            dock = QtWidgets.QDockWidget("controls", self)
            dock.setObjectName("controls")
            dock.setWidget(self.controls)
            dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
            self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.status = QtWidgets.QLabel("starting")
        self.statusBar().addWidget(self.status, 1)
        rows = math.ceil(max(n, 1) / cols)
        self.resize(560 * cols + (300 if params else 0), 320 * rows + 40)

    def show_report(self, report: Report, state: str = "running") -> None:
        """Put the figures of ``report`` in the status line."""
        self.status.setText(status_text(report, self.views, state))

    def closeEvent(self, event: Any) -> None:  # Qt names it
        self.closed.emit()
        super().closeEvent(event)

    def release_views(self) -> None:
        """Take the views' widgets out (so deleting the window keeps them for a next run)."""
        for widget in self._held:
            widget.setParent(None)
        self._held = []
