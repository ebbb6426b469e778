"""View sinks under a real Qt event loop (offscreen): what they draw, checked on screenshots."""

from __future__ import annotations

import numpy as np
import pytest

import daqflow as df
from daqflow import dsp, gui, io
from daqflow.gui import _qt

RATE = 1e6
CENTER = 10e6
TONE = 125e3  # Hz above the centre
I_PEN = (255, 215, 0)
Q_PEN = (0, 200, 255)


def tone_source(samples: int = 200_000, chunk: int = 4096, realtime: bool = False) -> df.Stream:
    adc = io.simulated_adc(RATE, chunk=chunk, tones=[(TONE, 1.0)], noise=0.01, seed=3,
                           realtime=realtime, center_freq=CENTER)
    return dsp.head(adc, samples)


@df.block
async def frames(n: int, shape: tuple[int, int]):
    """Images: a dark gradient with a bright square that moves."""
    h, w = shape
    base = np.add.outer(np.arange(h), np.arange(w)).astype(np.float32) / (h + w)
    for k in range(n):
        img = base.copy()
        img[10:20, 10 + k:20 + k] = 4.0
        yield img


def sweeps(n: int) -> list[df.Chunk]:
    x = np.linspace(0.0, 1.0, 200)
    return [df.Chunk(np.sin(2 * np.pi * (3 * x + k / n)), 1.0, k, float(k), {"x": x})
            for k in range(n)]


def pixel_x(view: gui.View, x: float, y: float) -> float:
    """Where the view's own axes put (x, y), in the widget's pixels."""
    widget = view.widget
    scene = widget.getViewBox().mapViewToScene(_qt.QtCore.QPointF(x, y))
    return widget.mapFromScene(scene).x()


def colour_mask(image: np.ndarray, colour: tuple[int, int, int], tol: int = 40) -> np.ndarray:
    return np.all(np.abs(image.astype(int) - colour) <= tol, axis=-1)


def test_all_views_run_under_qasync_and_draw(qapp, shoot, tmp_path):
    source = tone_source()
    spectra = dsp.spectrum(source, 512, average=4)
    sinks = (
        gui.spectrum_plot(spectra, yrange=(-80, 10)),
        gui.waterfall_plot(spectra, rows=64, levels=(-80, 0)),
        gui.time_plot(source),
        gui.image_view(frames(20, (48, 64))),
        gui.xy_plot(df.from_iterable(sweeps(10))),
    )
    report = gui.run(*sinks, keep_open=True, on_start=shoot)
    assert report.stopped_by == "end"
    names = ["spectrum_plot", "waterfall_plot", "time_plot", "image_view", "xy_plot"]
    for name in names:
        result = report.results[name]
        assert set(result) == {"shown", "skipped"}
        assert result["shown"] >= 1
        edge = next(e for e in report.edges if e.consumer == name)
        assert edge.policy == "drop_oldest"
        assert edge.capacity == (16 if name == "waterfall_plot" else 2)
        # every item that reached the view was drawn or skipped, the rest dropped on its edge
        assert result["shown"] + result["skipped"] == report.blocks[name].items_in
        path = shoot.paths[name]
        assert path.exists() and path.stat().st_size > 0
        image = shoot.images[name]
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 3, f"{name}: blank screenshot"

    # spectrum: the highest point of the curve is at the tone's frequency on the view's axis
    spectrum = gui.view_of(sinks[0])
    image = shoot.images["spectrum_plot"]
    curve = colour_mask(image, I_PEN)
    assert curve.sum() > 100
    rows, cols = np.nonzero(curve)
    top = cols[rows == rows.min()]
    expected = pixel_x(spectrum, CENTER + TONE, -40.0)
    assert abs(float(np.mean(top)) - expected) <= 3, (top, expected)
    assert spectrum.freqs is not None
    assert spectrum.freqs[np.argmax(spectrum.values)] == pytest.approx(CENTER + TONE, abs=RATE / 512)

    # waterfall: the brightest column of the image is the tone's
    waterfall = gui.view_of(sinks[1])
    image = shoot.images["waterfall_plot"].astype(float)
    left, right = (round(pixel_x(waterfall, CENTER + f, 0.0)) for f in (-RATE / 2, RATE / 2))
    y0 = round(waterfall.widget.mapFromScene(waterfall.widget.getViewBox().mapViewToScene(
        _qt.QtCore.QPointF(CENTER, 0.0))).y())
    band = image[y0 + 2:y0 + 20, left:right].sum(axis=2)  # newest rows, at the top
    column = left + int(np.argmax(band.mean(axis=0)))
    assert abs(column - pixel_x(waterfall, CENTER + TONE, 0.0)) <= 3
    assert waterfall.filled == 64

    # time trace: complex samples give an I and a Q curve
    image = shoot.images["time_plot"]
    assert colour_mask(image, I_PEN).sum() > 100 and colour_mask(image, Q_PEN).sum() > 100

    # image: the last frame, whose bright square moved to columns 29..38
    image_view = gui.view_of(sinks[3])
    assert image_view.frame is not None and image_view.frame[15, 30] == 4.0
    assert shoot.images["image_view"].std() > 10

    # xy: the curve is drawn
    assert colour_mask(shoot.images["xy_plot"], I_PEN).sum() > 50


def test_view_widget_embeds_and_runs_in_an_existing_qasync_loop(qapp):
    """`await gui.arun(..., window=False)` inside the application's own loop; the view's
    widget lives in the application's window."""
    sink = gui.spectrum_plot(dsp.spectrum(tone_source(100_000), 256))
    host = _qt.QtWidgets.QWidget()
    layout = _qt.QtWidgets.QVBoxLayout(host)
    layout.addWidget(gui.view_of(sink).widget)
    host.resize(500, 300)
    host.show()
    loop = _qt.qasync.QEventLoop(qapp)
    try:
        report = loop.run_until_complete(gui.arun(sink, window=False))
    finally:
        loop.close()
    assert report.results["spectrum_plot"]["shown"] >= 1
    assert gui.view_of(sink).widget.parent() is host
    host.close()


def test_views_refuse_to_run_off_qt_thread(qapp):
    """df.start runs the graph on a background thread: a view says what to use instead."""
    sink = gui.time_plot(df.from_iterable([np.zeros(8)]))
    with pytest.raises(df.BlockError, match="Qt's thread"):
        df.start(sink).wait(30)


def test_gui_run_inside_a_running_loop_says_use_arun(qapp):
    import asyncio

    async def main():
        gui.run(gui.time_plot(df.from_iterable([np.zeros(8)])))

    with pytest.raises(RuntimeError, match=r"await daqflow\.gui\.arun"):
        asyncio.run(main())


def test_failing_block_raises_and_closes_the_window(qapp):
    @df.block
    def explode(chunk):
        if chunk.index >= 20_000:
            raise ValueError("boom")
        return chunk

    sessions = []
    with pytest.raises(df.BlockError, match="boom") as caught:
        gui.run(gui.time_plot(explode(tone_source(100_000))), on_start=sessions.append)
    assert caught.value.report is not None
    assert "time_plot" in caught.value.report.results
    assert sessions and not sessions[0].window.isVisible()


def test_view_options_are_checked():
    s = df.from_iterable([np.zeros(4)])
    with pytest.raises(ValueError, match="max_fps"):
        gui.time_plot(s, max_fps=0)
    with pytest.raises(ValueError, match="rows"):
        gui.waterfall_plot(s, rows=1)
    with pytest.raises(ValueError, match="low < high"):
        gui.spectrum_plot(s, yrange=(1, 1))
    with pytest.raises(df.GraphError, match="threaded"):
        gui.image_view(s, threaded=True)
    with pytest.raises(TypeError, match="not a view sink"):
        gui.view_of(df.null_sink(s))
    sink = gui.xy_plot(s, buffer=5, policy="drop_newest", name="sweep")
    assert (sink.buffer, sink.policy, sink.name) == (5, "drop_newest", "sweep")


def test_views_take_the_shapes_they_document(qapp):
    """Each view fed by hand (no graph): what it keeps and draws for each kind of item."""
    freqs = CENTER + np.linspace(-RATE / 2, RATE / 2, 64, endpoint=False)
    power = np.full((3, 4, 64), 1e-6)
    power[:, :, 40] = 1.0
    waterfall = gui.WaterfallPlot(rows=10)
    waterfall.widget.resize(400, 200)
    waterfall.take(df.Chunk(power, 5.0, 0, 0.0, {"freqs": freqs}))  # dsp.waterfall: images
    waterfall.draw()
    assert waterfall.filled == 10  # 12 rows, the last 10 kept
    image = waterfall.image_data()
    assert image.shape == (10, 64, 3)
    assert image[:, 40].sum() > image[:, 10].sum()
    assert waterfall.levels[1] > 0 > waterfall.levels[0]  # follows the data: -60 dB .. 0 dB

    time_plot = gui.TimePlot(samples=100)
    for k in range(3):
        time_plot.take(df.Chunk(np.arange(60.0) + 60 * k, 10.0, 60 * k, 6.0 * k))
    time_plot.draw()
    x, y = time_plot.i_curve.getData()
    assert list(y[[0, -1]]) == [80.0, 179.0] and len(y) == 100
    assert time_plot.t0 == pytest.approx(8.0) and not time_plot.q_curve.isVisible()

    spectrum = gui.SpectrumPlot()
    spectrum.take(np.array([1.0, 10.0, 100.0]))  # a bare array: bins for an axis
    spectrum.draw()
    assert list(spectrum.freqs) == [0.0, 1.0, 2.0] and list(spectrum.values) == [0.0, 10.0, 20.0]
    spectrum.take(df.Chunk(np.array([[-3.0, 5.0]]), 1.0, meta={"units": "dB"}))
    spectrum.draw()
    assert list(spectrum.values) == [-3.0, 5.0]  # already in dB: shown as it is

    view = gui.ImageView()
    view.take(np.zeros((2, 8, 9)))
    assert view.frame.shape == (8, 9)
    view.take(np.zeros((8, 9, 3), np.uint8))  # colour
    assert view.frame.shape == (8, 9, 3)
    view.draw()

    xy = gui.XYPlot()
    x, ys = xy.xy(np.array([[0.0, 1.0, 2.0], [1.0, 3.0, 4.0]]))  # columns: x, y1, y2
    assert list(x) == [0.0, 1.0] and [list(y) for y in ys] == [[1.0, 3.0], [2.0, 4.0]]
    x, ys = xy.xy((np.arange(3), np.ones(3)))
    assert list(x) == [0, 1, 2] and list(ys[0]) == [1, 1, 1]
    x, ys = xy.xy(df.Chunk(np.ones((2, 5)), 1.0, meta={"x": np.arange(5.0)}))  # frames: the last
    assert list(x) == [0, 1, 2, 3, 4] and len(ys) == 1 and len(ys[0]) == 5
    xy.take(df.Chunk(np.ones((5, 3)), 1.0))
    xy.draw()
    assert len(xy.curves) == 2
    xy.take(np.full(4, np.nan))  # nothing finite: drawn without a warning, ranges kept
    xy.draw()
    view.take(np.full((3, 3), np.nan))
    view.draw()
    time_plot.take(df.Chunk(np.zeros(8, np.complex64), 10.0))
    time_plot.draw()  # complex: I and Q
    assert time_plot.q_curve.isVisible() and len(time_plot.i_curve.getData()[1]) == 8


def test_missing_gui_library_names_the_extra():
    import subprocess
    import sys

    code = ("import sys; sys.modules['pyqtgraph'] = None\n"
            "import daqflow, daqflow.demo_gui\n"
            "assert not {'PySide6', 'qasync', 'pyqtgraph'} & set(sys.modules) - {'pyqtgraph'}\n"
            "try:\n    import daqflow.gui\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install 'daqflow[gui]'" in out.stdout and "pyqtgraph" in out.stdout
