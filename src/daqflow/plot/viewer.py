"""`PyplotViewer`: one pyplot figure that shows the newest item, updated in place."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from ..core import Stream, block
from ..core.authoring import require
from .drawing import Painter, check_kind
from .sinks import check_every, throttled


class PyplotViewer:
    """A matplotlib (pyplot) figure showing the newest item, redrawn in place: the lines or
    image of the previous item get the new data (``set_data``), nothing is re-created while
    the items keep their kind. Works with ``plt.ion()`` and interactive backends
    (``%matplotlib widget``, qt) as with Agg.

    ``show`` draws in the thread that made the viewer. Called from another thread (the
    graph's, when `daqflow.run` runs beside Jupyter's loop or with `daqflow.start`) while
    that thread runs an asyncio loop (Jupyter's), it hands the newest item to that loop and
    returns; the loop draws it when it is free (with `daqflow.start` at once; `daqflow.run`
    holds the notebook until the graph ends). Without such a loop it draws in the caller's
    thread.

    Args:
        kind: "auto" (see `daqflow.plot.drawing.classify`), "trace", "spectrum" or "image".
        figsize: inches.
        xlim, ylim, clim, title: as `daqflow.plot.drawing.Painter`.

    In a notebook::

        %matplotlib widget
        viewer = PyplotViewer(kind="spectrum", ylim=(-120, 0))
        running = df.start(viewer.sink(dsp.spectrum(io.simulated_adc(2e6), 1024), every=0.2))
        ...
        running.stop()
    """

    def __init__(self, kind: str = "auto", *, figsize: tuple[float, float] = (8.0, 4.5),
                 xlim: tuple[float, float] | None = None, ylim: tuple[float, float] | None = None,
                 clim: tuple[float, float] | None = None, title: str | None = None):
        require("matplotlib", "plot", "PyplotViewer")
        self.kind = check_kind(kind)
        self._style = {"kind": kind, "xlim": xlim, "ylim": ylim, "clim": clim, "title": title}
        Painter(None, **self._style)  # validates
        self._figsize = figsize
        self._figure: Any = None
        self._painter: Painter | None = None
        self._home = threading.get_ident()
        try:
            self._home_loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._home_loop = None
        self._lock = threading.Lock()
        self._posted: list[Any] = []  # the newest item handed to the home loop, not drawn yet
        self.shown = 0
        """Items drawn so far."""

    @property
    def figure(self) -> Any:
        """The matplotlib Figure (made by pyplot on first use)."""
        if self._figure is None:
            from matplotlib import pyplot as plt

            self._figure = plt.figure(figsize=self._figsize, layout="constrained")
            self._painter = Painter(self._figure, **self._style)
        return self._figure

    @property
    def axes(self) -> Any:
        """The Axes the items are drawn in (None before the first)."""
        return None if self._painter is None else self._painter.ax

    def show(self, item: Any) -> None:
        """Draw ``item`` (a Chunk or an array) in place of the previous one."""
        self._show(item)

    def _show(self, item: Any) -> bool:
        """Draw ``item`` here, or hand it to the home loop; False if it had nothing to draw."""
        loop = self._home_loop
        if threading.get_ident() == self._home or loop is None or loop.is_closed() or not loop.is_running():
            return self._draw(item)
        with self._lock:
            pending = bool(self._posted)
            self._posted[:] = [item]
        if not pending:
            try:
                loop.call_soon_threadsafe(self._draw_posted)
            except RuntimeError:  # the loop closed meanwhile
                self._draw_posted()
        return True

    def _draw_posted(self) -> None:
        with self._lock:
            if not self._posted:
                return
            item = self._posted.pop()
        self._draw(item)

    def _draw(self, item: Any) -> bool:
        figure = self.figure
        assert self._painter is not None
        if self._painter.draw(item) is None:
            return False
        self.shown += 1
        figure.canvas.draw_idle()
        figure.canvas.flush_events()
        return True

    def sink(self, stream: Stream, every: float = 0.1, **options: Any) -> Stream:
        """A sink that shows each item of ``stream``: the first at once, then the newest at
        most once every ``every`` seconds, and the newest at the end (as `plot_png`).

        Args:
            stream: chunks (or arrays).
            every: seconds between redraws (0: every item).
            options: name= (default "viewer"), buffer= (default 2), policy= (default
                "drop_oldest"), threaded=.

        Result:
            ``{"frames": items shown (or handed to the viewer's loop), "skipped": items
            read but not shown}``.
        """
        every = check_every(every, "PyplotViewer.sink")
        return _viewer_sink(stream, self, every,
                            **{"buffer": 2, "policy": "drop_oldest", **options})

    def close(self) -> None:
        """Close the figure (pyplot forgets it)."""
        if self._figure is not None:
            from matplotlib import pyplot as plt

            plt.close(self._figure)
            self._figure = self._painter = None

    def __enter__(self) -> PyplotViewer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PyplotViewer kind={self.kind!r} shown={self.shown}>"


@block(name="viewer")
async def _viewer_sink(stream: Stream, viewer: PyplotViewer, every: float) -> dict[str, int]:
    async def draw(item: Any) -> bool:
        return viewer._show(item)

    received, drawn = await throttled(stream, every, draw)
    return {"frames": drawn, "skipped": received - drawn}
