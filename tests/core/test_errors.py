"""A failing block stops the graph in order, names itself, and leaves nothing running."""

import asyncio
import itertools
import threading

import pytest

import daqflow as df


class Boom(Exception):
    pass


@df.block
async def count_up():
    """0, 1, 2, ... forever."""
    for k in itertools.count():
        yield k


@df.block
async def fail_at(x: df.Stream, n: int, exc: Exception):
    """Passes items on; raises ``exc`` on the item equal to ``n``."""
    async for item in x:
        if item == n:
            raise exc
        yield item


@df.block
def map_fail_at(item, n, exc):
    if item == n:
        raise exc
    return item


@df.block
async def sink_fail_at(x: df.Stream, n: int, exc: Exception):
    async for item in x:
        if item == n:
            raise exc


@df.block
async def relay(x: df.Stream):
    async for item in x:
        yield item


@df.block
def passthrough(item):
    return item


@df.block
async def take(x: df.Stream, n: int):
    """Returns after ``n`` items: stops reading its input."""
    items = []
    async for item in x:
        items.append(item)
        if len(items) == n:
            break
    return items


def run_failing(*sinks):
    with pytest.raises(df.BlockError) as info:
        df.run(*sinks)
    return info.value


def assert_blames(err, block, exc):
    """``err`` names ``block`` everywhere and chains the exception it raised."""
    assert err.block == block
    assert repr(block) in str(err)
    assert err.__cause__ is exc
    assert err.cause is exc
    assert err.report.stopped_by == "error"
    assert repr(block) in err.report.error
    assert err.report.blocks[block].error == f"Boom: {exc}"


def daqflow_threads():
    return {t for t in threading.enumerate() if t.name.startswith("daqflow")}


def test_a_failing_transform_names_itself_and_sinks_keep_what_they_got():
    boom = Boom("item 30 is bad")
    source = df.from_iterable(range(100))
    after = df.collect(fail_at(source, 30, boom), name="after")
    beside = df.collect(source, name="beside")  # a parallel branch of the same source
    err = run_failing(after, beside)
    assert_blames(err, "fail_at", boom)
    assert err.report.results["after"] == list(range(30))
    got = err.report.results["beside"]
    assert got == list(range(len(got)))
    assert len(got) >= 30
    assert err.report.blocks["from_iterable"].error is None


def test_after_a_failure_inside_asyncio_no_daqflow_task_is_left():
    boom = Boom("stage 2 failed")

    async def main():
        endless = count_up()
        failing = df.collect(passthrough(fail_at(relay(endless), 500, boom), buffer=2))
        beside = df.null_sink(relay(endless))
        with pytest.raises(df.BlockError) as info:
            await df.arun(failing, beside)
        return info.value, asyncio.all_tasks(), asyncio.current_task()

    err, tasks, me = asyncio.run(main())
    assert_blames(err, "fail_at", boom)
    assert tasks == {me}
    assert err.report.results["collect"] == list(range(500))


def test_a_failing_sink_names_itself_and_the_other_sinks_finish():
    boom = Boom("sink failed")
    source = df.from_iterable(range(20))
    err = run_failing(sink_fail_at(source, 5, boom), df.collect(source))
    assert_blames(err, "sink_fail_at", boom)
    assert "sink_fail_at" not in err.report.results
    got = err.report.results["collect"]
    assert got == list(range(len(got)))
    assert len(got) >= 5


@pytest.mark.parametrize(
    "host, inline",
    [("source", True), ("transform", True), ("own FIFO", False)],
)
def test_a_failing_map_is_named_not_the_task_it_runs_in(host, inline):
    boom = Boom("map failed")
    stream = df.from_iterable(range(10))
    if host == "transform":
        stream = relay(stream)
    mapped = map_fail_at(stream, 4, boom, buffer=None if inline else 2)
    err = run_failing(df.collect(mapped))
    assert_blames(err, "map_fail_at", boom)
    assert err.report.blocks["map_fail_at"].inline is inline
    assert err.report.results["collect"] == [0, 1, 2, 3]
    assert all(b.error is None for name, b in err.report.blocks.items() if name != "map_fail_at")


def test_a_sink_that_stops_reading_ends_an_endless_graph_cleanly():
    report = df.run(take(passthrough(relay(count_up())), 3))
    assert report.results == {"take": [0, 1, 2]}
    assert report.stopped_by == "end"
    assert report.error is None


def test_a_sink_that_stops_reading_leaves_its_siblings_running():
    source = df.from_iterable(range(50))
    report = df.run(take(source, 3), df.collect(passthrough(source)))
    assert report.results == {"take": [0, 1, 2], "collect": list(range(50))}
    assert report.stopped_by == "end"


@pytest.mark.parametrize("which", ["transform", "map", "sink"])
def test_an_error_in_a_threaded_block(which):
    boom = Boom(f"threaded {which} failed")
    before = daqflow_threads()
    source = df.from_iterable(range(50))
    if which == "transform":
        sink, name = df.collect(fail_at(source, 7, boom, threaded=True)), "fail_at"
    elif which == "map":
        sink, name = df.collect(map_fail_at(source, 7, boom, threaded=True)), "map_fail_at"
    else:
        sink, name = sink_fail_at(source, 7, boom, threaded=True), "sink_fail_at"
    err = run_failing(sink)
    assert_blames(err, name, boom)
    assert err.report.blocks[name].threaded
    if which != "sink":
        assert err.report.results["collect"] == list(range(7))
    assert daqflow_threads() <= before  # worker threads are joined


def test_a_source_waiting_on_a_device_stops_when_its_reader_is_gone():
    """A source blocked on something other than a FIFO (a socket, a pin) is stopped once
    every block that read it has finished: the graph ends without a duration."""
    released = []

    @df.block
    async def idle():
        try:
            yield 1
            await asyncio.Event().wait()  # a device that never answers
        finally:
            released.append(True)

    @df.block
    async def first(x: df.Stream):
        async for item in x:
            return item

    report = df.run(first(idle()))
    assert report.results["first"] == 1
    assert report.stopped_by == "end"
    assert released == [True]
