"""View sinks: live plots of a stream, drawn on the loop the graph runs on (Qt's thread).

Each view sink is a daqflow sink block. Its input FIFO keeps the newest items
(``policy="drop_oldest"``, a small ``buffer``) and it redraws at most ``max_fps`` times a
second, and less when drawing would take more of the loop's time than the graph leaves (see
`daqflow.gui.pacing`): a slow display never holds back the blocks upstream. Items that arrive
between two frames are taken in (a waterfall keeps their rows) and the newest is drawn; the
FIFO's drops show in the report on the view's edge, and the sink's result is
``{"shown": frames drawn, "skipped": items read but not drawn}``.

Every view has a `View` object with its Qt widget (``view_of(sink).widget``), made when
first asked for (a QApplication must exist), so views can be embedded in any Qt window.
"""

from __future__ import annotations

import abc
import asyncio
import atexit
import inspect
import math
import weakref
from collections.abc import Sequence
from time import perf_counter
from typing import Any

import numpy as np

from ..core import Chunk, GraphError, Stream, block
from ..core.channel import WouldBlock
from ..core.errors import EndOfStream
from ._qt import QtCore, QtWidgets, isValid, pg, shiboken_delete
from .pacing import Pacing, default_pacing

MAX_FPS = 30.0  # default redraw limit, frames per second
_NAP = 0.1  # seconds: a view waiting for its next frame looks this often whether its input ended
_I_PEN = (255, 215, 0)  # I (or real) trace
_Q_PEN = (0, 200, 255)  # Q trace
_XY_PENS = ((255, 215, 0), (0, 200, 255), (255, 80, 80), (120, 255, 120), (220, 120, 255))


# -- the widget views draw on -----------------------------------------------------------
class PlotWidget(pg.PlotWidget):
    """A pyqtgraph PlotWidget that adds up the time its paints take (``paint_seconds``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.paint_seconds = 0.0
        self.paints = 0

    def paintEvent(self, event: Any) -> None:  # Qt names it
        t0 = perf_counter()
        try:
            super().paintEvent(event)
        finally:
            self.paint_seconds += perf_counter() - t0
            self.paints += 1


class _Range:
    """An axis range that follows the data without moving at every frame (each move redraws
    the axis and its ticks, which costs more than the curve): it widens at once when data
    leave it and narrows only after the data have used less than 40% of it for 30 frames."""

    def __init__(self, fixed: tuple[float, float] | None = None):
        self.fixed = None if fixed is None else _pair(fixed, "range")
        self.lo: float | None = None
        self.hi: float | None = None
        self._narrow = 0

    def reset(self) -> None:
        self.lo = self.hi = None
        self._narrow = 0

    def fit(self, lo: float, hi: float) -> tuple[float, float] | None:
        """The new range if it must change, else None."""
        if self.fixed is not None:
            if self.lo is None:
                self.lo, self.hi = self.fixed
                return self.fixed
            return None
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return None
        if self.lo is not None and self.hi is not None:
            span = self.hi - self.lo
            if lo >= self.lo and hi <= self.hi:
                if hi - lo >= 0.4 * span:
                    self._narrow = 0
                    return None
                self._narrow += 1
                if self._narrow < 30:
                    return None
        self._narrow = 0
        margin = 0.1 * (hi - lo) or 0.1 * abs(hi) or 1.0
        self.lo, self.hi = lo - margin, hi + margin
        return self.lo, self.hi


def _pair(value: Any, what: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{what} must be (low, high) with low < high, got {value!r}")
    return lo, hi


def _check_fps(max_fps: float) -> float:
    value = float(max_fps)
    if not value > 0:
        raise ValueError(f"max_fps must be > 0 frames per second, got {max_fps!r}")
    return value


def _data(item: Any) -> np.ndarray:
    return item.data if isinstance(item, Chunk) else np.asarray(item)


def _meta(item: Any) -> Any:
    return item.meta if isinstance(item, Chunk) else {}


def _groups(n: int, columns: int) -> int:
    """Samples per group so that n samples make at most ``columns`` groups."""
    return -(-n // columns)


def _envelope(x: np.ndarray, y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ~2*columns points that keep each column's min and max (so peaks show)."""
    n = len(y)
    if columns < 1 or n <= 4 * columns:
        return x, y
    per = _groups(n, columns)
    full = n // per
    m = full * per
    lo = np.empty(full + (m < n), dtype=y.dtype)
    hi = np.empty_like(lo)
    shaped = y[:m].reshape(full, per)
    np.min(shaped, axis=1, out=lo[:full])
    np.max(shaped, axis=1, out=hi[:full])
    xs = np.empty((len(lo), 2), dtype=x.dtype)
    xs[:full] = x[:m].reshape(full, per)[:, [0, -1]]
    if m < n:  # the last, shorter group
        lo[-1], hi[-1] = y[m:].min(), y[m:].max()
        xs[-1] = x[m], x[-1]
    return xs.ravel(), np.stack([lo, hi], axis=1).ravel()


def _peak_hold(x: np.ndarray, y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ~2*columns points of a spectrum, each the maximum of its group of bins."""
    n = len(y)
    if columns < 1 or n <= 4 * columns:
        return x, y
    per = _groups(n, 2 * columns)
    pad = -n % per  # the last group is shorter: pad it with its own last value
    if pad:
        x = np.concatenate([x, np.full(pad, x[-1])])
        y = np.concatenate([y, np.full(pad, y[-1])])
    return x.reshape(-1, per).mean(axis=1), y.reshape(-1, per).max(axis=1)


def _db(power: np.ndarray, floor: float) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(power, floor))


# -- the base class ---------------------------------------------------------------------
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
        self.max_fps = _check_fps(max_fps)
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
            _check_qt_thread(f"{type(self).__name__}.widget")
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
        _check_qt_thread(f"view sink {self.kind!r}")
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


def _check_qt_thread(what: str) -> None:
    app = QtWidgets.QApplication.instance()
    if app is None:
        raise RuntimeError(f"{what} needs a QApplication: run the graph with daqflow.gui.run(...) "
                           "(or await daqflow.gui.arun(...) inside a qasync loop)")
    if app.thread() != QtCore.QThread.currentThread():
        raise RuntimeError(f"{what} must run in Qt's thread: run the graph with "
                           "daqflow.gui.run(...), not daqflow.run/start (a background thread)")


async def _show(stream: Any, view: View) -> dict[str, int]:
    """The sink every view runs: read, keep the newest, redraw when its pacing allows."""
    view._open()
    get_nowait = getattr(stream, "get_nowait", None)
    due = 0.0
    try:
        async for item in stream:
            t0 = perf_counter()
            view.take(item)
            fresh = 1
            wait = due - perf_counter()
            if wait > 0:  # the FIFO (drop_oldest) keeps the newest items meanwhile
                view._spent += perf_counter() - t0
                while wait > 0 and not getattr(stream, "closed", False):  # an end comes soon
                    await asyncio.sleep(min(wait, _NAP))
                    wait = due - perf_counter()
                t0 = perf_counter()
            if get_nowait is not None:
                while True:
                    try:
                        item = get_nowait()
                    except (WouldBlock, EndOfStream):
                        break
                    view.take(item)
                    fresh += 1
            view.skipped += fresh - 1
            view._spent += perf_counter() - t0
            waiting = view._draw()
            if waiting is not None:  # a draw that awaits (its waiting is not a cost)
                await waiting
            due = perf_counter() + view._next()
    finally:
        view._close()
    return {"shown": view.shown, "skipped": view.skipped}


_BLOCKS: dict[str, Any] = {}


def _sink_block(kind: str) -> Any:
    """One block per kind of view, so reports name them (time_plot, spectrum_plot, ...)."""
    factory = _BLOCKS.get(kind)
    if factory is None:
        async def show(stream: Stream, view: View) -> dict[str, int]:
            return await _show(stream, view)

        show.__name__ = show.__qualname__ = kind
        show.__doc__ = f"The {kind} view sink (see daqflow.gui.{kind})."
        factory = _BLOCKS[kind] = block(name=kind, buffer=2, policy="drop_oldest")(show)
    return factory


def view_sink(stream: Stream, view: View, **options: Any) -> Stream:
    """A sink that shows ``stream`` in ``view`` (a `View` subclass instance).

    Args:
        stream: what to show.
        view: the view (one per sink).
        options: name=, buffer= (default 2 items), policy= (default "drop_oldest").
    """
    if not isinstance(view, View):
        raise TypeError(f"view_sink: view must be a daqflow.gui.View, got {type(view).__name__}")
    if options.pop("threaded", False):
        raise GraphError(f"{view.kind}: a view draws in Qt's thread; threaded=True is not allowed")
    if not isinstance(stream, Stream):
        raise GraphError(f"{view.kind}: expects a Stream to show, got {type(stream).__name__}")
    return _sink_block(view.kind)(stream, view, **options)


def view_of(sink: Stream) -> View:
    """The `View` of a view sink (``view_of(s).widget`` is its QWidget).

    Raises:
        TypeError: ``sink`` is not a view sink.
    """
    view = sink.params.get("view") if isinstance(sink, Stream) else None
    if not isinstance(view, View):
        raise TypeError(f"not a view sink: {sink!r}")
    return view


def is_view(node: Stream) -> bool:
    """True for a view sink."""
    return node.kind == "sink" and isinstance(node.params.get("view"), View)


# -- time_plot ---------------------------------------------------------------------------
class TimePlot(View):
    """Traces against time: real data as one curve, complex as I and Q.

    The time axis counts from the first sample shown (its time of the stream is ``t0``).

    Args:
        samples: samples shown: None shows the newest item (a 2-D item: its last row);
            a number keeps a rolling window of the last ``samples`` samples read.
        yrange: fixed (low, high) of the vertical axis (default: follows the data).
        title, max_fps: as `View`.
    """

    kind = "time_plot"

    def __init__(self, samples: int | None = None, yrange: Sequence[float] | None = None,
                 title: str | None = None, max_fps: float = MAX_FPS):
        super().__init__(title, max_fps)
        if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int)
                                    or samples < 1):
            raise ValueError(f"time_plot: samples must be an int >= 1 or None, got {samples!r}")
        self.samples = samples
        self.yrange = _Range(yrange)
        self._y: np.ndarray | None = None
        self._rate = 1.0
        self.t0 = 0.0
        self._xspan = 0.0

    def make_widget(self) -> PlotWidget:
        w = PlotWidget(title=self.title)
        w.setLabel("bottom", "time from the first sample shown", units="s")
        w.enableAutoRange(x=False, y=False)
        self.i_curve = w.plot(pen=pg.mkPen(_I_PEN), name="I")
        self.q_curve = w.plot(pen=pg.mkPen(_Q_PEN), name="Q")
        self.q_curve.hide()
        return w

    def reset(self) -> None:
        self._y = None
        self._xspan = 0.0
        self.yrange.reset()

    def take(self, item: Any) -> None:
        data = _data(item)
        if data.ndim >= 2:
            data = data.reshape(-1, data.shape[-1])[-1]  # the newest frame
        elif data.ndim == 0:
            data = data.reshape(1)
        rate = float(item.rate) if isinstance(item, Chunk) and item.rate else 1.0
        t = float(item.time) if isinstance(item, Chunk) else 0.0
        end = t + len(data) / rate  # time just after the item's last sample
        if self.samples is None:
            self._y = data
        elif self._y is None or rate != self._rate or data.dtype != self._y.dtype:
            self._y = data[-self.samples:]
        else:
            self._y = np.concatenate([self._y, data])[-self.samples:]
        self._rate = rate
        self.t0 = end - len(self._y) / rate

    def draw(self) -> None:
        y = self._y
        if y is None or not len(y):
            return
        widget = self.widget
        x = np.arange(len(y), dtype=np.float64) / self._rate
        columns = int(widget.getViewBox().width()) or 600
        if y.dtype.kind == "c":
            xi, i = _envelope(x, np.ascontiguousarray(y.real, dtype=np.float64), columns)
            xq, q = _envelope(x, np.ascontiguousarray(y.imag, dtype=np.float64), columns)
            self.i_curve.setData(xi, i, skipFiniteCheck=True)
            self.q_curve.setData(xq, q, skipFiniteCheck=True)
            if not self.q_curve.isVisible():
                self.q_curve.show()
            lo, hi = float(min(i.min(), q.min())), float(max(i.max(), q.max()))
        else:
            xi, i = _envelope(x, np.asarray(y, dtype=np.float64), columns)
            self.i_curve.setData(xi, i, skipFiniteCheck=True)
            if self.q_curve.isVisible():
                self.q_curve.hide()
            lo, hi = float(i.min()), float(i.max())
        new = self.yrange.fit(lo, hi)
        if new is not None:
            widget.setYRange(*new, padding=0)
        span = (len(y) - 1) / self._rate if len(y) > 1 else 1.0 / self._rate
        if span != self._xspan:
            self._xspan = span
            widget.setXRange(0.0, span, padding=0)


def time_plot(stream: Stream, *, samples: int | None = None, yrange: Sequence[float] | None = None,
              title: str | None = None, max_fps: float = MAX_FPS, **options: Any) -> Stream:
    """Live traces against time: real data as one curve, complex as I and Q.

    Args:
        stream: chunks (or arrays) of samples; the time axis comes from ``Chunk.rate``.
        samples: None shows the newest item; a number, a rolling window of that many samples.
        yrange: fixed (low, high) vertical axis (default: follows the data).
        title: text above the plot.
        max_fps: redraws per second at most (default 30).
        options: name=, buffer= (default 2), policy= (default "drop_oldest").

    Returns:
        The sink; its result is ``{"shown": frames, "skipped": items not drawn}``.
    """
    return view_sink(stream, TimePlot(samples, yrange, title, max_fps), **options)


# -- spectrum_plot -----------------------------------------------------------------------
class SpectrumPlot(View):
    """A power spectrum in dB against frequency (``meta["freqs"]``), newest row.

    Args:
        db: show 10*log10 of the power (data already in dB, ``meta["units"] == "dB"``, are
            shown as they are); False shows the values as they are.
        yrange: fixed (low, high) of the vertical axis, in dB (default: follows the data).
        floor: smallest power shown (so 0 gives a finite dB value).
        title, max_fps: as `View`.
    """

    kind = "spectrum_plot"

    def __init__(self, db: bool = True, yrange: Sequence[float] | None = None, floor: float = 1e-20,
                 title: str | None = None, max_fps: float = MAX_FPS):
        super().__init__(title, max_fps)
        if not floor > 0:
            raise ValueError(f"spectrum_plot: floor must be > 0, got {floor!r}")
        self.db = bool(db)
        self.floor = float(floor)
        self.yrange = _Range(yrange)
        self._item: Any = None
        self._xspan: tuple[float, float] | None = None
        self.freqs: np.ndarray | None = None
        self.values: np.ndarray | None = None

    def make_widget(self) -> PlotWidget:
        w = PlotWidget(title=self.title)
        w.setLabel("bottom", "frequency", units="Hz")
        w.setLabel("left", "power", units="dB" if self.db else None)
        w.enableAutoRange(x=False, y=False)
        self.curve = w.plot(pen=pg.mkPen(_I_PEN))
        return w

    def reset(self) -> None:
        self._item = None
        self._xspan = None
        self.yrange.reset()

    def take(self, item: Any) -> None:
        self._item = item

    def draw(self) -> None:
        item = self._item
        if item is None:
            return
        data = _data(item)
        row = data.reshape(-1, data.shape[-1])[-1] if data.ndim >= 2 else data.reshape(-1)
        if row.dtype.kind == "c":
            row = row.real**2 + row.imag**2
        meta = _meta(item)
        y = np.asarray(row, dtype=np.float64)
        if self.db and meta.get("units") != "dB":
            y = _db(y, self.floor)
        freqs = meta.get("freqs")
        x = np.arange(len(y), dtype=np.float64) if freqs is None or len(freqs) != len(y) else \
            np.asarray(freqs, dtype=np.float64)
        self.freqs, self.values = x, y
        widget = self.widget
        xs, ys = _peak_hold(x, y, int(widget.getViewBox().width()) or 600)
        self.curve.setData(xs, ys, skipFiniteCheck=True)
        span = (float(x[0]), float(x[-1])) if len(x) > 1 else (float(x[0]) - 0.5, float(x[0]) + 0.5)
        if span != self._xspan:
            self._xspan = span
            widget.setXRange(*span, padding=0)
        finite = y[np.isfinite(y)]
        if len(finite):
            k = max(0, len(finite) // 200)  # the floor: the 0.5th percentile, not a deep dip
            lo = float(np.partition(finite, k)[k])
            new = self.yrange.fit(lo, float(finite.max()))
            if new is not None:
                widget.setYRange(*new, padding=0)


def spectrum_plot(stream: Stream, *, db: bool = True, yrange: Sequence[float] | None = None,
                  floor: float = 1e-20, title: str | None = None, max_fps: float = MAX_FPS,
                  **options: Any) -> Stream:
    """A live spectrum: the newest row of each item, in dB, against ``meta["freqs"]`` (Hz).

    Args:
        stream: spectra, e.g. `daqflow.dsp.spectrum` (rows of power per bin) or a 1-D array
            per item; complex data are shown as power.
        db: show 10*log10(power) (data whose ``meta["units"]`` is "dB" are shown as they are).
        yrange: fixed (low, high) vertical axis in dB (default: follows the data).
        floor: smallest power shown.
        title: text above the plot.
        max_fps: redraws per second at most (default 30).
        options: name=, buffer= (default 2), policy= (default "drop_oldest").

    Returns:
        The sink; its result is ``{"shown": frames, "skipped": items not drawn}``.
    """
    return view_sink(stream, SpectrumPlot(db, yrange, floor, title, max_fps), **options)


# -- waterfall_plot ----------------------------------------------------------------------
class WaterfallPlot(View):
    """Spectra as an image scrolling upward: frequency across, newest row at the top.

    Every row read is kept (up to ``rows``), coloured when it arrives, so a redraw costs
    the same whatever the rate. Colours follow ``levels`` (dB), or follow the data: from
    just below the noise floor to just above the strongest peak, smoothed.

    Each row stays at its own frequencies: after a retune (``meta["freqs"]`` moves by whole
    bins) the history shifts with the axis, and what it never covered is blank; when the
    bins change width or fall between the old ones, the history is cleared.

    Args:
        rows: rows of history shown.
        db: as `SpectrumPlot`.
        levels: fixed (low, high) of the colour scale (dB when ``db``).
        colormap: a pyqtgraph colormap name.
        title, max_fps: as `View`.
    """

    kind = "waterfall_plot"

    def __init__(self, rows: int = 200, db: bool = True, levels: Sequence[float] | None = None,
                 colormap: str = "viridis", floor: float = 1e-20, title: str | None = None,
                 max_fps: float = MAX_FPS):
        super().__init__(title, max_fps)
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 2:
            raise ValueError(f"waterfall_plot: rows must be an int >= 2, got {rows!r}")
        self.rows = rows
        self.db = bool(db)
        self.floor = float(floor)
        self.fixed_levels = None if levels is None else _pair(levels, "levels")
        self.levels: tuple[float, float] | None = self.fixed_levels
        self._lut = pg.colormap.get(colormap).getLookupTable(nPts=256, alpha=False)
        self._ring: np.ndarray | None = None
        self._pos = 0
        self._filled = 0
        self._freqs: np.ndarray | None = None
        self._axis: tuple[float, float] | None = None  # (first bin, bin width) in Hz
        self._rate = 1.0
        self._rect: tuple[float, ...] | None = None

    def make_widget(self) -> PlotWidget:
        w = PlotWidget(title=self.title)
        w.setLabel("bottom", "frequency", units="Hz")
        w.setLabel("left", "time before the newest row", units="s")
        w.enableAutoRange(x=False, y=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        w.addItem(self.image)
        return w

    def reset(self) -> None:
        self._ring = None
        self._filled = 0
        self._rect = None
        self._axis = None
        self.levels = self.fixed_levels

    @property
    def filled(self) -> int:
        """Rows received so far (up to ``rows``)."""
        return self._filled

    def take(self, item: Any) -> None:
        data = _data(item)
        if data.ndim == 0 or not data.size:
            return
        rows = data.reshape(-1, data.shape[-1]) if data.ndim >= 2 else data.reshape(1, -1)
        if rows.dtype.kind == "c":
            rows = rows.real**2 + rows.imag**2
        meta = _meta(item)
        if self.db and meta.get("units") != "dB":
            rows = _db(rows, self.floor)
        rows = rows[-self.rows:]
        bins = rows.shape[1]
        if self._ring is None or self._ring.shape[1] != bins:
            self._ring = np.zeros((2 * self.rows, bins, 3), np.uint8)
            self._pos = 0
            self._filled = 0
            self._axis = None
        freqs = meta.get("freqs")
        self._freqs = None if freqs is None or len(freqs) != bins else freqs
        self._follow_axis(self._freqs)
        per_row = data.shape[-2] if data.ndim == 3 else 1  # waterfall images: rows per sample
        if isinstance(item, Chunk) and item.rate:
            self._rate = float(item.rate) * per_row
        self._follow_levels(rows[-1])
        lo, hi = self.levels  # type: ignore[misc]
        scale = 255.0 / (hi - lo)
        index = np.clip((rows - lo) * scale, 0, 255).astype(np.uint8)
        colours = self._lut[index]
        n = len(colours)
        for k in range(n):  # ring of 2*rows: rows [pos+1, pos+rows] are always contiguous
            pos = (self._pos + 1 + k) % self.rows
            self._ring[pos] = colours[k]
            self._ring[pos + self.rows] = colours[k]
        self._pos = (self._pos + n) % self.rows
        self._filled = min(self.rows, self._filled + n)

    def _follow_axis(self, freqs: np.ndarray | None) -> None:
        """Keep the rows already shown at their own frequencies when the axis moves."""
        if freqs is None or len(freqs) < 2:
            return
        axis = (float(freqs[0]), (float(freqs[-1]) - float(freqs[0])) / (len(freqs) - 1))
        old, self._axis = self._axis, axis
        if old is None or old == axis or self._ring is None or not self._filled:
            return
        (start, step), (old_start, old_step) = axis, old
        shift = (old_start - start) / step  # a row's bin c now shows at column c + shift
        columns = round(shift)
        whole = abs(old_step - step) <= 1e-9 * abs(step) and abs(shift - columns) <= 1e-6
        ring = self._ring
        if not whole or abs(columns) >= ring.shape[1]:
            ring[:] = 0  # the history cannot be placed on the new bins: start again
            self._filled = 0
        elif columns > 0:
            ring[:, columns:] = ring[:, :-columns].copy()
            ring[:, :columns] = 0
        elif columns < 0:
            ring[:, :columns] = ring[:, -columns:].copy()
            ring[:, columns:] = 0

    def _follow_levels(self, row: np.ndarray) -> None:
        if self.fixed_levels is not None:
            return
        finite = row[np.isfinite(row)]
        if not len(finite):
            if self.levels is None:
                self.levels = (0.0, 1.0)
            return
        k = len(finite) // 10
        floor = float(np.partition(finite, k)[k])
        peak = float(finite.max())
        if self.db:  # from just below the noise floor to just above the strongest peak
            lo, hi = floor - 3.0, max(peak + 3.0, floor + 10.0)
        else:
            lo, hi = floor, peak if peak > floor else floor + 1.0
        if self.levels is None:
            self.levels = (lo, hi)
        else:
            a = 0.1
            self.levels = (self.levels[0] + a * (lo - self.levels[0]),
                           self.levels[1] + a * (hi - self.levels[1]))

    def image_data(self) -> np.ndarray | None:
        """The image shown: (rows, bins, 3) colours, newest row last."""
        if self._ring is None:
            return None
        start = self._pos + 1
        return self._ring[start:start + self.rows]

    def draw(self) -> None:
        image = self.image_data()
        if image is None:
            return
        widget = self.widget
        self.image.setImage(image, autoLevels=False)
        freqs = self._freqs
        bins = image.shape[1]
        if freqs is not None and bins > 1:
            step = (float(freqs[-1]) - float(freqs[0])) / (bins - 1)
            x0, width = float(freqs[0]) - step / 2, step * bins
        else:
            x0, width = -0.5, float(bins)
        height = self.rows / self._rate
        rect = (x0, -height, width, height)
        if rect != self._rect:
            self._rect = rect
            self.image.setRect(QtCore.QRectF(*rect))
            widget.setXRange(x0, x0 + width, padding=0)
            widget.setYRange(-height, 0.0, padding=0)


def waterfall_plot(stream: Stream, *, rows: int = 200, db: bool = True,
                   levels: Sequence[float] | None = None, colormap: str = "viridis",
                   title: str | None = None, max_fps: float = MAX_FPS, **options: Any) -> Stream:
    """A live waterfall: spectra as an image, newest row at the top, scrolling.

    Args:
        stream: spectra: `daqflow.dsp.spectrum` rows, `daqflow.dsp.waterfall` images
            (their rows are taken in order), or 1-D arrays; ``meta["freqs"]`` gives the axis.
        rows: rows of history.
        db: show 10*log10(power).
        levels: fixed (low, high) colour scale (default: follows the noise floor and peaks).
        colormap: pyqtgraph colormap name (default "viridis").
        title: text above the plot.
        max_fps: redraws per second at most (default 30).
        options: name=, buffer= (default 16: rows between frames are kept), policy= (default
            "drop_oldest").

    Returns:
        The sink; its result is ``{"shown": frames, "skipped": items not drawn}``.
    """
    options.setdefault("buffer", 16)
    return view_sink(stream, WaterfallPlot(rows, db, levels, colormap, 1e-20, title, max_fps),
                     **options)


# -- image_view --------------------------------------------------------------------------
class ImageView(View):
    """2-D frames as an image (row 0 at the top), aspect ratio kept.

    Args:
        levels: fixed (low, high) of the grey (or colour) scale (default: each frame's range).
        colormap: a pyqtgraph colormap name (default: grey).
        title, max_fps: as `View`.
    """

    kind = "image_view"

    def __init__(self, levels: Sequence[float] | None = None, colormap: str | None = None,
                 title: str | None = None, max_fps: float = MAX_FPS):
        super().__init__(title, max_fps)
        self.levels = None if levels is None else _pair(levels, "levels")
        self.colormap = colormap
        self._frame_data: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None

    def make_widget(self) -> PlotWidget:
        w = PlotWidget(title=self.title)
        w.setAspectLocked(True)
        w.invertY(True)
        w.enableAutoRange(x=False, y=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        if self.colormap is not None:
            self.image.setLookupTable(pg.colormap.get(self.colormap).getLookupTable(nPts=256))
        w.addItem(self.image)
        return w

    def reset(self) -> None:
        self._frame_data = None
        self._shape = None

    def take(self, item: Any) -> None:
        data = _data(item)
        colour = data.ndim >= 3 and data.shape[-1] in (3, 4) and data.dtype == np.uint8
        if data.ndim > (3 if colour else 2):
            data = data.reshape(-1, *data.shape[-(3 if colour else 2):])[-1]
        if data.ndim < 2:
            data = data.reshape(1, -1)
        self._frame_data = data

    @property
    def frame(self) -> np.ndarray | None:
        """The frame shown (after the next draw)."""
        return self._frame_data

    def draw(self) -> None:
        frame = self._frame_data
        if frame is None:
            return
        widget = self.widget
        if frame.dtype.kind == "c":
            frame = np.abs(frame)
        if frame.dtype == np.bool_:
            frame = frame.astype(np.uint8)
        if self.levels is not None:
            self.image.setImage(frame, autoLevels=False, levels=self.levels)
        elif frame.ndim == 3:
            self.image.setImage(frame, autoLevels=False)
        else:
            lo, hi = _extent(np.asarray(frame, dtype=np.float64), math.inf, -math.inf)
            if lo > hi:  # nothing finite
                lo, hi = 0.0, 1.0
            self.image.setImage(frame, autoLevels=False, levels=(lo, hi if hi > lo else lo + 1))
        shape = frame.shape[:2]
        if shape != self._shape:
            self._shape = shape
            widget.setRange(xRange=(0, shape[1]), yRange=(0, shape[0]), padding=0)


def image_view(stream: Stream, *, levels: Sequence[float] | None = None,
               colormap: str | None = None, title: str | None = None, max_fps: float = MAX_FPS,
               **options: Any) -> Stream:
    """Live 2-D frames (a camera, a 2-D scan): the newest frame as an image.

    Args:
        stream: 2-D arrays (or Chunks of them; a 3-D item shows its last frame, an (h, w, 3|4)
            uint8 item is a colour image); complex frames show their magnitude.
        levels: fixed (low, high) display range (default: each frame's min and max).
        colormap: pyqtgraph colormap name (default: grey).
        title: text above the image.
        max_fps: redraws per second at most (default 30).
        options: name=, buffer= (default 2), policy= (default "drop_oldest").

    Returns:
        The sink; its result is ``{"shown": frames, "skipped": items not drawn}``.
    """
    return view_sink(stream, ImageView(levels, colormap, title, max_fps), **options)


# -- xy_plot -----------------------------------------------------------------------------
class XYPlot(View):
    """y against x: x from ``meta[x]`` (a sweep's axis), else the first column of 2-D data.

    Items may be Chunks or arrays: with ``meta[x]`` present the data (1-D, or 2-D whose rows
    are frames: the last one) are y; 2-D data with two or more columns are x, y1, y2, ...;
    1-D data are y against their index; an (x, y) pair of arrays is taken as it is.

    Args:
        x: the meta key holding the x values (default "x").
        xrange, yrange: fixed (low, high) axes (default: follow the data).
        title, max_fps: as `View`.
    """

    kind = "xy_plot"

    def __init__(self, x: str = "x", xrange: Sequence[float] | None = None,
                 yrange: Sequence[float] | None = None, title: str | None = None,
                 max_fps: float = MAX_FPS):
        super().__init__(title, max_fps)
        self.x = x
        self.xrange = _Range(xrange)
        self.yrange = _Range(yrange)
        self._item: Any = None
        self.curves: list[Any] = []

    def make_widget(self) -> PlotWidget:
        w = PlotWidget(title=self.title)
        w.enableAutoRange(x=False, y=False)
        self.curves = []
        return w

    def reset(self) -> None:
        self._item = None
        self.xrange.reset()
        self.yrange.reset()

    def take(self, item: Any) -> None:
        self._item = item

    def xy(self, item: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        """(x, [y, ...]) of an item."""
        if isinstance(item, tuple | list) and len(item) == 2:
            x, y = (np.asarray(v) for v in item)
            return x.reshape(-1), [y.reshape(-1)]
        data = _data(item)
        meta = _meta(item)
        if self.x in meta:
            x = np.asarray(meta[self.x]).reshape(-1)
            y = data.reshape(-1, data.shape[-1])[-1] if data.ndim >= 2 and data.shape[-1] == len(x) \
                else data
            if y.ndim == 2:
                return x, [y[:, k] for k in range(y.shape[1])]
            return x, [y.reshape(-1)]
        if data.ndim == 2 and data.shape[1] >= 2:
            return data[:, 0], [data[:, k] for k in range(1, data.shape[1])]
        y = data.reshape(-1)
        return np.arange(len(y), dtype=np.float64), [y]

    def draw(self) -> None:
        if self._item is None:
            return
        widget = self.widget
        x, ys = self.xy(self._item)
        x = np.asarray(x.real if x.dtype.kind == "c" else x, dtype=np.float64)
        while len(self.curves) < len(ys):
            pen = _XY_PENS[len(self.curves) % len(_XY_PENS)]
            self.curves.append(widget.plot(pen=pg.mkPen(pen)))
        lo, hi = math.inf, -math.inf
        for curve, y in zip(self.curves, ys, strict=False):
            y = np.asarray(np.abs(y) if y.dtype.kind == "c" else y, dtype=np.float64)
            n = min(len(x), len(y))
            curve.setData(x[:n], y[:n])
            lo, hi = _extent(y[:n], lo, hi)
        for curve in self.curves[len(ys):]:
            curve.setData([], [])
        xlo, xhi = _extent(x, math.inf, -math.inf)
        if xlo <= xhi:
            new = self.xrange.fit(xlo, xhi)
            if new is not None:
                widget.setXRange(*new, padding=0)
        if lo <= hi:
            new = self.yrange.fit(lo, hi)
            if new is not None:
                widget.setYRange(*new, padding=0)


def _extent(values: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """(lo, hi) widened to the finite values (unchanged if there are none)."""
    finite = values[np.isfinite(values)]
    if len(finite):
        return min(lo, float(finite.min())), max(hi, float(finite.max()))
    return lo, hi


def xy_plot(stream: Stream, *, x: str = "x", xrange: Sequence[float] | None = None,
            yrange: Sequence[float] | None = None, title: str | None = None,
            max_fps: float = MAX_FPS, **options: Any) -> Stream:
    """Live y against x (a sweep, a trace with its own axis, a scatter of pairs).

    Args:
        stream: Chunks with the x values in ``meta[x]``; 2-D data whose first column is x
            (one curve per further column); 1-D data (against their index); or (x, y) pairs.
        x: the meta key of the x values (default "x").
        xrange, yrange: fixed (low, high) axes (default: follow the data).
        title: text above the plot.
        max_fps: redraws per second at most (default 30).
        options: name=, buffer= (default 2), policy= (default "drop_oldest").

    Returns:
        The sink; its result is ``{"shown": frames, "skipped": items not drawn}``.
    """
    return view_sink(stream, XYPlot(x, xrange, yrange, title, max_fps), **options)
