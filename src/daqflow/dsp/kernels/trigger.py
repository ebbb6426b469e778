"""Scope-style triggering: frames of samples around level crossings."""

from __future__ import annotations

import numpy as np

from ..checks import check_int


def check_trigger(edge: object, pre: object, post: object, holdoff: object) -> None:
    """ValueError naming the first bad parameter of a trigger."""
    if edge not in ("rising", "falling"):
        raise ValueError(f"edge must be 'rising' or 'falling', got {edge!r}")
    for name, value, low in (("pre", pre, 0), ("post", post, 1), ("holdoff", holdoff, 0)):
        check_int(value, name, low, "samples")


class TriggerState:
    """Finds crossings of ``level`` and cuts frames of ``pre`` samples before and ``post`` from
    the trigger sample on. Complex samples trigger on their magnitude.

    A rising crossing at n: x[n-1] < level <= x[n]; falling: x[n-1] > level >= x[n].
    After a trigger at n, the next may come at n + ``holdoff`` at the earliest (samples;
    at least 1). Frames are cut on absolute sample indices; a gap resets the search.

    Args:
        level: trigger level (units of the signal).
        edge: "rising" or "falling".
        pre, post: samples before / from the trigger sample (post >= 1).
        holdoff: minimum samples between triggers (0: the next sample).
    """

    def __init__(self, level: float, edge: str = "rising", pre: int = 0, post: int = 1024,
                 holdoff: int = 0):
        check_trigger(edge, pre, post, holdoff)
        self.level = float(level)
        self.edge = edge
        self.pre, self.post, self.holdoff = int(pre), int(post), max(int(holdoff), 1)
        self.reset()

    def reset(self) -> None:
        """Forget everything (the stream restarts, e.g. after a gap)."""
        self._buffer: np.ndarray | None = None  # samples kept, from absolute index _start
        self._start = 0
        self._searched = 0  # crossings at absolute n < _searched have been looked for
        self._armed_at = 0  # earliest absolute index of the next trigger
        self._pending: list[int] = []  # triggers whose frame is not complete yet

    def process(self, x: np.ndarray, index: int) -> list[tuple[int, np.ndarray]]:
        """Add a chunk at absolute ``index``; returns (trigger index, frame) pairs it completes."""
        if self._buffer is not None and index != self._start + len(self._buffer):
            self.reset()
        if self._buffer is None:
            self._buffer, self._start = x, index
            self._searched = index + 1  # the first sample has no predecessor
            self._armed_at = index + self.pre  # a frame never reaches before the data
        else:
            self._buffer = np.concatenate((self._buffer, x))
        buffer, start = self._buffer, self._start
        end = start + len(buffer)
        lo = self._searched - start
        if lo < len(buffer):
            probe = np.abs(buffer[lo - 1:]) if buffer.dtype.kind == "c" else buffer[lo - 1:]
            before, after = probe[:-1], probe[1:]
            if self.edge == "rising":
                hits = np.flatnonzero((before < self.level) & (after >= self.level))
            else:
                hits = np.flatnonzero((before > self.level) & (after <= self.level))
            for hit in (hits + self._searched).tolist():
                if hit >= self._armed_at:
                    self._pending.append(hit)
                    self._armed_at = hit + self.holdoff
            self._searched = end
        frames = []
        while self._pending and self._pending[0] + self.post <= end:
            hit = self._pending.pop(0)
            a = hit - self.pre - start
            frames.append((hit, buffer[a:a + self.pre + self.post]))
        keep_from = min([end - max(self.pre, 1)] + [p - self.pre for p in self._pending])
        keep_from = max(keep_from, start)
        self._buffer, self._start = buffer[keep_from - start:], keep_from
        return frames
