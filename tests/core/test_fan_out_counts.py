"""A fan-out's figures add up: every item its producer counts is, on each edge, read, queued
or counted as discarded, whether a stop cancels a send half-way through the targets or one
consumer stops reading while the others go on."""

import asyncio

import pytest

import daqflow as df
from daqflow import io

CHUNK = 1000  # samples


@df.block
async def slow(stream: df.Stream, delay: float):
    items = 0
    async for _ in stream:
        await asyncio.sleep(delay)
        items += 1
    return items


@df.block
async def first(stream: df.Stream, count: int):
    """Reads ``count`` items, then stops reading."""
    got = []
    async for item in stream:
        got.append(item)
        if len(got) == count:
            break
    return got


def assert_edges_add_up(report, producer):
    sent = report.blocks[producer]
    for edge in report.edges:
        if edge.producer != producer:
            continue
        where = f"{edge.producer} -> {edge.consumer}"
        assert edge.items + edge.discarded + edge.size == sent.items_out, where
        assert edge.discarded_samples == edge.discarded * CHUNK, where
        consumer = report.blocks[edge.consumer]
        assert consumer.items_in == edge.items, where
        assert consumer.samples_in == edge.items * CHUNK, where


@pytest.mark.parametrize("duration", [0.1 + 0.013 * k for k in range(8)])
def test_a_fan_out_stopped_by_duration_adds_up(duration):
    adc = io.simulated_adc(1e6, chunk=CHUNK, realtime=False, seed=1)
    report = df.run(df.collect(adc, buffer=2), slow(adc, 0.01, buffer=2), duration=duration)
    assert report.stopped_by == "duration"
    assert_edges_add_up(report, "simulated_adc")
    # the drain completed: both sinks read everything the source counted
    assert len(report.results["collect"]) == report.results["slow"] == report.blocks[
        "simulated_adc"].items_out


def test_a_consumer_that_stops_reading_counts_what_it_no_longer_takes_as_discarded():
    adc = io.simulated_adc(1e6, chunk=CHUNK, realtime=False, seed=1)
    report = df.run(first(adc, 3, buffer=2), slow(adc, 0.002, buffer=2), duration=0.3)
    assert len(report.results["first"]) == 3
    assert_edges_add_up(report, "simulated_adc")
    (gone,) = [e for e in report.edges if e.consumer == "first"]
    assert gone.discarded == report.blocks["simulated_adc"].items_out - 3 > 10
