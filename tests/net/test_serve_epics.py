"""`net.serve_epics` read and steered by caproto's own clients (not daqflow's), over real
Channel Access on 127.0.0.1: the asyncio client (as camonitor/pyepics would) and the sync
client (as caget/caput: it raises the server's refusal message).

No traffic leaves loopback: searches go to EPICS_CA_ADDR_LIST=127.0.0.1 only, the IOC binds
127.0.0.1 and sends no beacons off loopback; the sync client runs with ``repeater=False`` and
the asyncio client needs no caRepeater, so no process is started.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest

import daqflow as df
from daqflow import net
from daqflow.core.params import value_of

ca = pytest.importorskip("caproto")
from caproto.asyncio.client import Context as ClientContext  # noqa: E402
from caproto.sync import client as sync_client  # noqa: E402

from _ca_loopback import loopback_ca  # noqa: E402

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Channel Access on loopback only, on a port of this test's own; yields that port."""
    yield from loopback_ca(monkeypatch)


@df.block(name="items")
async def items(values: list[Any], done: asyncio.Event, sent: asyncio.Event) -> AsyncIterator[Any]:
    """``values``, then waits for ``done`` (the PVs stay up while the client looks)."""
    for value in values:
        yield value
    sent.set()
    await done.wait()


@df.block(name="scale")
def scale(chunk: df.Chunk, gain: Any) -> df.Chunk:
    return chunk.replace(data=chunk.data * value_of(gain))


def run(main: Any) -> Any:
    return asyncio.run(asyncio.wait_for(main, 30))


async def until(check: Any, what: str) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def test_streams_and_params_are_pvs_read_and_steered_by_a_plain_caproto_client(
        port: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")
    gain = df.param(2.0, name="gain", low=0.0, high=10.0, unit="dB", doc="trace gain")
    navg = df.param(4, name="navg", kind=int, low=1, high=64)
    freqs = np.linspace(-500.0, 500.0, 8)
    trace = df.Chunk(np.arange(16.0), rate=1000.0, index=0, time=2.0, meta={"units": "V"})
    spectra = df.Chunk(np.arange(16.0).reshape(2, 8), rate=10.0, meta={"freqs": freqs})
    levels = [df.Chunk(np.array([v]), 10.0, k) for k, v in enumerate([0.5, 0.25, 0.75])]

    async def main() -> tuple[df.Report, dict[str, Any]]:
        done, sent = asyncio.Event(), [asyncio.Event() for _ in range(3)]
        traces = scale(items([trace], done, sent[0], name="trace"), gain)
        spectrum = items([spectra], done, sent[1], name="spectrum")
        level = items(levels, done, sent[2], name="level")
        sink = net.serve_epics(traces, spectrum, level, params=[*df.core.finding.find_in_blocks(
            [traces], df.Param), navg], prefix="DAQ:", port=port, max_rate=1000.0)
        graph = asyncio.create_task(df.arun(sink))
        for event in sent:
            await event.wait()
        seen: dict[str, Any] = {}
        async with ClientContext() as client:
            pvs = await client.get_pvs("DAQ:scale", "DAQ:scale:AXIS", "DAQ:spectrum",
                                       "DAQ:spectrum:AXIS", "DAQ:level", "DAQ:gain", "DAQ:navg")
            trace_pv, trace_axis, spec_pv, spec_axis, level_pv, gain_pv, navg_pv = pvs
            for pv in pvs:
                await pv.wait_for_connection(timeout=10)
            for _ in range(200):  # the sink publishes the newest level after the source ends
                if (await level_pv.read()).data.tolist() == [0.75]:
                    break
                await asyncio.sleep(0.02)
            for key, pv in (("trace", trace_pv), ("trace_axis", trace_axis),
                            ("spectrum", spec_pv), ("spectrum_axis", spec_axis),
                            ("level", level_pv), ("gain", gain_pv), ("navg", navg_pv)):
                seen[key] = await pv.read(data_type="control")
            await gain_pv.write([5.0], wait=True)  # caput DAQ:gain 5
            seen["gain_after_put"] = gain.value
            refused = await asyncio.to_thread(_caput, "DAQ:gain", 50.0)  # beyond high
            seen["refused"] = refused
            seen["gain_after_refusal"] = gain.value, (await gain_pv.read()).data[0]
            updates: list[float] = []

            async def monitor(sub: Any, response: Any) -> None:  # camonitor DAQ:gain
                updates.append(float(response.data[0]))

            subscription = gain_pv.subscribe()
            subscription.add_callback(monitor)
            await until(lambda: updates == [5.0], "the monitor's first update")
            gain.set(7.0)  # set elsewhere (the HTTP control API, a GUI): the PV follows
            await until(lambda: updates == [5.0, 7.0], "the change published")
            await subscription.clear()
        done.set()
        return await graph, seen

    report, seen = run(main())
    np.testing.assert_array_equal(seen["trace"].data, np.arange(16.0) * 2.0)  # gain 2 applied
    assert seen["trace"].metadata.units == b"V"
    np.testing.assert_allclose(seen["trace_axis"].data, 2.0 + np.arange(16) / 1000.0)
    assert seen["trace_axis"].metadata.units == b"s"
    np.testing.assert_array_equal(seen["spectrum"].data, np.arange(8.0, 16.0))  # newest row
    np.testing.assert_allclose(seen["spectrum_axis"].data, freqs)
    assert seen["spectrum_axis"].metadata.units == b"Hz"
    assert seen["level"].data.tolist() == [0.75]  # the newest value
    gain_md = seen["gain"].metadata
    assert seen["gain"].data.tolist() == [2.0]
    assert (gain_md.units, gain_md.lower_ctrl_limit, gain_md.upper_ctrl_limit) == (b"dB", 0.0, 10.0)
    assert (gain_md.lower_disp_limit, gain_md.upper_disp_limit) == (0.0, 10.0)
    assert seen["navg"].data.tolist() == [4] and seen["navg"].data.dtype.kind == "i"
    assert seen["navg"].metadata.upper_ctrl_limit == 64
    assert seen["gain_after_put"] == 5.0
    assert "param 'gain': 50.0 dB is out of range [0, 10] dB" in seen["refused"]
    assert seen["gain_after_refusal"] == (5.0, 5.0)
    # the refusal reached the client; the graph's log got no caproto traceback for it
    assert not [r for r in caplog.records if "Invalid write request" in r.getMessage()]
    result = report.results["serve_epics"]
    assert result["published"]["DAQ:scale"] == result["published"]["DAQ:spectrum"] == 1
    assert 1 <= result["published"]["DAQ:level"] <= 3  # (its FIFO keeps the newest)
    assert "DAQ:gain" in result["pvs"] and "DAQ:spectrum:AXIS" in result["pvs"]


def test_channels_complex_values_and_bad_items(port: int) -> None:
    stereo = df.Chunk(np.stack([np.arange(6.0), -np.arange(6.0)], axis=1), rate=100.0)
    iq = df.Chunk(np.array([3 + 4j, 0 + 1j, 1 + 0j], np.complex64), rate=10.0, time=1.0)

    async def main() -> dict[str, Any]:
        done, sent = asyncio.Event(), [asyncio.Event(), asyncio.Event()]
        sink = net.serve_epics(items([stereo], done, sent[0], name="stereo"),
                               items([iq], done, sent[1], name="iq"), params=False, port=port)
        graph = asyncio.create_task(df.arun(sink))
        for event in sent:
            await event.wait()
        async with ClientContext() as client:
            pvs = await client.get_pvs("DAQ:stereo", "DAQ:iq", "DAQ:iq:AXIS")
            values = {pv.name: (await pv.read(timeout=10)).data.tolist() for pv in pvs}
        done.set()
        await graph
        return values

    values = run(main())
    assert values["DAQ:stereo"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]  # the first channel
    assert values["DAQ:iq"] == pytest.approx([5.0, 1.0, 1.0])  # complex: the magnitude
    assert values["DAQ:iq:AXIS"] == pytest.approx([1.0, 1.1, 1.2])
    words = df.from_iterable(["not a number"])
    with pytest.raises(df.BlockError, match=r"serve_epics: PV 'DAQ:from_iterable': items must be"):
        df.run(net.serve_epics(words, params=False, port=port))


def _caput(name: str, value: float) -> str:
    """caput through caproto's sync client (no repeater spawned): the refusal's message."""
    try:
        sync_client.write(name, value, notify=True, repeater=False, timeout=5)
    except ca.ErrorResponseReceived as exc:
        return bytes(exc.args[0].error_message).decode().rstrip("\x00")
    return "accepted"


def test_params_default_to_those_upstream_and_names_are_checked(port: int) -> None:
    tune = df.param(100.0, name="tune", unit="Hz")
    source = df.from_iterable([df.Chunk(np.zeros(4), 1.0)])
    served = net.serve_epics(scale(source, tune), prefix="X:")
    config = served.params["config"]
    assert [p.name for p in config.params] == ["tune"]
    assert config.names == ("X:scale",)
    with pytest.raises(ValueError, match="at least one stream"):
        net.serve_epics()
    clash = df.param(1.0, name="scale")
    with pytest.raises(ValueError, match=r"param 'scale' and a stream would both be PV 'X:scale'"):
        net.serve_epics(scale(source, clash), prefix="X:")
    twice = net.serve_epics(source, source, params=False, prefix="X:")
    assert twice.params["config"].names == ("X:from_iterable", "X:from_iterable_2")


def test_a_host_that_cannot_be_bound_fails_the_run_naming_it(port: int) -> None:
    source = df.from_iterable([1.0])  # 192.0.2.1 (TEST-NET-1) is no interface of this machine
    with pytest.raises(df.BlockError, match=r"serve_epics: cannot bind host '192\.0\.2\.1'"):
        df.run(net.serve_epics(source, params=False, host="192.0.2.1", port=port), duration=5)


def test_beacons_nobody_receives_give_one_warning_line(port: int, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """No caRepeater on the host: caproto logged a traceback for every beacon; one line now."""
    import logging
    import socket as sockets

    with sockets.socket(sockets.AF_INET, sockets.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        unheard = closed.getsockname()[1]  # closed below: beacons to it are refused
    monkeypatch.setenv("EPICS_CAS_BEACON_PORT", str(unheard))
    caplog.set_level(logging.WARNING)
    from daqflow import io

    adc = io.simulated_adc(1e3, chunk=100, dtype="float32")
    df.run(net.serve_epics(adc, params=False, port=port), duration=1.5)
    beacon = [r for r in caplog.records if "beacon" in r.getMessage()]
    assert len(beacon) == 1 and beacon[0].name == "daqflow.net.epics", [
        (r.name, r.getMessage()) for r in beacon]
    assert beacon[0].getMessage().startswith("serve_epics: Failed to send beacon to")
