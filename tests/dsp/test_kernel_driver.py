"""The kernel driver (dsp.driver) on real kernels: gaps reset state and mark the output,
output index/time/rate, the rate check's message, chunked = whole."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from dsp_helpers import RATE, drop_chunk, fast, plans, run, split
from hypothesis import given
from hypothesis import strategies as st

import daqflow as df
from daqflow import Chunk, dsp
from daqflow.dsp.driver import kernel_block
from daqflow.dsp.kernels.demod import FmState
from daqflow.dsp.kernels.fir import FirState, ResampleState
from daqflow.dsp.kernels.iir import IirState
from daqflow.dsp.kernels.spectral import FftState, SpectrumState, WaterfallState
from daqflow.dsp.kernels.stats import MovingAverageState

TAPS = np.array([0.25, 0.5, 0.125, -0.0625, 0.03125])

_probe = kernel_block("probe", accepts="chunk", produces="same")


# kernel factories: make(rate, *args), at module level as a block's must be
def fir_kernel(rate: float, factor: int) -> FirState:
    return FirState(TAPS, factor)


def resample_kernel(rate: float, up: int, down: int) -> ResampleState:
    return ResampleState(TAPS, up, down)


def iir_kernel(rate: float) -> IirState:
    return IirState([[0.2, 0.1, 0.0, 1.0, -0.5, 0.0]])


def moving_kernel(rate: float) -> MovingAverageState:
    return MovingAverageState(4)


def fm_kernel(rate: float) -> FmState:
    return FmState(rate / 8, rate)


def fft_kernel(rate: float) -> FftState:
    return FftState(16, "hann", False, rate)


def spectrum_kernel(rate: float) -> SpectrumState:
    return SpectrumState(16, 3, 8, "hann", rate)


def waterfall_kernel(rate: float) -> WaterfallState:
    return WaterfallState(16, 2, 12, "hann", rate)


KERNELS = {
    "fir": (fir_kernel, (1,)), "fir_decimate": (fir_kernel, (3,)), "resample": (resample_kernel, (3, 2)),
    "iir": (iir_kernel, ()), "moving_average": (moving_kernel, ()), "fm": (fm_kernel, ()),
    "fft": (fft_kernel, ()), "spectrum": (spectrum_kernel, ()), "waterfall": (waterfall_kernel, ()),
}


def probe(stream: df.Stream, name: str) -> df.Stream:
    make, args = KERNELS[name]
    return _probe(stream, make, args, "probe", None)


def signal_of(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex128)


def whole(name: str, x: np.ndarray, index: int) -> tuple[np.ndarray, int]:
    make, args = KERNELS[name]
    return make(RATE, *args).work(x, index)


def joined(outputs: list[Chunk]) -> np.ndarray:
    return np.concatenate([c.data for c in outputs]) if outputs else np.empty(0)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_the_kernel_contract(name):
    make, args = KERNELS[name]
    kernel = make(RATE, *args)
    num, den = kernel.stride
    assert kernel.output_rate(RATE) == RATE * den / num
    y, _ = kernel.work(signal_of(0), 40)
    assert len(y) == 0
    kernel.reset()


@fast
@given(plan=plans(max_n=300), name=st.sampled_from(sorted(KERNELS)))
def test_chunk_by_chunk_equals_the_whole_array(plan, name):
    x = signal_of(plan.n, plan.seed)
    out = run(lambda s: probe(s, name), split(x, plan.cuts, index=plan.index))
    y, first = whole(name, x, plan.index)
    assert len(joined(out)) == len(y)
    if len(y):
        np.testing.assert_allclose(joined(out), y, rtol=1e-9, atol=1e-9)
        assert out[0].index == first
    for a, b in pairwise(out):
        assert b.index == a.end_index  # no gap in, none out
        assert "overflow" not in b.meta and "skipped" not in b.meta


@pytest.mark.parametrize("mark", ["overflow", "skipped"])
@pytest.mark.parametrize("name", ["fir_decimate", "iir", "fm", "spectrum"])
def test_a_gap_resets_the_kernel_and_marks_the_output(name, mark):
    x = signal_of(400, 3)
    items, start, end = drop_chunk(split(x, [100, 200, 300]), 1, mark)
    out = run(lambda s: probe(s, name), items)
    before = [c for c in out if c.end_index <= out[0].index + len(whole(name, x[:start], 0)[0])]
    after = out[len(before):]
    # after the gap: what a fresh kernel gives for the samples from `end` on
    y, first = whole(name, x[end:], end)
    np.testing.assert_allclose(joined(after), y, rtol=1e-9, atol=1e-9)
    assert after[0].index == first
    expected_jump = first - before[-1].end_index
    assert expected_jump > 0
    assert dict(after[0].meta).get(mark) == expected_jump
    other = "skipped" if mark == "overflow" else "overflow"
    assert other not in after[0].meta
    assert all(mark not in c.meta for c in after[1:])


def test_output_index_time_and_rate():
    """Output j of fir_decimate(3) sits at input sample 3j: its time is that sample's."""
    x = signal_of(50)
    items = [Chunk(x[:23], RATE, 1001, 7.0), Chunk(x[23:], RATE, 1024, 7.0 + 23 / RATE)]
    out = run(lambda s: probe(s, "fir_decimate"), items)
    assert [c.index for c in out] == [334, 342]  # ceil(1001/3), ceil(1024/3)
    assert all(c.rate == RATE / 3 for c in out)
    assert out[0].time == 7.0 + (334 * 3 - 1001) / RATE
    assert out[1].time == pytest.approx(7.0 + (342 * 3 - 1001) / RATE, abs=1e-15)
    # resampling 3/2: output k at up-sampled position 2k, i.e. input sample 2k/3
    out = run(lambda s: probe(s, "resample"), [Chunk(x, RATE, 10, 1.0)])
    assert out[0].index == 15 and out[0].rate == RATE * 3 / 2
    assert out[0].time == 1.0  # 15 * 2 / 3 == 10: the first input sample itself


def test_samplewise_output_keeps_index_time_and_meta():
    items = split(signal_of(64), [20], index=5, meta={"center_freq": 1e6})
    out = run(lambda s: probe(s, "iir"), items)
    assert [(c.index, c.time, c.rate) for c in out] == [(c.index, c.time, c.rate) for c in items]
    assert all(o.meta is i.meta for o, i in zip(out, items, strict=True))  # shared, not copied


@pytest.mark.parametrize("factory, block", [
    (lambda s: probe(s, "fir"), "probe"),
    (lambda s: dsp.fir_decimate(s, TAPS, 2), "fir_decimate"),
    (lambda s: dsp.spectrum(s, 8), "spectrum"),
    (lambda s: dsp.squelch(s, -20.0), "squelch"),
])
def test_a_rate_change_is_refused_naming_the_block_and_port(factory, block):
    items = [Chunk(np.ones(16), 1e3, 0), Chunk(np.ones(16), 2e3, 16)]
    with pytest.raises(df.BlockError) as error:
        run(factory, items)
    message = str(error.value.__cause__)
    assert message.startswith(f"{block}: stream rate changed from 1000 Hz to 2000 Hz")
    assert "input 'x'" in message


def test_taps_designed_for_another_rate_are_refused():
    taps = dsp.lowpass(15, 100.0, rate=2e3)
    with pytest.raises(df.BlockError) as error:
        run(lambda s: dsp.fir(s, taps), [Chunk(np.ones(16), 1e3, 0)])
    assert "fir: taps were designed for rate=2000 Hz, the stream runs at 1000 Hz" in str(error.value)


def test_the_kernel_is_built_when_the_graph_runs():
    """Describing a block builds nothing: the factory is called once per run, at the first chunk."""
    made = []

    def counting(rate: float) -> MovingAverageState:
        made.append(rate)
        return MovingAverageState(2)

    stream = _probe(df.from_iterable([Chunk(np.ones(4), 50.0)]), counting, (), "probe", None)
    sink = df.collect(stream)
    assert made == []
    df.run(sink)
    df.run(sink)
    assert made == [50.0, 50.0]
