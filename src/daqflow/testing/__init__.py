"""Helpers to test blocks the way daqflow tests its own: one block, no graph to build."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core import Chunk, Stream, collect, from_iterable, run
from ..core.authoring import BlockFactory


def run_block(factory: BlockFactory, inputs: Sequence[Any] | tuple[Sequence[Any], ...],
              **params: Any) -> list[Any]:
    """Run one block on input items and return its output items.

    Args:
        factory: a block factory (a transform or a map; for a sink, its result is returned
            as a one-item list).
        inputs: the items of its input stream; a tuple of sequences for several inputs.
        params: the block's other arguments.

    >>> import daqflow as df
    >>> @df.block
    ... def double(x):
    ...     return 2 * x
    >>> run_block(double, [1, 2])
    [2, 4]
    """
    streams = inputs if isinstance(inputs, tuple) else (inputs,)
    sources: list[Stream] = [from_iterable(list(items)) for items in streams]
    out = factory(*sources, **params)
    if out.kind == "sink":
        report = run(out)
        return [report.results[out.name]]
    sink = collect(out)
    return run(sink).results[sink.name]


def chunks(data: Any, rate: float, size: int, *, index: int = 0, meta: dict | None = None
           ) -> list[Chunk]:
    """Cut ``data`` into Chunks of ``size`` samples (the last may be shorter), indices counted."""
    data = np.asarray(data)
    out = []
    for start in range(0, len(data), size):
        i = index + start
        out.append(Chunk(data[start:start + size], rate, i, i / rate, meta or {}))
    return out


__all__ = ["chunks", "run_block"]
