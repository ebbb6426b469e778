"""`simulated_adc`: the embedded default source, a noisy multi-tone ADC on a real clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import MappingProxyType

import numpy as np

from ..core import Chunk, SampleClock, Stream, block, note_lost
from ..core.authoring import BACKLOG, kind_of_dtype

_DTYPES = ("complex64", "complex128", "float32", "float64", "int16")


@block(name="simulated_adc")
async def _adc(
    rate: float,
    chunk: int,
    tones: tuple[tuple[float, float], ...],
    noise: float,
    dtype: str,
    paced: bool,
    seed: int | None,
    center_freq: float | None,
    backlog: float,
) -> AsyncIterator[Chunk]:
    rng = np.random.default_rng(seed)
    out = np.dtype(dtype)
    work = np.complex128 if out in (np.complex128, np.float64) else np.complex64
    steps = [f / rate for f, _ in tones]  # cycles per sample
    # one oscillator table per tone, computed once: a chunk is a phase rotation of it
    tables = [a * np.exp(2j * np.pi * s * np.arange(chunk)).astype(work) for s, (_, a) in zip(
        steps, tones, strict=True)]
    noise_dtype = np.float64 if work == np.complex128 else np.float32
    clock = SampleClock(rate, backlog) if paced else None
    tuned = {} if center_freq is None else {"center_freq": center_freq}
    meta = MappingProxyType(tuned)
    index = 0
    while True:
        lost = clock.lost_before(index, chunk) if clock is not None else 0
        index += lost  # the clock ran past them: a device's buffer overflow
        x = np.zeros(chunk, work)
        for step, table in zip(steps, tables, strict=True):
            x += table * work(np.exp(2j * np.pi * ((step * index) % 1.0)))
        if out.kind == "c":
            if noise:
                x += rng.standard_normal(2 * chunk, dtype=noise_dtype).view(work) * (noise / np.sqrt(2))
            data = x.astype(out, copy=False)
        else:
            signal = x.real
            if noise:
                signal = signal + rng.standard_normal(chunk, dtype=noise_dtype) * noise
            if out == np.int16:
                data = np.clip(np.round(signal * 32767.0), -32768, 32767).astype(np.int16)
            else:
                data = signal.astype(out)
        if clock is not None:
            await clock.wait_for(index + chunk)  # they exist once the last one is converted
            if clock.ended(index + chunk):  # the run stopped before this chunk was complete
                note_lost(clock.existed_at_stop(index - lost, index))
                return
        marks = meta if not lost else MappingProxyType({**tuned, "overflow": lost})
        yield Chunk(data, rate, index, index / rate, marks)
        index += chunk


def simulated_adc(
    rate: float,
    chunk: int = 8192,
    tones: Sequence[tuple[float, float]] | None = None,
    noise: float = 0.0,
    dtype: str = "complex64",
    realtime: bool = True,
    seed: int | None = None,
    *,
    center_freq: float | None = None,
    backlog: float = BACKLOG,
    name: str | None = None,
    threaded: bool = False,
) -> Stream:
    """A simulated ADC: sum of tones plus Gaussian noise, phase-continuous across chunks.

    Args:
        rate: sample rate in Hz.
        chunk: samples per chunk.
        tones: (frequency in Hz, amplitude) pairs; default one tone at rate/8, amplitude 1.
            Complex output makes exp(2j*pi*f*t) (negative frequencies allowed), real output
            cos(2*pi*f*t).
        noise: noise standard deviation (total, per complex sample).
        dtype: "complex64", "complex128", "float32", "float64" or "int16" (full scale 1.0).
        realtime: clock-driven: chunks come at ``rate`` on absolute deadlines and a full
            FIFO loses samples (counted, marked ``meta["overflow"]``); so does a graph that
            falls more than ``backlog`` behind the clock (a block holding the loop, a CPU
            that cannot keep up): the index jumps over what the clock produced meanwhile.
            False runs as fast as the graph takes it (lossless backpressure).
        seed: noise generator seed (None: random).
        center_freq: RF frequency in Hz that 0 Hz stands for (``meta["center_freq"]``).
        backlog: seconds of samples the simulated device buffers when the graph is late
            (real-time only; see `daqflow.core.SampleClock`).

    >>> import daqflow as df
    >>> from daqflow import io
    >>> from itertools import islice
    >>> adc = io.simulated_adc(1e6, chunk=1000, tones=[(1e5, 1.0)], realtime=False)
    >>> [(c.index, c.time, c.data.dtype.name) for c in islice(df.iterate(adc), 3)]
    [(0, 0.0, 'complex64'), (1000, 0.001, 'complex64'), (2000, 0.002, 'complex64')]
    """
    if not rate > 0:
        raise ValueError(f"simulated_adc: rate must be > 0 Hz, got {rate!r}")
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"simulated_adc: chunk must be an int >= 1 sample, got {chunk!r}")
    if dtype not in _DTYPES:
        raise ValueError(f"simulated_adc: dtype must be one of {_DTYPES}, got {dtype!r}")
    if noise < 0:
        raise ValueError(f"simulated_adc: noise must be >= 0, got {noise!r}")
    if not backlog > 0:
        raise ValueError(f"simulated_adc: backlog must be > 0 seconds, got {backlog!r}")
    tones = ((rate / 8, 1.0),) if tones is None else tuple((float(f), float(a)) for f, a in tones)
    return _adc(
        float(rate), chunk, tones, float(noise), dtype, bool(realtime), seed,
        None if center_freq is None else float(center_freq), float(backlog),
        name=name, threaded=threaded, realtime=bool(realtime),
    ).declare(kind_of_dtype(dtype))
