"""The control page's live views against none: does acquisition keep its speed, and how old
is what the page draws?

The demo receive chain (as ``daqflow.demo_gui.build``: simulated ADC, mix, FIR decimate by 8,
spectrum, average) runs with ``serve=0`` for ``--seconds``, alternately:

- with three `net.web_view` sinks (spectrum, waterfall, time trace) and the page open in
  headless Chromium (Debian's, through Playwright), drawing them;
- without them: the same streams into ``null_sink``s with the views' FIFO policy (2 items,
  drop oldest) and no page.

Throughput (source samples per second with views / without, target >= 0.95) is the median
over ``--rounds`` alternated pairs, the ADC running flat out, measured over ``--seconds``
once the page draws (the browser's start-up is not counted). Latency is measured once with
the ADC paced at 2 MS/s: a map right after the source stamps each chunk's wall-clock time
(``meta["made"]``), and the page records, for each item it draws, the time from that stamp
to the drawing (p50, p99 per view, in ms; a spectrum row's stamp is that of the first of the
16 x 1024 x 8 source samples it averages, 65 ms earlier than the last), plus the items it
drew and the view sinks skipped.

    python benchmarks/web_views.py
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from typing import Any

import numpy as np

import daqflow as df
from _common import emit
from daqflow import dsp, io, net
from daqflow.demo import AVERAGE, CENTER, DECIMATION, NFFT, TONES, TUNE


@df.block(name="stamp")
def stamp(chunk: df.Chunk) -> df.Chunk:
    """The chunk with the wall-clock time it left the source (``meta["made"]``, s)."""
    return chunk.replace(meta={**chunk.meta, "made": time.time()})


@df.block(name="null_sink", buffer=2, policy="drop_oldest")
async def null_sink(stream: df.Stream) -> int:
    n = 0
    async for _ in stream:
        n += 1
    return n


def chain(realtime: bool) -> tuple[Any, Any]:
    """(spectra, tuned band) of the demo receive chain (`daqflow.demo_gui`), the ADC's chunks
    stamped with the time they left it."""
    rate = 2e6
    adc = io.simulated_adc(rate, chunk=8192, tones=[(f - CENTER, a) for f, a in TONES],
                           noise=0.05, seed=1, realtime=realtime, center_freq=CENTER)
    narrow = dsp.fir_decimate(dsp.mix(stamp(adc), freq=-TUNE),
                              dsp.lowpass(64, 0.4 * rate / DECIMATION, rate=rate), DECIMATION)
    return dsp.average(dsp.spectrum(narrow, NFFT), n=AVERAGE), narrow


def one_run(seconds: float, views: bool, realtime: bool, browser: Any) -> dict[str, Any]:
    spectra, narrow = chain(realtime)
    if views:
        sinks = (net.web_view(spectra, "spectrum", name="spectrum"),
                 net.web_view(spectra, "waterfall", name="waterfall"),
                 net.web_view(narrow, "time", name="trace"))
    else:
        sinks = (null_sink(spectra, name="n1"), null_sink(spectra, name="n2"),
                 null_sink(narrow, name="n3"))
    running = df.start(*sinks, serve=0)
    while running.control_url is None:
        time.sleep(0.01)
    page = None
    if views:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(running.control_url + "/")
        page.wait_for_function("window.daqflow.ready", timeout=15000)
        page.wait_for_timeout(500)  # (the browser's start-up is not what is measured)
    first = running.report()
    time.sleep(seconds)
    last = running.report()  # the window measured: from the page drawing to now
    out: dict[str, Any] = {}
    if page is not None:
        out["latencies"] = page.evaluate(
            "Object.fromEntries(Object.entries(window.daqflow.views).map("
            "([name, view]) => [name, view.latencies.slice(-1000)]))")
        out["drawn"] = page.evaluate("window.daqflow.drawn")
        page.close()
    running.stop()
    report = running.wait(30)
    produced = (last.blocks["simulated_adc"].samples_out
                - first.blocks["simulated_adc"].samples_out)
    out["samples_per_s"] = produced / (last.duration - first.duration)
    out["lost"] = report.overflow
    if views:
        out["skipped"] = {n: report.results[n]["skipped"] for n in ("spectrum", "waterfall", "trace")}
    return out


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            ratios, pairs = [], []
            for _ in range(args.rounds):
                with_views = one_run(args.seconds, True, False, browser)
                without = one_run(args.seconds, False, False, browser)
                ratios.append(with_views["samples_per_s"] / without["samples_per_s"])
                pairs.append({"with_views_MSps": with_views["samples_per_s"] / 1e6,
                              "without_MSps": without["samples_per_s"] / 1e6,
                              "drawn": with_views["drawn"], "skipped": with_views["skipped"]})
            paced = one_run(args.seconds, True, True, browser)
        finally:
            browser.close()
    def percentiles(seconds: list[float]) -> dict[str, float | None]:
        ms = np.asarray(seconds) * 1e3
        return {"p50": float(np.percentile(ms, 50)) if len(ms) else None,
                "p99": float(np.percentile(ms, 99)) if len(ms) else None, "n": len(ms)}

    emit("web_views", {
        "throughput_ratio_median": statistics.median(ratios),
        "throughput_ratios": ratios,
        "rounds": pairs,
        "paced_2MSps": {
            "latency_ms": {name: percentiles(v) for name, v in paced["latencies"].items()},
            "drawn": paced["drawn"], "skipped": paced["skipped"], "lost": paced["lost"],
        },
    }, seconds=args.seconds, browser=exe)


if __name__ == "__main__":
    main()
