"""daqflow.bluesky: daqflow instruments and streams as ophyd-async devices for bluesky plans.

``detector(instrument, name="scope")`` is a step-scan detector (trigger = one trace, read =
the trace and its axis); ``detector(stream, name="spectra")`` is a flyer over a graph
output (kickoff starts the graph, complete waits for its end, collect gives one event per
sample). Both put units, shapes, axes and settings into the documents (docs/bluesky.md).
Needs bluesky and ophyd-async (extra ``facility``).
"""

from __future__ import annotations

from typing import Any

from ..core import Blocking, Stream
from ..core.requirements import require
from ..instruments.base import Instrument

for _module in ("bluesky", "ophyd_async"):
    require(_module, "facility", "daqflow.bluesky")

from .fly import StreamFlyer  # noqa: E402
from .keys import check_name  # noqa: E402
from .step import InstrumentDetector  # noqa: E402


def detector(obj: Instrument | Blocking[Instrument] | Stream, *, name: str,
             **options: Any) -> InstrumentDetector | StreamFlyer:
    """An ophyd-async device for bluesky plans from a daqflow instrument or stream.

    Args:
        obj: an `Instrument` (or its ``daqflow.blocking`` face): a step-scan detector
            (`InstrumentDetector`: ``RE(bp.count([det], 5))``, ``bp.scan([det], motor, ...)``);
            or a `Stream` (not a sink): a flyer (`StreamFlyer`: ``RE(bp.fly([det]))``).
        name: the device's name, prefix of its data keys (no "." or "/").
        options: for an instrument ``avg`` (traces averaged per trigger), ``units``; for a
            stream ``count`` (events, then the graph stops), ``duration`` (seconds), ``per``
            ("sample" or "chunk"), ``units``.

    Raises:
        TypeError: ``obj`` is neither; ValueError: a bad name or option.
    """
    name = check_name(name)
    if isinstance(obj, Blocking):
        obj = obj.wrapped
    if isinstance(obj, Instrument):
        return InstrumentDetector(obj, name, **options)
    if isinstance(obj, Stream):
        return StreamFlyer(obj, name, **options)
    raise TypeError(f"daqflow.bluesky.detector {name!r}: expected a daqflow Instrument or "
                    f"Stream, got {type(obj).__name__}")


__all__ = ["InstrumentDetector", "StreamFlyer", "detector"]
