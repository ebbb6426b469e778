"""Reductions for display, shared by `daqflow.plot`, `daqflow.gui` and `daqflow.net`'s pages.

Pure numpy kernels, no state, no Qt, no matplotlib: power in dB (`to_db`), a Welch power
spectrum of a block of samples (`welch`, the `SpectrumState` kernel that `dsp.spectrum`
runs), and fewer points to draw than a curve has samples, keeping what the eye must see:
each column's minimum and maximum of a trace (`envelope`), each group's maximum of a
spectrum (`peak_hold`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from . import SpectrumState  # the kernel by its public name (dsp is being restructured)

FLOOR = 1e-30  # default smallest power (W, V^2, or whatever unit the power is in): -300 dB


def to_db(power: object, floor: float = FLOOR, dtype: DTypeLike = np.float64) -> np.ndarray:
    """10*log10(power) in dB; power below ``floor`` counts as ``floor`` (0 gives a finite dB).

    Args:
        power: power values (any unit; the dB are relative to 1 of it).
        floor: smallest power considered (> 0).
        dtype: float type of the result.

    >>> to_db([100.0, 1.0, 0.0], floor=1e-3)
    array([ 20.,   0., -30.])
    """
    return 10.0 * np.log10(np.maximum(np.asarray(power, dtype=dtype), floor))


def welch(x: object, rate: float, nperseg: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """The Welch power spectrum of 1-D samples, as ``scipy.signal.welch(x, rate, nperseg=,
    scaling="spectrum", detrend=False)``: Hann frames of ``nperseg`` samples (fewer if ``x``
    is shorter) overlapping by half, power per bin averaged over all frames.

    Args:
        x: 1-D samples (not empty); complex samples give both sides, centred on 0 Hz.
        rate: sample rate in Hz.
        nperseg: samples per frame.

    Returns:
        (frequencies in Hz, increasing; power per bin, in the samples' unit squared).
    """
    data = np.asarray(x)
    if data.ndim != 1 or not len(data):
        raise ValueError(f"welch needs 1-D samples (at least one), got shape {data.shape}")
    data = data.astype(np.complex128 if data.dtype.kind == "c" else np.float64, copy=False)
    size = min(int(nperseg), len(data))
    state = SpectrumState(size, 1, size - size // 2)
    rows, _ = state.process(data, 0)
    power = rows.mean(axis=0)
    if data.dtype.kind == "c":
        freqs = np.fft.fftshift(np.fft.fftfreq(size, 1.0 / rate))
    else:
        freqs = np.fft.rfftfreq(size, 1.0 / rate)
    return freqs, power


def _per_group(n: int, groups: int) -> int:
    """Values per group so that ``n`` values make at most ``groups`` groups."""
    return -(-n // groups)


def envelope(x: np.ndarray, y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``2 * columns`` points of the curve (x, y) that keep each column's
    minimum and maximum, so a peak one sample wide still shows (a trace on screen).

    Curves of up to ``4 * columns`` points come back as they are. Each group of samples
    gives two points: its minimum at its first x, its maximum at its last x.

    >>> envelope(np.arange(12.0), np.array([0, 5, 1, 1, 1, 1, 1, 1, -4, 1, 1, 1.0]), 2)[1]
    array([ 0.,  5., -4.,  1.])
    """
    n = len(y)
    if columns < 1 or n <= 4 * columns:
        return x, y
    per = _per_group(n, columns)
    full = n // per
    m = full * per
    lo = np.empty(full + (m < n), dtype=y.dtype)
    hi = np.empty_like(lo)
    shaped = y[:m].reshape(full, per)
    np.min(shaped, axis=1, out=lo[:full])
    np.max(shaped, axis=1, out=hi[:full])
    xs = np.empty((len(lo), 2), dtype=x.dtype)
    xs[:full] = x[:m].reshape(full, per)[:, [0, -1]]
    if m < n:  # the last, shorter group
        lo[-1], hi[-1] = y[m:].min(), y[m:].max()
        xs[-1] = x[m], x[-1]
    return xs.ravel(), np.stack([lo, hi], axis=1).ravel()


def peak_hold(x: np.ndarray, y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``2 * columns`` points of a spectrum (x, y), each the maximum of a group
    of neighbouring bins at the group's mean x (a narrow peak keeps its height).

    Spectra of up to ``4 * columns`` bins come back as they are.

    >>> peak_hold(np.arange(12.0), np.array([0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7.0]), 1)
    (array([2.5, 8.5]), array([9., 7.]))
    """
    n = len(y)
    if columns < 1 or n <= 4 * columns:
        return x, y
    per = _per_group(n, 2 * columns)
    pad = -n % per  # the last group is shorter: pad it with its own last value
    if pad:
        x = np.concatenate([x, np.full(pad, x[-1])])
        y = np.concatenate([y, np.full(pad, y[-1])])
    return x.reshape(-1, per).mean(axis=1), y.reshape(-1, per).max(axis=1)
