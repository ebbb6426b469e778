"""The trigger block: scope-style frames around level crossings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..core import Chunk, Stream, block
from ..core.authoring import GapTally
from .driver import time_at
from .kernels.trigger import TriggerState, check_trigger


@block(name="trigger", accepts="chunk", needs_samples=True)
async def _trigger(x: Stream, level: float, edge: str, pre: int, post: int, holdoff: int
                   ) -> AsyncIterator[Chunk]:
    state = TriggerState(level, edge, pre, post, holdoff)  # (the kernel resets itself at a gap)
    gaps = GapTally()  # input samples lost / dropped on purpose: marked on the next frame only
    async for chunk in x:
        gaps.add(chunk)
        for hit, frame in state.process(chunk.data, chunk.index):
            start = hit - pre
            meta = {**gaps.take(chunk.meta), "trigger_index": hit, "trigger_time": time_at(chunk, hit)}
            yield Chunk(frame.copy(), chunk.rate, start, time_at(chunk, start), meta)


def trigger(stream: Stream, level: float, edge: str = "rising", pre: int = 0, post: int = 1024,
            holdoff: int = 0, **options: Any) -> Stream:
    """Scope-style triggered frames: ``pre`` samples before and ``post`` from each crossing of
    ``level`` (complex samples trigger on their magnitude).

    Each output chunk is one frame (a trace) of pre+post samples whose ``index``/``time`` are
    its first sample's; ``meta["trigger_index"]`` and ``meta["trigger_time"]`` (s) mark the
    trigger sample. A gap in the input resets the search (no frame spans lost data); the next
    frame carries ``meta["overflow"]`` (input samples lost since the last frame) and/or
    ``meta["skipped"]`` (dropped on purpose upstream, e.g. by `squelch`).

    Args:
        stream: chunks of samples.
        level: trigger level in signal units.
        edge: "rising" or "falling".
        pre: samples before the trigger sample.
        post: samples from the trigger sample on (>= 1).
        holdoff: minimum samples from one trigger to the next.
        options: name=, buffer=, policy=, threaded=.
    """
    check_trigger(edge, pre, post, holdoff)
    return _trigger(stream, float(level), edge, int(pre), int(post), int(holdoff), **options)
