"""Finding spectral peaks, to sub-bin precision."""

from __future__ import annotations

import numpy as np


def find_peaks(freqs: np.ndarray, power: np.ndarray, min_db: float = 15.0,
               max_peaks: int = 10) -> list[tuple[float, float]]:
    """Peaks of a power spectrum that stand ``min_db`` above its median (the noise floor).

    The frequency of each peak is refined by a parabola through the three dB values around
    it (for a Hann window, a few percent of a bin).

    Args:
        freqs: bin frequencies in Hz (increasing).
        power: power per bin (linear), same length.
        min_db: how far above the median a peak must stand, in dB.
        max_peaks: at most this many, strongest first.

    Returns:
        (frequency in Hz, power in dB) pairs, strongest first.

    >>> f = np.arange(64.0)
    >>> p = np.full(64, 1e-6); p[10] = 1.0; p[9] = p[11] = 0.5
    >>> [(round(x, 3), round(y, 1)) for x, y in find_peaks(f, p)]
    [(10.0, 0.0)]
    """
    from scipy import signal  # here, not at import: scipy.signal's import takes 0.6 s

    freqs = np.asarray(freqs, dtype=np.float64)
    power = np.asarray(power, dtype=np.float64)
    if freqs.shape != power.shape or power.ndim != 1:
        raise ValueError(f"freqs and power must be 1-D of equal length, got {freqs.shape}, {power.shape}")
    db = 10 * np.log10(np.maximum(power, 1e-300))
    floor = np.median(db)
    found, props = signal.find_peaks(db, height=floor + min_db)
    order = np.argsort(props["peak_heights"])[::-1][:max_peaks]
    step = np.median(np.diff(freqs)) if len(freqs) > 1 else 0.0
    peaks = []
    for k in found[order]:
        shift = 0.0
        if 0 < k < len(db) - 1:
            left, mid, right = db[k - 1], db[k], db[k + 1]
            denominator = left - 2 * mid + right
            if denominator < 0:
                shift = 0.5 * (left - right) / denominator
        height = db[k] - 0.25 * (db[k - 1] - db[k + 1]) * shift if 0 < k < len(db) - 1 else db[k]
        peaks.append((float(freqs[k] + shift * step), float(height)))
    return peaks
