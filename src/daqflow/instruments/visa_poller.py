"""`visa_poll`: a paced source of an SCPI query's answers (a block over `core.clock.ticks`,
the clock `hw.poll` shares)."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from ..core import Blocking, Chunk, Stream, block
from ..core.authoring import ticks
from .visa import VisaInstrument


def _float_list(answer: str) -> list[float]:
    return [float(x) for x in answer.split(",")]


@block(name="visa_poll", realtime=True)
async def _poll(instrument: VisaInstrument, command: str, interval: float,
                parse: Callable[[str], Any]) -> AsyncIterator[Chunk]:
    instrument._check_open()
    async for tick in ticks(interval):
        if tick.k == 0:
            continue  # the first query goes one interval after the start (the instrument settles)
        if not instrument.connected:
            return
        try:
            answer = await instrument.query(command)
        except Exception:
            if not instrument.connected:  # closed while the query was in flight
                return
            raise
        try:
            values = np.asarray(parse(answer), dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"visa_poll: {instrument.name} answered {command!r} with "
                             f"{answer!r}, which parse cannot read as numbers") from None
        data = values.reshape(1) if values.ndim == 0 or values.size == 1 else values.reshape(1, -1)
        k = tick.k - 1  # the first query's tick is 0
        yield Chunk(data, 1.0 / interval, k, k * interval,
                    {"instrument": instrument.name, "query": command, "timestamp": time.time(),
                     "late": tick.late})


def visa_poll(instrument: VisaInstrument | Blocking[Any], query: str, interval: float, *,
              parse: Callable[[str], Any] | None = None, **options: Any) -> Stream:
    """A daqflow source that sends ``query`` every ``interval`` seconds and yields the answers.

    Items are 1-sample Chunks: data shape (1,) for one number, (1, n) for n comma-separated
    numbers; ``rate`` is 1/interval, ``index`` the tick number on the grid (missed ticks are
    skipped, so gaps in ``index`` count them) and ``time`` = index * interval, in seconds
    since the first tick, one ``interval`` after the start. Ticks are absolute deadlines
    (`core.clock.ticks`): the grid does not drift.
    ``meta`` holds ``timestamp`` (wall-clock time.time() of the answer), ``late`` (seconds
    after its deadline the query was sent), ``instrument`` and ``query``.

    The instrument must be connected when the graph starts; the source ends when it closes
    (at the next tick at the latest).

    Args:
        instrument: a connected `VisaInstrument` (or its `daqflow.blocking` proxy).
        query: the SCPI query, e.g. ``"READ?"``.
        interval: seconds between queries (> 0).
        parse: answer text -> number(s) (default: comma-separated floats).
        options: name=, buffer=, policy=, threaded= (see `daqflow.block`); realtime by default.
    """
    if isinstance(instrument, Blocking):
        instrument = instrument.wrapped
    if not isinstance(instrument, VisaInstrument):
        raise TypeError(f"visa_poll: instrument must be a VisaInstrument, got "
                        f"{type(instrument).__name__}")
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"visa_poll({instrument.name}): query must be a non-empty string, "
                         f"got {query!r}")
    try:
        seconds = float(interval)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(interval, bool) or not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"visa_poll({instrument.name}): interval must be seconds > 0, got "
                         f"{interval!r}")
    return _poll(instrument, query.strip(), seconds, parse or _float_list, **options)
