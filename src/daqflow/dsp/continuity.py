"""Keeping indices honest: gaps in the input reset state; gaps in the output are marked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import numpy as np

from ..core import Chunk


class InputGaps:
    """Tells whether a chunk continues the previous one (index == previous end_index)."""

    __slots__ = ("expected",)

    def __init__(self) -> None:
        self.expected: int | None = None

    def is_gap(self, chunk: Chunk) -> bool:
        gap = self.expected is not None and chunk.index != self.expected
        self.expected = chunk.end_index
        return gap


class OutputMarks:
    """Meta for output chunks: ``overflow`` = output samples missing just before the chunk
    (its index minus the end of the previous output), and nothing copied from the input's."""

    __slots__ = ("expected",)

    def __init__(self) -> None:
        self.expected: int | None = None

    def meta(self, meta: Mapping[str, Any], index: int, samples: int, **extra: Any
             ) -> Mapping[str, Any]:
        gap = index - self.expected if self.expected is not None and index > self.expected else 0
        self.expected = index + samples
        if not gap and not extra and "overflow" not in meta:
            return meta  # the usual case: the input's (read-only) meta, shared, no copy
        out = {k: v for k, v in meta.items() if k != "overflow"}
        out.update(extra)
        if gap:
            out["overflow"] = gap
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
    a gap in the input calls ``reset`` first, and the output after it is marked."""
    gaps, marks = InputGaps(), OutputMarks()
    async for chunk in x:
        if gaps.is_gap(chunk):
            reset()
        yield Chunk(process(chunk), chunk.rate, chunk.index, chunk.time,
                    marks.meta(chunk.meta, chunk.index, chunk.samples))
