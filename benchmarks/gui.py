"""Live views beside a graph running flat out: does the UI stay responsive, does the graph
keep its speed?

The demo receive chain (``daqflow.demo_gui.build(realtime=False)``: simulated ADC at full
speed, mix, FIR decimate by 8, spectrum, average) runs on a qasync loop (Qt's event loop),
offscreen, for ``--seconds``, alternately:

- with its three views (spectrum, waterfall, time trace) in a window (`daqflow.gui.arun`);
- without them: the same streams into ``null_sink``s (same loop, same FIFO policies).

A QTimer at 10 ms ticks throughout; its gaps (p50/p99/max) say how responsive the UI is
(target p99 <= 50 ms). Source throughput with views / without (target >= 0.95) is the
median over ``--rounds`` alternated pairs. Also given: frames per view, the views' share of
the loop (draw + paint, measured), FIFO drops on the views' edges; and, once, the same
window with the ADC paced at 2 MS/s (``paced``): frames per second and samples lost.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui.py
"""

from __future__ import annotations

import argparse
import os
import statistics
from time import perf_counter
from typing import Any

import numpy as np

import daqflow as df
from _common import emit
from daqflow import demo_gui, gui
from daqflow.gui import _qt

QtCore = _qt.QtCore


def _gaps(ticks: list[float]) -> dict[str, float]:
    gaps = np.diff(np.asarray(ticks)) * 1e3
    if not len(gaps):
        return {"ticks": len(ticks)}
    return {"ticks": len(ticks), "p50_ms": round(float(np.percentile(gaps, 50)), 2),
            "p99_ms": round(float(np.percentile(gaps, 99)), 2),
            "max_ms": round(float(gaps.max()), 2)}


async def _one(with_views: bool, seconds: float, budget: float, realtime: bool = False
               ) -> dict[str, Any]:
    chain = demo_gui.build(realtime=realtime)
    if with_views:
        sinks = chain.views
    else:
        sinks = tuple(df.null_sink(s, name=f"null_{k}", buffer=b.buffer, policy=b.policy)
                      for k, (s, b) in enumerate(zip(chain.shown, chain.views, strict=True)))
    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(perf_counter()))
    timer.start()
    views = [gui.view_of(v) for v in chain.views] if with_views else []
    try:
        report = await gui.arun(*sinks, duration=seconds, budget=budget, window=with_views)
    finally:
        timer.stop()
    source = report.blocks["simulated_adc"]
    out: dict[str, Any] = {
        "source_ms_per_s": round(source.samples_out / source.wall / 1e6, 3),
        "timer": _gaps(ticks),
        "duration_s": round(report.duration, 3),
    }
    if with_views:
        drawn = sum(v.widget.paint_seconds for v in views)  # new views: painted in this run
        out["frames"] = {name: r["shown"] for name, r in report.results.items()
                         if isinstance(r, dict) and "shown" in r}
        out["fps"] = {k: round(v / report.duration, 1) for k, v in out["frames"].items()}
        out["view_fifo_drops"] = {e.consumer: e.dropped_items for e in report.edges
                                  if e.consumer in out["frames"]}
        draw = sum(report.blocks[name].busy for name in out["frames"])
        out["views_share_of_loop"] = round((draw + drawn) / report.duration, 4)
        out["overflow_samples"] = report.overflow
    return out


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when the QApplication starts
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per run (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="alternated pairs (default 5)")
    parser.add_argument("--budget", type=float, default=gui.pacing.BUDGET,
                        help="views' share of a busy loop (default %(default)s)")
    args = parser.parse_args()
    app = gui.application()
    app.setQuitOnLastWindowClosed(False)
    loop = _qt.qasync.QEventLoop(app)
    rounds = []
    t0 = perf_counter()
    try:
        for _ in range(args.rounds):
            without = loop.run_until_complete(_one(False, args.seconds, args.budget))
            with_ = loop.run_until_complete(_one(True, args.seconds, args.budget))
            rounds.append({"without_views": without, "with_views": with_,
                           "ratio": round(with_["source_ms_per_s"] / without["source_ms_per_s"], 3)})
        paced = loop.run_until_complete(_one(True, args.seconds, args.budget, realtime=True))
    finally:
        loop.close()
    ratios = [r["ratio"] for r in rounds]
    gaps_with = [r["with_views"]["timer"] for r in rounds]
    summary = {
        "throughput_ratio_median": round(statistics.median(ratios), 3),
        "throughput_target": 0.95,
        "timer_gap_with_views_p50_ms": round(statistics.median(g["p50_ms"] for g in gaps_with), 2),
        "timer_gap_with_views_p99_ms": round(max(g["p99_ms"] for g in gaps_with), 2),
        "timer_gap_with_views_max_ms": round(max(g["max_ms"] for g in gaps_with), 2),
        "timer_gap_p99_target_ms": 50.0,
        "source_ms_per_s_without": round(statistics.median(
            r["without_views"]["source_ms_per_s"] for r in rounds), 2),
        "source_ms_per_s_with": round(statistics.median(
            r["with_views"]["source_ms_per_s"] for r in rounds), 2),
        "paced_fps": paced["fps"],
        "paced_overflow_samples": paced["overflow_samples"],
        "paced_timer_gap_p99_ms": paced["timer"]["p99_ms"],
        "wall_s": round(perf_counter() - t0, 1),
    }
    emit("gui", {"summary": summary, "rounds": rounds, "paced": paced}, seconds=args.seconds,
         budget=args.budget, platform=os.environ.get("QT_QPA_PLATFORM"))


if __name__ == "__main__":
    main()
