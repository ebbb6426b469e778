"""Maps with state (``per_run=True``): made anew at each run's start, fused like any map; the
DSP kernel blocks are such maps, so a receive chain runs in one task without a hop per block."""

import numpy as np
import pytest

import daqflow as df
from daqflow import dsp


@df.block(per_run=True)
def running_total(x, start: int = 0):
    total = start

    def step(chunk: df.Chunk) -> df.Chunk | None:
        nonlocal total
        total += int(chunk.data.sum())
        return chunk.replace(data=np.array([total])) if chunk.index % 2 else None

    return step


def items(n: int) -> list[df.Chunk]:
    return [df.Chunk(np.full(3, i, np.int64), 1.0, index=i) for i in range(n)]


@pytest.mark.parametrize("options", [{}, {"buffer": 2}, {"threaded": True}],
                         ids=["fused", "own-task", "threaded"])
def test_state_lives_in_one_run_and_the_next_run_starts_afresh(options):
    graph = df.collect(running_total(df.from_iterable(items(6)), start=100, **options))
    for _ in range(2):  # the same described graph, run twice
        report = df.run(graph)
        totals = [int(c.data[0]) for c in report.results["collect"]]
        assert totals == [103, 118, 145]  # 100 + 3*(0+1), + 3*(2+3), + 3*(4+5)
        assert report.blocks["running_total"].items_out == 3
    inline = {(e.producer, e.consumer) for e in report.edges if e.inline}
    assert (("from_iterable", "running_total") in inline) == (not options)


def test_the_receive_chain_runs_inline_in_its_source_task():
    rate = 1e6
    tone = np.exp(2j * np.pi * 0.1 * np.arange(8 * 8192)).astype(np.complex64)
    chunks = [df.Chunk(tone[i:i + 8192], rate, index=i) for i in range(0, len(tone), 8192)]
    chain = dsp.average(dsp.magnitude2(dsp.fft(dsp.fir_decimate(
        dsp.mix(df.from_iterable(chunks), -0.1 * rate), dsp.lowpass(64, 0.05), 8), 1024)), 4)
    report = df.run(df.collect(chain))
    inline = [(e.producer, e.consumer) for e in report.edges if e.inline]
    assert inline == [("from_iterable", "mix"), ("mix", "fir_decimate"), ("fir_decimate", "fft"),
                      ("fft", "magnitude2"), ("magnitude2", "average")]
    means = report.results["collect"]  # 8 chunks -> 8 spectra of 1024 -> 2 averages of 4
    assert [m.data.shape for m in means] == [(1, 1024), (1, 1024)]
    assert all(int(np.argmax(m.data[0])) == 0 for m in means)  # the tone, mixed to 0 Hz
    assert report.blocks["fir_decimate"].items_out == 8
    assert report.blocks["fft"].items_out == 8
    assert all(report.blocks[name].busy > 0 for name in ("fir_decimate", "fft", "average"))


def test_a_per_run_map_must_make_a_function():
    @df.block(per_run=True)
    def forgot(x):
        def step(item):
            return item  # (but the factory does not return it)

    with pytest.raises(df.BlockError, match=r"^block 'forgot' failed: TypeError: per_run=True: "
                                            "the block's function must return the function "
                                            "applied to each item, got None"):
        df.run(df.collect(forgot(df.from_iterable([1, 2]))))


@pytest.mark.parametrize("options", [{}, {"buffer": 2}], ids=["fused", "own-task"])
def test_a_failing_setup_names_the_map_not_its_producer(options):
    @df.block(per_run=True)
    def fragile(x):
        raise RuntimeError("no calibration file")

    with pytest.raises(df.BlockError, match=r"^block 'fragile' failed: RuntimeError: no "
                                            "calibration file"):
        df.run(df.collect(fragile(df.from_iterable([1, 2]), **options)))


def test_per_run_is_for_maps_only():
    with pytest.raises(TypeError, match="per_run=True is for a map"):
        @df.block(per_run=True)
        async def not_a_map(x: df.Stream):
            async for item in x:
                yield item
