"""Running graphs with views on Qt's loop: responsiveness, a slow view, stopping by the window."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import daqflow as df
from daqflow import demo, demo_gui, dsp, gui, io
from daqflow.gui import _qt
from daqflow.gui.window import status_text

QTimer = _qt.QtCore.QTimer


def source_rate(report: df.Report) -> float:
    adc = report.blocks["simulated_adc"]
    return adc.samples_out / adc.wall


def test_ui_timer_keeps_ticking_while_the_chain_runs_flat_out(qapp):
    """A 10 ms QTimer keeps firing while chunks flow: no stretch of the run passes without
    ticks (each gap between two ticks saw at most a small part of the samples)."""
    chain = demo_gui.build(realtime=False)
    ticks: list[int] = []  # samples the ADC had produced at each tick
    keep = []

    def started(session: gui.Session) -> None:
        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(
            lambda: ticks.append(session.runtime.report().blocks["simulated_adc"].samples_out))
        timer.start()
        keep.append(timer)

    report = gui.run(*chain.views, duration=1.5, on_start=started)
    keep[0].stop()
    total = report.blocks["simulated_adc"].samples_out
    assert total > 0 and report.stopped_by == "duration"
    during = [n for n in ticks if 0 < n < total]
    assert len(during) >= 10, f"only {len(during)} ticks while chunks flowed"
    steps = np.diff([0, *ticks, total])
    assert steps.max() <= 0.1 * total, "the timer stalled while the graph ran"
    assert sum(r["shown"] for r in report.results.values()) >= 3


class WaitingSpectrum(gui.SpectrumPlot):
    """A display that takes 0.2 s to accept each frame (e.g. a remote screen)."""

    def draw(self):
        super().draw()
        return asyncio.sleep(0.2)


class BlockingSpectrum(gui.SpectrumPlot):
    """A display whose every frame holds the thread 30 ms (a big, slow paint)."""

    def draw(self):
        super().draw()
        time.sleep(0.03)


@pytest.mark.parametrize("slow", [WaitingSpectrum, BlockingSpectrum])
def test_slow_view_does_not_slow_the_source(qapp, slow):
    def spectra():
        adc = io.simulated_adc(2e6, chunk=8192, tones=[(250e3, 1.0)], noise=0.05, seed=1,
                               realtime=False)
        return dsp.spectrum(adc, 1024)

    plain = gui.run(df.null_sink(spectra(), buffer=2, policy="drop_oldest"), duration=1.5,
                    window=False)
    view = slow(title="slow")
    viewed = gui.run(gui.view_sink(spectra(), view), duration=1.5)
    assert source_rate(viewed) >= 0.6 * source_rate(plain), (
        source_rate(viewed) / source_rate(plain))
    result = viewed.results["spectrum_plot"]
    assert result["shown"] <= 1.5 / 0.03 + 2
    edge = next(e for e in viewed.edges if e.consumer == "spectrum_plot")
    assert edge.dropped_items > 0 and viewed.dropped_items >= edge.dropped_items
    assert viewed.blocks["spectrum_plot"].items_in == result["shown"] + result["skipped"]
    # the view keeps only the newest by design: display skips, not losses
    assert edge.by_design and viewed.lost_items == 0 and viewed.overflow == 0
    assert viewed.display_skips == edge.dropped_samples > 0
    assert "display skips (FIFOs keeping the newest, by design)" in str(viewed)
    status = status_text(viewed, [("spectrum_plot", view)])
    assert f"views left out {edge.dropped_items} items" in status and "dropped" not in status


@pytest.mark.parametrize("close_at", [0.6])
def test_closing_the_window_stops_in_order_and_writers_flush(qapp, tmp_path, close_at):
    import sigmf

    meta = tmp_path / "tuned.sigmf-meta"
    chain = demo_gui.build(realtime=True, record=str(meta))
    npy = io.npy_writer(chain.shown[2], tmp_path / "tuned.npy", name="npy")
    sessions = []

    def started(session: gui.Session) -> None:
        sessions.append(session)
        QTimer.singleShot(round(close_at * 1000), session.close_window)

    report = gui.run(*chain.sinks, npy, on_start=started)
    assert report.stopped_by == "stop"
    assert not sessions[0].window.isVisible()
    recorded = report.results["recording"]
    assert recorded["samples"] == report.blocks["recording"].samples_in > 0
    handle = sigmf.sigmffile.fromfile(str(meta))  # checks the sha512 of the data file
    handle.validate()
    assert handle.sample_count == recorded["samples"]
    data = np.load(tmp_path / "tuned.npy")
    assert len(data) == report.blocks["npy"].samples_in == recorded["samples"]
    assert np.array_equal(data, handle.read_samples(0, handle.sample_count))
    assert not list(tmp_path.glob("*.partial"))
    for name in ("spectrum_plot", "waterfall_plot", "time_plot"):
        assert report.results[name]["shown"] >= 1


def test_keep_open_waits_for_the_user(qapp):
    seen = {}

    async def user(session: gui.Session) -> None:
        while not session.finished:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        seen["visible"] = session.window.isVisible()
        seen["status"] = session.window.status.text()
        session.close_window()

    sink = gui.time_plot(dsp.head(io.simulated_adc(1e6, chunk=1000, realtime=False), 20_000))
    report = gui.run(sink, keep_open=True,
                     on_start=lambda s: asyncio.get_running_loop().create_task(user(s)))
    assert report.stopped_by == "end"
    assert seen["visible"] and seen["status"].startswith("ended")


def test_graph_end_closes_the_window(qapp):
    sessions = []
    sink = gui.time_plot(dsp.head(io.simulated_adc(1e6, chunk=1000, realtime=False), 20_000))
    report = gui.run(sink, on_start=sessions.append)
    assert report.stopped_by == "end"
    assert not sessions[0].window.isVisible()
    # the view's widget survives its window, for a next run
    again = gui.run(sink, duration=5)
    assert again.results["time_plot"]["shown"] >= 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_is_an_orderly_stop(qapp):
    chain = demo_gui.build(realtime=True)
    report = gui.run(*chain.views, on_start=lambda s: QTimer.singleShot(
        400, lambda: os.kill(os.getpid(), signal.SIGINT)))
    assert report.stopped_by == "interrupt"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_demo_gui_command(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    meta = tmp_path / "demo.sigmf-meta"
    out = subprocess.run([sys.executable, "-m", "daqflow", "demo", "--gui", "--duration", "1",
                          "--output", str(meta)], capture_output=True, text=True, timeout=60,
                         env=env)
    assert out.returncode == 0, out.stderr
    assert "stopped by duration" in out.stdout
    assert "recorded:" in out.stdout and meta.exists()
    for name in ("spectrum_plot", "waterfall_plot", "time_plot", "recording"):
        assert name in out.stdout


def test_demo_chain_shape():
    chain = demo_gui.build(realtime=False)
    assert [v.name for v in chain.views] == ["spectrum_plot", "waterfall_plot", "time_plot"]
    assert [p.name for p in chain.params] == ["tune", "average"]
    assert chain.params[0].value == -demo.TUNE and chain.recording is None
    assert chain.sinks == chain.views


def test_cancelling_arun_closes_the_window(qapp):
    """A program that cancels its `await gui.arun(...)` gets its window closed."""
    sessions = []

    async def main():
        chain = demo_gui.build(realtime=True)
        task = asyncio.ensure_future(gui.arun(*chain.views, on_start=sessions.append))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    loop = _qt.qasync.QEventLoop(qapp)
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert sessions and not sessions[0].window.isVisible()
