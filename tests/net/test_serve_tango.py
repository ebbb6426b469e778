"""net.serve_tango: a graph as a Tango device, read and steered by pytango's own client
(`tango.DeviceProxy`) over loopback, no database."""

import asyncio
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import daqflow as df
from daqflow import dsp, io, net

tango = pytest.importorskip("tango")

WAIT = 15.0  # seconds a test waits for something before it fails (never reached when it works)


def wait_for(condition, what):
    deadline = time.monotonic() + WAIT
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    return value


def children_serving(parent=None):
    """Live processes of ``parent`` (this test process) running the device server."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if (int(stat[1]) == (parent or os.getpid()) and stat[0] != "Z"
                and b"daqflow.net.tango_server" in cmdline):
            found.append(int(entry.name))
    return found


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def radio():
    tune = df.param(0.0, name="tune", low=-2e3, high=2e3, unit="Hz", doc="mixer frequency")
    adc = io.simulated_adc(1e4, chunk=256, tones=[(1e3, 1.0)], noise=0.1, seed=1)
    power = dsp.magnitude2(dsp.mix(adc, freq=tune), name="power")
    return tune, power


def test_a_client_reads_a_spectrum_and_steers_a_param():
    tune, power = radio()
    mode = df.param(2, name="mode", kind=int, choices=(1, 2, 4))
    address = []
    running = df.start(net.serve_tango(power, params=[tune, mode], on_ready=address.append),
                       df.collect(power))
    try:
        proxy = tango.DeviceProxy(wait_for(lambda: address, "the device server")[0])
        assert {"power", "tune", "mode"} <= set(proxy.get_attribute_list())
        reading = proxy.read_attribute("power")
        assert reading.type == tango.CmdArgType.DevFloat and reading.value.shape == (256,)
        assert reading.quality == tango.AttrQuality.ATTR_VALID

        config = proxy.get_attribute_config("tune")
        assert (config.unit, float(config.min_value), float(config.max_value)) == ("Hz", -2e3, 2e3)
        assert config.writable == tango.AttrWriteType.READ_WRITE
        proxy.write_attribute("tune", 500.0)
        assert tune.value == 500.0 and proxy.read_attribute("tune").value == 500.0
        with pytest.raises(tango.DevFailed) as refused:  # Tango's own limit check
            proxy.write_attribute("tune", 5e3)
        assert refused.value.args[0].reason == "API_WAttrOutsideLimit" and tune.value == 500.0
        with pytest.raises(tango.DevFailed) as refused:  # the param's own validation
            proxy.write_attribute("mode", 3)
        assert "not one of [1, 2, 4]" in refused.value.args[0].desc and mode.value == 2
        before = running.report().blocks["power"].items_out
        wait_for(lambda: running.report().blocks["power"].items_out > before + 3, "new chunks")
        shown = proxy.read_attribute("power").value
    finally:
        running.stop()
    report = running.wait(WAIT)
    chunks = report.results["collect"]
    assert any(np.array_equal(c.data, shown) for c in chunks), "not an item of the stream"
    changed = [c for c in chunks if "params" in c.meta]
    assert [c.meta["params"] for c in changed] == [{"tune": 500.0}]
    assert changed[0].index > 0
    result = report.results["serve_tango"]
    assert result["device"] == address[0] and result["published"] > 0
    with pytest.raises(tango.DevFailed):  # the server is gone with the graph
        tango.DeviceProxy(address[0]).ping()
    assert children_serving() == []


def test_change_events_reach_a_subscriber_and_images_keep_their_shape():
    async def images():
        for k in range(int(WAIT / 0.01)):
            yield np.arange(12.0).reshape(3, 4) + k
            await asyncio.sleep(0.01)

    paced = df.from_iterable(images(), name="image")
    address, got = [], []
    ready = threading.Event()

    def on_ready(where):
        address.append(where)
        ready.set()

    running = df.start(net.serve_tango(paced, params=False, on_ready=on_ready))
    try:
        assert ready.wait(WAIT), "no device server"
        proxy = tango.DeviceProxy(address[0])
        events = proxy.subscribe_event(
            paced.name, tango.EventType.CHANGE_EVENT,
            lambda e: got.append(None if e.err else e.attr_value.value))
        wait_for(lambda: len(got) >= 3 or running.done(), "three change events")
        proxy.unsubscribe_event(events)
    finally:
        running.stop()
    running.wait(WAIT)
    images = [g for g in got if g is not None]
    assert images and all(g.shape == (3, 4) for g in images)
    for image in images:
        np.testing.assert_array_equal(image, np.arange(12.0).reshape(3, 4) + image[0, 0])


def test_a_server_that_cannot_bind_is_one_line():
    _, power = radio()
    with pytest.raises(df.BlockError) as failure:
        df.run(net.serve_tango(power, host="192.0.2.1", timeout=WAIT), duration=WAIT)
    message = str(failure.value.__cause__)
    assert "\n" not in message and "daqflow/graph/1" in message and "192.0.2.1" in message
    assert children_serving() == []


def test_complex_streams_and_bad_arguments_are_refused():
    adc = io.simulated_adc(1e4, chunk=256, name="iq")
    with pytest.raises(df.BlockError) as failure:
        df.run(net.serve_tango(adc), duration=WAIT)
    assert "'iq'" in str(failure.value.__cause__) and "complex" in str(failure.value.__cause__)
    with pytest.raises(ValueError, match="device"):
        net.serve_tango(adc, device="nope")
    with pytest.raises(ValueError, match="host"):
        net.serve_tango(adc, host="localhost.example")
    tune = df.param(0.0, name="iq")
    with pytest.raises(ValueError, match="rename"):
        net.serve_tango(adc, params=[tune])


GRAPH = """
import daqflow as df
from daqflow import io, net
adc = io.simulated_adc(1e4, chunk=256, dtype="float32")
df.run(net.serve_tango(adc, on_ready=lambda address: print(address, flush=True)))
"""


def test_the_server_exits_when_the_graph_process_is_killed():
    graph = subprocess.Popen([sys.executable, "-c", GRAPH], stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([graph.stdout], [], [], WAIT)
        assert ready, "the graph's process printed no address"
        address = graph.stdout.readline().strip()
        assert tango.DeviceProxy(address).read_attribute("simulated_adc").value.shape == (256,)
        (server,) = children_serving(graph.pid)
        graph.kill()
        graph.wait(WAIT)
        wait_for(lambda: not alive(server), "the device server to exit")
    finally:
        graph.kill()
        graph.wait(WAIT)
        graph.stdout.close()
