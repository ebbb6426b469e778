"""The demo with live views (``daqflow demo --gui``): spectrum, waterfall and time trace.

    simulated_adc ─▶ mix ─▶ fir_decimate ─┬─▶ spectrum ─▶ average ─┬─▶ spectrum_plot
     2 MS/s, 2 tones  ▲      64 taps, /8  │                 ▲      └─▶ waterfall_plot
                      │                   ├─▶ time_plot     │
          Param "tune"                    └─▶ sigmf_writer  Param "average"

The window has a slider for the mixer frequency (move it and the band shown moves: the
tones slide across the spectrum, whose axis is the RF frequency) and one for the number of
spectra averaged. Closing the window stops the graph in
order: the recording is complete and valid.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from . import dsp
from .core import Param, Report, Stream, param
from .demo import AVERAGE, CENTER, DECIMATION, NFFT, TONES, TUNE
from .io import simulated_adc


@dataclasses.dataclass(frozen=True)
class Chain:
    """The demo graph's ends.

    Attributes:
        views: the view sinks: spectrum_plot, waterfall_plot, time_plot.
        shown: the stream each view shows (same order).
        params: the live controls: ``tune`` (mixer frequency, Hz) and ``average`` (spectra
            per average).
        recording: the SigMF writer of the tuned band, or None.
    """

    views: tuple[Stream, ...]
    shown: tuple[Stream, ...]
    params: tuple[Param[Any], ...]
    recording: Stream | None = None

    @property
    def sinks(self) -> tuple[Stream, ...]:
        """Everything to run: the views and the recording."""
        return self.views + ((self.recording,) if self.recording is not None else ())


def build(rate: float = 2e6, chunk: int = 8192, seed: int | None = 1, realtime: bool = True,
          noise: float = 0.05, samples: int | None = None, record: str | None = None,
          max_fps: float = 30.0) -> Chain:
    """The demo receive chain with views and controls.

    Args:
        rate: ADC sample rate in Hz.
        chunk: samples per ADC chunk.
        seed: noise seed.
        realtime: pace the ADC at ``rate`` (else as fast as the graph runs).
        noise: noise standard deviation (tone amplitudes 1.0 and 0.1).
        samples: stop after this many ADC samples (None: until stopped).
        record: also record the tuned band as SigMF at this path.
        max_fps: redraws per second at most, per view.
    """
    from . import gui

    tune = param(-TUNE, name="tune", low=-rate / 2, high=rate / 2, unit="Hz",
                 doc=f"mixer frequency: the band shown is centred on {CENTER / 1e6:g} MHz - tune")
    navg = param(AVERAGE, name="average", kind=int, low=1, high=256,
                 doc="spectra averaged per row")
    adc = simulated_adc(rate, chunk=chunk, tones=[(f - CENTER, a) for f, a in TONES], noise=noise,
                        seed=seed, realtime=realtime, center_freq=CENTER)
    if samples is not None:
        adc = dsp.head(adc, samples)
    narrow = dsp.fir_decimate(dsp.mix(adc, freq=tune),
                              dsp.lowpass(64, 0.4 * rate / DECIMATION, rate=rate), DECIMATION)
    spectra = dsp.average(dsp.spectrum(narrow, NFFT), n=navg)
    views = (
        gui.spectrum_plot(spectra, title="spectrum", max_fps=max_fps),
        gui.waterfall_plot(spectra, title="waterfall", max_fps=max_fps),
        gui.time_plot(narrow, title="tuned band (I, Q)", max_fps=max_fps),
    )
    recording = None
    if record is not None:
        from .io import sigmf_writer

        recording = sigmf_writer(narrow, record, description="daqflow demo: tuned band",
                                 author="daqflow", name="recording")
    return Chain(views, (spectra, spectra, narrow), (tune, navg), recording)


def run(duration: float | None = None, *, rate: float = 2e6, chunk: int = 8192,
        seed: int | None = 1, realtime: bool = True, record: str | None = None,
        progress: bool = False, keep_open: bool = False) -> Report:
    """Open the demo window and run until it is closed (or for ``duration`` seconds)."""
    from . import gui

    chain = build(rate=rate, chunk=chunk, seed=seed, realtime=realtime, record=record)
    return gui.run(*chain.sinks, duration=duration, progress=progress, keep_open=keep_open,
                   title=f"daqflow demo: simulated ADC at {rate / 1e6:g} MS/s")


def main(args: Any) -> int:
    """``daqflow demo --gui``: the window, then the report on stdout."""
    try:
        from . import gui  # noqa: F401 (a missing library: say which extra installs it)
    except ImportError as exc:
        print(f"daqflow demo --gui: {exc}", file=sys.stderr)
        return 2
    record = None if args.no_record else args.output
    print(f"daqflow demo --gui: simulated ADC at {args.rate / 1e6:g} MS/s; close the window "
          "(or Ctrl-C) to stop", file=sys.stderr, flush=True)
    report = run(args.duration, rate=args.rate, chunk=args.chunk, seed=args.seed, record=record,
                 progress=args.progress)
    print(report)
    recording = report.results.get("recording")
    if recording and recording.get("meta"):
        print(f"recorded:    {recording['samples']} samples of the tuned band in "
              f"{recording['meta']} (daqflow inspect {recording['meta']})")
    return 130 if report.stopped_by == "interrupt" else 0
