"""Frequency shifting and demodulation blocks: mix, demod_am, demod_fm."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block
from ..core.authoring import Follow, Param, with_params
from .driver import kernel_block
from .kernels.demod import FmState, check_deviation
from .kernels.demod import demod_am as am_kernel
from .kernels.nco import NcoState

log = logging.getLogger("daqflow")


@block(name="mix", accepts="chunk", produces="complex", needs_samples=True, per_run=True)
def _mix(x: None, freq: float | Param[Any]) -> Callable[[Chunk], Chunk]:
    """Made when each run starts (a map with state): its oscillator, and what follows the
    Param; a new oscillator when the Param moves."""
    follow = Follow(freq)  # a Param is read once per chunk
    nco = NcoState(float(follow.value))
    warned: tuple[float, float] | None = None  # (rate, freq) last warned about

    def step(chunk: Chunk) -> Chunk:
        nonlocal nco, warned
        changed = None
        if follow.live is not None and follow.poll():
            nco = NcoState(float(follow.value))
            changed = {follow.name: nco.freq}
        rate = chunk.rate
        if abs(nco.freq) > rate / 2 and warned != (rate, nco.freq):
            warned = (rate, nco.freq)
            _warn_alias(nco, rate)
        y = nco.process(chunk.data, chunk.index, rate)
        y.flags.writeable = False  # a Chunk's data is read-only: so it makes no view of it
        center = chunk.meta.get("center_freq")
        meta = chunk.meta if center is None else {**chunk.meta, "center_freq": center - nco.freq}
        if changed:
            meta = with_params(meta, changed)
        return Chunk(y, rate, chunk.index, chunk.time, meta)

    return step


def _warn_alias(nco: NcoState, rate: float) -> None:
    """One warning per oscillator and input rate: a shift beyond rate/2 folds back."""
    alias = (nco.freq + rate / 2) % rate - rate / 2
    log.warning("mix: freq=%g Hz is beyond half the input's rate (%g Hz / 2): it aliases, and "
                "shifts by %g Hz instead", nco.freq, rate, alias)


def mix(stream: Stream, freq: float | Param[Any], **options: Any) -> Stream:
    """Shift in frequency: y[n] = x[n] * exp(2j*pi*freq*n/rate), n the absolute sample index.

    Phase-continuous across chunks (and consistent across gaps: the phase follows the index).
    Real input gives complex output; ``meta["center_freq"]`` (Hz), if present, moves by -freq.

    ``freq`` may be a `daqflow.Param` (a live control): its value is read once per chunk, and
    the first chunk mixed with a new value has ``meta["params"] = {name: freq}``. The phase
    still comes from the absolute index, so after a retune the output is what an oscillator
    that had always run at the new frequency gives (the phase may jump at that chunk).

    Args:
        stream: chunks of samples.
        freq: shift in Hz (e.g. -250e3 brings a 250 kHz tone to 0 Hz), or a Param in Hz.
        options: name=, buffer=, policy=, threaded=.
    """
    if not isinstance(freq, Param) and not np.isfinite(freq):
        raise ValueError(f"freq must be a finite frequency in Hz, got {freq!r}")
    return _mix(stream, freq if isinstance(freq, Param) else float(freq), **options)


@block(name="demod_am", accepts="complex", produces="float", needs_samples=True)
def demod_am(chunk: Chunk) -> Chunk:
    """AM envelope: |x| (float32 for complex64).

    >>> import numpy as np, daqflow as df
    >>> from daqflow.testing import run_block
    >>> run_block(demod_am, [df.Chunk(np.array([3 + 4j], np.complex64), 1.0)])[0].data
    array([5.], dtype=float32)
    """
    return Chunk(am_kernel(chunk.data), chunk.rate, chunk.index, chunk.time, chunk.meta)


def _fm_kernel(rate: float, deviation: float) -> FmState:
    return FmState(deviation, rate)


_demod_fm = kernel_block("demod_fm", accepts="complex", produces="float", needs_samples=True)


def demod_fm(stream: Stream, deviation: float, **options: Any) -> Stream:
    """FM discriminator: angle(x[n] conj(x[n-1])) scaled so +``deviation`` Hz gives 1.0.

    The first sample of the stream (and the first after a gap) gives 0.

    Args:
        stream: complex chunks.
        deviation: peak deviation in Hz (> 0).
        options: name=, buffer=, policy=, threaded=.
    """
    return _demod_fm(stream, _fm_kernel, (check_deviation(deviation),), "demod_fm", None, **options)
