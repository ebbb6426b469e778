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


class RowAverager:
    """Means of groups of ``n`` consecutive rows, numbered on the absolute grid: group g holds
    rows [g*n, (g+1)*n). Rows that do not continue the previous push (a gap) drop the
    partial group; joining mid-group skips to the next boundary (as `frames.Grouper`).

    Rows of an unfinished group are kept as views and joined once it completes; a group is
    reduced as ``mean(axis=1)`` would (the same sum over rows, in the rows' precision, then
    a division by n), without numpy's Python layer: the means are the same bits.
    """

    def __init__(self, n: int):
        self.n = check_count(n)
        self._parts: list[np.ndarray] = []  # rows of the group being filled
        self._count = 0
        self._next = 0  # number of the row expected next
        self._none: np.ndarray | None = None  # no group completed (shape (0, *row shape))

    def reset(self) -> None:
        self._parts, self._count = [], 0

    def push(self, rows: np.ndarray, first: int) -> tuple[np.ndarray, int]:
        """Add rows numbered ``first, first+1, ...``; returns (the means of the groups they
        complete, shape (groups, *row shape); the number of the first group)."""
        n, count, size = self.n, self._count, len(rows)
        self._next, expected = first + size, self._next
        if count and first == expected and count + size < n:  # the group grows, no more
            self._parts.append(rows)
            self._count = count + size
            return self._empty(rows), (first - count) // n
        if count and first != expected:  # a gap: the partial group is dropped
            self._parts, count = [], 0
        done: list[np.ndarray] = []
        g0 = -(-first // n)
        i = 0
        if count:  # finish the group in progress
            i = n - count
            self._parts.append(rows[:i])
            g0 = (first - count) // n
            done.append(_mean_rows(np.concatenate(self._parts)[None]))
            self._parts, count = [], 0
        elif first % n:  # joined mid-group: skip to the next boundary
            i = min(-first % n, size)
        whole = (size - i) // n
        if whole:
            done.append(_mean_rows(rows[i:i + whole * n].reshape(whole, n, *rows.shape[1:])))
            i += whole * n
        if i < size:
            self._parts.append(rows[i:])
            count = size - i
        self._count = count
        if not done:
            return self._empty(rows), g0
        return (done[0] if len(done) == 1 else np.concatenate(done)), g0

    def _empty(self, rows: np.ndarray) -> np.ndarray:
        """A read-only (0, *row shape) array in the dtype of the means."""
        none = self._none
        if none is None or none.shape[1:] != rows.shape[1:] or none.dtype != _mean_dtype(rows.dtype):
            none = self._none = np.empty((0, *rows.shape[1:]), _mean_dtype(rows.dtype))
            none.flags.writeable = False
        return none


def _mean_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype of a mean of rows: theirs for floats and complex, else float64."""
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


def _mean_rows(block: np.ndarray) -> np.ndarray:
    """``block.mean(axis=1)`` in the rows' precision (float64 for integers): numpy's sum
    over axis 1, divided by the count in place (in float32 for float32: the quotient,
    correctly rounded, is the one numpy's float64 division rounds to float32; not so for
    complex64, divided as numpy does)."""
    dtype, count = block.dtype, block.shape[1]
    if dtype.kind not in "fc":
        return block.mean(axis=1, dtype=np.float64)
    if dtype == np.float16 or count > 1 << 24:
        return block.mean(axis=1).astype(dtype, copy=False)
    total = np.add.reduce(block, axis=1)
    if dtype.kind == "c":  # numpy divides in complex128 (a complex64 quotient may differ)
        return np.true_divide(total, np.intp(count), out=total, casting="unsafe")
    return np.true_divide(total, count, out=total)
