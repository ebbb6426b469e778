"""Frequency shifting and demodulation blocks: mix, demod_am, demod_fm."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block
from ..core.params import Follow, Param, with_params
from .continuity import samplewise
from .demod import FmState
from .demod import demod_am as am_kernel
from .nco import NcoState

log = logging.getLogger("daqflow")


@block(name="mix", accepts="chunk", produces="complex", needs_samples=True)
def _mix(chunk: Chunk, state: NcoState | _Tuning) -> Chunk:
    changed = None
    if type(state) is _Tuning:
        changed = state.poll()
        nco = state.nco
    else:
        nco = state
    y = nco.process(chunk.data, chunk.index, chunk.rate)
    if abs(nco.freq) > chunk.rate / 2 and getattr(nco, "warned_rate", None) != chunk.rate:
        _warn_alias(nco, chunk.rate)
    center = chunk.meta.get("center_freq")
    meta = chunk.meta if center is None else {**chunk.meta, "center_freq": center - nco.freq}
    if changed:
        meta = with_params(meta, changed)
    return Chunk(y, chunk.rate, chunk.index, chunk.time, meta)


def _warn_alias(nco: NcoState, rate: float) -> None:
    """One warning per oscillator and input rate: a shift beyond rate/2 folds back."""
    nco.warned_rate = rate  # type: ignore[attr-defined]
    alias = (nco.freq + rate / 2) % rate - rate / 2
    log.warning("mix: freq=%g Hz is beyond half the input's rate (%g Hz / 2): it aliases, and "
                "shifts by %g Hz instead", nco.freq, rate, alias)


class _Tuning:
    """The NCO of a mixer tuned by a Param, and the frequency its last chunk used."""

    __slots__ = ("follow", "nco")

    def __init__(self, freq: Param[Any]):
        self.follow = Follow(freq)
        self.nco = NcoState(float(self.follow.value))

    def poll(self) -> dict[str, float] | None:
        """Read the Param (once per chunk); a new NCO and the change record if it moved."""
        if not self.follow.poll():
            return None
        self.nco = NcoState(float(self.follow.value))
        return {self.follow.name: self.nco.freq}


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
    if isinstance(freq, Param):
        # one _Tuning per mix() call: the change record compares with the last chunk mixed
        return _mix(stream, _Tuning(freq), **options)
    if not np.isfinite(freq):
        raise ValueError(f"freq must be a finite frequency in Hz, got {freq!r}")
    # a map (runs inline); NcoState holds only a cache, so runs of the graph may share it
    return _mix(stream, NcoState(float(freq)), **options)


@block(name="demod_am", accepts="complex", produces="float", needs_samples=True)
def demod_am(chunk: Chunk) -> Chunk:
    """AM envelope: |x| (float32 for complex64).

    >>> import numpy as np, daqflow as df
    >>> from daqflow.testing import run_block
    >>> run_block(demod_am, [df.Chunk(np.array([3 + 4j], np.complex64), 1.0)])[0].data
    array([5.], dtype=float32)
    """
    return Chunk(am_kernel(chunk.data), chunk.rate, chunk.index, chunk.time, chunk.meta)


@block(name="demod_fm", accepts="complex", produces="float", needs_samples=True)
async def _demod_fm(x: Stream, deviation: float) -> AsyncIterator[Chunk]:
    state = FmState(deviation)
    async for out in samplewise(x, state.reset, lambda chunk: state.process(chunk.data, chunk.rate)):
        yield out


def demod_fm(stream: Stream, deviation: float, **options: Any) -> Stream:
    """FM discriminator: angle(x[n] conj(x[n-1])) scaled so +``deviation`` Hz gives 1.0.

    The first sample of the stream (and the first after a gap) gives 0.

    Args:
        stream: complex chunks.
        deviation: peak deviation in Hz (> 0).
        options: name=, buffer=, policy=, threaded=.
    """
    FmState(deviation)  # validates
    return _demod_fm(stream, float(deviation), **options)
