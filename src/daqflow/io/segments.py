"""Where a recording's samples come from: segments (SigMF captures) and gaps.

A new segment starts at the first sample, after every gap (the stream index jumps), and when
the sample rate, the centre frequency or a radio's gain (``meta["gain"]``) changes. Each gap
is also listed with the samples dropped on purpose (``meta["skipped"]``) and the samples
lost: ``meta["overflow"]``, or the part of the index jump that ``skipped`` does not explain,
whichever is larger.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..core import Chunk


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
        skipped = max(int(chunk.meta.get("skipped", 0)), 0)
        lost = max(jump - skipped, int(chunk.meta.get("overflow", 0)), 0)
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


def mark_gap(meta: dict[str, Any], jump: int, skipped: int) -> None:
    """Marks for an index jump of ``jump`` samples in a replayed recording whose gap there was
    recorded with ``skipped`` samples dropped on purpose: that part is ``meta["skipped"]``,
    the rest ``meta["overflow"]`` (lost)."""
    skipped = min(max(skipped, 0), jump)
    if skipped:
        meta["skipped"] = skipped
    if jump > skipped:
        meta["overflow"] = jump - skipped
