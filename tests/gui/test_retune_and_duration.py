"""A waterfall keeps each row at its own frequencies across a retune; `gui.run`'s duration
counts from when the sources start and gives what their clocks produced in that time."""

import numpy as np

import daqflow as df
from daqflow import dsp, gui, io

BINS, STEP = 64, 1e3  # Hz per bin


def _rows(first_freq, tone_bin, n=5):
    """``n`` spectra on the axis starting at ``first_freq`` Hz, a tone at ``tone_bin``."""
    power = np.full((n, BINS), 1e-6)
    power[:, tone_bin] = 1.0
    freqs = first_freq + STEP * np.arange(BINS)
    return df.Chunk(power, 10.0, 0, 0.0, {"freqs": freqs})


def _brightest_columns(view):
    image = view.image_data()[-view.filled:].astype(float).sum(axis=2)
    return [int(np.argmax(row)) for row in image]


def test_rows_shift_with_a_retune_so_a_steady_tone_stays_in_its_column(qapp):
    view = gui.WaterfallPlot(rows=20, levels=(-60, 0))
    view.widget.resize(400, 200)
    f0 = 100e6
    view.take(_rows(f0, 40))  # the tone is at f0 + 40 kHz
    view.take(_rows(f0 + 10 * STEP, 30))  # retuned up 10 kHz: the same tone is in bin 30
    view.draw()
    assert view.filled == 10
    assert _brightest_columns(view) == [30] * 10  # the old rows moved with the axis
    old_rows = view.image_data()[-10:-5]
    assert not old_rows[:, -10:].any()  # what they never covered is blank


def test_a_retune_the_old_rows_cannot_follow_clears_them(qapp):
    view = gui.WaterfallPlot(rows=20, levels=(-60, 0))
    view.take(_rows(0.0, 40))
    view.take(_rows(STEP / 2, 40))  # half a bin: no column holds the old rows' frequencies
    assert view.filled == 5 and _brightest_columns(view) == [40] * 5
    assert not view.image_data()[:-5].any()


def test_gui_run_duration_gives_what_the_clock_produced_from_the_sources_start(qapp):
    rate, chunk, duration = 1e6, 10_000, 2.0
    src = io.simulated_adc(rate, chunk=chunk, tones=[(100e3, 0.5)], noise=0.01)
    spectra = dsp.spectrum(src, nfft=1024)
    report = gui.run(gui.time_plot(src), gui.waterfall_plot(spectra), gui.spectrum_plot(spectra),
                     df.collect(src, name="samples"), duration=duration)
    got = report.results["samples"]
    delivered = sum(c.samples for c in got)
    lost = report.blocks["simulated_adc"].lost
    # window start-up and drawing neither shorten nor lengthen it: 2 s from the source's start
    assert delivered == rate * duration
    assert lost == 0 and report.stopped_by == "duration"
