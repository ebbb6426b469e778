"""Views drawn as images: `waterfall_plot` (spectra scrolling upward) and `image_view`
(2-D frames)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core import Chunk, Stream
from ..dsp.display import to_db
from ._qt import QtCore, pg
from .sinks import view_sink
from .view import View
from .widgets import MAX_FPS, PlotWidget, extent, item_data, item_meta, pair


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
        self.fixed_levels = None if levels is None else pair(levels, "levels")
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
        data = item_data(item)
        if data.ndim == 0 or not data.size:
            return
        rows = data.reshape(-1, data.shape[-1]) if data.ndim >= 2 else data.reshape(1, -1)
        if rows.dtype.kind == "c":
            rows = rows.real**2 + rows.imag**2
        meta = item_meta(item)
        if self.db and meta.get("units") != "dB":
            rows = to_db(rows, self.floor)
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
        self.levels = None if levels is None else pair(levels, "levels")
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
        data = item_data(item)
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
            lo, hi = extent(np.asarray(frame, dtype=np.float64), math.inf, -math.inf)
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
