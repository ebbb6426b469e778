"""The state of a block while it runs, and what a block's own code can reach of it.

`note_lost` counts losses no chunk can carry; `stop_time` tells a source on a `SampleClock`
when the run's orderly stop took effect, so it delivers what its clock produced until then
and ends by itself (see `daqflow.core.clock`).
"""

from __future__ import annotations

import contextvars
from typing import Any

from .chunk import Chunk
from .threads import Busy


class _State:
    """Mutable counters of one block while it runs."""

    __slots__ = (
        "busy", "clocked", "error", "has_result", "items_out", "last_out", "lost", "name", "result",
        "samples_out", "skipped", "started", "started_at", "stop_time", "t_end", "worker",
    )

    def __init__(self, name: str = "") -> None:
        self.name = name  # the block's name in the report
        self.items_out = 0
        self.samples_out = 0
        self.last_out = 0  # samples in the last item counted out (a fused map's, see `fused`)
        self.lost = 0  # samples a real-time source marked lost in its output (meta["overflow"])
        self.skipped = 0  # ... and dropped on purpose (meta["skipped"])
        self.started = False  # its task has taken its first step
        self.started_at: float | None = None  # loop time of that step (s)
        self.clocked = False  # a source on a `SampleClock`: it ends itself at `stop_time`
        self.stop_time: float | None = None  # loop time of an orderly stop (sources)
        self.busy = 0.0  # added to on the graph's loop only
        self.worker = Busy()  # added to by the block's worker thread only
        self.t_end: float | None = None
        self.result: Any = None
        self.has_result = False
        self.error: str | None = None

    def count(self, item: Any) -> None:
        """One item (of so many samples) went out."""
        self.items_out += 1
        self.samples_out += item.samples if type(item) is Chunk else 1

    def uncount(self, samples: int) -> None:
        """Take back one item of ``samples`` counted as out: it was not delivered after all."""
        self.items_out -= 1
        self.samples_out -= samples

    def count_marks(self, item: Any) -> None:
        """The gap marks a source put on ``item`` (samples lost or skipped before it)."""
        if type(item) is Chunk and item.meta:
            self.lost += int(item.meta.get("overflow", 0))
            self.skipped += int(item.meta.get("skipped", 0))


_RUNNING: contextvars.ContextVar[_State] = contextvars.ContextVar("daqflow_running_block")


def note_lost(samples: int) -> None:
    """Count ``samples`` a real-time source lost where no chunk can carry the mark (dropped
    after the last chunk it delivered, as the run stopped) in its `BlockReport.lost` and the
    report's totals. Call it from the source's own code; elsewhere it does nothing."""
    state = _RUNNING.get(None)
    if state is not None and samples > 0:
        state.lost += int(samples)


def running_block() -> _State | None:
    """The state of the block whose task is running this code (None outside a run)."""
    return _RUNNING.get(None)
