"""`web_view`: a sink that shows a stream on the control server's page (`daqflow serve`).

Like the Qt views it keeps only the newest: its FIFO drops the oldest item when full and it
publishes at most ``max_fps`` items a second, each reduced to at most ``max_points`` values
(a trace's first samples; a spectrum's newest row, peak-held across merged bins, in dB).
What it does not show is counted in its result, never waited for. The `Param` changes
marked on the items it skips go with the next one it shows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import numpy as np

from ..core import Chunk, Pacer, Stream, block
from .control import CURRENT

log = logging.getLogger("daqflow.net.control")

KINDS = ("auto", "time", "spectrum", "waterfall")


def reduce_item(item: Any, kind: str, max_points: int) -> tuple[np.ndarray, dict[str, Any]]:
    """What the page draws of ``item``: float32 values, the meta that places them and the
    item's own scalar meta (centre frequency, gain, marks)."""
    values, meta = _reduce(item, kind, max_points)
    if isinstance(item, Chunk):
        for key, value in list(item.meta.items())[:32]:
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, str | int | float | bool) and key not in meta:
                meta[key] = value
    return values, meta


def _reduce(item: Any, kind: str, max_points: int) -> tuple[np.ndarray, dict[str, Any]]:
    chunk = item if isinstance(item, Chunk) else Chunk(np.asarray(item), 1.0)
    meta = chunk.meta
    if kind == "auto":
        kind = "spectrum" if "freqs" in meta else "time"
    data = np.asarray(chunk.data)
    if kind == "time":
        values = data.reshape(len(data), -1)[:, 0] if data.ndim > 1 else data
        values = values[:max_points]
        shown = np.stack([values.real, values.imag], axis=1) if np.iscomplexobj(values) else values
        return shown.astype(np.float32), {"kind": "time", "rate": float(chunk.rate),
                                          "t0": float(chunk.time or 0.0)}
    row = data.reshape(-1, data.shape[-1])[-1] if data.ndim >= 1 else data.reshape(1)
    power = np.abs(row) ** 2 if np.iscomplexobj(row) else row.astype(np.float64)
    db = power if meta.get("units") == "dB" else 10 * np.log10(np.maximum(power, 1e-20))
    freqs = meta.get("freqs")
    bins = len(db)
    if freqs is not None and len(freqs) == bins and bins > 1:
        f0, df = float(freqs[0]), (float(freqs[-1]) - float(freqs[0])) / (bins - 1)
    else:
        f0, df = 0.0, 1.0
    merge = -(-bins // max_points)  # bins per shown point
    if merge > 1:
        db = np.pad(db, (0, (-bins) % merge), constant_values=-np.inf).reshape(-1, merge).max(1)
        f0, df = f0 + df * (merge - 1) / 2, df * merge
    out = {"kind": kind, "f0": f0, "df": df, "units": "dB"}
    if "center_freq" in meta:
        out["center_freq"] = float(meta["center_freq"])
    return db.astype(np.float32), out


@block(name="web_view", buffer=2, policy="drop_oldest")
async def _web_view(stream: Stream, kind: str, view: str | None, max_fps: float,
                    max_points: int) -> dict[str, Any]:
    server = CURRENT.get()
    task = asyncio.current_task()
    name = view or (task.get_name().removeprefix("daqflow:") if task is not None else "web_view")
    shown = skipped = 0
    if server is None:
        log.warning("web_view %r: no control server (run with serve=PORT, or daqflow serve): "
                    "nothing is shown", name)
        async for _ in stream:
            skipped += 1
        return {"shown": 0, "skipped": skipped}
    feed = server.add_view(name, kind)
    loop = asyncio.get_running_loop()
    pacer = Pacer.per_second(max_fps, catch_up=False)
    changes: dict[str, Any] = {}
    try:
        async for item in stream:
            if isinstance(item, Chunk) and "params" in item.meta:
                changes.update(item.meta["params"])
            now = loop.time()
            if not pacer.ready(now):
                skipped += 1
                continue
            values, meta = reduce_item(item, kind, max_points)
            if changes:
                meta["params"], changes = changes, {}
            meta["sent"] = time.time()  # (the page measures its latency from this)
            if isinstance(item, Chunk):
                index, rate, at = item.index, float(item.rate), float(item.time)
            else:
                index, rate, at = shown, 1.0, float(shown)
            await feed.publish(Chunk(values, rate, index, at, meta))
            shown += 1
            pacer.went(now)
    finally:
        feed.end()
    return {"shown": shown, "skipped": skipped}


def web_view(stream: Stream, kind: str = "auto", *, name: str | None = None,
             max_fps: float = 10.0, max_points: int = 1024, **options: Any) -> Stream:
    """Show ``stream`` on the control server's page (``df.run(..., serve=PORT)``, ``daqflow
    serve``): a time trace, a spectrum or a waterfall.

    Args:
        stream: samples (a trace) or spectra (`dsp.spectrum`: ``meta["freqs"]`` in Hz).
        kind: "time", "spectrum", "waterfall", or "auto" (spectrum when items carry freqs).
        name: the view's name on the page and in its URL (default: the block's name).
        max_fps: items shown per second at most.
        max_points: values per item shown at most.
        options: buffer=, policy= (default 2, "drop_oldest": the newest is kept).

    Result: ``{"shown": items, "skipped": items not shown}``.
    """
    if kind not in KINDS:
        raise ValueError(f"web_view: kind must be one of {KINDS}, got {kind!r}")
    if not max_fps > 0:
        raise ValueError(f"web_view: max_fps must be > 0, got {max_fps!r}")
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 16:
        raise ValueError(f"web_view: max_points must be an int >= 16, got {max_points!r}")
    return _web_view(stream, kind, name, float(max_fps), max_points, name=name, **options)
