"""Wiring mistakes found when the graph is described, not at the first item: a source's
declared dtype, frames into a sample filter, an array where a stream goes; and a mixer shift
beyond rate/2 warns that it aliases."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import daqflow as df
from daqflow import dsp, io


def test_a_sources_declared_dtype_is_checked_when_wired() -> None:
    adc = io.simulated_adc(1e6, dtype="float32")
    assert adc.produces == "float"
    with pytest.raises(df.GraphError, match=r"'simulated_adc' -> demod_fm\.x: 'simulated_adc' "
                                            r"produces float chunks, 'demod_fm' accepts complex"):
        dsp.demod_fm(adc, 75e3)
    dsp.demod_fm(io.simulated_adc(1e6), 75e3)  # complex64 by default: fine


def test_a_sigmf_files_datatype_is_checked_when_wired(tmp_path: Path) -> None:
    io.write_sigmf(tmp_path / "ints", np.arange(100, dtype=np.int16), rate=1e3)
    source = io.sigmf_source(tmp_path / "ints")
    assert source.produces == "integer"
    with pytest.raises(df.GraphError, match="'sigmf_source' produces integer chunks, 'demod_am' "
                                            "accepts complex chunks"):
        dsp.demod_am(source)


def test_frames_into_a_sample_filter_are_refused_naming_both_ends() -> None:
    spectra = dsp.spectrum(io.simulated_adc(1e6), 256)
    assert spectra.frames
    for make in (lambda s: dsp.fir(s, np.ones(5) / 5), lambda s: dsp.mix(s, 1e3),
                 lambda s: dsp.iir(s, [[1, 0, 0, 1, 0, 0]])):
        with pytest.raises(df.GraphError, match="frames into a sample filter"):
            make(spectra)
    averaged = dsp.average(spectra, 4)  # frames stay frames through blocks that pass them on
    with pytest.raises(df.GraphError, match=r"'average' -> fir\.x: 'average' produces frames"):
        dsp.fir(averaged, np.ones(3))
    df.validate(df.collect(dsp.to_db(averaged)))  # blocks made for frames take them


def test_a_users_frame_block_is_refused_by_a_filter() -> None:
    @df.block(makes_frames=True)
    async def rows(x: df.Stream):
        async for chunk in x:
            yield chunk

    with pytest.raises(df.GraphError, match="'rows' produces frames"):
        dsp.fir(rows(io.simulated_adc(1e3)), np.ones(3))


def test_an_array_where_a_stream_goes_suggests_from_iterable() -> None:
    with pytest.raises(df.GraphError, match=r"block 'fir': input port 'x' expects a Stream, got "
                                            r"ndarray .*df\.from_iterable\(\[array\], rate="):
        dsp.fir(np.ones(100), np.ones(5))


def test_a_shift_beyond_half_the_rate_warns_once_that_it_aliases(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="daqflow")
    chunks = [np.ones(100, np.complex64)] * 3
    report = df.run(df.collect(dsp.mix(df.from_iterable(chunks, rate=1e6), 7e5)),
                    df.collect(dsp.mix(df.from_iterable(chunks, rate=1e6), 1e5), name="fine"))
    aliases = [r.getMessage() for r in caplog.records if "aliases" in r.getMessage()]
    assert aliases == ["mix: freq=700000 Hz is beyond half the input's rate (1e+06 Hz / 2): it "
                       "aliases, and shifts by -300000 Hz instead"]
    assert len(report.results["collect"]) == 3


def test_a_block_that_makes_samples_out_of_frames_says_so_and_feeds_a_filter() -> None:
    """A peak frequency per spectrum is a stream of samples: a filter may follow it."""
    spectra = dsp.spectrum(io.simulated_adc(1e6), 256)

    @df.block(makes_frames=False)
    def peak_hz(chunk: df.Chunk) -> df.Chunk:
        return chunk.replace(data=chunk.data.argmax(axis=1).astype(np.float32))

    assert not peak_hz(spectra).frames
    df.validate(df.collect(dsp.fir(peak_hz(spectra), np.ones(3) / 3)))

    @df.block(produces=float)
    def total(chunk: df.Chunk) -> float:  # items that are not Chunks carry no frames
        return float(chunk.data.sum())

    assert not total(spectra).frames
    with pytest.raises(df.GraphError, match=r"@df\.block\(makes_frames=False\)"):
        dsp.fir(dsp.average(spectra, 2), np.ones(3))
