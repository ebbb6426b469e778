"""The broadcast receiver's blocks: deemphasis (against lfilter of GNU Radio's fm_deemph
design), agc (against a per-sample loop of its documented recursion, and its time constants),
squelch (against per-window decisions on the index grid; ``meta["skipped"]``, never
``overflow``), lowpass by transition width (kaiserord, measured with freqz), and the
``skipped`` mark carried through the other blocks."""

import math
from itertools import pairwise

import numpy as np
import pytest
from dsp_helpers import (
    SINGLE,
    assert_grid,
    check_against,
    check_gap,
    check_stream,
    drop_chunk,
    fast,
    flatten,
    gap_plans,
    make_signal,
    plans,
    run,
    split,
    tolerance,
    upfirdn_ref,
    wide,
)
from hypothesis import given
from hypothesis import strategies as st
from scipy import signal

import daqflow as df
from daqflow import Chunk, dsp
from daqflow.testing import chunks

AUDIO = 48_000.0
REALS = [np.float32, np.float64]
ALL = [np.float32, np.complex64, np.float64, np.complex128]


# -- deemphasis -----------------------------------------------------------------------------------
def firdes_deemphasis(tau, rate):
    """GNU Radio's fm_deemph taps (gr-analog fm_emph.py), written out: (b, a)."""
    w_ca = 2.0 * rate * math.tan(1.0 / tau / (2.0 * rate))  # pre-warped analog corner
    k = -w_ca / (2.0 * rate)
    p1 = (1.0 + k) / (1.0 - k)
    b0 = -k / (1.0 - k)
    return [b0, b0], [1.0, -p1]


def deemphasis_ref(tau, rate):
    b, a = firdes_deemphasis(tau, rate)
    return lambda x, index: (index, signal.lfilter(b, a, wide(x), axis=0) if len(x) else wide(x))


@pytest.mark.parametrize("tau", [75e-6, 50e-6])
@pytest.mark.parametrize("dtype", REALS)
@fast
@given(plan=plans())
def test_deemphasis_matches_lfilter_over_any_chunking(tau, dtype, plan):
    check_stream(lambda s: dsp.deemphasis(s, tau), deemphasis_ref(tau, AUDIO), plan.signal(dtype),
                 plan, out_dtype=dtype, rtol=tolerance(dtype), rate=AUDIO)


@pytest.mark.parametrize("dtype", [np.float32])
@fast
@given(plan=gap_plans())
def test_deemphasis_gap_resets_state(dtype, plan):
    check_gap(lambda s: dsp.deemphasis(s), deemphasis_ref(75e-6, AUDIO), plan.signal(dtype), plan,
              rtol=tolerance(dtype), rate=AUDIO)


@pytest.mark.parametrize("tau", [75e-6, 50e-6])
def test_deemphasis_gain_at_dc_corner_and_nyquist(tau):
    """Tones through the block: 1 at DC, 1/sqrt(2) at 1/(2*pi*tau), nothing at Nyquist."""
    n = 48_000
    t = np.arange(n) / AUDIO
    corner = 1 / (2 * np.pi * tau)
    for freq, gain in [(0.0, 1.0), (corner, 1 / np.sqrt(2)), (AUDIO / 2, 0.0)]:
        x = np.cos(2 * np.pi * freq * t).astype(np.float64)
        _, y = flatten(run(lambda s, tau=tau: dsp.deemphasis(s, tau), chunks(x, AUDIO, 1000)))
        settled = y[n // 2:]
        amplitude = np.sqrt(2 * np.mean(settled**2)) if freq else np.mean(settled)
        assert amplitude == pytest.approx(gain, abs=1e-3), freq


def test_deemphasis_filters_each_channel():
    x = make_signal(3, 2000, np.float32).reshape(1000, 2)
    out = run(lambda s: dsp.deemphasis(s), chunks(x, AUDIO, 77))
    _, y = flatten(out)
    b, a = firdes_deemphasis(75e-6, AUDIO)
    assert y.dtype == np.float32 and y.shape == (1000, 2)
    np.testing.assert_allclose(y, signal.lfilter(b, a, wide(x), axis=0), atol=1e-5)


def test_deemphasis_errors():
    for tau in (0, -75e-6, float("nan"), "75us"):
        with pytest.raises(ValueError, match="deemphasis: tau must be"):
            dsp.deemphasis(df.from_iterable([]), tau)
    low = chunks(np.zeros(100, np.float32), 2000.0, 50)  # Nyquist 1 kHz < 2122 Hz corner
    with pytest.raises(df.BlockError, match=r"deemphasis: the corner .*2122.* Hz must be below Nyquist"):
        run(lambda s: dsp.deemphasis(s), low)
    with pytest.raises(df.BlockError, match=r"deemphasis.*expects real chunks, got complex"):
        run(lambda s: dsp.deemphasis(s), chunks(np.zeros(10, np.complex64), AUDIO, 5))


# -- agc ----------------------------------------------------------------------------------------
def agc_loop(x, rate, reference, attack, decay, max_gain):
    """The documented recursion, one sample at a time."""
    alpha = 1.0 if attack == 0 else 1 - math.exp(-1 / (attack * rate))
    fall = math.exp(-1 / (decay * rate))
    xw = wide(x)
    y = np.empty_like(xw)
    if not len(x):
        return y
    magnitude = np.abs(xw)
    s, e = magnitude[0], np.zeros_like(magnitude[0])
    for n in range(len(x)):
        s = s + alpha * (magnitude[n] - s)
        e = np.maximum(s, e * fall)
        y[n] = xw[n] * reference / np.maximum(e, reference / max_gain)
    return y


AGC = {"reference": 0.5, "attack": 20e-6, "decay": 200e-6, "max_gain": 1000.0}  # 20 / 200 samples


def agc_ref(**params):
    return lambda x, index: (index, agc_loop(x, 1e6, **params))


@pytest.mark.parametrize("dtype", ALL)
@fast
@given(plan=plans(), attack=st.sampled_from([0.0, 20e-6]))
def test_agc_matches_its_recursion_over_any_chunking(dtype, plan, attack):
    params = {**AGC, "attack": attack}
    x = plan.signal(dtype) * np.repeat([1.0, 0.01, 3.0], plan.n // 3 + 1)[:plan.n].astype(np.float32)
    check_stream(lambda s: dsp.agc(s, **params), agc_ref(**params), x, plan, out_dtype=dtype,
                 rtol=tolerance(dtype))


@pytest.mark.parametrize("dtype", SINGLE)
@fast
@given(plan=gap_plans())
def test_agc_gap_restarts_it(dtype, plan):
    check_gap(lambda s: dsp.agc(s, **AGC), agc_ref(**AGC), plan.signal(dtype), plan,
              rtol=tolerance(dtype))


def test_agc_time_constants_and_level():
    """A complex tone steps 0.01 -> 1 -> 0.01: the output envelope goes to ``reference``; after
    the rise, |y| = 1/s with s = 1 - 0.99*exp(-t/attack); after the fall the gain recovers
    as exp(t/decay) until the envelope reaches the new level."""
    attack, decay, reference = 1e-3, 20e-3, 0.8
    n = int(0.2 * AUDIO)
    level = np.repeat([0.01, 1.0, 0.01], n)
    x = (level * np.exp(2j * np.pi * 1000 * np.arange(3 * n) / AUDIO)).astype(np.complex64)
    out = run(lambda s: dsp.agc(s, reference, attack, decay), chunks(x, AUDIO, 4096))
    _, y = flatten(out)
    assert y.dtype == np.complex64
    envelope = np.abs(y.astype(np.complex128)) / reference
    at = int(attack * AUDIO)  # sample n + at is the (at+1)-th at the new level
    assert envelope[n + at] == pytest.approx(1 / (1 - 0.99 * math.exp(-(at + 1) / (attack * AUDIO))),
                                             rel=1e-3)
    fall = int(decay * AUDIO)
    assert envelope[2 * n + fall] == pytest.approx(0.01 * math.exp((fall + 1) / (decay * AUDIO)), rel=1e-3)
    for settled in (slice(n // 2, n), slice(n + n // 2, 2 * n), slice(2 * n + n // 2, 3 * n)):
        np.testing.assert_allclose(envelope[settled], 1.0, rtol=1e-4)


def test_agc_real_input_and_max_gain():
    out = run(lambda s: dsp.agc(s, max_gain=100.0), chunks(np.full(100, 1e-6, np.float32), AUDIO, 30))
    _, y = flatten(out)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, 1e-4, rtol=1e-5)  # the gain stops at max_gain
    silent = flatten(run(lambda s: dsp.agc(s), chunks(np.zeros(50), AUDIO, 20)))[1]
    assert np.all(silent == 0) and silent.dtype == np.float64


@pytest.mark.parametrize("name, value", [
    ("reference", 0), ("reference", -1.0), ("attack", -1e-3), ("attack", float("inf")),
    ("decay", 0), ("max_gain", 0), ("max_gain", float("nan")), ("reference", "1"),
])
def test_agc_errors(name, value):
    with pytest.raises(ValueError, match=f"agc: {name} must be"):
        dsp.agc(df.from_iterable([]), **{name: value})


# -- squelch ------------------------------------------------------------------------------------
def squelch_keep(x, index, window, threshold_db):
    """Which samples pass: the mean |x|^2 of the samples of x in each grid window (k*window ..
    (k+1)*window) is compared with the threshold."""
    keys = (index + np.arange(len(x))) // window
    power = np.abs(wide(x)) ** 2
    if x.ndim > 1:
        power = power.mean(axis=1)
    _, group, counts = np.unique(keys, return_inverse=True, return_counts=True)
    means = np.bincount(group, weights=power) / counts
    return means[group] >= 10 ** (threshold_db / 10)


def bursts(seed, n, dtype, loud=1.0, quiet=0.01):
    """Noise whose level switches between ``loud`` and ``quiet`` every 1-60 samples."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 60, n // 2 + 2)
    levels = np.repeat(rng.choice([loud, quiet], len(lengths)), lengths)[:n]
    return (make_signal(seed, n, dtype) * levels.astype(np.float32)).astype(dtype)


def check_skip_marks(out, first_index):
    """Index jumps are exactly meta["skipped"]; nothing marked lost."""
    for a, b in pairwise(out):
        assert b.index - a.end_index == b.meta.get("skipped", 0) and "overflow" not in b.meta, (a, b)
    if out:
        assert out[0].meta.get("skipped", 0) == out[0].index - first_index
        assert "overflow" not in out[0].meta


@pytest.mark.parametrize("dtype", [np.complex64, np.float32, np.float64])
@fast
@given(plan=plans(max_n=900), window=st.sampled_from([1, 7, 32]))
def test_squelch_drops_weak_windows_over_any_chunking(dtype, plan, window):
    x = bursts(plan.seed, plan.n, dtype)
    out = run(lambda s: dsp.squelch(s, -15.0, window=window / AUDIO), split(x, plan.cuts, AUDIO, plan.index))
    keep = squelch_keep(x, plan.index, window, -15.0)
    got_index, got = flatten(out)
    np.testing.assert_array_equal(got_index, plan.index + np.flatnonzero(keep))
    np.testing.assert_array_equal(got, x[keep])  # the samples themselves, untouched
    assert all(c.data.dtype == dtype for c in out)
    assert_grid(out, AUDIO)
    check_skip_marks(out, plan.index)


def test_squelch_threshold_is_mean_power_in_db():
    """A full-scale complex tone is 0 dB: it passes a -0.1 dB squelch, not a +0.1 dB one."""
    x = np.exp(2j * np.pi * np.arange(4800) / 80).astype(np.complex64)  # 6 periods per 10 ms window
    assert flatten(run(lambda s: dsp.squelch(s, -0.1), chunks(x, AUDIO, 1000)))[1].size == 4800
    assert run(lambda s: dsp.squelch(s, 0.1), chunks(x, AUDIO, 1000)) == []
    stereo = np.stack([x.real, 0.1 * x.real], axis=1)  # mean over channels: (0.5 + 0.005) / 2
    db = 10 * np.log10((0.5 + 0.005) / 2)
    assert flatten(run(lambda s: dsp.squelch(s, db - 0.05), chunks(stereo, AUDIO, 700)))[1].shape == (4800, 2)
    assert run(lambda s: dsp.squelch(s, db + 0.05), chunks(stereo, AUDIO, 700)) == []


def test_squelch_marks_tell_lost_from_skipped():
    """Chunks and windows of 100 samples: 300..400 lost upstream, 500..700 quiet, 900..1000
    lost and 1000..1100 quiet: the marks say which samples were lost and which were dropped on
    purpose, exactly."""
    level = np.ones(1500)
    level[500:700] = level[1000:1100] = 1e-3
    x = (make_signal(5, 1500, np.complex64) * level).astype(np.complex64)
    items = chunks(x, AUDIO, 100)
    items, _, _ = drop_chunk(items, 3)  # 300..400 lost
    k = next(i for i, c in enumerate(items) if c.index == 900)
    items, _, _ = drop_chunk(items, k)  # 900..1000 lost
    out = run(lambda s: dsp.squelch(s, -20.0, window=100 / AUDIO), items)
    marked = [(c.index, dict(c.meta)) for c in out if c.meta]
    assert marked == [(400, {"overflow": 100}), (700, {"skipped": 200}),
                      (1100, {"overflow": 100, "skipped": 100})]
    check_against(out, lambda x, index: (index, x), x, 0, 0, segments=((0, 300), (400, 500), (700, 900),
                                                                         (1100, 1500)))
    # downstream, a filter marks the mixed gap as lost (conservative), the pure one as skipped
    filtered = run(lambda s: dsp.fir(dsp.squelch(s, -20.0, window=100 / AUDIO), [0.5, 0.5]), items)
    marked = [(c.index, dict(c.meta)) for c in filtered if c.meta]
    assert marked == [(400, {"overflow": 100}), (700, {"skipped": 200}), (1100, {"overflow": 200})]


def test_squelch_input_skips_add_up():
    """A squelch after a squelch: the first one's skipped samples and the second's add up."""
    level = np.ones(1000)
    level[200:300] = 1e-3  # dropped by the first (-30 dB)
    level[600:700] = 0.05  # -26 dB: kept by the first, dropped by the second (-20 dB)
    x = (make_signal(6, 1000, np.complex64) * level).astype(np.complex64)
    out = run(lambda s: dsp.squelch(dsp.squelch(s, -40.0, window=100 / AUDIO), -20.0, window=50 / AUDIO),
              chunks(x, AUDIO, 64))
    marked = {c.index: c.meta["skipped"] for c in out if "skipped" in c.meta}
    assert marked == {300: 100, 700: 100}
    check_skip_marks(out, 0)


def test_squelch_leading_silence_is_marked_on_the_first_chunk():
    x = np.concatenate((np.zeros(250), np.ones(100))).astype(np.float32)
    out = run(lambda s: dsp.squelch(s, -10.0, window=50 / AUDIO), chunks(x, AUDIO, 64, index=1000))
    assert out[0].index == 1250 and out[0].meta["skipped"] == 250 and out[0].time == 1250 / AUDIO


@pytest.mark.parametrize("kwargs, message", [
    ({"threshold_db": float("nan")}, "squelch: threshold_db must be a finite power in dB"),
    ({"threshold_db": "-20"}, "squelch: threshold_db must be a number"),
    ({"threshold_db": -20, "window": 0}, "squelch: window must be > 0 seconds"),
    ({"threshold_db": -20, "window": -1e-3}, "squelch: window must be > 0 seconds"),
])
def test_squelch_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dsp.squelch(df.from_iterable([]), **kwargs)


# -- the skipped mark through the other blocks --------------------------------------------------
@pytest.mark.parametrize("make, ref, per_output, dtype", [
    (lambda s: dsp.fir(s, [0.25, 0.5, 0.25]), upfirdn_ref([0.25, 0.5, 0.25], 1), 1, np.complex64),
    (lambda s: dsp.fir_decimate(s, np.ones(9) / 9, 4), upfirdn_ref(np.ones(9) / 9, 4), 4, np.complex64),
    (lambda s: dsp.deemphasis(s), deemphasis_ref(75e-6, 1e6), 1, np.float32),
    (lambda s: dsp.agc(s, **AGC), agc_ref(**AGC), 1, np.complex64),
])
@fast
@given(plan=gap_plans())
def test_a_skipped_gap_stays_skipped(make, ref, per_output, dtype, plan):
    """An input gap marked skipped: state reset as for a loss, the output gap marked skipped."""
    check_gap(make, ref, plan.signal(dtype), plan, rtol=tolerance(dtype), per_output=per_output,
              mark="skipped")


BLOCKS = {
    "fir": lambda s: dsp.fir(s, np.ones(100) / 100),
    "fir_decimate": lambda s: dsp.fir_decimate(s, np.ones(9) / 9, 8),
    "decimate": lambda s: dsp.decimate(s, 5),
    "resample": lambda s: dsp.resample(s, 2, 3),
    "iir": lambda s: dsp.iir(s, signal.butter(2, 0.1, output="sos")),
    "moving_average": lambda s: dsp.moving_average(s, 10),
    "rechunk": lambda s: dsp.rechunk(s, 64),
    "demod_fm": lambda s: dsp.demod_fm(s, 1e3),
    "mix": lambda s: dsp.mix(s, 1e3),
    "agc": lambda s: dsp.agc(s),
    "fft": lambda s: dsp.fft(s, 16),
    "spectrum": lambda s: dsp.spectrum(s, 16, average=2),
    "average_rows": lambda s: dsp.average(dsp.spectrum(s, 16), 3),
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_blocks_downstream_of_squelch_pass_skipped_not_overflow(name):
    level = np.ones(4000)
    level[1000:1700] = level[2500:2600] = 1e-3
    x = (make_signal(8, 4000, np.complex64) * level).astype(np.complex64)
    out = run(lambda s: BLOCKS[name](dsp.squelch(s, -20.0, window=100 / 1e6)), chunks(x, 1e6, 333))
    assert out
    jumps = [(b.index - a.end_index, b.meta.get("skipped"))
             for a, b in pairwise(out) if b.index != a.end_index]
    assert len(jumps) == 2 and all(jump == skipped for jump, skipped in jumps), jumps
    assert not any("overflow" in c.meta for c in out)


def test_trigger_frames_carry_skipped():
    x = np.zeros(3000, np.float32)
    x[[100, 1500, 2600]] = 1.0
    x[1000:1200] = 0.0
    items = chunks(x, 1e6, 200)
    items = [*items[:5], items[6].with_meta(skipped=200), *items[7:]]  # 1000..1200 dropped on purpose
    out = run(lambda s: dsp.trigger(s, 0.5, pre=10, post=20), items)
    assert [(c.meta["trigger_index"], c.meta.get("skipped"), c.meta.get("overflow")) for c in out] == [
        (100, None, None), (1500, 200, None), (2600, None, None)]


def test_average_of_traces_restarts_after_skipped():
    traces = [Chunk(np.full(4, float(k)), 1.0, k, float(k)) for k in range(6)]
    traces[2] = traces[2].with_meta(skipped=50)
    out = run(lambda s: dsp.average(s, 2), traces)
    assert [(c.index, float(c.data[0])) for c in out] == [(0, 0.5), (2, 2.5), (4, 4.5)]
    assert out[1].meta["skipped"] == 50
    traces[3] = traces[3].with_meta(skipped=1)  # a trace after a retune does not join the last
    assert [(c.index, float(c.data[0])) for c in run(lambda s: dsp.average(s, 2), traces)] == [
        (0, 0.5), (3, 3.5)]


# -- lowpass by transition width ------------------------------------------------------------------
DESIGNS = [  # (cutoff, rate, transition, atten_db)
    (15e3, 240e3, 3e3, 60.0),
    (100e3, 2.4e6, 20e3, 80.0),
    (4e3, 48e3, 1e3, 40.0),
    (0.2, None, 0.05, 50.0),
]


@pytest.mark.parametrize("cutoff, rate, transition, atten_db", DESIGNS)
def test_lowpass_by_transition_width(cutoff, rate, transition, atten_db):
    taps = dsp.lowpass(cutoff, rate=rate, transition=transition, atten_db=atten_db)
    nyq = rate / 2 if rate else 1.0
    numtaps, beta = signal.kaiserord(atten_db, transition / nyq)
    assert len(taps) == numtaps | 1 and isinstance(taps, dsp.Taps) and taps.rate == rate
    np.testing.assert_allclose(taps, signal.firwin(numtaps | 1, cutoff / nyq, window=("kaiser", beta)))
    freqs, response = signal.freqz(taps, worN=1 << 16, fs=2 * nyq)
    gain = np.abs(response)
    stop = gain[freqs >= cutoff + transition / 2]
    passing = gain[freqs <= cutoff - transition / 2]
    assert -20 * np.log10(stop.max()) >= atten_db - 0.5  # Kaiser's formula is within a fraction of a dB
    ripple = 10 ** (-atten_db / 20)
    assert np.all(np.abs(passing - 1) <= 2 * ripple)
    edge = gain[np.argmin(np.abs(freqs - cutoff))]
    assert edge == pytest.approx(0.5, abs=0.01)  # -6 dB at the cutoff


def test_lowpass_default_attenuation_and_the_readme_example():
    taps = dsp.lowpass(15e3, rate=240e3, transition=3e3)
    assert len(taps) == signal.kaiserord(60.0, 3e3 / 120e3)[0] | 1
    np.testing.assert_array_equal(taps, dsp.lowpass(15e3, rate=240e3, transition=3e3, atten_db=60))
    # the first form keeps working, rate positional or not
    np.testing.assert_array_equal(dsp.lowpass(31, 100e3, 1e6), dsp.lowpass(31, 100e3, rate=1e6))
    np.testing.assert_array_equal(dsp.lowpass(33, 0.2, window="blackman"),
                                  signal.firwin(33, 0.2, window="blackman"))


@pytest.mark.parametrize("make, message", [
    (lambda: dsp.lowpass(15e3, 240e3, transition=3e3), r"give the cutoff alone.*\(15000.0, 240000.0\)"),
    (lambda: dsp.lowpass(101, 15e3, rate=240e3, transition=3e3), "give the cutoff alone"),
    (lambda: dsp.lowpass(15e3, rate=240e3, transition=0), "transition must be a width > 0 Hz, got 0"),
    (lambda: dsp.lowpass(15e3, rate=240e3, transition=-1e3), "transition must be a width > 0 Hz"),
    (lambda: dsp.lowpass(15e3, rate=240e3, transition=30e3), "transition=30000 Hz is too wide for cutoff"),
    (lambda: dsp.lowpass(15e3, rate=240e3, transition=3e3, atten_db=0), "atten_db must be .* > 0 dB"),
    (lambda: dsp.lowpass(15e3, rate=240e3, transition=3e3, window="hann"), "window='hann' cannot be chosen"),
    (lambda: dsp.lowpass(130e3, rate=240e3, transition=3e3), "cutoff must be in"),
    (lambda: dsp.lowpass(15e3, rate=240e3), r"lowpass\(15000.0\): give lowpass\(numtaps, cutoff"),
    (lambda: dsp.lowpass(31, 15e3, rate=240e3, atten_db=60), "atten_db=60 needs transition="),
])
def test_lowpass_design_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
