"""`soapy_source` and `soapy_sink` on a radio with hardware time (the loopback radio): every
sample the radio captured carries its own index (real part, modulo 2^24) and the centre
frequency it was captured at (imaginary part, MHz), so the tests check each delivered
sample's index and tuning, not just counts."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from _sound_signals import assert_where_it_says, gaps

import daqflow as df
from daqflow import io

RATE = 4e6


def assert_every_sample_where_it_says(chunks: list[df.Chunk]) -> None:
    assert_where_it_says(chunks, RATE)


@df.block(name="hog")
async def hog(x: df.Stream):
    """Keeps the interpreter busy in pure Python for a while (the reader thread gets the GIL
    only between switch intervals, so the radio's small buffer overflows), then keeps up."""
    chunks = []
    async for chunk in x:
        chunks.append(chunk)
        if len(chunks) in (5, 40):
            end = time.perf_counter() + 0.5
            while time.perf_counter() < end:
                pass
        if 60 <= len(chunks) < 90:
            await asyncio.sleep(0.01)  # slower than real time: the FIFO drops
    return chunks


def test_losses_are_exact_from_the_radio_s_timestamps(loopback_radio):
    radio = io.soapy_source(f"{loopback_radio},buffer=16384", rate=RATE, freq=433.92e6, chunk=8192)
    report = df.run(hog(radio, buffer=4, name="hog"), duration=3.0)
    chunks = report.results["hog"]
    assert_every_sample_where_it_says(chunks)  # indices stay exact across every loss
    holes = gaps(chunks)
    assert len(holes) >= 2, report
    for index, jump, overflow, skipped in holes:
        assert jump == overflow > 0 and skipped == 0, (index, jump, overflow, skipped)
    assert not any(c.meta.get("overflow_estimated") for c in chunks)  # counted, not estimated
    marked = sum(h[2] for h in holes)
    assert marked == report.blocks["soapy_source"].lost + report.dropped_samples == report.overflow
    assert report.blocks["soapy_source"].lost > 0 and report.dropped_samples > 0


@df.block(name="retune_every")
async def retune_every(x: df.Stream, tune: df.Param, every: int, values: tuple[float, ...]):
    chunks = []
    async for chunk in x:
        chunks.append(chunk)
        k = len(chunks) // every
        if len(chunks) % every == 0 and k <= len(values):
            tune.set(values[k - 1])
    return chunks


def test_retunes_are_sample_aligned_by_hardware_time(loopback_radio):
    tune = df.param(100e6, name="tune", low=1e6, high=6e9, unit="Hz")
    values = (101e6, 102.5e6, 99e6)
    # a radio buffer of 0.26 s (not 16 ms): this test is about retunes, and a busy 2-core
    # machine must not make it overflow (losses have their own test above)
    radio = io.soapy_source(f"{loopback_radio},latency=3000,buffer=1048576", rate=RATE, freq=tune,
                            chunk=4096)
    report = df.run(retune_every(radio, tune, 10, values), duration=1.0)
    chunks = report.results["retune_every"]
    # every sample was captured at the frequency its chunk says: no chunk straddles a retune
    assert_every_sample_where_it_says(chunks)
    firsts = [c for c in chunks if "params" in c.meta]
    assert [c.meta["params"] for c in firsts] == [{"tune": v} for v in values]
    for c in firsts:  # what the radio captured before the new setting took effect: skipped
        assert c.meta["skipped"] > 0 and "overflow" not in c.meta
    assert report.overflow == 0 and report.skipped == sum(c.meta["skipped"] for c in firsts)
    assert [h[1] for h in gaps(chunks)] == [c.meta["skipped"] for c in firsts]


def test_a_retune_the_radio_overflowed_across_is_skipped_not_lost(loopback_radio):
    """The samples from the command to the settled setting are dropped on purpose, whether the
    source dropped them or the radio lost them: skipped, not lost; what the radio lost after
    them is lost. Here the radio's time query takes 6 ms and its buffer holds 4 ms, so it
    overflows before the first read after every command (the whole gap used to count as lost
    and the retune left no skipped mark; with 4096-sample chunks the source then failed)."""
    tune = df.param(100e6, name="tune", low=1e6, high=6e9, unit="Hz")
    values = (101e6, 102.5e6, 99e6)
    radio = io.soapy_source(f"{loopback_radio},buffer=16384,time_query_us=6000", rate=RATE,
                            freq=tune, chunk=4096)
    report = df.run(retune_every(radio, tune, 10, values, buffer=64), duration=1.0)
    chunks = report.results["retune_every"]
    assert_every_sample_where_it_says(chunks)
    firsts = [c for c in chunks if "params" in c.meta]
    assert [c.meta["params"] for c in firsts] == [{"tune": v} for v in values]
    settle = round(0.002 * RATE)  # soapy_source's default: 2 ms
    for c in firsts:  # the settle window is skipped; the radio lost what came after it
        assert c.meta["skipped"] >= settle and c.meta["overflow"] > 0, c.meta
    assert report.skipped == sum(c.meta["skipped"] for c in firsts)


@df.block(name="paced")
async def paced(n: int, chunk: int, rate: float, slowdown: float):
    """``n`` chunks of a tone, each ``slowdown`` times its duration after the previous."""
    samples = np.exp(2j * np.pi * 0.01 * np.arange(chunk)).astype(np.complex64)
    for k in range(n):
        await asyncio.sleep(slowdown * chunk / rate)
        yield df.Chunk(samples, rate, k * chunk)


@pytest.mark.parametrize(("slowdown", "underflows"), [(0.0, False), (3.0, True)])
def test_soapy_sink_counts_underflows(loopback_radio, slowdown, underflows):
    rate = 1e6
    sink = io.soapy_sink(paced(40, 10000, rate, slowdown), device=loopback_radio, rate=rate,
                         freq=915e6, gain=10, name="tx")
    result = df.run(sink).results["tx"]
    assert result["samples"] == 40 * 10000 and result["device"] == loopback_radio
    assert (result["underflows"] > 0) is underflows, result
    if underflows:
        assert result["underflows"] >= 30  # nearly every chunk came too late


def test_two_channels_give_chunks_of_shape_n_by_2(loopback_radio):
    radio = io.soapy_source(loopback_radio, rate=RATE, freq=200e6, channels=(1, 0), chunk=5000)
    chunks = df.run(df.collect(radio, name="both"), duration=0.5).results["both"]
    assert len(chunks) > 10 and gaps(chunks) == []
    for c in chunks:
        assert c.data.shape == (5000, 2) and c.data.dtype == np.complex64
        expected_index = np.arange(c.index, c.end_index) % (1 << 24)
        assert np.array_equal(c.data[:, 0].real, expected_index)
        assert np.array_equal(c.data[:, 1].real, expected_index)
        assert np.all(c.data[:, 0].imag == np.float32(1200.0))  # channel 1 first, as asked
        assert np.all(c.data[:, 1].imag == np.float32(200.0))


@pytest.mark.parametrize(("fault", "message"), [
    ("stall_after", "soapy_source 'driver=loopback,stall_after=200000': no samples for 0.5 s "
                    "(readStream timed out): is the device still connected?"),
    ("fail_after", "soapy_source 'driver=loopback,fail_after=200000': readStream failed: "
                   "STREAM_ERROR (-2)"),
])
def test_a_radio_that_stops_delivering_stops_the_graph_in_order(loopback_radio, tmp_path, fault,
                                                                 message):
    args = f"{loopback_radio},{fault}=200000"
    radio = io.soapy_source(args, rate=1e6, freq=100e6, chunk=10000, timeout=0.5)
    with pytest.raises(df.BlockError) as caught:
        df.run(df.collect(radio, name="seen"), io.sigmf_writer(radio, tmp_path / "rf", name="rec"),
               duration=20)
    assert message in str(caught.value)
    report = caught.value.report
    seen = report.results["seen"]  # everything delivered before the fault reached the sinks
    assert sum(c.samples for c in seen) == 200000
    assert_every_sample_where_it_says([c.replace(time=c.index / RATE) for c in seen])
    assert report.results["rec"]["samples"] == 200000  # and the recording, closed and complete
    back = df.run(df.collect(io.sigmf_source(tmp_path / "rf"), name="back")).results["back"]
    assert sum(c.samples for c in back) == 200000
