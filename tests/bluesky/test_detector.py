"""daqflow.bluesky.detector in a real bluesky RunEngine: step scans over simulated
instruments, a scan against ophyd-async's simulated motor, fly scans over a graph; the
documents are checked (descriptors, events, configuration, stop)."""

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import bluesky.plans as bp
import numpy as np
import pytest
from bluesky.run_engine import RunEngine
from ophyd_async.core import init_devices
from ophyd_async.sim import SimMotor

import daqflow as df
from daqflow import dsp, io
from daqflow.bluesky import InstrumentDetector, StreamFlyer, detector
from daqflow.instruments import SimNetworkAnalyzer, SimScope, SimSpectrumAnalyzer

pytestmark = pytest.mark.timeout(60)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Documents(list):
    def named(self, kind):
        return [doc for name, doc in self if name == kind]

    def one(self, kind):
        (doc,) = self.named(kind)
        return doc


@pytest.fixture
def engine():
    """A RunEngine on its own loop thread, its documents, and closing of the instruments
    that were connected on its loop; the loop is stopped and its thread joined at the end."""
    RE = RunEngine(call_returns_result=True)
    docs = Documents()
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    instruments = []
    yield RE, docs, instruments
    for instrument in instruments:
        asyncio.run_coroutine_threadsafe(instrument.close(), RE.loop).result(10)
    RE.loop.call_soon_threadsafe(RE.loop.stop)
    RE._th.join(10)
    RE.loop.close()
    assert not [t.name for t in threading.enumerate() if t.name == "daqflow-graph"]


def test_count_a_scope_gives_five_traces_with_units_axis_and_settings(engine):
    RE, docs, _ = engine
    with df.blocking(SimScope(points=500, timebase=2e-5, noise=0.0, seed=1)) as scope:
        det = detector(scope, name="scope", avg=2)  # scope lives on the blocking loop
        assert isinstance(det, InstrumentDetector)
        result = RE(bp.count([det], 5))
    assert result.exit_status == "success"
    assert [n for n, _ in docs] == ["start", "descriptor"] + ["event"] * 5 + ["stop"]
    descriptor = docs.one("descriptor")
    keys = descriptor["data_keys"]
    assert set(keys) == {"scope", "scope-times"}
    assert keys["scope"]["shape"] == [500] and keys["scope"]["dtype"] == "array"
    assert keys["scope"]["dtype_numpy"] == "<f4" and keys["scope"]["units"] == "V"
    assert keys["scope"]["dims"] == ["scope-times"]
    assert keys["scope-times"]["shape"] == [500] and keys["scope-times"]["units"] == "s"
    config = descriptor["configuration"]["scope"]
    assert config["data"]["scope-points"] == 500 and config["data"]["scope-avg"] == 2
    assert config["data"]["scope-timebase"] == 2e-5
    assert config["data_keys"]["scope-timebase"]["units"] == "s/div"
    assert config["data_keys"]["scope-points"]["dtype"] == "integer"
    events = docs.named("event")
    assert [e["seq_num"] for e in events] == [1, 2, 3, 4, 5]
    rate = 500 / (2e-5 * 10)
    for event in events:
        trace, times = event["data"]["scope"], event["data"]["scope-times"]
        assert trace.shape == (500,) and trace.dtype == np.float32
        np.testing.assert_allclose(times, np.arange(500) / rate)
        # triggered at level 0 on the rising 1 kHz sine of 1 V: the trace is that sine
        np.testing.assert_allclose(trace, np.sin(2 * np.pi * 1e3 * times), atol=1e-5)
    stamps = [e["timestamps"]["scope"] for e in events]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5  # a new trace per trigger
    assert docs.one("stop")["num_events"] == {"primary": 5}


def test_scan_a_spectrum_analyzer_against_the_simulated_motor(engine):
    RE, docs, instruments = engine
    analyzer = SimSpectrumAnalyzer(nfft=256, span=50e3)
    instruments.append(analyzer)  # connected on the RunEngine's loop at the first trigger
    det = detector(analyzer, name="sa")
    with init_devices():
        motor = SimMotor(units="mm")
    result = RE(bp.scan([det], motor, 0.0, 1.0, 3))
    assert result.exit_status == "success"
    assert analyzer.home_loop is RE.loop
    keys = docs.one("descriptor")["data_keys"]
    assert keys["sa"]["shape"] == [129] and keys["sa"]["units"] == "V^2"
    assert keys["sa-freqs"]["units"] == "Hz" and keys["sa"]["dims"] == ["sa-freqs"]
    assert keys["motor"]["units"] == "mm"
    events = docs.named("event")
    assert [e["data"]["motor"] for e in events] == [0.0, 0.5, 1.0]
    for event in events:
        power, freqs = event["data"]["sa"], event["data"]["sa-freqs"]
        assert power.shape == freqs.shape == (129,)
        assert abs(freqs[np.argmax(power)] - 1e3) <= 1e5 / 256  # the scope's 1 kHz tone
    assert list(docs.one("start")["motors"]) == ["motor"]


def test_two_instruments_in_one_event_multichannel_and_complex(engine):
    RE, docs, instruments = engine
    scope = SimScope(channels=2, points=100, timebase=1e-5)
    analyzer = SimNetworkAnalyzer(points=51, ifbw=1e5)
    instruments += [scope, analyzer]
    RE(bp.count([detector(scope, name="s2"), detector(analyzer, name="na")], 2))
    keys = docs.one("descriptor")["data_keys"]
    assert keys["s2"]["shape"] == [100, 2] and keys["s2"]["dims"] == ["s2-times", "s2-channel"]
    assert keys["na"]["shape"] == [51] and keys["na"]["dtype_numpy"] == "<c16"
    assert keys["na"]["units"] == "S21" and keys["na-freqs"]["units"] == "Hz"
    (event, _) = docs.named("event")
    np.testing.assert_allclose(event["data"]["na-freqs"], np.linspace(9e6, 11e6, 51))
    assert np.argmax(np.abs(event["data"]["na"])) == 25  # the 10 MHz resonance


def spectra_stream(tone=25 * 1e5 / 256):
    adc = io.simulated_adc(1e5, chunk=1024, tones=[(tone, 1.0)], realtime=False)
    return dsp.to_db(dsp.spectrum(adc, 256))


def test_fly_scan_over_a_spectrum_stream_gives_one_event_per_spectrum(engine):
    RE, docs, _ = engine
    flyer = detector(spectra_stream(), name="spectra", count=40)
    assert isinstance(flyer, StreamFlyer)
    result = RE(bp.fly([flyer]))
    assert result.exit_status == "success"
    assert [n for n, _ in docs] == ["start", "descriptor", "event_page", "stop"]
    descriptor = docs.one("descriptor")
    assert descriptor["name"] == "spectra"
    keys = descriptor["data_keys"]
    assert keys["spectra"]["shape"] == [256] and keys["spectra"]["units"] == "dB"
    assert keys["spectra"]["dims"] == ["spectra-freqs"] and keys["spectra"]["dtype_numpy"] == "<f4"
    assert keys["spectra-time"]["units"] == "s" and keys["spectra-time"]["shape"] == []
    assert keys["spectra-freqs"]["units"] == "Hz"
    assert descriptor["configuration"]["spectra"]["data"]["spectra-nfft"] == 256
    rate = descriptor["configuration"]["spectra"]["data"]["spectra-rate"]
    assert rate == pytest.approx(1e5 / 128)  # Welch frames every nfft/2 samples
    page = docs.one("event_page")
    assert page["seq_num"] == list(range(1, 41))
    data = page["data"]
    assert [np.shape(row) for row in data["spectra"]] == [(256,)] * 40
    assert data["spectra-index"] == list(range(40))  # no spectrum lost or repeated
    np.testing.assert_allclose(data["spectra-time"], np.arange(40) / rate)
    stamps = np.array(page["timestamps"]["spectra"])
    np.testing.assert_allclose(stamps - stamps[0], np.arange(40) / rate, atol=1e-6)
    for row, freqs in zip(data["spectra"], data["spectra-freqs"], strict=True):
        assert freqs[np.argmax(row)] == pytest.approx(25 * 1e5 / 256)  # the tone's bin
        assert np.max(row) == pytest.approx(0.0, abs=0.01)  # amplitude 1: 0 dB
    assert docs.one("stop")["num_events"] == {"spectra": 40}


def test_a_flyer_flies_again_and_a_graph_that_ends_early_gives_what_it_made(engine):
    RE, docs, _ = engine
    adc = io.simulated_adc(1e5, chunk=1024, realtime=False)
    head = df.from_iterable(range(5))
    flyer = detector(head, name="numbers", count=100)  # the stream ends first: 5 events
    RE(bp.fly([flyer]))
    RE(bp.fly([flyer]))  # a new graph per kickoff
    pages = docs.named("event_page")
    assert [p["data"]["numbers"] for p in pages] == [[0, 1, 2, 3, 4]] * 2
    assert [d["name"] for d in docs.named("descriptor")] == ["numbers"] * 2
    chunks = detector(adc, name="chunks", per="chunk", count=3)
    docs.clear()
    RE(bp.fly([chunks]))
    keys = docs.one("descriptor")["data_keys"]
    assert keys["chunks"]["shape"] == [None] and keys["chunks"]["dtype_numpy"] == "<c8"
    assert docs.one("event_page")["data"]["chunks-index"] == [0, 1024, 2048]


def test_a_fly_scan_of_a_realtime_source_for_a_duration(engine):
    RE, docs, _ = engine
    adc = io.simulated_adc(1e5, chunk=1024, tones=[(1e4, 1.0)])  # on its sample clock
    flyer = detector(dsp.spectrum(adc, 256), name="live", duration=0.2)
    RE(bp.fly([flyer]))
    page = docs.one("event_page")
    times, index = page["data"]["live-time"], page["data"]["live-index"]
    assert len(times) > 0 and docs.one("stop")["num_events"] == {"live": len(times)}
    assert index == sorted(set(index))  # in order, none twice (a jump would be a loss)
    assert max(times) < 0.2  # what the clock produced before the stop, nothing after


def test_a_failing_block_fails_the_fly_scan_with_its_error(engine):
    RE, docs, _ = engine

    @df.block
    async def breaks(stream):
        async for x in stream:
            if x == 3:
                raise ValueError("sample 3 is bad")
            yield x

    flyer = detector(breaks(df.from_iterable(range(10))), name="broken")
    with pytest.raises(Exception, match="sample 3 is bad"):
        RE(bp.fly([flyer]))
    assert docs.one("stop")["exit_status"] == "fail"


def test_detector_refuses_what_it_cannot_be():
    with pytest.raises(TypeError, match="expected a daqflow Instrument or Stream, got int"):
        detector(3, name="x")
    with pytest.raises(ValueError, match=r"without '\.' or '/'"):
        detector(SimScope(), name="scope.1")
    with pytest.raises(ValueError, match="count must be an int >= 1"):
        detector(df.from_iterable(range(3)), name="n", count=0)
    with pytest.raises(ValueError, match="avg must be an int >= 1"):
        detector(SimScope(), name="s", avg=0)


def test_the_example_runs():
    out = subprocess.run([sys.executable, str(EXAMPLES / "bluesky_scan.py")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "success: {'primary': 5}" in out.stdout and "success: {'primary': 3}" in out.stdout
    assert "50 events, peak at 10156 Hz" in out.stdout
    assert "scope: shape [500] V" in out.stdout


def test_exported_names_are_pinned():
    import daqflow.bluesky

    assert set(daqflow.bluesky.__all__) == {"InstrumentDetector", "StreamFlyer", "detector"}


def test_without_bluesky_the_import_names_the_extra():
    code = "import sys; sys.modules['ophyd_async'] = None; import daqflow.bluesky"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "daqflow.bluesky needs the 'ophyd_async' package: pip install 'daqflow[facility]'" \
        in out.stderr


def test_fly_timestamps_of_device_stamped_chunks_and_of_scope_traces(engine):
    """Chunks stamped in POSIX seconds by their device (EPICS, Tango) keep those stamps (they
    were added to the kickoff's time: the year 2083); a scope's traces, whose time counts from
    their trigger, are stamped when they triggered (they all got the kickoff's time)."""
    import time

    RE, docs, _ = engine
    t0 = time.time() - 5.0
    stamped = [df.Chunk(np.full(1, float(k)), 1.0, k, t0 + k) for k in range(3)]
    RE(bp.fly([detector(df.from_iterable(stamped), name="pv", count=3)]))
    page = docs.one("event_page")
    assert page["timestamps"]["pv"] == pytest.approx([t0, t0 + 1, t0 + 2])
    docs.clear()
    before = time.time()
    with df.blocking(SimScope(timebase=1e-3, points=100)) as scope:
        RE(bp.fly([detector(scope.wrapped.stream(), name="traces", count=3)]))
    stamps = docs.one("event_page")["timestamps"]["traces"]
    assert len(set(stamps)) == 3 and stamps == sorted(stamps)
    assert before - 1.0 < stamps[0] and stamps[-1] < time.time() + 1.0
