"""The `Instrument` base and the simulated scope, spectrum analyzer and network analyzer:
concurrent acquisition, settings on trace boundaries, averaging, physics, describe(), the
blocking face and clear errors."""

import asyncio

import numpy as np
import pytest

import daqflow as df
from daqflow import dsp
from daqflow.instruments import (
    Instrument,
    Setting,
    SimNetworkAnalyzer,
    SimScope,
    SimSpectrumAnalyzer,
)


def run(coro):
    return asyncio.run(coro)


def test_all_three_work_with_no_arguments():
    async def main():
        async with SimScope() as scope, SimSpectrumAnalyzer() as sa, SimNetworkAnalyzer() as na:
            return await scope.run_single(), await sa.run_single(), await na.run_single()

    trace, spectrum, s21 = run(main())
    assert trace.shape == (1000,) and trace.dtype == np.float32
    assert spectrum.shape == (513,) and np.all(spectrum >= 0)  # nfft 1024, one-sided
    assert s21.shape == (201,) and s21.dtype == np.complex128


def test_concurrent_acquisitions_overlap():
    scope = SimScope(timebase=0.015)  # a trace takes 0.15 s
    na = SimNetworkAnalyzer(points=300, ifbw=1000)  # a sweep takes 0.3 s
    finished = []
    both_busy = False

    async def timed(tag, instrument):
        data = await instrument.run_single(1)
        finished.append(tag)
        return data

    async def watch():
        nonlocal both_busy
        while len(finished) < 2:
            # each instrument holds its lock for the whole trace in progress
            if scope._lock is not None and na._lock is not None:
                both_busy |= scope._lock.locked() and na._lock.locked()
            await asyncio.sleep(0.005)

    async def main():
        async with scope, na:
            watcher = asyncio.create_task(watch())
            results = await asyncio.gather(timed("na", na), timed("scope", scope))
            await watcher
            return results

    s21, trace = run(main())
    assert s21.shape == (300,) and trace.shape == (1000,)
    assert both_busy  # both acquisitions were in progress at the same time
    assert finished == ["scope", "na"]  # the shorter ended first, though started second


def test_settings_changed_during_a_stream_apply_on_a_trace_boundary():
    scope = SimScope(signals=[[]], seed=1, timebase=0.002, points=500, noise=0.01)

    @df.block
    def change_after_three(chunk):
        if chunk.meta["trace"] == 3:
            scope.noise = 0.5  # while the stream runs
        return chunk

    async def main():
        async with scope:
            report = await df.arun(df.collect(dsp.head(change_after_three(scope.stream()),
                                                       8 * 500)))
            return report.results["collect"]

    chunks = run(main())
    assert len(chunks) == 8
    changed = [k for k, c in enumerate(chunks) if "changed" in c.meta]
    assert len(changed) == 1 and chunks[changed[0]].meta["changed"] == {"noise": 0.5}
    first = changed[0]
    assert first >= 3  # not before the change was made
    for k, chunk in enumerate(chunks):
        noise = chunk.meta["settings"]["noise"]
        assert noise == (0.5 if k >= first else 0.01)
        # the whole trace was taken with its snapshot: no trace mixes the two levels
        assert np.std(chunk.data) == pytest.approx(noise, rel=0.2)
    assert [c.meta["trace"] for c in chunks] == list(range(1, 9))


def test_run_single_averages_noise_down_by_sqrt_avg():
    async def main():
        async with SimScope(signals=[[]], seed=2, timebase=1e-4, points=4000, noise=0.1) as scope:
            one = await scope.run_single(1)
            chunk = await scope.acquire(16)
            return one, chunk

    one, chunk = run(main())
    assert chunk.meta["average"] == 16 and chunk.data.dtype == np.float32
    assert np.std(one) == pytest.approx(0.1, rel=0.1)
    assert np.std(one) / np.std(chunk.data) == pytest.approx(4.0, rel=0.15)


@pytest.mark.parametrize("tone", [1e3, 12.5e3])
def test_spectrum_analyzer_peak_is_at_the_scope_tone(tone):
    scope = SimScope(signals=[[(tone, 1.0)]], seed=3)

    async def main():
        async with SimSpectrumAnalyzer(scope=scope, span=50e3, nfft=4096) as sa:
            return await sa.acquire()

    chunk = run(main())
    freqs = chunk.meta["freqs"]
    assert len(freqs) == len(chunk.data) == 2049 and freqs[-1] == pytest.approx(50e3)
    peak = freqs[np.argmax(chunk.data)]
    assert abs(peak - tone) <= 2 * 50e3 / 4096  # within a bin of the tone
    assert chunk.meta["units"] == "V^2"


def test_network_analyzer_resonance_at_f0_with_width_f0_over_q():
    f0, q = 10e6, 200.0

    async def main():
        async with SimNetworkAnalyzer(f0=f0, q=q, seed=4, start=9.9e6, stop=10.1e6, points=2001,
                                      ifbw=1e5) as na:
            return await na.acquire()

    chunk = run(main())
    freqs, mag = chunk.meta["freqs"], np.abs(chunk.data)
    width = f0 / q  # 50 kHz; the peak is flat to the noise within a few kHz of f0
    assert abs(freqs[np.argmax(mag)] - f0) <= 0.05 * width
    assert mag.max() == pytest.approx(0.8, rel=0.01)
    above = freqs[mag**2 >= mag.max() ** 2 / 2]  # within -3 dB
    assert above[-1] - above[0] == pytest.approx(width, rel=0.02)
    assert (above[0] + above[-1]) / 2 == pytest.approx(f0, abs=0.01 * width)


def test_describe():
    scope = SimScope(name="scope1", timebase=1e-3)
    info = scope.describe()
    assert info["name"] == "scope1" and info["type"] == "SimScope" and info["kind"] == "scope"
    assert info["connected"] is False
    assert set(info["settings"]) == {"channels", "timebase", "points", "trigger_level", "noise"}
    assert info["settings"]["timebase"] == {"value": 1e-3, "unit": "s/div", "range": [1e-9, 10.0],
                                            "doc": "time per division"}
    na = SimNetworkAnalyzer().describe()
    assert na["kind"] == "network_analyzer" and na["settings"]["ifbw"]["unit"] == "Hz"
    assert SimSpectrumAnalyzer().describe()["settings"]["nfft"]["value"] == 1024

    async def main():
        async with scope:
            return scope.describe()["connected"]

    assert run(main()) is True


def test_blocking_face():
    with df.blocking(SimScope()) as scope:
        data = scope.run_single(10)
        assert scope.connected
        scope.timebase = 2e-5  # attribute writes go through
        assert scope.wrapped.timebase == 2e-5
        assert scope.describe()["settings"]["timebase"]["value"] == 2e-5
    assert isinstance(data, np.ndarray) and data.shape == (1000,)
    assert not scope.connected


@pytest.mark.parametrize("avg", [0, -1, 1.5, True, "2"])
def test_bad_avg_names_the_instrument(avg):
    async def main():
        async with SimScope(name="s1") as scope:
            await scope.run_single(avg)

    with pytest.raises(ValueError, match=r"s1\.run_single: avg must be an int >= 1"):
        run(main())


@pytest.mark.parametrize(
    "make, match",
    [(lambda: SimScope(timebase=100), r"SimScope\.timebase = 100 s/div: must be in \[1e-09, 10\] s/div"),
     (lambda: SimScope(channels=5), r"SimScope\.channels = 5: must be in \[1, 4\]"),
     (lambda: SimScope(points=10.5), r"SimScope\.points = 10\.5: expected int"),
     (lambda: SimScope(noise=float("nan")), r"SimScope\.noise = nan: must be finite"),
     (lambda: SimNetworkAnalyzer(name="vna", ifbw=0), r"vna\.ifbw = 0 Hz: must be in"),
     (lambda: SimSpectrumAnalyzer(span="wide"), r"SimSpectrumAnalyzer\.span = 'wide': expected float"),
     (lambda: SimScope(bogus=1), r"SimScope: no setting 'bogus' \(settings: channels, noise, points"),
     (lambda: SimNetworkAnalyzer(q=0), r"SimNetworkAnalyzer: f0, q and peak must be > 0")],
)
def test_bad_settings_name_instrument_and_setting(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_out_of_range_assignment_keeps_the_old_value():
    scope = SimScope()
    with pytest.raises(ValueError, match=r"SimScope\.trigger_level"):
        scope.trigger_level = 11
    assert scope.trigger_level == 0.0


def test_acquisition_before_connect_raises():
    async def main():
        scope = SimScope(name="early")
        with pytest.raises(RuntimeError, match="instrument 'early' is not connected"):
            await scope.run_single()
        async with scope:
            pass
        with pytest.raises(RuntimeError, match="'early' is not connected"):
            await scope.acquire()

    run(main())
    with pytest.raises(df.BlockError, match="'SimScope' is not connected"):
        df.run(df.collect(dsp.head(SimScope().stream(), 10)))


def test_network_analyzer_stop_below_start():
    async def main():
        async with SimNetworkAnalyzer(name="vna", start=2e6, stop=1e6) as na:
            await na.run_single()

    with pytest.raises(ValueError, match=r"vna: stop \(1e\+06 Hz\) must be above start"):
        run(main())


def test_a_custom_instrument_needs_only_trace():
    class Counter(Instrument):
        step = Setting(1, kind=int, low=1, high=10, doc="increment")

        def __init__(self, **settings):
            super().__init__(**settings)
            self.value = 0

        async def _trace(self):
            self.value += self.active("step")
            return df.Chunk(np.array([float(self.value)]), 1.0, self.value)

    async def main():
        async with Counter(step=2) as counter:
            chunk = await counter.acquire(3)  # traces 2, 4, 6
            return chunk

    chunk = run(main())
    assert chunk.data.tolist() == [4.0] and chunk.meta["average"] == 3
    assert chunk.meta["instrument"] == "Counter" and chunk.meta["settings"] == {"step": 2}
    with pytest.raises(TypeError):
        Instrument()  # abstract: _trace is missing


def test_one_sided_range_rejects_with_value_error():
    class Source(Instrument):
        level = Setting(1.0, unit="V", low=0.0, doc="only a lower bound")

        async def _trace(self):
            return df.Chunk(np.zeros(1), 1.0)

    with pytest.raises(ValueError, match=r"Source\.level = -1 V"):
        Source(level=-1)


def test_spectrum_analyzer_accepts_only_nfft_it_can_acquire():
    try:
        sa = SimSpectrumAnalyzer(nfft=1 << 20, span=1e7)
    except ValueError as exc:  # rejecting it up front, naming nfft, would be fine too
        assert "SimSpectrumAnalyzer.nfft" in str(exc)
        return

    async def main():
        async with sa:
            return await sa.run_single()

    assert run(main()).shape == ((1 << 20) // 2 + 1,)


def test_a_scope_trace_counts_time_from_its_trigger():
    """The axis of a trace is the scope screen's: 0 at the trigger (it counted from the
    scope's connection before); when it triggered is in meta."""
    scope = SimScope(signals=[[(1e3, 1.0)]], seed=3, timebase=1e-4, points=1000, noise=0.0,
                     trigger_level=0.5)

    async def main():
        async with scope:
            await asyncio.sleep(0.02)  # the scope's own clock has run on
            first = await scope.acquire()
            second = await scope.acquire(avg=2)
            return first, second

    first, second = run(main())
    for trace in (first, second):
        assert trace.time == 0.0
        assert trace.times[0] == 0.0 and trace.times[-1] == pytest.approx(999 / trace.rate)
        # the trigger: a rising crossing of 0.5 V at t = 0
        assert trace.data[0] == pytest.approx(0.5, abs=1e-6) and trace.data[1] > trace.data[0]
    assert first.meta["trigger_time"] >= 0.02
    assert second.meta["trigger_time"] > first.meta["trigger_time"] + first.duration
    assert first.meta["trigger_index"] == round(first.meta["trigger_time"] * first.rate)
