"""View sinks: live plots of a stream, drawn on the loop the graph runs on (Qt's thread).

Each view sink is a daqflow sink block. Its input FIFO keeps the newest items
(``policy="drop_oldest"``, a small ``buffer``) and it redraws at most ``max_fps`` times a
second, and less when drawing would take more of the loop's time than the graph leaves (see
`daqflow.gui.pacing`): a slow display never holds back the blocks upstream. Items that arrive
between two frames are taken in (a waterfall keeps their rows) and the newest is drawn; the
FIFO's drops show in the report on the view's edge, and the sink's result is
``{"shown": frames drawn, "skipped": items read but not drawn}``.

Every view has a `View` object with its Qt widget (``view_of(sink).widget``), made when
first asked for (a QApplication must exist), so views can be embedded in any Qt window. The
views themselves are in `line_plots` (time, spectrum, xy) and `image_plots` (waterfall,
image).
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import Any

from ..core import GraphError, Pacer, Stream, block
from ..core.errors import EndOfStream
from ..core.ports import ReceivePort, WouldBlock
from .view import View

_NAP = 0.1  # seconds: a view waiting for its next frame looks this often whether its input ended


async def _show(stream: ReceivePort, view: View) -> dict[str, int]:
    """The sink every view runs: read, keep the newest, redraw when its pacing allows (a
    display `daqflow.core.Pacer` on the loop's clock, its period from the view's cost)."""
    view._open()
    loop = asyncio.get_running_loop()
    pacer = Pacer(0.0, catch_up=False)  # the first frame at once; then what view._next() says
    try:
        async for item in stream:
            t0 = perf_counter()
            view.take(item)
            fresh = 1
            wait = pacer.delay(loop.time())
            if wait > 0:  # the FIFO (drop_oldest) keeps the newest items meanwhile
                view._spent += perf_counter() - t0
                while wait > 0 and not stream.closed:  # an end comes soon
                    await asyncio.sleep(min(wait, _NAP))
                    wait = pacer.delay(loop.time())
                t0 = perf_counter()
            while True:  # the newest the FIFO holds
                try:
                    item = stream.receive_nowait()
                except (WouldBlock, EndOfStream):
                    break
                view.take(item)
                fresh += 1
            view.skipped += fresh - 1
            view._spent += perf_counter() - t0
            waiting = view._draw()
            if waiting is not None:  # a draw that awaits (its waiting is not a cost)
                await waiting
            pacer.period = view._next()
            pacer.went(loop.time())
    finally:
        view._close()
    return {"shown": view.shown, "skipped": view.skipped}


_BLOCKS: dict[str, Any] = {}


def _sink_block(kind: str) -> Any:
    """One block per kind of view, so reports name them (time_plot, spectrum_plot, ...)."""
    factory = _BLOCKS.get(kind)
    if factory is None:
        async def show(stream: Stream, view: View) -> dict[str, int]:
            return await _show(stream, view)

        show.__name__ = show.__qualname__ = kind
        show.__doc__ = f"The {kind} view sink (see daqflow.gui.{kind})."
        factory = _BLOCKS[kind] = block(name=kind, buffer=2, policy="drop_oldest")(show)
    return factory


def view_sink(stream: Stream, view: View, **options: Any) -> Stream:
    """A sink that shows ``stream`` in ``view`` (a `View` subclass instance).

    Args:
        stream: what to show.
        view: the view (one per sink).
        options: name=, buffer= (default 2 items), policy= (default "drop_oldest").
    """
    if not isinstance(view, View):
        raise TypeError(f"view_sink: view must be a daqflow.gui.View, got {type(view).__name__}")
    if options.pop("threaded", False):
        raise GraphError(f"{view.kind}: a view draws in Qt's thread; threaded=True is not allowed")
    if not isinstance(stream, Stream):
        raise GraphError(f"{view.kind}: expects a Stream to show, got {type(stream).__name__}")
    return _sink_block(view.kind)(stream, view, **options)


def view_of(sink: Stream) -> View:
    """The `View` of a view sink (``view_of(s).widget`` is its QWidget).

    Raises:
        TypeError: ``sink`` is not a view sink.
    """
    view = sink.params.get("view") if isinstance(sink, Stream) else None
    if not isinstance(view, View):
        raise TypeError(f"not a view sink: {sink!r}")
    return view


def is_view(node: Stream) -> bool:
    """True for a view sink."""
    return node.kind == "sink" and isinstance(node.params.get("view"), View)
