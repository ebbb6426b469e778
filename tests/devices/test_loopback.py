"""A known tone played by `io.audio_sink` into the null sink comes back through
`io.audio_source` (PortAudio) and `io.soapy_source(device="driver=audio")` (SoapySDR), in one
graph, at its frequency and amplitude."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from _sound_signals import RATE, gaps, peak, tone

import daqflow as df
from daqflow import io

FREQ, AMPLITUDE = 1500.0, 0.4


@pytest.fixture(scope="module")
def loopback():
    played = io.audio_sink(tone(FREQ, AMPLITUDE, 6.0), name="speaker")
    mic = df.collect(io.audio_source(RATE, chunk=1024), name="mic")
    radio = df.collect(io.soapy_source("driver=audio", rate=RATE, freq=100e6, chunk=4096), name="radio")
    return df.run(played, mic, radio, duration=5.0)


def _steady(chunks: list[df.Chunk], seconds: float = 1.0) -> np.ndarray:
    """The last ``seconds`` of a capture (the start may be silence while playback starts)."""
    data = np.concatenate([c.data for c in chunks])
    return data[-int(seconds * RATE):]


@pytest.mark.parametrize("sink", ["mic", "radio"])
def test_the_tone_comes_back_at_its_frequency_and_amplitude(loopback, sink):
    chunks = loopback.results[sink]
    assert len(chunks) > 10, loopback
    freq, amplitude = peak(_steady(chunks))
    assert freq == pytest.approx(FREQ, abs=1.0)
    assert amplitude == pytest.approx(AMPLITUDE, rel=0.03)


def test_chunks_are_contiguous_and_describe_their_device(loopback):
    mic, radio = loopback.results["mic"], loopback.results["radio"]
    assert gaps(mic) == [] and gaps(radio) == [], loopback
    assert loopback.overflow == 0
    assert {c.data.dtype.name for c in mic} == {"float32"} and mic[0].data.ndim == 1
    assert {c.data.dtype.name for c in radio} == {"complex64"} and radio[0].data.ndim == 1
    assert all(c.samples == 4096 for c in radio[:-1])
    first = radio[0]
    assert (first.index, first.rate, first.time) == (0, RATE, 0.0)
    assert first.meta["center_freq"] == 100e6 and first.meta["device"] == "driver=audio"
    assert first.meta["hw"]  # driver and hardware keys, for core:hw
    assert radio[5].time == pytest.approx(radio[5].index / RATE)


def test_the_speaker_reports_what_it_played(loopback):
    played = loopback.results["speaker"]
    # the card paces the playback (0.1 s queued ahead); the sound server takes up to ~1 s to
    # start, so a 5 s run plays at least 3 s of the tone
    assert played["samples"] == loopback.blocks["speaker"].samples_in >= RATE * 3
    assert played["underflows"] == 0


@df.block(name="late")
async def late(period: float, chunks: int):
    """Chunks of 10 ms of a tone, coming every ``period`` seconds (too slow when > 10 ms)."""
    samples = (0.1 * np.sin(2 * np.pi * 440 * np.arange(480) / RATE)).astype(np.float32)
    for k in range(chunks):
        await asyncio.sleep(period)
        yield df.Chunk(samples, RATE, 480 * k)


@pytest.mark.parametrize(("period", "underflow"), [(0.03, True), (0.0, False)])
def test_the_speaker_counts_underflows_when_the_stream_comes_too_slowly(period, underflow):
    result = df.run(io.audio_sink(late(period, 40), name="speaker")).results["speaker"]
    assert result["samples"] == 40 * 480
    assert (result["underflows"] > 0) is underflow, result
