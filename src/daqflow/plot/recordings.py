"""`plot_recording`: a recording's spectrum and the start of its time trace in a PNG
(``daqflow inspect --plot``); `daqflow.io` reads the samples, this module draws them (io is
below plot and does not import it; the CLI joins them)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io.inspection import RecordingInfo, read_samples
from .drawing import agg_figure, draw_spectrum, draw_trace


def plot_recording(info: RecordingInfo, out: str | os.PathLike[str], samples: int = 1 << 20,
                   dataset: str = "signal") -> Path:
    """Draw a recording's spectrum (Welch, dB) and the start of its time trace into a PNG.

    Args:
        info: what `daqflow.io.inspect_recording` says of the recording.
        out: the PNG file.
        samples: samples read from the start for the spectrum (the trace shows 2000).
        dataset: the HDF5 dataset.

    Returns:
        The path of the PNG.
    """
    figure = agg_figure("inspect --plot", figsize=(9, 6))
    x = read_samples(info, samples, dataset).astype(np.complex128 if info.dtype.startswith(("c", "complex"))
                                                   else np.float64)
    rate = info.rate or 1.0
    top, bottom = figure.subplots(2, 1)
    if len(x):
        draw_spectrum(top, x, rate=rate, center_freq=info.center_freq or 0.0, unit_name="MHz")
        draw_trace(bottom, x[: min(len(x), 2000)], rate, unit_name="ms", legend=True)
    top.set(xlabel="frequency (MHz)", ylabel="power (dB)", title=Path(info.path).name)
    bottom.set(xlabel="time (ms)", ylabel="amplitude")
    figure.savefig(out, dpi=100)
    return Path(out)
