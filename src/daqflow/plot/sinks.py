"""`plot_png`: a sink that keeps a PNG of the newest item up to date."""

from __future__ import annotations

import asyncio
import contextlib
import math
import numbers
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from ..core import Pacer, Stream, block
from ..core.authoring import require
from ..io.paths import check_output, commit, partial
from .drawing import Painter, agg_figure, check_kind

_RENDER = threading.Lock()  # one Agg drawing at a time (matplotlib is not thread-safe)


def check_every(every: Any, what: str) -> float:
    if isinstance(every, bool) or not isinstance(every, numbers.Real) or not math.isfinite(every) \
            or every < 0:
        raise ValueError(f"{what}: every must be a number of seconds >= 0, got {every!r}")
    return float(every)


async def throttled(stream: AsyncIterator[Any], every: float,
                    draw: Callable[[Any], Awaitable[bool]]) -> tuple[int, int]:
    """Read ``stream`` to its end, drawing the first item at once, then the newest at most
    once every ``every`` seconds (an item not due yet waits, replaced by any newer one, and
    is drawn when due even if no other item comes), and the newest once more at the end if
    it was not drawn. ``draw(item)`` says whether it drew anything. The deadlines are a
    display `daqflow.core.Pacer`'s, on the loop's clock.

    Returns:
        (items read, items drawn).
    """
    loop = asyncio.get_running_loop()
    pacer = Pacer(every, catch_up=False)
    items = aiter(stream)
    received = drawn = 0
    held: Any = None  # the newest item, not drawn yet
    holding = False
    fetch: asyncio.Future[Any] | None = None  # a read that outlived a wait for the due time

    async def show(item: Any) -> None:
        nonlocal drawn
        pacer.went(loop.time())
        if await draw(item):
            drawn += 1

    try:
        while True:
            if holding:
                wait = pacer.delay(loop.time())
                if wait <= 0:
                    holding = False
                    item, held = held, None
                    await show(item)
                    continue
                if fetch is None:
                    fetch = asyncio.ensure_future(anext(items))
                done, _ = await asyncio.wait((fetch,), timeout=wait)
                if not done:
                    continue  # due now: the held item is drawn on the next turn
            try:
                if fetch is not None:
                    item, fetch = await fetch, None
                else:
                    item = await anext(items)
            except StopAsyncIteration:
                break
            received += 1
            if pacer.ready(loop.time()):
                holding, held = False, None
                await show(item)
            else:
                holding, held = True, item
        if holding:
            holding = False
            await show(held)
    finally:
        if fetch is not None and not fetch.done():
            fetch.cancel()
            with contextlib.suppress(BaseException):
                await fetch
    return received, drawn


@block(name="plot_png")
async def _plot_png(stream: Stream, path: str, sequence: bool, every: float, figsize: tuple[float, float],
                    dpi: float, style: dict[str, Any]) -> dict[str, Any]:
    figure = agg_figure("plot_png", figsize, dpi)
    painter = Painter(figure, **style)
    written: list[Path] = []

    def render(item: Any) -> bool:  # in a worker thread
        with _RENDER:
            if painter.draw(item) is None:
                return False
            target = Path(path.format(index=len(written)) if sequence else path)
            temporary = partial(target)
            try:
                with open(temporary, "wb") as f:
                    figure.savefig(f, format="png")
                commit(temporary, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    temporary.unlink()
                raise
        written.append(target)
        return True

    async def draw(item: Any) -> bool:
        return await asyncio.to_thread(render, item)

    received, drawn = await throttled(stream, every, draw)
    return {"path": str(written[-1]) if written else None, "frames": drawn,
            "skipped": received - drawn}


def plot_png(stream: Stream, path: str | os.PathLike[str], every: float = 1.0, *, kind: str = "auto",
             xlim: tuple[float, float] | None = None, ylim: tuple[float, float] | None = None,
             clim: tuple[float, float] | None = None, title: str | None = None,
             figsize: tuple[float, float] = (8.0, 4.5), dpi: float = 100, **options: Any) -> Stream:
    """A sink that keeps a PNG picture of the newest item.

    The first item is drawn at once, then the newest item at most once every ``every``
    seconds (items in between are skipped), and the newest once more when the stream ends
    if it was not drawn yet: the file always shows the latest data. An item that is not due
    yet is drawn when it falls due even if no newer one comes. Each PNG is written under
    ``NAME.partial`` and renamed, so a reader never sees a half-written picture. The drawing
    runs in a worker thread (the event loop keeps going), and by default the input FIFO
    holds 2 items and drops the oldest: a slow plot never holds acquisition back.

    What is drawn (`daqflow.plot.drawing.classify`): 1-D real or complex chunks as time
    traces; chunks with ``meta["freqs"]`` as spectra in dB (the last row), chunks of
    waterfall images as an image over frequency; chunks of 2-D frames as an image (the last
    frame). ``kind=`` forces "trace", "spectrum" (from ``meta["freqs"]``, or the Welch
    spectrum of 1-D samples) or "image".

    Args:
        stream: chunks (or arrays).
        path: the PNG file; ``{index}`` in it (e.g. ``"frame-{index:05d}.png"``) keeps a
            numbered sequence (0, 1, ...) instead of overwriting one file.
        every: seconds between pictures (0: each item, as fast as the plot goes).
        kind: "auto", "trace", "spectrum" or "image".
        xlim, ylim: fixed axis limits: seconds from the chunk's first sample (traces), Hz
            (spectra, waterfalls) or pixels (images) on x; amplitude, dB or pixels on y.
        clim: fixed colour limits of images.
        title: text at the top left.
        figsize, dpi: picture size in inches and dots per inch.
        options: name=, buffer= (default 2), policy= (default "drop_oldest"), threaded=.

    Result:
        ``{"path": the file holding the newest picture (None if none was drawn), "frames":
        pictures written, "skipped": items read but not drawn}``.
    """
    text = os.fspath(Path(path).expanduser())
    sequence = "{" in text
    if sequence:
        try:
            first, second = text.format(index=0), text.format(index=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"plot_png: path {text!r}: only {{index}} may be in braces ({exc!r})") from None
        if first == second:
            raise ValueError(f"plot_png: path {text!r} has braces but no {{index}}")
        check_output(first, "plot_png")
    else:
        check_output(text, "plot_png")
    every = check_every(every, "plot_png")
    check_kind(kind)
    require("matplotlib", "plot", "plot_png")  # fail now if it is missing
    style = {"kind": kind, "xlim": xlim, "ylim": ylim, "clim": clim, "title": title}
    Painter(None, **style)  # validates the limits
    return _plot_png(stream, text, sequence, every, (float(figsize[0]), float(figsize[1])), float(dpi),
                     style, **{"buffer": 2, "policy": "drop_oldest", **options})
