"""Controls for Params: found in the graph, shown in the window, wired both ways."""

from __future__ import annotations

import asyncio
import threading

import pytest

import daqflow as df
from daqflow import demo, demo_gui, dsp, gui, io


def test_find_params_sees_params_kept_inside_blocks():
    chain = demo_gui.build(realtime=False)
    from daqflow.core import build_graph

    graph = build_graph(chain.views)
    found = gui.find_params(graph.nodes)
    assert [p.name for p in found] == ["tune", "average"]
    assert found[0] is chain.params[0] and found[1] is chain.params[1]


def test_controls_set_params_and_follow_them(qapp):
    tune = df.param(-250e3, name="tune", low=-1e6, high=1e6, unit="Hz", doc="mixer")
    navg = df.param(16, name="navg", kind=int, low=1, high=64)
    mode = df.param(2.0, name="mode", choices=[1.0, 2.0, 4.0])
    free = df.param(0.5, name="gain")
    panel = gui.controls(tune, navg, mode, free)
    assert len(panel.rows) == 4
    row = panel.row("tune")
    assert row.slider is not None and row.spinbox.suffix() == " Hz"
    row.spinbox.setValue(100e3)  # the user types a value
    assert tune.value == 100e3
    row.slider.setValue(row.slider.maximum())  # the user drags the slider to the end
    assert tune.value == 1e6
    assert row.spinbox.value() == 1e6
    panel.rows["navg"].slider.setValue(3)  # int params: one slider step per value
    assert navg.value == 4 and panel.rows["navg"].spinbox.value() == 4
    panel.rows["mode"].combo.setCurrentIndex(2)
    assert mode.value == 4.0
    assert panel.rows["gain"].slider is None  # unbounded: a spin box only
    panel.rows["gain"].set_from_user(3.25)
    assert free.value == 3.25
    row.set_from_user(5e6)  # refused: the control shows why and keeps the Param's value
    assert tune.value == 1e6 and "out of range" in row.error

    # a change made in another thread reaches the widgets through Qt's queue
    thread = threading.Thread(target=tune.set, args=(-500e3,))
    thread.start()
    thread.join()
    for _ in range(20):
        qapp.processEvents()
        if row.spinbox.value() == -500e3:
            break
    assert row.spinbox.value() == -500e3
    assert row.slider.value() == round((-500e3 + 1e6) / 2e6 * 1000)
    panel.deleteLater()


def test_controls_of_a_graph(qapp):
    chain = demo_gui.build(realtime=False)
    panel = gui.controls(*chain.views)
    assert list(panel.rows) == ["tune", "average"]
    with pytest.raises(TypeError, match="Params"):
        gui.controls(3.0)
    panel.deleteLater()


def test_window_controls_retune_the_running_demo(qapp):
    """Moving the tune control while the demo runs moves the band the spectrum shows."""
    chain = demo_gui.build(realtime=True)
    moved = {}

    async def user(session: gui.Session) -> None:
        await asyncio.sleep(0.3)
        assert [p.name for p in session.params] == ["tune", "average"]
        session.window.controls.row("tune").set_from_user(-290e3)
        session.window.controls.row("average").set_from_user(4)
        moved["at"] = session.runtime.report().blocks["simulated_adc"].samples_out
        await asyncio.sleep(0.6)
        session.close_window()

    report = gui.run(*chain.views,
                     on_start=lambda s: asyncio.get_running_loop().create_task(user(s)))
    assert report.stopped_by == "stop"
    tune, navg = chain.params
    assert (tune.value, navg.value) == (-290e3, 4)
    spectrum = gui.view_of(chain.views[0])
    centre = spectrum.freqs[len(spectrum.freqs) // 2]
    assert centre == pytest.approx(demo.CENTER + 290e3, abs=1.0)


def test_run_adds_explicit_params(qapp):
    extra = df.param(1.0, name="extra", low=0, high=2)
    adc = dsp.head(io.simulated_adc(1e6, chunk=1000, realtime=False), 10_000)
    seen = {}

    def started(session: gui.Session) -> None:
        seen["params"] = [p.name for p in session.params]
        seen["rows"] = list(session.window.controls.rows)

    gui.run(gui.time_plot(adc), params=[extra], on_start=started)
    assert seen == {"params": ["extra"], "rows": ["extra"]}


def test_a_deleted_control_stops_listening(qapp):
    import gc

    tune = df.param(0.0, name="t", low=-1, high=1)
    panel = gui.controls(tune)
    panel.deleteLater()
    del panel
    for _ in range(3):
        qapp.processEvents()
        qapp.sendPostedEvents(None, 0)  # DeferredDelete
    gc.collect()
    tune.set(0.5)  # no error from the widget that is gone
    tune.set(0.25)
    assert tune.value == 0.25


def test_controls_of_an_instrument_steer_its_settings(qapp):
    from daqflow.instruments import FunctionGenerator, SimScope

    fg = FunctionGenerator("TCPIP0::192.168.0.50::inst0::INSTR", name="fg")
    panel = gui.controls(fg)
    assert list(panel.rows) == [f"fg.{k}" for k in fg.setting_names()]
    output, waveform = panel.row("fg.output"), panel.row("fg.waveform")
    assert output.check is not None and waveform.combo is not None
    output.check.setChecked(True)  # the user ticks the box
    waveform.combo.setCurrentIndex(waveform.combo.findData("SQU"))
    panel.row("fg.frequency").set_from_user(5e6)
    assert (fg.output, fg.waveform, fg.frequency) == (True, "SQU", 5e6)
    panel.row("fg.amplitude").set_from_user(50.0)  # refused in the instrument's words
    assert fg.amplitude == 1.0 and panel.row("fg.amplitude").error.startswith("fg.amplitude = 50")
    fg.offset = 1.5  # a change made elsewhere moves the control
    for _ in range(20):
        qapp.processEvents()
    assert panel.row("fg.offset").spinbox.value() == 1.5
    panel.deleteLater()

    scope = SimScope(name="scope")
    from daqflow.core import build_graph

    graph = build_graph([df.collect(scope.stream())])
    assert [p.name for p in gui.find_params(graph.nodes)] == [
        f"scope.{k}" for k in scope.setting_names()]
