"""What the gui's views draw on and with: `PlotWidget` (a pyqtgraph plot that times its
paints), `AxisRange` (an axis that follows the data without moving at every frame), the
pens, and small helpers on the items views read (a Chunk or a bare array)."""

from __future__ import annotations

import math
from time import perf_counter
from typing import Any

import numpy as np

from ..core import Chunk
from ._qt import pg

MAX_FPS = 30.0  # default redraw limit, frames per second
I_PEN = (255, 215, 0)  # I (or real) trace
Q_PEN = (0, 200, 255)  # Q trace
XY_PENS = ((255, 215, 0), (0, 200, 255), (255, 80, 80), (120, 255, 120), (220, 120, 255))


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


class AxisRange:
    """An axis range that follows the data without moving at every frame (each move redraws
    the axis and its ticks, which costs more than the curve): it widens at once when data
    leave it and narrows only after the data have used less than 40% of it for 30 frames."""

    def __init__(self, fixed: tuple[float, float] | None = None):
        self.fixed = None if fixed is None else pair(fixed, "range")
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


def pair(value: Any, what: str) -> tuple[float, float]:
    """(low, high) as floats, finite and increasing, or ValueError naming ``what``."""
    lo, hi = (float(v) for v in value)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{what} must be (low, high) with low < high, got {value!r}")
    return lo, hi


def check_fps(max_fps: float) -> float:
    value = float(max_fps)
    if not value > 0:
        raise ValueError(f"max_fps must be > 0 frames per second, got {max_fps!r}")
    return value


def item_data(item: Any) -> np.ndarray:
    """The data of an item: a Chunk's array, or the item as an array."""
    return item.data if isinstance(item, Chunk) else np.asarray(item)


def item_meta(item: Any) -> Any:
    """A Chunk's meta ({} for a bare array)."""
    return item.meta if isinstance(item, Chunk) else {}


def extent(values: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """(lo, hi) widened to the finite values (unchanged if there are none)."""
    finite = values[np.isfinite(values)]
    if len(finite):
        return min(lo, float(finite.min())), max(hi, float(finite.max()))
    return lo, hi
