"""Kernels of a broadcast receiver: FM de-emphasis design, automatic gain control, power squelch.

No asyncio here: the blocks in `broadcast` drive them, and they can be used and tested alone.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Samplewise
from .iir import IirState


def _number(value: object, name: str, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number in {unit}, got {value!r}")
    return float(value)


def check_tau(tau: object) -> float:
    """The de-emphasis time constant in seconds, checked."""
    value = _number(tau, "deemphasis: tau", "seconds")
    if not 0 < value < math.inf:
        raise ValueError(f"deemphasis: tau must be a time constant > 0 s (75e-6 or 50e-6), got {tau!r}")
    return value


def deemphasis_sos(tau: float, rate: float) -> np.ndarray:
    """The FM de-emphasis low-pass H(s) = 1 / (1 + s*tau) (corner 1/(2*pi*tau) Hz) made digital
    for ``rate`` Hz by the bilinear transform with the corner pre-warped, as GNU Radio's
    ``fm_deemph``: unit gain at DC, -3 dB exactly at the corner, zero at Nyquist.

    Args:
        tau: time constant in seconds (75e-6 in the Americas and Korea, 50e-6 elsewhere).
        rate: sample rate in Hz.

    Returns:
        second-order sections (one section) for `IirState` / ``scipy.signal.sosfilt``.
    """
    tau = check_tau(tau)
    corner = 1 / (2 * math.pi * tau)
    if not corner < rate / 2:
        raise ValueError(f"deemphasis: the corner 1/(2*pi*tau) = {corner:g} Hz must be below Nyquist "
                         f"({rate / 2:g} Hz for the stream's {rate:g} Hz)")
    from scipy import signal  # here, not at import: scipy.signal's import takes 0.6 s

    warped = 2 * rate * math.tan(1 / (2 * rate * tau))  # analog corner (rad/s) that lands on 1/tau
    b, a = signal.bilinear([warped], [1.0, warped], fs=rate)
    return signal.tf2sos(b, a)


def check_agc(reference: object, attack: object, decay: object, max_gain: object
              ) -> tuple[float, float, float, float]:
    """The AGC's parameters as floats, checked (ValueError naming the parameter)."""
    reference = _number(reference, "agc: reference", "signal units")
    attack = _number(attack, "agc: attack", "seconds")
    decay = _number(decay, "agc: decay", "seconds")
    max_gain = _number(max_gain, "agc: max_gain", "times")
    if not 0 < reference < math.inf:
        raise ValueError(f"agc: reference must be an output level > 0, got {reference!r}")
    if not 0 <= attack < math.inf:
        raise ValueError(f"agc: attack must be a time constant >= 0 s, got {attack!r}")
    if not decay > 0:  # (inf: the envelope never falls)
        raise ValueError(f"agc: decay must be a time constant > 0 s, got {decay!r}")
    if not 0 < max_gain < math.inf:
        raise ValueError(f"agc: max_gain must be a gain > 0, got {max_gain!r}")
    return reference, attack, decay, max_gain


class AgcState(Samplewise):
    """Feed-forward automatic gain control: y[n] = x[n] * reference / max(e[n], reference/max_gain).

    The envelope e follows |x| (per channel) up with the time constant ``attack`` (a one-pole
    low-pass s[n] of |x|) and down no faster than ``decay`` (a peak hold: e[n] = max(s[n],
    e[n-1] * exp(-1/(decay*rate)))). A stream (and a gap: `reset`) starts in steady state at
    its first sample's magnitude. The output keeps the input's dtype (integers: float32).

    Args:
        reference: output envelope level (signal units).
        attack, decay: time constants in seconds (attack 0: the envelope jumps up at once).
        max_gain: the largest gain (what a silent input gets).
        rate: sample rate in Hz.
    """

    def __init__(self, reference: float, attack: float, decay: float, max_gain: float, rate: float):
        self.reference, attack, decay, max_gain = check_agc(reference, attack, decay, max_gain)
        alpha = 1.0 if attack == 0 else -math.expm1(-1 / (attack * rate))
        self.smooth = IirState([[alpha, 0.0, 0.0, 1.0, alpha - 1.0, 0.0]])
        self.log_decay = -1 / (decay * rate)  # log of the envelope's fall per sample
        self.floor = self.reference / max_gain
        self._log_envelope: np.ndarray | float | None = None  # at the last sample

    def reset(self) -> None:
        self.smooth.reset()
        self._log_envelope = None

    def process(self, x: np.ndarray) -> np.ndarray:
        dtype = np.dtype(np.float32) if x.dtype.kind in "iub" else x.dtype
        if len(x) == 0:
            return np.empty(x.shape, dtype)
        magnitude = np.abs(x.astype(np.complex128 if x.dtype.kind == "c" else np.float64, copy=False))
        if self._log_envelope is None:
            self.smooth.settle(magnitude[0])
            self._log_envelope = -math.inf
        smoothed = self.smooth.process(magnitude)
        # the peak hold, vectorized: log e[n] = n*d + max(log e[-1] + d, max_{k<=n} log s[k] - k*d)
        ramp = np.arange(len(x), dtype=np.float64).reshape(-1, *(1,) * (x.ndim - 1)) * self.log_decay
        held = np.maximum.accumulate(np.log(np.maximum(smoothed, self.floor)) - ramp, axis=0)
        log_envelope = np.maximum(held, self._log_envelope + self.log_decay) + ramp
        self._log_envelope = log_envelope[-1]
        gain = self.reference / np.maximum(np.exp(log_envelope), self.floor)
        return (x * gain).astype(dtype, copy=False)


def check_squelch(threshold_db: object, window: object) -> tuple[float, float]:
    """The squelch's threshold (dB) and window (seconds) as floats, checked."""
    threshold = _number(threshold_db, "squelch: threshold_db", "dB")
    seconds = _number(window, "squelch: window", "seconds")
    if not math.isfinite(threshold):
        raise ValueError(f"squelch: threshold_db must be a finite power in dB, got {threshold_db!r}")
    if not 0 < seconds < math.inf:
        raise ValueError(f"squelch: window must be > 0 seconds, got {window!r}")
    return threshold, seconds


def squelch_window(window: float, rate: float) -> int:
    """The squelch's averaging window in samples: ``window`` seconds at ``rate`` Hz, >= 1."""
    return max(1, round(window * rate))


class SquelchState:
    """Power squelch on windows of ``window`` samples fixed to the stream's index grid
    (window k holds samples [k*window, (k+1)*window)): a window passes when the mean of
    |x|^2 over its samples (and channels) is at least ``threshold_db`` (10*log10 of that
    mean, dB full scale for samples in [-1, 1]), else it is dropped.

    A window is decided once all its samples are in, so the decisions do not depend on how the
    stream was cut into chunks. The first window of a stream (or after a gap: `flush`, then
    `reset`) may be partial: it holds the samples up to the next window boundary.
    """

    def __init__(self, threshold_db: float, window: int):
        self.level = 10.0 ** (threshold_db / 10)
        self.window = int(window)
        self._held: list[np.ndarray] = []  # samples of the window being filled
        self._held_count = 0
        self._start = 0  # index of the first held sample

    def reset(self) -> None:
        self._held, self._held_count = [], 0

    def process(self, x: np.ndarray, index: int) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
        """Add samples from absolute ``index`` on (continuing the held ones).

        Returns:
            (samples, first index, window starts (positions in samples), passed per window):
            the samples of the windows this chunk completed, held ones first.
        """
        if not self._held_count:
            self._start = index
        end = self._start + self._held_count + len(x)
        n = self.window
        last = end - end % n  # end of the last complete window
        if last <= self._start:  # no window completed: hold everything
            if len(x):
                self._held.append(x)
                self._held_count += len(x)
            return x[:0], index, np.empty(0, np.intp), np.empty(0, bool)
        data = np.concatenate((*self._held, x)) if self._held_count else x
        decided = last - self._start
        out, start = data[:decided], self._start
        rest = data[decided:]
        self._held, self._held_count, self._start = ([rest] if len(rest) else []), len(rest), last
        return self._decide(out, start)

    def flush(self) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
        """Decide the held (partial) window on its own samples: at a gap or the stream's end."""
        if not self._held_count:
            return np.empty(0), self._start, np.empty(0, np.intp), np.empty(0, bool)
        data = np.concatenate(self._held) if len(self._held) > 1 else self._held[0]
        start = self._start
        self.reset()
        return self._decide(data, start)

    def _decide(self, data: np.ndarray, start: int) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
        n = self.window
        first = min(len(data), (-start) % n or n)  # the first window may start mid-grid
        edges = np.arange(first, len(data), n)
        edges = np.concatenate(([0], edges)).astype(np.intp)
        power = np.square(data.real, dtype=np.float64)
        if data.dtype.kind == "c":
            power += np.square(data.imag, dtype=np.float64)
        if data.ndim > 1:
            power = power.reshape(len(data), -1).mean(axis=1)
        lengths = np.diff(np.append(edges, len(data)))
        means = np.add.reduceat(power, edges) / lengths
        return data, start, edges, means >= self.level
