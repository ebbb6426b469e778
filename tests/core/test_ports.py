"""A block's input is a receive-only port, the same on the loop and on a worker thread."""

from __future__ import annotations

import dataclasses
import threading

import pytest

import daqflow as df
from daqflow.core.channel import ChannelStatistics
from daqflow.core.errors import EndOfStream
from daqflow.core.ports import ReceivePort, WouldBlock

SENDING = ("put", "put_nowait", "try_put", "close", "push_over", "discard", "cut")


def _look(port: object, seen: dict) -> None:
    seen["type"] = type(port).__name__
    seen["sending"] = [name for name in SENDING if hasattr(port, name)]
    seen["is_port"] = isinstance(port, ReceivePort)
    try:
        port.receive_nowait()
    except WouldBlock:
        seen["empty"] = "WouldBlock"
    finally:
        if "probed" in seen:
            seen["probed"].set()
    stats = port.statistics()
    seen["stats"] = stats
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.size = 3


@df.block(name="slow")
async def slow(n: int, probed: threading.Event | None = None):
    """``n`` items 20 ms apart; the first once the reader has looked at its empty input
    (``probed``: a reader on a worker thread may take longer than 20 ms to start)."""
    import asyncio

    if probed is not None:
        await asyncio.to_thread(probed.wait, 10.0)
    for k in range(n):
        await asyncio.sleep(0.02)
        yield k


def _reader(threaded: bool):
    seen: dict = {"probed": threading.Event()}

    @df.block(name="reader")
    async def reader(x: df.Stream) -> list:
        _look(x, seen)
        got = [await x.receive()]
        async for item in x:
            got.append(item)
        with pytest.raises(EndOfStream):
            x.receive_nowait()
        seen["closed"] = x.closed
        seen["failure"] = x.upstream_failure
        return got

    return reader, seen


@pytest.mark.parametrize("threaded", [False, True])
def test_a_block_s_input_is_receive_only_on_the_loop_and_in_a_thread(threaded):
    reader, seen = _reader(threaded)
    report = df.run(reader(slow(5, seen["probed"]), threaded=threaded, name="reader"))
    assert report.results["reader"] == [0, 1, 2, 3, 4]
    assert seen["is_port"] and seen["sending"] == []
    assert seen["type"] == ("ThreadPort" if threaded else "ReceivePort")
    assert seen["empty"] == "WouldBlock"  # nothing queued yet: the source is slow
    assert isinstance(seen["stats"], ChannelStatistics) and seen["stats"].size == 0
    assert seen["closed"] is True and seen["failure"] is None


@df.block(name="breaks")
async def breaks(x: df.Stream):
    async for item in x:
        if item == 2:
            raise RuntimeError("broke at 2")
        yield item


@pytest.mark.parametrize("threaded", [False, True])
def test_a_port_says_which_block_upstream_failed(threaded):
    failures: list = []

    @df.block(name="tail")
    async def tail(x: df.Stream) -> list:
        got = [item async for item in x]
        failures.append(x.upstream_failure)
        return got

    with pytest.raises(df.BlockError) as caught:
        df.run(tail(breaks(df.from_iterable(range(5))), threaded=threaded, name="tail"))
    assert caught.value.report.results["tail"] == [0, 1]
    block, error = failures[0]
    assert block == "breaks" and str(error) == "broke at 2"
