"""What the device tests play and how they measure what comes back."""

from __future__ import annotations

import itertools

import numpy as np

import daqflow as df

RATE = 48000


@df.block(name="tone")
async def tone(freq: float, amplitude: float, seconds: float, chunk: int = 4800):
    """A sine of ``freq`` Hz and ``amplitude`` (full scale 1.0), float32, as fast as the
    sink takes it (the sound card paces it)."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    samples = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    for start in range(0, n, chunk):
        yield df.Chunk(samples[start:start + chunk], RATE, start, start / RATE)


def peak(x: np.ndarray, rate: float = RATE) -> tuple[float, float]:
    """(frequency in Hz of the strongest line, its amplitude) of the real part of ``x``."""
    x = np.real(np.asarray(x, np.complex128 if np.iscomplexobj(x) else np.float64))
    window = np.hanning(len(x))
    spectrum = np.abs(np.fft.rfft(x * window)) * 2 / window.sum()
    k = int(spectrum[1:].argmax()) + 1
    # quadratic interpolation of the peak (Hann window: amplitude within ~1.5 %)
    a, b, c = spectrum[k - 1], spectrum[k], spectrum[k + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + shift) * rate / len(x), float(b - 0.25 * (a - c) * shift)


def gaps(chunks: list[df.Chunk]) -> list[tuple[int, int, int, int]]:
    """(index, jump, overflow mark, skipped mark) wherever a chunk does not continue the last."""
    out = []
    for before, after in itertools.pairwise(chunks):
        overflow, skipped = int(after.meta.get("overflow", 0)), int(after.meta.get("skipped", 0))
        jump = after.index - before.end_index
        if jump or overflow or skipped:
            out.append((after.index, jump, overflow, skipped))
    return out


def assert_where_it_says(chunks: list[df.Chunk], rate: float) -> None:
    """Every sample of the loopback radio is where its chunk says: its real part is its index
    (modulo 2^24), its imaginary part the chunk's centre frequency in MHz, and the chunk's time
    is its index over ``rate``."""
    for c in chunks:
        assert np.array_equal(c.data.real, np.arange(c.index, c.end_index) % (1 << 24)), c
        assert np.all(c.data.imag == np.float32(c.meta["center_freq"] / 1e6)), c
        assert abs(c.time - c.index / rate) <= 1e-9, c


@df.block(name="set_at")
async def set_at(x: df.Stream, knob: df.Param, at: int, value: float):
    """Collects chunks; sets ``knob`` to ``value`` once ``at`` chunks have arrived."""
    chunks = []
    async for chunk in x:
        chunks.append(chunk)
        if len(chunks) == at:
            knob.set(value)
    return chunks
