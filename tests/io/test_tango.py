"""io.tango_source: a Tango device written here, served by pytango's DeviceTestContext (no
database, a child process on 127.0.0.1), read by change events and by polling."""

import itertools
import threading
import time

import numpy as np
import pytest

import daqflow as df
from daqflow import io

tango = pytest.importorskip("tango")
from tango.server import Device, attribute, command  # noqa: E402
from tango.test_context import DeviceTestContext  # noqa: E402

WAIT = 10.0  # seconds a test waits for something before it fails (never reached when it works)


class Bench(Device):
    """A trace pushed as change events (time 1000 + n), a counter read by polling (time
    2000 + n), an attribute with no events."""

    def init_device(self):
        super().init_device()
        self._n = 0
        self._reads = 0
        self.set_change_event("trace", True, False)

    @attribute(dtype=(float,), max_dim_x=8)
    def trace(self):
        return np.arange(4.0) + self._n

    @attribute(dtype=int)
    def counter(self):
        self._reads += 1
        return self._reads, 2000.0 + self._reads, tango.AttrQuality.ATTR_ALARM

    @attribute(dtype=float)
    def quiet(self):
        return 1.0

    @command(dtype_in=int)
    def push(self, n):
        """Push ``n`` new traces, quality WARNING."""
        for _ in range(n):
            self._n += 1
            self.push_change_event("trace", np.arange(4.0) + self._n, 1000.0 + self._n,
                                   tango.AttrQuality.ATTR_WARNING)

    @command
    def push_invalid(self):
        self._n += 1
        self.push_change_event("trace", np.zeros(4), 1000.0 + self._n, tango.AttrQuality.ATTR_INVALID)

    @command
    def push_error(self):
        try:
            tango.Except.throw_exception("Bench_Broken", "the trace probe fell off", "push_error")
        except tango.DevFailed as exc:
            self.push_change_event("trace", exc)


@pytest.fixture(scope="module")
def bench():
    """(proxy to the device, its full address)."""
    context = DeviceTestContext(Bench, process=True, host="127.0.0.1", timeout=WAIT)
    with context as proxy:
        yield proxy, context.get_device_access()


def wait_for(condition, what):
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def items_out(running, name="tango_source"):
    blocks = running.report().blocks
    return blocks[name].items_out if name in blocks else 0


def test_change_events_give_values_timestamps_and_quality(bench):
    proxy, address = bench
    running = df.start(df.collect(io.tango_source(address, "trace")))
    try:
        wait_for(lambda: items_out(running) >= 1, "the first event (sent on subscribing)")
        proxy.push(3)
        proxy.push_invalid()
        proxy.push(1)
        wait_for(lambda: items_out(running) >= 5, "the pushed events")
    finally:
        running.stop()
    chunks = running.wait(WAIT).results["collect"]
    first, *pushed = chunks
    n0 = first.data[0, 0]
    assert first.data.shape == (1, 4) and first.meta["quality"] == "ATTR_VALID"
    assert [c.index for c in pushed] == [1, 2, 3, 5]  # the invalid reading (4) is missing
    np.testing.assert_array_equal(np.concatenate([c.data for c in pushed]),
                                  [np.arange(4.0) + n0 + k for k in (1, 2, 3, 5)])
    assert [c.time for c in pushed] == [1000.0 + n0 + k for k in (1, 2, 3, 5)]
    assert {c.meta["quality"] for c in pushed} == {"ATTR_WARNING"}
    # a reading with no value is data missing (a device fault): a loss, not a skip on purpose
    assert [c.meta.get("overflow", 0) for c in pushed] == [0, 0, 0, 1]
    assert all(c.rate == 1.0 and "skipped" not in c.meta for c in chunks)
    assert running.wait(WAIT).overflow == 1


def test_events_dropped_while_the_loop_is_busy_are_counted_and_marked(bench):
    proxy, address = bench
    holding, release = threading.Event(), threading.Event()
    seen = []  # what a plain Tango subscriber in this process got: events are dispatched in order
    indices = []

    @df.block
    def hold_first(chunk):  # runs inline in the source's task: it holds the whole loop
        indices.append(chunk.index)
        if chunk.index == 0:
            holding.set()
            release.wait(WAIT)
        return chunk

    running = df.start(df.collect(hold_first(io.tango_source(address, "trace", capacity=2))))
    watcher = tango.DeviceProxy(address)
    watch = watcher.subscribe_event("trace", tango.EventType.CHANGE_EVENT,
                                    lambda e: seen.append(None if e.err else e.attr_value.value[0]))
    try:
        assert holding.wait(WAIT), "no first event"
        n0 = seen[-1]
        proxy.push(21)  # 2 fit in the handoff, the rest are dropped
        wait_for(lambda: seen[-1] == n0 + 21, "the burst dispatched")  # so #20 reached the source
        release.set()
        proxy.push(1)  # the one after: it carries the mark
        wait_for(lambda: indices[-1] == 22, "the last event")
    finally:
        release.set()
        watcher.unsubscribe_event(watch)
        running.stop()
    report = running.wait(WAIT)
    chunks = report.results["collect"]
    overflow = [c.meta.get("overflow", 0) for c in chunks]
    assert [c.index for c in chunks[:3]] == [0, 1, 2] and chunks[-1].index == 22
    assert [b.index - a.index for a, b in itertools.pairwise(chunks)] == [1 + o for o in overflow[1:]]
    assert sum(overflow) >= 18 and report.blocks["tango_source"].lost == sum(overflow)


def test_polling_at_a_rate_reads_the_attribute_on_a_grid(bench):
    _, address = bench
    report = df.run(df.collect(io.tango_source(address, "counter", rate=50.0)), duration=0.3)
    chunks = report.results["collect"]
    assert len(chunks) >= 3
    for c in chunks:
        assert c.rate == 50.0 and c.data.shape == (1,)
        assert c.time == 2000.0 + c.data[0]  # the device's timestamp, not ours
        assert c.meta["quality"] == "ATTR_ALARM"
    values = [int(c.data[0]) for c in chunks]
    assert values == list(range(values[0], values[0] + len(values)))  # one read per chunk
    jumps = [b.index - a.index for a, b in itertools.pairwise(chunks)]
    assert jumps == [1 + b.meta.get("overflow", 0) for b in chunks[1:]]


@pytest.mark.parametrize(("attribute", "rate", "words"), [
    ("nope", None, ["'nope'", "API_AttrNotFound"]),
    ("nope", 10.0, ["'nope'", "API_AttrNotFound"]),
    ("quiet", None, ["'quiet'", "no change events", "rate="]),
])
def test_a_missing_attribute_or_one_without_events_is_one_line(bench, attribute, rate, words):
    _, address = bench
    with pytest.raises(df.BlockError) as failure:
        df.run(df.collect(io.tango_source(address, attribute, rate=rate)), duration=5)
    message = str(failure.value.__cause__ or failure.value)
    assert "\n" not in message and address in message
    for word in words:
        assert word in message


def test_a_missing_device_is_one_line(bench):
    _, address = bench
    missing = address.replace("/test/nodb/", "/no/such/")
    with pytest.raises(df.BlockError) as failure:
        df.run(df.collect(io.tango_source(missing, "trace")), duration=5)
    message = str(failure.value.__cause__ or failure.value)
    assert "\n" not in message and "no/such" in message and "'trace'" in message


def test_an_error_event_ends_the_source_naming_device_and_attribute(bench):
    proxy, address = bench
    running = df.start(df.collect(io.tango_source(address, "trace")))
    wait_for(lambda: items_out(running) >= 1, "the first event")
    proxy.push_error()
    with pytest.raises(df.BlockError) as failure:
        running.wait(WAIT)
    message = str(failure.value.__cause__ or failure.value)
    assert "\n" not in message and "'trace'" in message and "probe fell off" in message


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="rate"):
        io.tango_source("a/b/c", "x", rate=0)
    with pytest.raises(ValueError, match="capacity"):
        io.tango_source("a/b/c", "x", capacity=0)
