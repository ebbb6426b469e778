"""`io.epics_source` and `io.epics_sink` against a caproto IOC written here (not daqflow's),
over real Channel Access on 127.0.0.1 (caproto's asyncio server and client in one process).

No traffic leaves loopback: searches go to EPICS_CA_ADDR_LIST=127.0.0.1 only, the IOC binds
127.0.0.1 and beacons to a UDP socket the test holds; nothing needs a caRepeater (the asyncio
client sends its registration to that same socket and searches without one).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import daqflow as df
from daqflow import io

ca = pytest.importorskip("caproto")
from caproto.asyncio.server import Context as ServerContext  # noqa: E402

from _ca_loopback import loopback_ca  # noqa: E402

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def ca_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Channel Access on loopback only, on a port of this test's own; yields that port."""
    yield from loopback_ca(monkeypatch)


class IOC:
    """A caproto IOC serving ``pvdb`` on 127.0.0.1 (``async with``)."""

    def __init__(self, pvdb: dict[str, Any]):
        self.server = ServerContext(pvdb, ["127.0.0.1"])
        self.task: asyncio.Task[Any] | None = None

    async def __aenter__(self) -> IOC:
        self.task = asyncio.create_task(self.server.run())
        while self.server.port is None or not self.server.udp_socks:
            await asyncio.sleep(0.01)
            if self.task.done():
                self.task.result()
        return self

    async def stop(self) -> None:
        """Stop as a dying IOC process would: its tasks end, its connections close."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        for circuit in list(self.server.circuits):
            circuit.client.close()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


ioc = IOC


@df.block
async def gather(stream: df.Stream, first: asyncio.Event, count: int) -> list[Any]:
    """The first ``count`` items; sets ``first`` when one has come."""
    items: list[Any] = []
    async for item in stream:
        items.append(item)
        first.set()
        if len(items) == count:
            break
    return items


def run(main: Any) -> Any:
    return asyncio.run(asyncio.wait_for(main, 30))


# -- source ----------------------------------------------------------------------------------
def test_scalar_updates_carry_the_iocs_time_and_alarm_and_count_lost_ones(ca_env: int) -> None:
    t0 = time.time() - 10.0
    temp = ca.ChannelDouble(value=0.0, timestamp=t0, units="degC")
    missing = {4, 5}  # the IOC's 10 Hz timeline has updates 4 and 5 that never reach us

    async def main() -> tuple[df.Report, list[Any]]:
        first = asyncio.Event()
        async with ioc({"TEST:TEMP": temp}):
            graph = asyncio.create_task(df.arun(
                gather(io.epics_source("TEST:TEMP", rate=10.0), first, 8)))
            await first.wait()  # subscribed: the first update (the current value) came
            for k in range(1, 10):
                if k in missing:
                    continue
                alarm = {"status": ca.AlarmStatus.HIHI, "severity": ca.AlarmSeverity.MAJOR_ALARM} \
                    if k == 6 else {"status": 0, "severity": 0}
                await temp.write(float(k), timestamp=t0 + k * 0.1, **alarm)
            report = await graph
        return report, report.results["gather"]

    report, chunks = run(main())
    assert [c.index for c in chunks] == [0, 1, 2, 3, 6, 7, 8, 9]
    assert [float(c.data[0]) for c in chunks] == [0, 1, 2, 3, 6, 7, 8, 9]
    assert [c.time for c in chunks] == pytest.approx([t0 + c.index * 0.1 for c in chunks], abs=1e-6)
    assert all(c.data.shape == (1,) and c.rate == 10.0 for c in chunks)
    assert [c.meta.get("overflow", 0) for c in chunks] == [0, 0, 0, 0, 2, 0, 0, 0]
    assert chunks[4].meta["alarm_status"] == "HIHI"
    assert chunks[4].meta["alarm_severity"] == "MAJOR_ALARM"
    assert chunks[5].meta["alarm_status"] == "NO_ALARM"
    assert chunks[0].meta["units"] == "degC" and chunks[0].meta["pv"] == "TEST:TEMP"
    assert report.overflow == 2


def test_a_scan_period_that_drifts_is_no_loss(ca_env: int) -> None:
    """An IOC scanning every 0.1012 s for a 10 Hz rate: 60 updates, none missing. Measured from
    the first update, the drift reached half a period and counted a false loss."""
    t0 = time.time() - 20.0
    temp = ca.ChannelDouble(value=0.0, timestamp=t0)

    async def main() -> df.Report:
        first = asyncio.Event()
        async with ioc({"TEST:DRIFT": temp}):
            graph = asyncio.create_task(df.arun(
                gather(io.epics_source("TEST:DRIFT", rate=10.0), first, 60)))
            await first.wait()
            for k in range(1, 60):
                await temp.write(float(k), timestamp=t0 + k * 0.1012)
            return await graph

    report = run(main())
    chunks = report.results["gather"]
    assert [c.index for c in chunks] == list(range(60))
    assert report.overflow == 0 and not any("overflow" in c.meta for c in chunks)


def test_waveform_updates_are_frames_counted_without_rate(ca_env: int) -> None:
    wave = ca.ChannelDouble(value=np.zeros(16), max_length=16)
    stamps = [time.time() + k for k in range(1, 4)]

    async def main() -> list[Any]:
        first = asyncio.Event()
        async with ioc({"TEST:WAVE": wave}):
            graph = asyncio.create_task(df.arun(gather(io.epics_source("TEST:WAVE"), first, 4)))
            await first.wait()
            for k, stamp in enumerate(stamps, 1):
                await wave.write(np.arange(16.0) * k, timestamp=stamp)
            return (await graph).results["gather"]

    chunks = run(main())
    assert [c.index for c in chunks] == [0, 1, 2, 3]
    assert all(c.data.shape == (1, 16) and c.data.dtype == np.float64 for c in chunks)
    np.testing.assert_array_equal(chunks[3].data[0], np.arange(16.0) * 3)
    assert [c.time for c in chunks[1:]] == pytest.approx(stamps, abs=1e-6)
    assert not any("overflow" in c.meta for c in chunks)


def test_a_server_going_away_is_an_error_naming_the_pv(ca_env: int) -> None:
    level = ca.ChannelDouble(value=1.0)

    async def main() -> None:
        first = asyncio.Event()
        async with ioc({"TEST:LEVEL": level}) as server:
            graph = asyncio.create_task(df.arun(gather(io.epics_source("TEST:LEVEL"), first, 99)))
            await first.wait()
            await server.stop()
            await graph

    with pytest.raises(df.BlockError, match=r"PV 'TEST:LEVEL' disconnected") as caught:
        run(main())
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert len(caught.value.report.results["gather"]) == 1  # what came before is delivered


def test_a_pv_no_server_has_is_a_timeout_naming_it(ca_env: int) -> None:
    with pytest.raises(df.BlockError, match=r"no Channel Access server answered for PV "
                                            r"'TEST:NOBODY' within 0.3 s"):
        df.run(df.collect(io.epics_source("TEST:NOBODY", timeout=0.3)), duration=5)


def test_source_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="rate must be > 0 Hz"):
        io.epics_source("X", rate=0)
    with pytest.raises(ValueError, match="pv must be a PV name"):
        io.epics_source("")


# -- sink ------------------------------------------------------------------------------------
def test_sink_writes_and_a_value_beyond_the_limits_is_refused_with_the_pvs_message(ca_env: int) -> None:
    setpoint = ca.ChannelDouble(value=0.0, lower_ctrl_limit=-10.0, upper_ctrl_limit=10.0)
    wave = ca.ChannelDouble(value=np.zeros(4), max_length=4)
    seen: list[float] = []

    class Watched(ca.ChannelDouble):  # the IOC side sees every accepted write
        async def verify_value(self, value: Any) -> Any:
            seen.append(float(value))
            return value

    watched = Watched(value=0.0)

    async def main() -> df.Report:
        async with ioc({"TEST:SP": setpoint, "TEST:WF": wave, "TEST:W": watched}):
            values = df.from_iterable([1.5, 50.0, -2.5])
            frames = df.from_iterable([df.Chunk(np.arange(8.0).reshape(2, 4), 10.0)])
            samples = df.from_iterable([df.Chunk(np.array([3.0, 4.0, 5.0]), 100.0), 6.0])
            return await df.arun(io.epics_sink(values, "TEST:SP"),
                                 io.epics_sink(frames, "TEST:WF", name="wf"),
                                 io.epics_sink(samples, "TEST:W", name="w"))

    report = run(main())
    result = report.results["epics_sink"]
    assert (result["written"], result["refused"]) == (2, 1)
    assert "Cannot write data 50.0. Limits are set to -10.0 and 10.0" in result["refusals"][0]
    assert setpoint.value == -2.5
    np.testing.assert_array_equal(wave.value, [4.0, 5.0, 6.0, 7.0])  # a frame's newest row
    assert report.results["wf"]["written"] == 1
    assert seen == [5.0, 6.0]  # a scalar PV gets a chunk's newest sample, then the number


def test_sink_to_a_pv_no_server_has_is_a_timeout_naming_it(ca_env: int) -> None:
    with pytest.raises(df.BlockError, match=r"PV 'TEST:NOBODY'"):
        df.run(io.epics_sink(df.from_iterable([1.0]), "TEST:NOBODY", timeout=0.3))


def test_sink_refuses_complex_values_clearly(ca_env: int) -> None:
    value = ca.ChannelDouble(value=0.0)

    async def main() -> None:
        async with ioc({"TEST:C": value}):
            await df.arun(io.epics_sink(df.from_iterable([np.complex64(1j)]), "TEST:C"))

    with pytest.raises(df.BlockError, match=r"PV 'TEST:C': complex values cannot be written"):
        run(main())
