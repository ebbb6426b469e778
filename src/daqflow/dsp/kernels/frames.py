"""Cutting a stream into frames, and frames into groups, on a grid fixed to the stream start.

Frame k covers input samples [k*step, k*step + size) counted from the start of the stream;
group g holds frames [g*n, (g+1)*n). Because the grid is absolute, the output does not depend
on how the input was cut into chunks, and after a gap (a jump in the index) framing simply
resumes at the next frame of the grid; the partial frame or group that straddles the gap is
dropped, never mixed across it.
"""

from __future__ import annotations

import numpy as np


class Framer:
    """Frames of ``size`` samples every ``step`` samples (overlap when step < size)."""

    def __init__(self, size: int, step: int):
        if size < 1 or step < 1:
            raise ValueError(f"frame size and step must be >= 1 sample, got {size}, {step}")
        self.size = size
        self.step = step
        self._pending: np.ndarray | None = None
        self._start = 0  # absolute index of _pending[0]

    def reset(self) -> None:
        self._pending = None

    def push(self, x: np.ndarray, index: int) -> tuple[np.ndarray, int, bool]:
        """Add a chunk starting at absolute ``index``.

        Returns:
            (frames, k0, gap): complete frames as a (count, size) array (a read-only view),
            the number of the first one, and whether this chunk did not continue the last.
        """
        pending = self._pending
        size, n = self.size, len(x)
        if (self.step == size and n and n % size == 0 and index % size == 0
                and (pending is None or (len(pending) == 0 and index == self._start))):
            # whole frames on the grid, nothing pending: a plain reshape (the common case)
            self._pending, self._start = x[:0], index + n
            return x.reshape(n // size, size), index // size, False
        gap = pending is not None and index != self._start + len(pending)
        if pending is None or gap or len(pending) == 0:
            data, start = x, index
        else:
            data, start = np.concatenate((pending, x)), self._start
        end = start + len(data)
        step = self.step
        k0 = -(-start // step)
        last = (end - size) // step if end >= size else -1
        count = max(0, last - k0 + 1)
        offset = k0 * step - start
        if count and step == size:  # back to back: a plain reshape, no copy
            frames = data[offset:offset + count * size].reshape(count, size)
        elif count:
            frames = np.lib.stride_tricks.sliding_window_view(data[offset:], size)[::step][:count]
        else:
            frames = np.empty((0, size), x.dtype)
        next_start = (k0 + count) * step
        keep_from = next_start - start
        if keep_from >= len(data):
            self._pending, self._start = data[:0], end
        else:
            self._pending, self._start = data[max(keep_from, 0):], max(next_start, start)
        return frames, k0, gap


class Grouper:
    """Groups of ``n`` consecutive rows (numbered on the absolute grid), averaged or stacked.

    Rows of a group not yet complete are kept (as views) until it completes, then reduced
    once; whole groups inside one push are reduced in one vectorized step.
    """

    def __init__(self, n: int, reduce: str = "mean"):
        if n < 1:
            raise ValueError(f"group length must be >= 1, got {n}")
        if reduce not in ("mean", "stack"):
            raise ValueError(f"reduce must be 'mean' or 'stack', got {reduce!r}")
        self.n = n
        self.reduce = reduce
        self.reset()

    def reset(self) -> None:
        self._parts: list[np.ndarray] = []  # rows of the group being filled
        self._count = 0
        self._next: int | None = None  # number of the row expected next

    def push(self, rows: np.ndarray, first: int) -> tuple[np.ndarray, int]:
        """Add rows numbered ``first, first+1, ...``; returns (complete groups, first group number).

        "mean" gives a (groups, ...) array of means; "stack" a (groups, n, ...) array.
        """
        n = self.n
        if self._count and first != self._next:  # a gap: the partial group is dropped
            self._parts, self._count = [], 0
        self._next = first + len(rows)
        done: list[np.ndarray] = []
        g0 = -(-first // n)
        i = 0
        if self._count:  # finish the group in progress
            i = min(n - self._count, len(rows))
            self._parts.append(rows[:i])
            self._count += i
            g0 = (first - (self._count - i)) // n
            if self._count == n:
                done.append(self._reduce(np.concatenate(self._parts)[None, ...]))
                self._parts, self._count = [], 0
        elif first % n:  # joined mid-group: skip to the next boundary
            i = min((-first) % n, len(rows))
        whole = (len(rows) - i) // n
        if whole:
            block = rows[i:i + whole * n].reshape(whole, n, *rows.shape[1:])
            done.append(self._reduce(block))
            i += whole * n
        if i < len(rows):
            self._parts.append(rows[i:])
            self._count += len(rows) - i
        if not done:
            shape = (0, *rows.shape[1:]) if self.reduce == "mean" else (0, n, *rows.shape[1:])
            return np.empty(shape, self._out_dtype(rows.dtype)), g0
        return (done[0] if len(done) == 1 else np.concatenate(done)), g0

    def _reduce(self, block: np.ndarray) -> np.ndarray:
        if self.reduce == "stack":
            return block
        if block.dtype.kind in "fc":
            return block.mean(axis=1).astype(block.dtype, copy=False)
        return block.mean(axis=1, dtype=np.float64)  # integers: the mean is not one

    def _out_dtype(self, dtype: np.dtype) -> np.dtype:
        if self.reduce == "stack" or dtype.kind in "fc":
            return dtype
        return np.dtype(np.float64)
