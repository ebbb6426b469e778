"""Where a recording's samples come from: segments (SigMF captures) and gaps (lost samples).

A new segment starts at the first sample, after every gap (the stream index jumps), and when
the sample rate or the centre frequency changes. Each gap is also listed with the number of
samples lost, taken from the index jump (or ``meta["overflow"]``, whichever is larger).
"""

from __future__ import annotations

import dataclasses

from ..core import Chunk


@dataclasses.dataclass(frozen=True)
class Segment:
    """Samples from file position ``position`` on have stream index ``index`` on."""

    position: int
    index: int
    rate: float
    center_freq: float | None


@dataclasses.dataclass(frozen=True)
class Gap:
    """``lost`` samples are missing just before file position ``position``."""

    position: int
    lost: int
    index: int


class SegmentTracker:
    """Follows a stream being written and lists its segments and gaps."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.gaps: list[Gap] = []
        self._expected: int | None = None

    def add(self, chunk: Chunk, position: int) -> tuple[Segment | None, Gap | None]:
        """Account for ``chunk`` written at file ``position``; returns what it started."""
        center = chunk.meta.get("center_freq")
        center = None if center is None else float(center)
        jump = 0 if self._expected is None else chunk.index - self._expected
        lost = max(jump, int(chunk.meta.get("overflow", 0)))
        gap = Gap(position, lost, chunk.index) if lost > 0 and self.segments else None
        if gap is not None:
            self.gaps.append(gap)
        last = self.segments[-1] if self.segments else None
        segment = None
        if last is None or jump != 0 or chunk.rate != last.rate or center != last.center_freq:
            segment = Segment(position, chunk.index, float(chunk.rate), center)
            self.segments.append(segment)
        self._expected = chunk.end_index
        return segment, gap
