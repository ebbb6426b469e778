"""daqflow.plot with real matplotlib (Agg): plot_png keeps a PNG of the newest item (traces,
spectra, images, numbered sequences, rate limit, no .partial left), PyplotViewer redraws one
figure in place, and matplotlib stays unimported until something is drawn.

The pictures are checked by their pixels: the axes box is found by its black spines, the
line by its colour (C0), and with fixed limits a pixel column is a frequency."""

import asyncio
import subprocess
import sys
import threading

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.image
from matplotlib import pyplot as plt

import daqflow as df
from daqflow import dsp, io
from daqflow.dsp.display import welch
from daqflow.plot import PyplotViewer, classify, plot_png

RATE = 1e6
C0 = np.array([0x1F, 0x77, 0xB4]) / 255  # matplotlib's first line colour
YELLOW = np.array([0.993, 0.906, 0.144])  # the top of viridis


def adc(n, chunk=4096, dtype="complex64", tones=((125e3, 1.0),), noise=0.01):
    source = io.simulated_adc(RATE, chunk=chunk, tones=tones, noise=noise, dtype=dtype, realtime=False,
                              seed=3)
    return dsp.head(source, n)


def picture(png):
    """The PNG's RGB pixels, after checking it is a real, not blank picture."""
    assert png.stat().st_size > 0
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].var() > 0
    return image[..., :3]


def _runs(flags):
    """Centres of the runs of consecutive True entries."""
    where = np.flatnonzero(flags)
    if not len(where):
        return []
    groups = np.split(where, np.flatnonzero(np.diff(where) > 1) + 1)
    return [float(g.mean()) for g in groups]


def axes_box(image):
    """(left, right, top, bottom) pixel positions of the first axes' spines."""
    dark = (image.max(-1) < 0.35) & (np.ptp(image, -1) < 0.1)
    columns = dark.sum(0)
    left, right = _runs(columns > 0.6 * columns.max())[:2]
    rows = dark[:, int(left):int(right) + 1].sum(1)
    top, bottom = _runs(rows > 0.6 * (right - left))[:2]
    return left, right, top, bottom


def coloured(image, colour, box, tolerance=0.12):
    """Mask of the pixels inside ``box`` of about ``colour``."""
    left, right, top, bottom = box
    mask = np.all(np.abs(image - colour) < tolerance, axis=-1)
    inside = np.zeros_like(mask)
    inside[int(top) + 2:int(bottom) - 1, int(left) + 2:int(right) - 1] = True
    return mask & inside


def run_sink(sink):
    report = df.run(sink)
    return report.results[next(iter(report.results))]


def no_partial(directory):
    assert not [p.name for p in directory.iterdir() if p.name.endswith(".partial")]


# -- plot_png ------------------------------------------------------------------------------------

def test_spectrum_peak_is_at_its_frequency(tmp_path):
    spectra = dsp.spectrum(adc(4096 * 4), 1024, average=4)
    result = run_sink(plot_png(spectra, tmp_path / "s.png", every=0, xlim=(-5e5, 5e5), ylim=(-100, 10),
                               policy="block"))
    assert result == {"path": str(tmp_path / "s.png"), "frames": 4, "skipped": 0}
    image = picture(tmp_path / "s.png")
    box = left, right, top, bottom = axes_box(image)
    line = coloured(image, C0, box)
    peak_row = np.flatnonzero(line.any(axis=1))[0]
    peak_col = np.flatnonzero(line[peak_row]).mean()
    freq = -5e5 + (peak_col - left) / (right - left) * 1e6
    assert freq == pytest.approx(125e3, abs=3e3)  # a pixel is 1.4 kHz
    level = 10 - (peak_row - top) / (bottom - top) * 110
    assert level == pytest.approx(0.0, abs=2)  # amplitude 1: 0 dB
    no_partial(tmp_path)


def test_trace_spans_its_amplitude(tmp_path):
    result = run_sink(plot_png(adc(6000, chunk=2000, dtype="float32", tones=[(5e3, 1.0)], noise=0.0),
                               tmp_path / "t.png", every=0, ylim=(-2, 2), policy="block"))
    assert (result["frames"], result["skipped"]) == (3, 0)
    image = picture(tmp_path / "t.png")
    box = _, _, top, bottom = axes_box(image)
    rows = np.flatnonzero(coloured(image, C0, box).any(axis=1))
    height = bottom - top
    assert (rows[0] - top) / height == pytest.approx(0.25, abs=0.015)  # +1 of (-2, 2)
    assert (rows[-1] - top) / height == pytest.approx(0.75, abs=0.015)  # -1


@df.block(name="frames", accepts="real")
def to_frames(chunk):
    """A chunk of 1200 samples -> one 30 x 40 frame: the samples, and a bright 5 x 5 square
    that moves with the frame number."""
    k = chunk.index // 1200
    frame = np.abs(chunk.data).reshape(1, 30, 40) * 0.5
    frame[0, 2 + 4 * k:7 + 4 * k, 3 + 6 * k:8 + 6 * k] = 10.0
    return chunk.replace(data=frame, rate=chunk.rate / 1200, index=k)


def test_image_shows_the_last_frame(tmp_path):
    frames = to_frames(adc(1200 * 4, chunk=1200, dtype="float64"))
    assert classify(df.Chunk(np.zeros((1, 30, 40)), 1.0)) == "image"
    result = run_sink(plot_png(frames, tmp_path / "i.png", every=0, policy="block"))
    assert (result["frames"], result["skipped"]) == (4, 0)
    image = picture(tmp_path / "i.png")
    box = left, right, top, bottom = axes_box(image)
    spot = coloured(image, YELLOW, box, tolerance=0.1)
    rows, cols = np.nonzero(spot)
    x = (cols.mean() - left) / (right - left) * 40  # in frame pixels
    y = (rows.mean() - top) / (bottom - top) * 30
    assert (x, y) == (pytest.approx(3 + 6 * 3 + 2.5, abs=0.5), pytest.approx(2 + 4 * 3 + 2.5, abs=0.5))


def test_index_keeps_a_numbered_sequence(tmp_path):
    result = run_sink(plot_png(adc(4000, chunk=1000), tmp_path / "frame-{index:04d}.png", every=0,
                               policy="block"))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"frame-{k:04d}.png" for k in range(4)]
    assert result == {"path": str(tmp_path / "frame-0003.png"), "frames": 4, "skipped": 0}
    for name in names:
        picture(tmp_path / name)


def constant_chunks(values, n=100):
    return df.from_iterable([df.Chunk(np.full(n, float(v)), 1e3, k * n, k * n / 1e3)
                             for k, v in enumerate(values)])


def line_value(png, ylim):
    """The y value of a flat C0 line in the picture."""
    image = picture(png)
    box = _, _, top, bottom = axes_box(image)
    row = np.flatnonzero(coloured(image, C0, box).any(axis=1)).mean()
    return ylim[1] - (row - top) / (bottom - top) * (ylim[1] - ylim[0])


def test_rate_limit_draws_the_first_and_the_newest(tmp_path):
    result = run_sink(plot_png(constant_chunks(range(6)), tmp_path / "p-{index}.png", every=3600,
                               ylim=(-1, 6), policy="block"))
    assert result == {"path": str(tmp_path / "p-1.png"), "frames": 2, "skipped": 4}
    assert line_value(tmp_path / "p-0.png", (-1, 6)) == pytest.approx(0, abs=0.1)
    assert line_value(tmp_path / "p-1.png", (-1, 6)) == pytest.approx(5, abs=0.1)  # the last item


def test_an_item_that_falls_due_is_drawn_without_waiting_for_the_next(tmp_path):
    second = tmp_path / "p-1.png"
    seen = []

    @df.block
    async def stalling():
        yield df.Chunk(np.full(100, 1.0), 1e3, 0)
        yield df.Chunk(np.full(100, 2.0), 1e3, 100)  # not due for 0.2 s
        for _ in range(200):  # no more items: the held one must still be drawn
            if second.exists():
                break
            await asyncio.sleep(0.02)
        seen.append(second.exists())

    result = run_sink(plot_png(stalling(), tmp_path / "p-{index}.png", every=0.2, ylim=(0, 3)))
    assert seen == [True]
    assert (result["frames"], result["skipped"]) == (2, 0)
    assert line_value(second, (0, 3)) == pytest.approx(2, abs=0.05)


def test_empty_stream_and_empty_chunks_draw_nothing(tmp_path):
    assert run_sink(plot_png(df.from_iterable([]), tmp_path / "e.png")) == {
        "path": None, "frames": 0, "skipped": 0}
    empty = df.from_iterable([df.Chunk(np.zeros(0), 1.0)])
    assert run_sink(plot_png(empty, tmp_path / "e.png", every=0)) == {
        "path": None, "frames": 0, "skipped": 1}
    assert list(tmp_path.iterdir()) == []


def test_an_item_it_cannot_draw_fails_the_graph(tmp_path):
    with pytest.raises(df.BlockError, match="cannot draw a str"):
        df.run(plot_png(df.from_iterable(["x"]), tmp_path / "x.png"))
    no_partial(tmp_path)


@pytest.mark.parametrize(("path", "options", "error", "match"), [
    ("p-{frame}.png", {}, ValueError, "only {index}"),
    ("p-{{}}.png", {}, ValueError, "no {index}"),
    ("missing/p.png", {}, FileNotFoundError, "does not exist"),
    ("p.png", {"every": -1}, ValueError, "every must be"),
    ("p.png", {"kind": "bars"}, ValueError, "kind must be"),
    ("p.png", {"xlim": (1, 1)}, ValueError, "xlim"),
])
def test_bad_arguments_are_refused_before_running(tmp_path, path, options, error, match):
    with pytest.raises(error, match=match):
        plot_png(df.from_iterable([]), tmp_path / path, **options)


def test_default_fifo_drops_the_oldest(tmp_path):
    sink = plot_png(adc(20 * 1000, chunk=1000), tmp_path / "d.png", every=0.05)
    report = df.run(sink)
    result = report.results["plot_png"]
    [edge] = [e for e in report.edges if e.consumer == "plot_png"]
    assert (edge.capacity, edge.policy) == (2, "drop_oldest")
    assert result["frames"] + result["skipped"] + edge.dropped_items == 20
    picture(tmp_path / "d.png")


def test_matplotlib_is_imported_only_to_draw():
    code = ("import sys, daqflow, daqflow.io, daqflow.plot; "
            "assert 'matplotlib' not in sys.modules, 'imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


# -- PyplotViewer ----------------------------------------------------------------------------------

@pytest.fixture
def viewer():
    viewers = []

    def make(**kwargs):
        viewers.append(PyplotViewer(**kwargs))
        return viewers[-1]

    yield make
    for v in viewers:
        v.close()


def test_viewer_updates_its_lines_in_place(tmp_path, viewer):
    v = viewer(kind="trace")
    first = df.Chunk(np.arange(10.0), 1e3)
    second = df.Chunk(np.exp(1j * np.arange(10.0)), 1e3, 10)
    v.show(first)
    [line] = v.axes.lines
    assert np.array_equal(line.get_ydata(), first.data)
    v.show(second)  # complex: I and Q
    i, q = v.axes.lines
    assert i is line and np.array_equal(i.get_ydata(), second.data.real)
    assert np.array_equal(q.get_ydata(), second.data.imag)
    third = df.Chunk(np.exp(2j * np.arange(10.0)), 1e3, 20)
    v.show(third)
    assert v.axes.lines[0] is i and v.axes.lines[1] is q
    assert np.array_equal(q.get_ydata(), third.data.imag)
    number = v.figure.number
    assert number in plt.get_fignums() and v.shown == 3
    v.figure.savefig(tmp_path / "v.png")
    picture(tmp_path / "v.png")
    v.close()
    assert number not in plt.get_fignums()


def test_viewer_sink_shows_the_last_spectrum(viewer):
    v = viewer(kind="spectrum")
    spectra = dsp.spectrum(adc(4096 * 3), 512, average=2)
    report = df.run(v.sink(spectra, every=0, policy="block"), df.collect(spectra))
    items = report.results["collect"]
    assert len(items) == 3 and items[-1].samples > 1  # rows of spectra: the last is shown
    assert report.results["viewer"] == {"frames": 3, "skipped": 0}
    last = items[-1]
    [line] = v.axes.lines
    assert np.allclose(line.get_ydata(), 10 * np.log10(last.data[-1]))
    assert np.allclose(line.get_xdata(), last.meta["freqs"] / 1e3)  # span < 1 MHz: kHz
    assert v.axes.get_xlabel() == "frequency (kHz)"


def test_viewer_computes_a_spectrum_from_samples(viewer):
    v = viewer(kind="spectrum")
    chunk = next(iter(df.iterate(adc(8192, chunk=8192))))
    v.show(chunk)
    _, power = welch(chunk.data, RATE)
    [line] = v.axes.lines
    assert np.allclose(line.get_ydata(), 10 * np.log10(power))
    assert line.get_xdata()[np.argmax(line.get_ydata())] == pytest.approx(125, abs=1)  # kHz


def test_viewer_images_and_kind_changes(viewer):
    v = viewer()
    rng = np.random.default_rng(0)
    a, b = rng.random((20, 30)), rng.random((20, 30))
    v.show(a)
    [image] = v.axes.images
    v.show(b)
    assert list(v.axes.images) == [image] and np.array_equal(image.get_array(), b)
    assert image.get_clim() == (b.min(), b.max())
    v.show(np.arange(5.0))  # auto: now a trace
    assert not v.axes.images and np.array_equal(v.axes.lines[0].get_ydata(), np.arange(5.0))


def test_viewer_hands_items_from_other_threads_to_its_loop(viewer):
    async def main():
        v = viewer(kind="trace")
        drawn_in = []
        draw = v._draw
        v._draw = lambda item: drawn_in.append(threading.get_ident()) or draw(item)
        for k in range(3):  # from the graph's thread: handed over, coalesced
            await asyncio.to_thread(v.show, np.full(4, float(k)))
        await asyncio.sleep(0.01)
        return v, drawn_in

    v, drawn_in = asyncio.run(main())
    assert drawn_in and set(drawn_in) == {threading.get_ident()}
    assert np.array_equal(v.axes.lines[0].get_ydata(), np.full(4, 2.0))


def test_viewer_sink_is_rate_limited(viewer):
    v = viewer(kind="trace")
    report = df.run(v.sink(constant_chunks(range(5)), every=3600, policy="block"))
    assert report.results["viewer"] == {"frames": 2, "skipped": 3}
    assert np.array_equal(v.axes.lines[0].get_ydata(), np.full(100, 4.0))


def test_viewer_waterfall_is_an_image_over_frequency(viewer):
    v = viewer()
    images = df.run(df.collect(dsp.waterfall(adc(4096 * 2), 256, rows=16))).results["collect"]
    v.show(images[-1])
    [image] = v.axes.images
    assert np.allclose(image.get_array(), 10 * np.log10(images[-1].data[-1]))
    assert v.axes.get_xlabel() == "frequency (kHz)"
    freqs = images[-1].meta["freqs"]
    half = (freqs[1] - freqs[0]) / 2  # bin centres at the bins' frequencies
    assert image.get_extent() == pytest.approx([(freqs[0] - half) / 1e3, (freqs[-1] + half) / 1e3,
                                                15.5, -0.5])


@pytest.mark.parametrize(("kind", "item", "error", "match"), [
    ("image", np.zeros(5), ValueError, "1-D samples as an image"),
    ("trace", df.Chunk(np.zeros((4, 20)), 1.0), ValueError, "at most 8 channels"),
    ("spectrum", df.Chunk(np.zeros((4, 3)), 1.0), ValueError, "from 1-D samples"),
    ("auto", "text", TypeError, "cannot draw a str"),
    ("auto", np.zeros((2, 3, 5)), ValueError, "cannot draw an array of shape"),
])
def test_items_that_do_not_fit_the_kind_are_errors(viewer, kind, item, error, match):
    with pytest.raises(error, match=match):
        viewer(kind=kind).show(item)
