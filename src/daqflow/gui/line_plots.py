"""Views drawn as curves: `time_plot` (traces against time), `spectrum_plot` (a power
spectrum in dB against frequency) and `xy_plot` (y against x)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core import Chunk, Stream
from ..dsp.display import envelope, peak_hold, to_db
from ._qt import pg
from .sinks import view_sink
from .view import View
from .widgets import I_PEN, MAX_FPS, Q_PEN, XY_PENS, AxisRange, PlotWidget, extent, item_data, item_meta


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
        self.yrange = AxisRange(yrange)
        self._y: np.ndarray | None = None
        self._rate = 1.0
        self.t0 = 0.0
        self._xspan = 0.0

    def make_widget(self) -> PlotWidget:
        w = PlotWidget(title=self.title)
        w.setLabel("bottom", "time from the first sample shown", units="s")
        w.enableAutoRange(x=False, y=False)
        self.i_curve = w.plot(pen=pg.mkPen(I_PEN), name="I")
        self.q_curve = w.plot(pen=pg.mkPen(Q_PEN), name="Q")
        self.q_curve.hide()
        return w

    def reset(self) -> None:
        self._y = None
        self._xspan = 0.0
        self.yrange.reset()

    def take(self, item: Any) -> None:
        data = item_data(item)
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
            xi, i = envelope(x, np.ascontiguousarray(y.real, dtype=np.float64), columns)
            xq, q = envelope(x, np.ascontiguousarray(y.imag, dtype=np.float64), columns)
            self.i_curve.setData(xi, i, skipFiniteCheck=True)
            self.q_curve.setData(xq, q, skipFiniteCheck=True)
            if not self.q_curve.isVisible():
                self.q_curve.show()
            lo, hi = float(min(i.min(), q.min())), float(max(i.max(), q.max()))
        else:
            xi, i = envelope(x, np.asarray(y, dtype=np.float64), columns)
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
        self.yrange = AxisRange(yrange)
        self._item: Any = None
        self._xspan: tuple[float, float] | None = None
        self.freqs: np.ndarray | None = None
        self.values: np.ndarray | None = None

    def make_widget(self) -> PlotWidget:
        w = PlotWidget(title=self.title)
        w.setLabel("bottom", "frequency", units="Hz")
        w.setLabel("left", "power", units="dB" if self.db else None)
        w.enableAutoRange(x=False, y=False)
        self.curve = w.plot(pen=pg.mkPen(I_PEN))
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
        data = item_data(item)
        row = data.reshape(-1, data.shape[-1])[-1] if data.ndim >= 2 else data.reshape(-1)
        if row.dtype.kind == "c":
            row = row.real**2 + row.imag**2
        meta = item_meta(item)
        y = np.asarray(row, dtype=np.float64)
        if self.db and meta.get("units") != "dB":
            y = to_db(y, self.floor)
        freqs = meta.get("freqs")
        x = np.arange(len(y), dtype=np.float64) if freqs is None or len(freqs) != len(y) else \
            np.asarray(freqs, dtype=np.float64)
        self.freqs, self.values = x, y
        widget = self.widget
        xs, ys = peak_hold(x, y, int(widget.getViewBox().width()) or 600)
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
        self.xrange = AxisRange(xrange)
        self.yrange = AxisRange(yrange)
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
        data = item_data(item)
        meta = item_meta(item)
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
            pen = XY_PENS[len(self.curves) % len(XY_PENS)]
            self.curves.append(widget.plot(pen=pg.mkPen(pen)))
        lo, hi = math.inf, -math.inf
        for curve, y in zip(self.curves, ys, strict=False):
            y = np.asarray(np.abs(y) if y.dtype.kind == "c" else y, dtype=np.float64)
            n = min(len(x), len(y))
            curve.setData(x[:n], y[:n])
            lo, hi = extent(y[:n], lo, hi)
        for curve in self.curves[len(ys):]:
            curve.setData([], [])
        xlo, xhi = extent(x, math.inf, -math.inf)
        if xlo <= xhi:
            new = self.xrange.fit(xlo, xhi)
            if new is not None:
                widget.setXRange(*new, padding=0)
        if lo <= hi:
            new = self.yrange.fit(lo, hi)
            if new is not None:
                widget.setYRange(*new, padding=0)


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

