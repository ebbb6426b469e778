"""VISA instruments on real PyVISA with the pyvisa-sim backend (the packaged simulation file):
identity, queries, the error queue, timeouts, the per-resource lock, settings, visa_poll in a
graph, and the blocking face."""

import asyncio
import concurrent.futures
import statistics
import subprocess
import sys
import threading

import numpy as np
import pytest

pytest.importorskip("pyvisa")
pytest.importorskip("pyvisa_sim")

import daqflow as df
from daqflow import dsp
from daqflow.core.facade import background_loop
from daqflow.instruments import (
    FunctionGenerator,
    InstrumentError,
    Multimeter,
    Setting,
    VisaInstrument,
    sim_backend,
    visa_poll,
)

DMM = "GPIB0::22::INSTR"
DMM2 = "GPIB0::23::INSTR"
FGEN = "TCPIP0::192.168.0.50::inst0::INSTR"
IDN_DMM = "DAQFLOW,SIM-DMM-6500,SN000022,1.0"
IDN_FGEN = "DAQFLOW,SIM-AFG-3022,SN000050,1.0"


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(autouse=True)
def _no_connection_left_open():
    yield
    from daqflow.instruments import visa_transport as visa

    assert {key: port.users for key, port in visa._ports.items() if port.users} == {}


def test_pyvisa_is_not_imported_with_daqflow():
    code = ("import sys, daqflow, daqflow.instruments\n"
            "assert 'pyvisa' not in sys.modules and 'pyvisa_sim' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_sim_backend_is_the_packaged_yaml():
    backend = sim_backend()
    assert backend.endswith("daqflow-sim.yaml@sim")
    import pyvisa

    resources = pyvisa.ResourceManager(backend).list_resources("?*")
    assert set(resources) == {DMM, DMM2, FGEN}


def test_identity_query_and_describe():
    async def main():
        async with Multimeter.simulated(range=100) as dmm:
            assert dmm.identity == IDN_DMM  # filled at connect
            assert await dmm.identify() == IDN_DMM
            assert float(await dmm.query("VOLT:DC:RANG?")) == 100.0  # written at connect
            assert 0.99 <= float(await dmm.query("READ?")) <= 1.01
            info = dmm.describe()
            assert info["connected"] and info["identity"] == IDN_DMM
            assert info["resource"] == DMM and info["backend"] == sim_backend()
            assert info["settings"]["nplc"] == {"value": 1.0, "unit": "PLC", "range": [0.02, 100.0],
                                                "doc": "integration time in power-line cycles"}
            assert info["settings"]["range"]["choices"] == [0.1, 1.0, 10.0, 100.0, 1000.0]
        async with FunctionGenerator.simulated() as fg:
            assert fg.identity == IDN_FGEN
            assert fg.kind == "function_generator" and "FunctionGenerator" in repr(fg)

    run(main())


def test_a_write_the_instrument_rejects_raises_its_error_text():
    async def main():
        async with FunctionGenerator.simulated(name="afg") as fg:
            with pytest.raises(InstrumentError, match=r"afg \(TCPIP0::192\.168\.0\.50::inst0::INSTR\):"
                               r" 'FREQ 1e9' -> instrument error -100, Command error") as info:
                await fg.write("FREQ 1e9")  # the simulated device's limit is 20 MHz
            assert info.value.errors == ((-100, "Command error (undefined header or data out of range)"),)
            assert (info.value.instrument, info.value.resource, info.value.command) == (
                "afg", FGEN, "FREQ 1e9")
            assert float(await fg.query("FREQ?")) == 1e3  # unchanged
            with pytest.raises(InstrumentError, match="'BOGUS:CMD 1'"):
                await fg.write("BOGUS:CMD 1")
            await fg.write("FREQ 2500")  # the queue was read empty: the next write is clean
            assert float(await fg.query("FREQ?")) == 2500.0
            await fg.write("NOT:CHECKED 1", check=False)
            assert await fg.errors() == [(-100, "Command error (undefined header or data out of range)")]
            assert await fg.errors() == []

    run(main())


def test_an_unanswered_query_times_out_with_a_clear_error():
    async def main():
        async with Multimeter.simulated(name="dmm", timeout=0.2) as dmm:
            with pytest.raises(TimeoutError, match=r"dmm \(GPIB0::22::INSTR\): no answer to "
                               r"'MEAS:FREQ\?' within 0\.2 s .*Command error"):
                await dmm.query("MEAS:FREQ?")  # the meter does not know it: no answer
            assert await dmm.errors() == []  # the timeout report read the queue
            assert await dmm.query("*IDN?") == IDN_DMM  # still usable
            dmm.timeout = 5
            assert dmm.timeout == 5.0

    run(main())


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "fast", True])
def test_bad_timeout(bad):
    with pytest.raises(ValueError, match=r"Multimeter\.timeout"):
        Multimeter(DMM, backend=sim_backend(), timeout=bad)


def test_unknown_resource_and_backend_raise_at_connect_naming_them():
    async def main():
        dmm = Multimeter("GPIB0::5::INSTR", backend=sim_backend())  # nothing at address 5
        with pytest.raises(ConnectionError, match=r"Multimeter: VISA resource 'GPIB0::5::INSTR' not "
                           r"found .*GPIB0::22::INSTR"):
            await dmm.connect()
        assert not dmm.connected
        missing = "/nonexistent/devices.yaml@sim"
        with pytest.raises(ConnectionError, match=f"VISA backend '{missing}'"):
            await Multimeter(DMM, backend=missing).connect()

    run(main())
    with pytest.raises(ValueError, match="resource"):
        Multimeter("", backend=sim_backend())


def test_closed_or_never_connected_instrument_raises():
    async def main():
        dmm = Multimeter.simulated()
        for call in (dmm.read(), dmm.query("*IDN?"), dmm.write("*CLS"), dmm.apply(),
                     dmm.run_single()):
            with pytest.raises(RuntimeError, match="'Multimeter' is not connected"):
                await call
        async with dmm:
            await dmm.read()
        assert not dmm.connected
        with pytest.raises(RuntimeError, match="'Multimeter' is not connected"):
            await dmm.query("*IDN?")
        with pytest.raises(RuntimeError, match="not connected"):
            await dmm.run_single(3)
        await dmm.close()  # idempotent
        async with dmm:  # and it opens again
            assert await dmm.identify() == IDN_DMM

    run(main())


def test_out_of_range_settings_name_instrument_and_setting():
    sim = sim_backend()
    with pytest.raises(ValueError, match=r"Multimeter\.nplc = 1000 PLC: must be in \[0\.02, 100\]"):
        Multimeter(DMM, backend=sim, nplc=1000)
    with pytest.raises(ValueError, match=r"Multimeter\.range = 3: must be one of"):
        Multimeter(DMM, backend=sim, range=3)
    with pytest.raises(ValueError,
                       match=r"gen\.frequency = 1000000000\.0 Hz: must be in \[0\.001, 2e\+07\] Hz"):
        FunctionGenerator(FGEN, backend=sim, name="gen", frequency=1e9)
    with pytest.raises(ValueError, match=r"FunctionGenerator\.waveform = 'TRI'"):
        FunctionGenerator(FGEN, backend=sim, waveform="TRI")
    with pytest.raises(ValueError, match=r"FunctionGenerator\.output = 'on': expected bool"):
        FunctionGenerator(FGEN, backend=sim, output="on")
    with pytest.raises(ValueError, match=r"Multimeter: no setting 'volts'"):
        Multimeter(DMM, backend=sim, volts=1)

    async def main():
        async with Multimeter.simulated(nplc=10) as dmm:
            with pytest.raises(ValueError, match=r"Multimeter\.nplc"):
                dmm.nplc = 0.001
            assert dmm.nplc == 10.0
            assert float(await dmm.query("VOLT:DC:NPLC?")) == 10.0

    run(main())


def test_settings_reach_the_instrument_on_connect_apply_and_next_reading():
    async def main():
        async with Multimeter.simulated(nplc=10) as dmm:
            assert float(await dmm.query("VOLT:DC:NPLC?")) == 10.0  # on connect
            dmm.nplc = 0.2  # an attribute write: sent at the next operation
            assert float(await dmm.query("VOLT:DC:NPLC?")) == 10.0
            await dmm.read()
            assert float(await dmm.query("VOLT:DC:NPLC?")) == 0.2
            dmm.range = 1
            await dmm.apply()  # or now
            assert float(await dmm.query("VOLT:DC:RANG?")) == 1.0

    run(main())


def test_multimeter_run_single_averages_readings():
    async def main():
        async with Multimeter.simulated() as dmm:
            chunk = await dmm.acquire(16)
            assert chunk.data.shape == (1,) and chunk.meta["average"] == 16
            assert chunk.meta["units"] == "V" and chunk.rate == 50.0  # 50 Hz / 1 PLC
            singles = [float((await dmm.run_single())[0]) for _ in range(30)]
            means = [float((await dmm.run_single(16))[0]) for _ in range(30)]
        # readings are uniform in 1 V +- 5 mV: std 2.9 mV, the mean of 16 a quarter of it
        assert statistics.mean(means) == pytest.approx(1.0, abs=2e-3)
        assert statistics.stdev(singles) / statistics.stdev(means) > 2.0

    run(main())


def test_function_generator_apply_and_read_back():
    async def main():
        async with FunctionGenerator.simulated(frequency=1234.5, amplitude=2, offset=-0.5,
                                               waveform="SQU", output=True) as fg:
            chunk = await fg.acquire()
            np.testing.assert_array_equal(chunk.data, [1234.5, 2.0, -0.5, 1.0])
            assert chunk.meta["fields"] == ("frequency", "amplitude", "offset", "output")
            assert chunk.meta["waveform"] == "SQU" and "differs" not in chunk.meta
            fg.frequency, fg.output = 5e6, False
            chunk = await fg.acquire()  # changed settings are written before the trace
            assert chunk.meta["changed"] == {"frequency": 5e6, "output": False}
            np.testing.assert_array_equal(chunk.data, [5e6, 2.0, -0.5, 0.0])
            await fg.write("FREQ 42")  # changed behind the driver's back
            chunk = await fg.acquire()
            assert chunk.data[0] == 42.0 and chunk.meta["differs"] == ["frequency"]
            await fg.apply()  # writes every setting again
            np.testing.assert_array_equal(await fg.run_single(), [5e6, 2.0, -0.5, 0.0])
            assert await fg.query("FUNC?") == "SQU"

    run(main())


def test_settings_changed_during_a_stream_are_written_before_that_trace():
    dmm = Multimeter.simulated(nplc=10)

    @df.block
    def change_after_two(chunk):
        if chunk.meta["trace"] == 2:
            dmm.nplc = 0.2
        return chunk

    async def main():
        async with dmm:
            stream = dmm.stream(realtime=False)  # readings are instant: no drops, please
            report = await df.arun(df.collect(dsp.head(change_after_two(stream), 6)))
            return report.results["collect"], float(await dmm.query("VOLT:DC:NPLC?"))

    chunks, nplc = run(main())
    assert len(chunks) == 6 and all(c.data.shape == (1,) for c in chunks)
    changed = [c for c in chunks if "changed" in c.meta]
    assert len(changed) == 1 and changed[0].meta["changed"] == {"nplc": 0.2}
    first = chunks.index(changed[0])
    assert all(c.meta["settings"]["nplc"] == 10.0 and c.rate == 5.0 for c in chunks[:first])
    assert all(c.meta["settings"]["nplc"] == 0.2 and c.rate == 250.0 for c in chunks[first:])
    assert nplc == 0.2


def test_visa_poll_in_a_graph_gives_readings_on_the_interval_grid():
    interval, n = 0.05, 8
    with df.blocking(Multimeter.simulated()) as dmm:
        report = df.run(df.collect(dsp.head(visa_poll(dmm, "READ?", interval), n)))
    chunks = report.results["collect"]
    assert len(chunks) == n
    assert report.blocks["visa_poll"].realtime
    indices = [c.index for c in chunks]
    assert indices[0] == 0 and np.all(np.diff(indices) > 0)
    assert all(c.time == pytest.approx(c.index * interval) and c.rate == 1 / interval for c in chunks)
    assert all(c.data.shape == (1,) and 0.99 <= c.data[0] <= 1.01 for c in chunks)
    stamps = [c.meta["timestamp"] for c in chunks]
    steps = np.diff(stamps) / np.diff(indices)
    assert all(s > 0 for s in steps)
    assert np.median(steps) == pytest.approx(interval, rel=0.5)  # paced, not free-running
    assert all(c.meta["query"] == "READ?" and c.meta["instrument"] == "Multimeter" for c in chunks)


def test_visa_poll_ends_when_the_instrument_closes():
    async def main():
        dmm = Multimeter.simulated()
        await dmm.connect()
        task = asyncio.create_task(df.arun(df.collect(visa_poll(dmm, "VOLT:DC:RANG?", 0.02))))
        await asyncio.sleep(0.25)
        await dmm.close()
        report = await asyncio.wait_for(task, 5)
        return report.results["collect"]

    chunks = run(main())
    assert len(chunks) >= 3
    assert all(c.data[0] == 10.0 for c in chunks)


def test_visa_poll_arguments_and_answers():
    dmm = Multimeter.simulated()
    with pytest.raises(ValueError, match="interval must be seconds > 0"):
        visa_poll(dmm, "READ?", 0)
    with pytest.raises(ValueError, match="query must be a non-empty string"):
        visa_poll(dmm, " ", 0.1)
    with pytest.raises(TypeError, match="must be a VisaInstrument"):
        visa_poll(object(), "READ?", 0.1)
    with df.blocking(dmm):
        with pytest.raises(df.BlockError, match=r"Multimeter answered '\*IDN\?' with "
                           r"'DAQFLOW,SIM-DMM-6500,SN000022,1\.0'"):
            df.run(df.collect(dsp.head(visa_poll(dmm, "*IDN?", 0.01), 2)))
        report = df.run(df.collect(dsp.head(visa_poll(
            dmm, "*IDN?", 0.01, parse=lambda s: [len(s), s.count(",")]), 2)))
    chunks = report.results["collect"]
    assert [c.data.tolist() for c in chunks] == [[[len(IDN_DMM), 3]]] * 2  # (1, n): one sample
    with pytest.raises(df.BlockError, match="not connected"):  # closed before the graph runs
        df.run(df.collect(visa_poll(dmm, "READ?", 0.01)))


def test_instruments_on_one_resource_share_one_lock():
    sim = sim_backend()
    a, b = (Multimeter(DMM, backend=sim, name=n, range=100, nplc=0.2) for n in "ab")
    other = Multimeter(DMM2, backend=sim, name="other")
    assert a.lock is b.lock and a.lock is not other.lock
    assert Multimeter(" gpib0::22::INSTR", backend=sim).lock is a.lock  # the same resource

    expected = {"*IDN?": lambda r: r == IDN_DMM,
                "VOLT:DC:RANG?": lambda r: float(r) == 100.0,
                "VOLT:DC:NPLC?": lambda r: float(r) == 0.2,
                "READ?": lambda r: 0.99 <= float(r) <= 1.01}
    commands = list(expected) * 25
    np.random.default_rng(0).shuffle(commands)

    async def in_loop():
        async with a:
            answers = await asyncio.gather(*[(a if k % 2 else b).query(c)
                                             for k, c in enumerate(commands)])
        return answers

    async def main():
        async with b:
            return await in_loop()

    answers = run(main())
    bad = [(c, r) for c, r in zip(commands, answers, strict=True) if not expected[c](r)]
    assert not bad

    # the same resource from another loop (the blocking facade's) and plain threads at once
    async def loop_side():
        async with a:
            return await asyncio.gather(*[a.query(c) for c in commands])

    with df.blocking(b) as proxy, concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(lambda c=c: (c, proxy.query(c))) for c in commands[:40]]
        answers = run(loop_side())
        threaded = [f.result(timeout=30) for f in futures]
    assert all(expected[c](r) for c, r in zip(commands, answers, strict=True))
    assert all(expected[c](r) for c, r in threaded)


def test_a_transaction_holds_the_resource_lock_and_only_that_resource_waits():
    sim = sim_backend()
    slow = Multimeter(DMM, backend=sim, name="slow", timeout=0.3)
    same = Multimeter(DMM, backend=sim, name="same")
    other = Multimeter(DMM2, backend=sim, name="other")
    done = []

    async def tagged(tag, coro):
        try:
            return await coro
        finally:
            done.append(tag)

    async def main():
        async with slow, same, other:
            hung = asyncio.create_task(tagged("slow", slow.query("MEAS:FREQ?")))
            await asyncio.sleep(0.05)
            assert slow.lock.locked()  # held by the unanswered query
            queued = asyncio.create_task(tagged("same", same.query("*IDN?")))
            free = asyncio.create_task(tagged("other", other.query("*IDN?")))
            results = await asyncio.gather(hung, queued, free, return_exceptions=True)
        return results

    results = run(main())
    assert isinstance(results[0], TimeoutError)
    assert results[1] == IDN_DMM and results[2] == IDN_DMM
    assert done == ["other", "slow", "same"]


def test_blocking_face_from_a_plain_thread():
    out = {}

    def worker():
        with df.blocking(Multimeter.simulated(nplc=0.2)) as dmm:
            out["identity"] = dmm.identity
            out["reading"] = dmm.read()
            out["mean"] = dmm.run_single(5)
            out["nplc"] = float(dmm.query("VOLT:DC:NPLC?"))
            out["connected"] = dmm.describe()["connected"]

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=30)
    assert out["identity"] == IDN_DMM and 0.99 <= out["reading"] <= 1.01
    assert isinstance(out["mean"], np.ndarray) and out["mean"].shape == (1,)
    assert out["nplc"] == 0.2 and out["connected"]


def test_blocking_face_from_code_inside_another_event_loop():
    with df.blocking(Multimeter.simulated()) as dmm:

        async def cell():  # like a Jupyter cell: a loop runs in this thread
            return dmm.read(), dmm.query("*IDN?")

        reading, identity = run(cell())
    assert 0.99 <= reading <= 1.01 and identity == IDN_DMM


def test_blocking_call_from_the_facade_own_loop_raises_instead_of_deadlock():
    with df.blocking(Multimeter.simulated()) as dmm:

        async def inside():
            return dmm.read()

        future = asyncio.run_coroutine_threadsafe(inside(), background_loop())
        with pytest.raises(RuntimeError, match="deadlock"):
            future.result(timeout=10)
        assert 0.99 <= dmm.read() <= 1.01  # the facade still works


def test_generic_visa_instrument_and_driver_declarations():
    async def main():
        async with VisaInstrument(FGEN, backend=sim_backend(), name="raw") as inst:
            assert inst.identity == IDN_FGEN and inst.settings() == {}
            with pytest.raises(TypeError, match="raw: VisaInstrument has no trace"):
                await inst.run_single()

    run(main())
    with pytest.raises(TypeError, match="no simulated resource"):
        VisaInstrument.simulated()
    with pytest.raises(TypeError, match="setting_commands names 'gain'"):
        type("Bad", (VisaInstrument,), {"setting_commands": {"gain": "GAIN {}"}})

    class Counter(VisaInstrument):  # a trace from a query answering numbers
        level = Setting(0.0, low=-5.0, high=5.0)
        setting_commands = {"level": "VOLT:OFFS {}"}  # noqa: RUF012
        trace_query = "VOLT:OFFS?"
        trace_units = "V"

    async def counter():
        async with Counter(FGEN, backend=sim_backend(), level=1.25) as inst:
            return await inst.acquire()

    chunk = run(counter())
    assert chunk.data.tolist() == [1.25] and chunk.meta["units"] == "V"

    class Wider(Counter):  # accepts more than the device does: the device says no at connect
        level = Setting(0.0, low=-10.0, high=10.0)

    wider = Wider(FGEN, backend=sim_backend(), name="wide", level=7)
    with pytest.raises(InstrumentError, match=r"wide .*'VOLT:OFFS 7' -> instrument error -100"):
        run(wider.connect())
    assert not wider.connected
    assert run(counter()).data.tolist() == [1.25]  # the resource was released and reopens
