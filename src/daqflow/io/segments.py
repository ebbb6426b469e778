"""Where a recording's samples come from: segments (SigMF captures) and gaps.

A new segment starts at the first sample, after every gap (the stream index jumps), and when
the sample rate, the centre frequency or a radio's gain (``meta["gain"]``) changes. Each gap
is also listed with the samples dropped on purpose and the samples lost, by the gap rule of
`daqflow.core.gaps` (`split_gap`; readers mark replayed gaps with its `mark_gap`).
"""

from __future__ import annotations

import dataclasses

from ..core import Chunk
from ..core.authoring import mark_gap, split_gap

__all__ = ["Gap", "Segment", "SegmentTracker", "mark_gap"]


@dataclasses.dataclass(frozen=True)
class Segment:
    """Samples from file position ``position`` on have stream index ``index`` on."""

    position: int
    index: int
    rate: float
    center_freq: float | None
    gain: float | None = None


@dataclasses.dataclass(frozen=True)
class Gap:
    """Samples missing just before file position ``position`` (whose stream index is
    ``index``): ``lost`` ones (overflow) and ``skipped`` ones (dropped on purpose)."""

    position: int
    lost: int
    index: int
    skipped: int = 0


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
        gain = chunk.meta.get("gain")
        gain = None if gain is None else float(gain)
        jump = 0 if self._expected is None else chunk.index - self._expected
        lost, skipped = split_gap(chunk.meta, jump)
        gap = Gap(position, lost, chunk.index, skipped) if (lost or skipped) and self.segments else None
        if gap is not None:
            self.gaps.append(gap)
        last = self.segments[-1] if self.segments else None
        segment = None
        if (last is None or jump != 0 or chunk.rate != last.rate or center != last.center_freq
                or gain != last.gain):
            segment = Segment(position, chunk.index, float(chunk.rate), center, gain)
            self.segments.append(segment)
        self._expected = chunk.end_index
        return segment, gap
