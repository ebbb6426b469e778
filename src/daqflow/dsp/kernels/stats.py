"""Moving average over samples, and N-shot averages of frames."""

from __future__ import annotations

import numpy as np

from ..checks import check_int
from .base import Samplewise


def check_count(n: object, name: str = "n") -> int:
    return check_int(n, name)


class MovingAverageState(Samplewise):
    """y[k] = mean(x[k-n+1 .. k]), samples before the stream start counting as 0 (the
    ``scipy.signal.lfilter(np.ones(n) / n, 1, x)`` convention). Sums in double precision."""

    def __init__(self, n: int):
        self.n = check_count(n)
        self._history: np.ndarray | None = None

    def reset(self) -> None:
        self._history = None

    def process(self, x: np.ndarray) -> np.ndarray:
        dtype = np.dtype(np.float32) if x.dtype.kind in "iub" else x.dtype
        work = np.complex128 if dtype.kind == "c" else np.float64
        history = self._history
        if history is None or history.dtype != work:
            history = np.zeros(self.n - 1, work)
        extended = np.concatenate((history, x.astype(work, copy=False)))
        sums = np.concatenate(([0], np.cumsum(extended)))
        y = (sums[self.n:] - sums[:len(sums) - self.n]) / self.n
        self._history = extended[len(extended) - (self.n - 1):] if self.n > 1 else extended[:0]
        return y.astype(dtype, copy=False)


class FrameAverager:
    """Mean of every ``n`` consecutive frames of equal shape (pyrpl's ``run_single(avg=n)``).

    A frame that does not continue the previous one (a gap) discards the partial average and
    starts a new one with it.
    """

    def __init__(self, n: int):
        self.n = check_count(n)
        self._sum: np.ndarray | None = None
        self._count = 0

    def reset(self) -> None:
        self._sum, self._count = None, 0

    @property
    def count(self) -> int:
        """Frames in the average being built."""
        return self._count

    def push(self, frame: np.ndarray) -> np.ndarray | None:
        """Add one frame; returns the mean when ``n`` frames are in, else None."""
        if self._sum is not None and self._sum.shape != frame.shape:
            raise ValueError(f"average: frame shape changed from {self._sum.shape} to {frame.shape}")
        work = np.result_type(frame.dtype, np.float64)
        if self._sum is None:
            self._sum = frame.astype(work)
        else:
            self._sum += frame
        self._count += 1
        if self._count < self.n:
            return None
        out = (self._sum / self.n).astype(frame.dtype if frame.dtype.kind in "fc" else np.float64)
        self.reset()
        return out
