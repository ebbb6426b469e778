"""A sound card that goes away or stops delivering, and what `io.audio_sink` makes of
integer sound, on the private PulseAudio server (tests/sound_server.py)."""

from __future__ import annotations

import asyncio
import subprocess

import numpy as np
import pytest
from _sound_signals import RATE, peak

import daqflow as df
from daqflow import io


@df.block(name="then")
async def then(x: df.Stream, after: int, action):
    """Collects chunks; runs ``action`` (blocking, in a thread) once ``after`` have arrived."""
    chunks = []
    async for chunk in x:
        chunks.append(chunk)
        if len(chunks) == after:
            await asyncio.to_thread(action)
    return chunks


@pytest.fixture
def pull_the_card(sound_card):
    """An action that ends every capture stream from the server's side, as a sound card
    unplugged mid-stream ends its ALSA stream (through PulseAudio's command line, pacmd)."""
    module = sound_card.pactl("load-module", "module-cli-protocol-unix").strip()

    def pull() -> None:
        for line in sound_card.pactl("list", "short", "source-outputs").splitlines():
            subprocess.run(["pacmd", "kill-source-output", line.split()[0]], env=sound_card.env,
                           check=True, capture_output=True, timeout=20)

    try:
        yield pull
    finally:
        sound_card.pactl("unload-module", module)


def test_a_card_that_goes_away_fails_the_source_naming_it(pull_the_card):
    mic = io.audio_source(RATE, chunk=1024, timeout=10)
    with pytest.raises(df.BlockError) as caught:
        df.run(then(mic, 20, pull_the_card), duration=8)
    assert ("audio_source 'default input': the device stopped delivering (PortAudio ended the "
            "stream): was it unplugged?") in str(caught.value)
    assert len(caught.value.report.results["then"]) >= 20  # what came before is kept


def test_a_card_that_stops_delivering_fails_the_source_after_its_timeout(sound_card):
    mic = io.audio_source(RATE, chunk=1024, timeout=1.0)
    try:
        with pytest.raises(df.BlockError) as caught:
            df.run(then(mic, 20, lambda: sound_card.pactl("suspend-sink", sound_card.sink, "1")),
                   duration=8)
    finally:
        sound_card.pactl("suspend-sink", sound_card.sink, "0")
    assert ("audio_source 'default input': no samples for 1 s: is the device still there?"
            in str(caught.value))


@df.block(name="unsigned_tone")
async def unsigned_tone(seconds: float, chunk: int = 4800):
    """A 1 kHz tone in 8-bit offset binary (128 is silence), amplitude 64 of 128."""
    t = np.arange(int(seconds * RATE)) / RATE
    samples = np.round(128 + 64 * np.sin(2 * np.pi * 1000 * t)).astype(np.uint8)
    for start in range(0, len(samples), chunk):
        yield df.Chunk(samples[start:start + chunk], RATE, start)


def test_unsigned_integer_sound_is_centred_on_its_midpoint():
    played = io.audio_sink(unsigned_tone(4.0), name="speaker")
    mic = df.collect(io.audio_source(RATE, chunk=1024), name="mic")
    report = df.run(played, mic, duration=3.5)
    heard = np.concatenate([c.data for c in report.results["mic"]])[-RATE:]
    freq, amplitude = peak(heard)
    assert freq == pytest.approx(1000, abs=2) and amplitude == pytest.approx(0.5, rel=0.05)
    assert abs(float(heard.mean())) < 0.01  # no offset: 128 is silence


def test_booleans_are_refused_by_the_speaker():
    with pytest.raises(df.BlockError, match="audio_sink: booleans are not sound"):
        df.run(io.audio_sink(df.from_iterable([df.Chunk(np.ones(480, bool), RATE, 0)])))


def test_the_speaker_queues_about_the_latency_asked():
    silence = [df.Chunk(np.zeros(4800, np.float32), RATE, 4800 * k) for k in range(5)]
    result = df.run(io.audio_sink(df.from_iterable(silence), latency=0.05, name="speaker")
                    ).results["speaker"]
    assert result["samples"] == 5 * 4800 and 0 < result["latency"] <= 0.2, result
