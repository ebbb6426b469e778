"""Keeping indices honest: gaps in the input reset state; gaps in the output are marked, as
lost (``overflow``) or dropped on purpose (``skipped``) as the input's gap was."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import numpy as np

from ..core import Chunk

#: The meta keys that mark a gap: samples lost (``overflow``) or dropped on purpose (``skipped``)
#: just before a chunk. A block recomputes them for its own output, never copies the input's.
MARKS = ("overflow", "skipped")


def gap_kind(meta: Mapping[str, Any], jump: int) -> str:
    """"skipped" when ``meta`` explains an index jump of ``jump`` samples as dropped on purpose
    (``meta["skipped"]`` covers it, nothing marked lost), else "overflow": a loss, or a mix of
    loss and skipping (counted as loss: conservative), or a jump nobody explained."""
    if jump > 0 and not meta.get("overflow") and meta.get("skipped", 0) >= jump:
        return "skipped"
    return "overflow"


class InputGaps:
    """Tells whether a chunk continues the previous one (index == previous end_index), and
    keeps the kind of the gaps not yet marked on the output (see `OutputMarks`)."""

    __slots__ = ("expected", "pending")

    def __init__(self) -> None:
        self.expected: int | None = None
        self.pending: str | None = None  # "skipped" or "overflow" (any loss wins), or None

    def is_gap(self, chunk: Chunk) -> bool:
        expected = self.expected
        self.expected = chunk.end_index
        if expected is None or chunk.index == expected:
            return False
        if self.pending != "overflow":
            self.pending = gap_kind(chunk.meta, chunk.index - expected)
        return True

    def take(self) -> str:
        """The mark for an output gap: "skipped" if every input gap since the last one taken
        was dropped on purpose, else "overflow"; starts afresh."""
        kind, self.pending = self.pending or "overflow", None
        return kind


class OutputMarks:
    """Meta for output chunks: a jump of the output index over the end of the previous output
    is marked ``overflow`` (samples missing) or, when the input gaps behind it were all dropped
    on purpose (told by ``source``), ``skipped``; the input's own marks are never copied."""

    __slots__ = ("expected", "source")

    def __init__(self, source: InputGaps | None = None) -> None:
        self.expected: int | None = None
        self.source = source

    def meta(self, meta: Mapping[str, Any], index: int, samples: int, **extra: Any
             ) -> Mapping[str, Any]:
        gap = index - self.expected if self.expected is not None and index > self.expected else 0
        self.expected = index + samples
        if not gap and not extra and "overflow" not in meta and "skipped" not in meta:
            return meta  # the usual case: the input's (read-only) meta, shared, no copy
        out = {k: v for k, v in meta.items() if k not in MARKS}
        out.update(extra)
        if gap:
            out["overflow" if self.source is None else self.source.take()] = gap
        return out


def time_at(chunk: Chunk, index: int) -> float:
    """Time in seconds of absolute input sample ``index`` (on the chunk's clock)."""
    return chunk.time + (index - chunk.index) / chunk.rate


class RateCheck:
    """Refuses a stream whose rate changes, or differs from the rate a design was made for."""

    __slots__ = ("block", "designed", "rate")

    def __init__(self, block: str, designed: float | None = None):
        self.block = block
        self.designed = designed
        self.rate: float | None = None

    def __call__(self, chunk: Chunk) -> None:
        if self.rate is None:
            if self.designed is not None and abs(chunk.rate - self.designed) > 1e-9 * self.designed:
                raise ValueError(f"{self.block}: taps were designed for rate={self.designed:g} Hz, "
                                 f"the stream runs at {chunk.rate:g} Hz")
            self.rate = chunk.rate
        elif chunk.rate != self.rate:
            raise ValueError(f"{self.block}: stream rate changed from {self.rate:g} Hz to "
                             f"{chunk.rate:g} Hz")


async def samplewise(x: AsyncIterator[Chunk], reset: Callable[[], None],
                     process: Callable[[Chunk], np.ndarray]) -> AsyncIterator[Chunk]:
    """Chunks through a kernel that turns n samples into n samples (same index and time);
    a gap in the input calls ``reset`` first, and the output after it is marked (``overflow``,
    or ``skipped`` when the input's gap was dropped on purpose)."""
    gaps = InputGaps()
    marks = OutputMarks(gaps)
    async for chunk in x:
        if gaps.is_gap(chunk):
            reset()
        yield Chunk(process(chunk), chunk.rate, chunk.index, chunk.time,
                    marks.meta(chunk.meta, chunk.index, chunk.samples))
