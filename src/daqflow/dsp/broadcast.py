"""Blocks of a broadcast receiver, as GNU Radio users know them: deemphasis, agc, squelch.

`deemphasis` and `agc` turn n samples into n samples (index and time kept; a gap resets them,
the output after it is marked as the input's gap was). `squelch` drops the stretches that are
too weak: the chunks it passes keep their true indices, and the first one after a dropped
stretch carries ``meta["skipped"]`` (samples dropped on purpose), never ``overflow``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block
from ..core.authoring import GapTally
from .driver import check_designed, kernel_block, rate_changed, time_at
from .kernels.iir import IirState
from .kernels.levels import (
    AgcState,
    SquelchState,
    check_agc,
    check_squelch,
    check_tau,
    deemphasis_sos,
    squelch_window,
)
from .kernels.windowing import scipy_signal


def _deemphasis_kernel(rate: float, tau: float) -> IirState:
    return IirState(deemphasis_sos(tau, rate))  # designed for the stream's rate


def _agc_kernel(rate: float, reference: float, attack: float, decay: float, max_gain: float
                ) -> AgcState:
    return AgcState(reference, attack, decay, max_gain, rate)


_deemphasis = kernel_block("deemphasis", accepts="real", produces="float", needs_samples=True)
_agc = kernel_block("agc", accepts="chunk", produces="same", needs_samples=True)


def deemphasis(stream: Stream, tau: float = 75e-6, **options: Any) -> Stream:
    """FM broadcast de-emphasis: the first-order low-pass 1/(1 + s*tau), corner 1/(2*pi*tau) Hz
    (2122 Hz for 75 us), made digital for the stream's rate by the pre-warped bilinear
    transform (GNU Radio's ``fm_deemph``): unit gain at DC, -3 dB at the corner.

    Args:
        stream: real chunks, e.g. `demod_fm`'s output (shape (n,) or (n, channels)); the
            dtype is kept (integers give float32).
        tau: time constant in seconds: 75e-6 (Americas, Korea) or 50e-6 (Europe and elsewhere).
        options: name=, buffer=, policy=, threaded=.

    State carries exactly across chunks; a gap resets it (the next output is marked).
    """
    scipy_signal()  # now, while described: its kernel designs and filters with scipy.signal
    return _deemphasis(stream, _deemphasis_kernel, (check_tau(tau),), "deemphasis", None, **options)


def agc(stream: Stream, reference: float = 1.0, attack: float = 1e-3, decay: float = 0.1,
        max_gain: float = 65536.0, **options: Any) -> Stream:
    """Automatic gain control: scales the signal so its envelope sits at ``reference``.

    y[n] = x[n] * reference / max(e[n], reference / max_gain), where the envelope e follows
    |x| up with the time constant ``attack`` and down no faster than ``decay`` (a one-pole
    low-pass of |x|, then a peak hold that falls by exp(-1/(decay*rate)) per sample). Like GNU
    Radio's ``agc2`` (reference, attack and decay rates, max gain), with the rates given as
    time constants and the gain computed ahead of the output, so it never oscillates. The
    stream (and the signal after a gap) starts in steady state at its first sample.

    Args:
        stream: real or complex chunks, shape (n,) or (n, channels) (each channel its own
            gain); the dtype is kept (integers give float32).
        reference: output envelope level (signal units; 1.0: full scale).
        attack: seconds for the gain to follow a rising level (0: at once).
        decay: seconds for the gain to recover after the level falls.
        max_gain: the largest gain, reached on silence.
        options: name=, buffer=, policy=, threaded=.
    """
    values = check_agc(reference, attack, decay, max_gain)
    scipy_signal()  # now, while described: its kernel filters with scipy.signal
    return _agc(stream, _agc_kernel, values, "agc", None, **options)


@block(name="squelch", accepts="chunk", produces="same")
async def _squelch(x: Stream, threshold_db: float, window: float) -> AsyncIterator[Chunk]:
    state: SquelchState | None = None
    previous: Chunk | None = None
    rate = 0.0
    gaps = GapTally()  # samples lost upstream / dropped (here or upstream) before the next output

    def emit(decided: tuple[np.ndarray, int, np.ndarray, np.ndarray], clock: Chunk) -> list[Chunk]:
        data, start, edges, passed = decided
        if not len(passed):
            return []
        if passed.all():  # (the usual cases, quickly)
            runs = [(0, len(data), True)]
        elif not passed.any():
            runs = [(0, len(data), False)]
        else:
            flips = np.flatnonzero(passed[1:] != passed[:-1]) + 1
            cuts = [0, *edges[flips].tolist(), len(data)]
            states = passed[np.concatenate(([0], flips))].tolist()
            runs = list(zip(cuts[:-1], cuts[1:], states, strict=True))
        out = []
        for a, b, keep in runs:
            if not keep:
                gaps.skipped += b - a
                continue
            index = start + a
            out.append(Chunk(data[a:b], clock.rate, index, time_at(clock, index), gaps.take(clock.meta)))
        return out

    async for chunk in x:
        if state is None:
            rate = chunk.rate
            check_designed("squelch", "x", None, rate)
            state = SquelchState(threshold_db, squelch_window(window, rate))
        elif chunk.rate != rate:
            raise ValueError(rate_changed("squelch", "x", rate, chunk.rate))
        jump = gaps.gap(chunk)
        if previous is None:  # marks on the stream's first chunk are passed on
            gaps.count_marks(chunk.meta)
        elif jump is not None:
            for out in emit(state.flush(), previous):  # windows never span a gap
                yield out
            state.reset()
            gaps.count(chunk.meta, jump)
        previous = chunk
        for out in emit(state.process(chunk.data, chunk.index), chunk):
            yield out
    if state is not None and previous is not None:
        for out in emit(state.flush(), previous):
            yield out


def squelch(stream: Stream, threshold_db: float, window: float = 0.01, **options: Any) -> Stream:
    """Power squelch (GNU Radio's ``pwr_squelch`` with ``gate=True``): drops the stretches whose
    power is below ``threshold_db``.

    The power is the mean of |x|^2 (over the channels too) on windows of ``window`` seconds
    (rounded to whole samples, at least one) fixed to the stream's index grid, in dB:
    10*log10(mean |x|^2), 0 dB for a full-scale (|x| = 1) complex tone. Each window passes whole
    or is dropped whole; a window is decided once all its samples are in (latency up to
    ``window``), so the result does not depend on how the stream is cut into chunks. A gap in
    the input ends the window in progress (decided on the samples it has).

    The chunks that pass keep their samples, dtype, rate, true ``index`` and ``time``; the first
    one after a dropped stretch carries ``meta["skipped"]`` = samples dropped on purpose (plus
    any the input marked skipped), and ``meta["overflow"]`` only for samples lost upstream.
    An output chunk has the other meta of the input chunk that completed it.

    Args:
        stream: chunks of samples (real or complex, shape (n,) or (n, channels)).
        threshold_db: power in dB (dBFS for samples scaled to [-1, 1]) below which a window
            is dropped.
        window: averaging window in seconds.
        options: name=, buffer=, policy=, threaded=.
    """
    return _squelch(stream, *check_squelch(threshold_db, window), **options)


__all__ = ["agc", "deemphasis", "squelch"]
