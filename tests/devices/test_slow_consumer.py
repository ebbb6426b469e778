"""A consumer too slow for real time behind a device source: every loss is counted, marked
and shows as an index jump of exactly its mark; what was delivered plus what was counted
lost is what the device's clock produced over the run.

The sink first blocks the whole event loop for 1 s (the device keeps producing: the
handoff between the device thread and the loop overflows), then is slower than real time
for a while without blocking the loop (the source's FIFO overflows), then keeps up, so
that no loss is left unmarked at the end and the report's totals equal the marks exactly.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from _sound_signals import RATE, gaps

import daqflow as df
from daqflow import io


@df.block(name="slow")
async def slow(x: df.Stream, chunk_seconds: float):
    chunks, arrivals = [], []
    async for chunk in x:
        arrivals.append(time.monotonic())
        chunks.append(chunk)
        if len(chunks) == 3:
            time.sleep(1.0)  # blocks the loop: nothing reaches the source's task
        elif 5 <= len(chunks) < 20:
            await asyncio.sleep(2.5 * chunk_seconds)  # slower than real time: the FIFO fills
    return chunks, arrivals


SOURCES = {
    "audio_source": lambda: io.audio_source(RATE, chunk=1024),
    "soapy_source": lambda: io.soapy_source("driver=audio", rate=RATE, freq=100e6, chunk=2048),
}


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_every_loss_is_counted_and_marked(kind):
    source = SOURCES[kind]()
    chunk_seconds = (1024 if kind == "audio_source" else 2048) / RATE
    report = df.run(slow(source, chunk_seconds, buffer=4, name="slow"), duration=5.0)
    chunks, arrivals = report.results["slow"]
    holes = gaps(chunks)
    assert holes, f"no loss at all: the test did not overload the consumer\n{report}"
    for index, jump, overflow, skipped in holes:
        assert jump == overflow > 0 and skipped == 0, (index, jump, overflow, skipped)
    marked = sum(overflow for _, _, overflow, _ in holes)
    fifo = sum(e.dropped_samples for e in report.edges)
    block = report.blocks[kind]
    assert block.lost > 0, "the handoff from the device thread lost nothing"
    assert fifo > 0, "the source's FIFO dropped nothing"
    assert marked == block.lost + fifo == report.overflow
    delivered = sum(c.samples for c in chunks)
    assert delivered + marked == chunks[-1].end_index - chunks[0].index
    # the device's clock: samples produced between the first and the last arrival
    produced = (arrivals[-1] - arrivals[0]) * RATE
    assert chunks[-1].end_index - chunks[0].end_index == pytest.approx(produced, abs=0.15 * RATE)
    assert f"overflow (real-time samples lost): {report.overflow}" in str(report)
