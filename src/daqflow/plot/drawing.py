"""Drawing into matplotlib Axes: time traces, spectra (dB vs frequency) and images.

The one drawing code of `plot_png`, `PyplotViewer` and ``daqflow inspect --plot``. Nothing
here imports matplotlib when the module is imported: the functions draw into Axes made by
the caller, and `agg_figure` imports it when called.

Each ``draw_*`` function returns its artists; handing them back on the next call updates
them in place (``set_data``) instead of drawing new ones, which keeps a live figure cheap.
Limits fixed on the Axes (``set_xlim``/``set_ylim``) stay; the free ones follow the data.

`Painter` decides what an item is (`classify`) and draws the newest part of it: the last
row of a spectrum chunk, the last frame of a chunk of images, a whole 1-D chunk as a trace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core import Chunk
from ..core.authoring import require
from ..dsp.display import to_db, welch

KINDS = ("auto", "trace", "spectrum", "image")
MAX_CHANNELS = 8
"""A 2-D chunk (samples, channels) with at most this many channels is drawn as traces, one
per channel; with more, as an image."""

_FREQ_UNITS = (("GHz", 1e9), ("MHz", 1e6), ("kHz", 1e3), ("Hz", 1.0))
_TIME_UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))


def agg_figure(purpose: str, figsize: tuple[float, float] = (8.0, 4.5), dpi: float = 100) -> Any:
    """A matplotlib Figure drawn by the Agg backend (for files), outside pyplot: it changes
    no global backend and is freed like any object."""
    require("matplotlib", "plot", purpose)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return kind


def unit(span: float, units: Sequence[tuple[str, float]], name: str = "auto") -> tuple[str, float]:
    """(name, scale) of the largest unit not larger than ``span`` (or the one named).

    >>> unit(5e5, _FREQ_UNITS), unit(0.002, _TIME_UNITS), unit(1.0, _TIME_UNITS, "ms")
    (('kHz', 1000.0), ('ms', 0.001), ('ms', 0.001))
    """
    if name != "auto":
        for candidate in units:
            if candidate[0] == name:
                return candidate
        raise ValueError(f"unit must be 'auto' or one of {[u for u, _ in units]}, got {name!r}")
    span = abs(float(span)) if np.isfinite(span) else 0.0
    for candidate in units:
        if span >= candidate[1]:
            return candidate
    return units[-1]


def _set_lines(ax: Any, lines: list[Any] | None, x: np.ndarray, ys: list[np.ndarray],
               labels: list[str], legend: bool | None) -> list[Any]:
    kept = [line for line in lines or () if line.axes is ax]
    for line in kept[len(ys):]:
        line.remove()
    lines = kept[:len(ys)]
    for line, y, label in zip(lines, ys, labels, strict=False):
        line.set_data(x, y)
        line.set_label(label)
    lines += [ax.plot(x, y, color=f"C{k}", label=label)[0]
              for k, (y, label) in enumerate(zip(ys, labels, strict=True)) if k >= len(lines)]
    old = ax.get_legend()
    if legend or (legend is None and len(lines) > 1):
        ax.legend(handles=lines, loc="upper right")
    elif old is not None:
        old.remove()
    ax.relim()
    ax.autoscale_view()
    return lines


def draw_trace(ax: Any, samples: Any, rate: float | None = None, *, unit_name: str = "auto",
               legend: bool | None = None, lines: list[Any] | None = None) -> list[Any]:
    """Draw samples against time into ``ax``: one line for real samples ("x"), two for
    complex ones ("I", "Q"); 2-D samples (samples, channels) give lines per channel.

    Args:
        ax: matplotlib Axes.
        samples: 1-D or 2-D array, first axis time.
        rate: samples per second; None: the x axis counts samples.
        unit_name: time unit of the x axis: "auto" (from the duration), "s", "ms", "µs", "ns".
        legend: draw a legend (None: when there is more than one line).
        lines: the artists a previous call returned, updated in place when they fit.

    Returns:
        The Line2D artists.
    """
    x = np.asarray(samples)
    if x.ndim not in (1, 2):
        raise ValueError(f"a time trace needs 1-D or 2-D (samples, channels) data, got shape {x.shape}")
    columns = [x] if x.ndim == 1 else [x[:, k] for k in range(x.shape[1])]
    names = ["x"] if x.ndim == 1 else [f"ch{k}" for k in range(x.shape[1])]
    ys: list[np.ndarray] = []
    labels: list[str] = []
    for column, name in zip(columns, names, strict=True):
        if column.dtype.kind == "c":
            ys += [column.real, column.imag]
            labels += ["I", "Q"] if x.ndim == 1 else [f"{name} I", f"{name} Q"]
        else:
            ys.append(column)
            labels.append(name)
    n = len(x)
    if rate:
        name, scale = unit(n / rate, _TIME_UNITS, unit_name)
        t = np.arange(n) / rate / scale
        xlabel = f"time ({name})"
    else:
        t = np.arange(n)
        xlabel = "sample"
    lines = _set_lines(ax, lines, t, ys, labels, legend)
    ax.set(xlabel=xlabel, ylabel="amplitude")
    return lines


def draw_spectrum(ax: Any, data: Any, freqs: Any = None, *, rate: float | None = None,
                  center_freq: float = 0.0, db: bool = False, unit_name: str = "auto",
                  nperseg: int = 4096, lines: list[Any] | None = None) -> list[Any]:
    """Draw a power spectrum in dB against frequency into ``ax``.

    Args:
        ax: matplotlib Axes.
        data: with ``freqs``: the power of each bin (1-D, linear unless ``db``); without:
            1-D samples, whose Welch spectrum (`daqflow.dsp.display.welch`, ``nperseg``)
            is drawn.
        freqs: frequency of each bin in Hz (a spectrum chunk's ``meta["freqs"]``).
        rate: sample rate of ``data`` when it holds samples (None: cycles per sample).
        center_freq: Hz added to the computed frequencies.
        db: ``data`` is in dB already.
        unit_name: frequency unit of the x axis: "auto" (from the frequency span), "Hz",
            "kHz", "MHz", "GHz".
        lines: the artists a previous call returned, updated in place when they fit.

    Returns:
        The Line2D artists.
    """
    data = np.asarray(data)
    if data.ndim != 1:
        raise ValueError(f"a spectrum needs 1-D data, got shape {data.shape}")
    if freqs is None:
        f, power = welch(data, rate or 1.0, nperseg)
        f = f + center_freq
        level = to_db(power)
    else:
        f = np.asarray(freqs, dtype=np.float64)
        if f.shape != data.shape:
            raise ValueError(f"a spectrum of {len(data)} bins needs as many frequencies, got {f.shape}")
        level = np.asarray(data, dtype=np.float64) if db else to_db(data)
    if freqs is None and not rate:
        x, xlabel = f, "frequency (cycles/sample)"
    else:
        name, scale = unit(np.ptp(f) if len(f) > 1 else abs(f[0]) if len(f) else 0.0, _FREQ_UNITS,
                           unit_name)
        x, xlabel = f / scale, f"frequency ({name})"
    lines = _set_lines(ax, lines, x, [level], ["power"], False)
    ax.set(xlabel=xlabel, ylabel="power (dB)")
    return lines


def draw_image(ax: Any, frame: Any, *, extent: Sequence[float] | None = None,
               clim: tuple[float, float] | None = None, xlabel: str = "x (pixel)",
               ylabel: str = "y (pixel)", image: Any = None) -> Any:
    """Draw a 2-D frame (or an RGB(A) one, (h, w, 3|4)) into ``ax``; complex frames by
    their magnitude.

    Args:
        ax: matplotlib Axes.
        frame: the image, row 0 at the top.
        extent: (left, right, bottom, top) in axis units (default: pixel centres at integers).
        clim: colour limits (default: the frame's finite minimum and maximum).
        xlabel, ylabel: axis labels.
        image: the AxesImage a previous call returned, updated in place.

    Returns:
        The AxesImage.
    """
    frame = np.asarray(frame)
    if frame.dtype.kind == "c":
        frame = np.abs(frame)
    rgb = frame.ndim == 3 and frame.shape[-1] in (3, 4)
    if frame.ndim != 2 and not rgb:
        raise ValueError(f"an image needs a 2-D frame (or h, w, 3|4), got shape {frame.shape}")
    h, w = frame.shape[:2]
    box = tuple(extent) if extent is not None else (-0.5, w - 0.5, h - 0.5, -0.5)
    if image is not None and image.axes is ax and image.get_array().ndim == frame.ndim:
        image.set_data(frame)
        image.set_extent(box)
    else:
        if image is not None and image.axes is not None:
            image.remove()
        image = ax.imshow(frame, aspect="auto", interpolation="nearest", extent=box)
    if not rgb:
        if clim is not None:
            image.set_clim(*clim)
        else:
            finite = frame[np.isfinite(frame)] if frame.dtype.kind == "f" else frame
            if finite.size:
                image.set_clim(float(finite.min()), float(finite.max()))
    ax.set(xlabel=xlabel, ylabel=ylabel)
    return image


# -- what an item is ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PlotSpec:
    """What `Painter` draws of one item: ``kind`` and the arguments of its draw function."""

    kind: str
    data: np.ndarray
    rate: float | None = None
    freqs: np.ndarray | None = None
    center_freq: float = 0.0
    db: bool = False
    info: str = ""


def _unpack(item: Any) -> tuple[np.ndarray, float | None, Mapping[str, Any], bool]:
    if isinstance(item, Chunk):
        return item.data, item.rate or None, item.meta, False
    if isinstance(item, np.ndarray | list | tuple):
        return np.asarray(item), None, {}, True
    raise TypeError(f"cannot draw a {type(item).__name__}: give a Chunk or an array")


def _info(item: Any, last: bool) -> str:
    """Where the drawn part of a chunk sits: its time and index (the last row's if ``last``)."""
    if not isinstance(item, Chunk):
        return ""
    offset = item.samples - 1 if last else 0
    time = item.time + (offset / item.rate if item.rate else 0.0)
    info = f"t = {time:.6g} s, index {item.index + offset}"
    lost = item.meta.get("overflow")
    return f"{info}, {lost} lost before" if lost else info


def classify(item: Any) -> str:
    """What ``kind="auto"`` draws an item as: "trace", "spectrum" or "image".

    Chunks: with ``meta["freqs"]`` a spectrum (a chunk of waterfall images: an image), 1-D
    a trace, 2-D (samples, channels) traces up to `MAX_CHANNELS` channels (else an image of
    the chunk), 3-D and more: images (the last frame). Bare arrays: 1-D a trace, 2-D and
    (h, w, 3|4) an image.

    >>> import numpy as np
    >>> classify(np.zeros(8)), classify(np.zeros((4, 5))), classify(Chunk(np.zeros((2, 4, 5)), 1.0))
    ('trace', 'image', 'image')
    """
    data, _, meta, bare = _unpack(item)
    return _classify(data, meta.get("freqs") is not None, bare)


def _classify(data: np.ndarray, has_freqs: bool, bare: bool) -> str:
    if data.ndim == 0:
        raise ValueError("cannot draw a single number")
    if has_freqs:
        return "image" if data.ndim >= 3 else "spectrum"
    if data.ndim == 1:
        return "trace"
    if bare:
        if data.ndim == 2 or (data.ndim == 3 and data.shape[-1] in (3, 4)):
            return "image"
        raise ValueError(f"cannot draw an array of shape {data.shape}: give 1-D samples or a 2-D image")
    if data.ndim == 2:
        return "trace" if data.shape[1] <= MAX_CHANNELS else "image"
    return "image"


def plot_spec(item: Any, kind: str = "auto") -> PlotSpec | None:
    """The `PlotSpec` of the newest part of ``item`` drawn as ``kind`` (None: nothing to draw,
    an empty chunk)."""
    data, rate, meta, bare = _unpack(item)
    if data.size == 0:
        return None
    freqs = meta.get("freqs")
    if kind == "auto":
        kind = _classify(data, freqs is not None, bare)
    db = meta.get("units") == "dB"
    center = float(meta.get("center_freq", 0.0) or 0.0)
    if kind == "trace":
        if data.ndim > 2 or (data.ndim == 2 and data.shape[1] > MAX_CHANNELS):
            raise ValueError(f"cannot draw data of shape {data.shape} as a time trace "
                             f"(1-D, or at most {MAX_CHANNELS} channels)")
        return PlotSpec("trace", data, rate, info=_info(item, False))
    if kind == "spectrum":
        if freqs is not None:
            freqs = np.asarray(freqs)
            bins = data.shape[-1]
            if freqs.shape != (bins,):
                raise ValueError(f"meta['freqs'] has shape {freqs.shape} for {bins} bins")
            return PlotSpec("spectrum", data.reshape(-1, bins)[-1], freqs=freqs, db=db,
                        info=_info(item, data.ndim > 1))
        if data.ndim != 1:
            raise ValueError(f"a spectrum is computed from 1-D samples, got shape {data.shape}")
        return PlotSpec("spectrum", data, rate, center_freq=center, info=_info(item, False))
    if kind == "image":
        if freqs is not None:  # a waterfall: rows of spectra
            frame = data if data.ndim == 2 else data.reshape(-1, *data.shape[-2:])[-1]
            frame = np.asarray(frame, dtype=np.float64) if db else to_db(frame)
            return PlotSpec("image", frame, freqs=np.asarray(freqs), db=True, info=_info(item, data.ndim > 2))
        if data.ndim == 1:
            raise ValueError("cannot draw 1-D samples as an image")
        whole = bare or data.ndim == 2
        frame = data if whole else data[-1]  # a chunk of frames: the last
        return PlotSpec("image", frame, info=_info(item, not whole))
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


class Painter:
    """Draws items into one Axes of ``figure``, the newest part of each, reusing the artists
    while the items keep their kind.

    Args:
        figure: a matplotlib Figure (its contents are Painter's).
        kind: "auto" (`classify`), "trace", "spectrum" or "image".
        xlim, ylim: fixed axis limits, in SI units: seconds from a trace's first sample, Hz
            for spectra and waterfalls, pixels for other images; y in amplitude, dB or
            pixels. None: follow the data.
        clim: fixed colour limits of images.
        title: text at the top left (the item's time and index are at the top right).
    """

    def __init__(self, figure: Any, kind: str = "auto", *, xlim: tuple[float, float] | None = None,
                 ylim: tuple[float, float] | None = None, clim: tuple[float, float] | None = None,
                 title: str | None = None):
        self.figure = figure
        self.kind = check_kind(kind)
        self.xlim, self.ylim, self.clim = _limits(xlim, "xlim"), _limits(ylim, "ylim"), _limits(clim, "clim")
        self.title = title
        self.ax: Any = None
        self.drawn: str | None = None  # the kind on the axes
        self._artists: Any = None
        self._colorbar: Any = None

    def draw(self, item: Any) -> str | None:
        """Draw ``item``; returns the kind drawn, or None if it had nothing to draw."""
        shown = plot_spec(item, self.kind)
        if shown is None:
            return None
        if self.ax is None or shown.kind != self.drawn:
            self.figure.clear()
            self.ax = self.figure.add_subplot()
            self._artists = self._colorbar = None
            self.drawn = shown.kind
        ax = self.ax
        xunit = "auto"
        if shown.kind == "trace":
            if self.xlim is not None and shown.rate:
                xunit, scale = unit(self.xlim[1] - self.xlim[0], _TIME_UNITS)
            else:
                scale = 1.0
            self._artists = draw_trace(ax, shown.data, shown.rate, unit_name=xunit, lines=self._artists)
        elif shown.kind == "spectrum":
            if self.xlim is not None and (shown.rate or shown.freqs is not None):
                xunit, scale = unit(self.xlim[1] - self.xlim[0], _FREQ_UNITS)
            else:
                scale = 1.0
            self._artists = draw_spectrum(ax, shown.data, shown.freqs, rate=shown.rate,
                                          center_freq=shown.center_freq, db=shown.db,
                                          unit_name=xunit, lines=self._artists)
        else:
            scale = self._image(shown)
        if self.xlim is not None:
            ax.set_xlim(self.xlim[0] / scale, self.xlim[1] / scale)
        if self.ylim is not None:
            ax.set_ylim(*self.ylim)
        if self.title:
            ax.set_title(self.title, loc="left")
        ax.set_title(shown.info, loc="right", fontsize="small")
        return shown.kind

    def _image(self, shown: PlotSpec) -> float:
        frame = shown.data
        if shown.freqs is not None:
            freqs = shown.freqs
            span = self.xlim[1] - self.xlim[0] if self.xlim is not None else float(np.ptp(freqs))
            name, scale = unit(span, _FREQ_UNITS)
            step = (freqs[-1] - freqs[0]) / (len(freqs) - 1) if len(freqs) > 1 else 1.0
            extent = ((freqs[0] - step / 2) / scale, (freqs[-1] + step / 2) / scale,
                      frame.shape[0] - 0.5, -0.5)
            labels = {"xlabel": f"frequency ({name})", "ylabel": "spectrum (row)"}
        else:
            extent, labels, scale = None, {}, 1.0
        self._artists = draw_image(self.ax, frame, extent=extent, clim=self.clim, image=self._artists,
                                   **labels)
        scalar = self._artists.get_array().ndim == 2
        if scalar and self._colorbar is None:
            self._colorbar = self.figure.colorbar(self._artists, ax=self.ax,
                                                  label="power (dB)" if shown.freqs is not None else None)
        return scale


def _limits(value: Any, what: str) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be (low, high), got {value!r}") from None
    if not (np.isfinite(low) and np.isfinite(high)) or low == high:
        raise ValueError(f"{what} must be two different finite numbers, got {value!r}")
    return low, high
