"""io.wav_writer / io.wav_source: WAV files that scipy.io.wavfile (no libsndfile) reads back
bit-exact; ``.partial`` until the writer closes, whatever stops it; gaps kept in the file's
comment (lost vs dropped on purpose) and given back on replay; ``daqflow inspect`` on WAV;
clear errors."""

import asyncio
import json
import time

import numpy as np
import pytest
import scipy.io.wavfile
import soundfile

import daqflow as df
from daqflow import dsp, io

RATE = 48_000
FORMATS = ["int16", "int32", "float32"]


def reference(path):
    """(rate, samples) as scipy reads the file, which warns about any chunk it does not know
    (libsndfile's PEAK chunk of float files among them): a warning fails the test."""
    rate, data = scipy.io.wavfile.read(path)
    return rate, data


def comment(path):
    """The daqflow comment as libsndfile reads it (LIST/INFO ICMT)."""
    with soundfile.SoundFile(path) as f:
        return json.loads(f.comment)


def random_samples(dtype, n, channels, seed=1):
    rng = np.random.default_rng(seed)
    shape = (n,) if channels == 1 else (n, channels)
    if np.dtype(dtype).kind == "f":
        x = (rng.standard_normal(shape) * 2.0).astype(dtype)  # beyond full scale too: kept as is
        x.flat[:4] = [0.0, -0.0, 1e-40, -3e38]  # a subnormal and a huge value
        return x
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    x.flat[:2] = [info.min, info.max]
    return x


def chunks_of(x, sizes):
    """``x`` cut into pieces of the given sizes (cycled) along time."""
    out, k = [], 0
    while k < len(x):
        size = sizes[len(out) % len(sizes)]
        out.append(x[k:k + size])
        k += size
    return out


def source_of(x, sizes=(1000, 7, 333), rate=RATE):
    return df.from_iterable(chunks_of(x, sizes), rate=rate)


@df.block(name="squelch_chunks", accepts="chunk", produces="same")
async def squelch_chunks(x: df.Stream, drop: frozenset):
    """Drops the chunks starting at stream indices ``drop`` on purpose (as a squelch does): the
    next one carries meta["skipped"]."""
    skipped = 0
    async for chunk in x:
        if chunk.index in drop:
            skipped += chunk.samples
        else:
            yield chunk.with_meta(skipped=skipped) if skipped else chunk
            skipped = 0


# -- round trips ---------------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("dtype", FORMATS)
def test_round_trip_bit_exact(tmp_path, record, replay, assert_bit_exact, assert_no_partial, dtype,
                              channels):
    path = tmp_path / "x.wav"
    x = random_samples(dtype, 5000, channels)
    rec = record(io.wav_writer, source_of(x), path)
    assert rec.result == {"path": str(path), "samples": 5000, "rate": RATE, "channels": channels,
                          "format": dtype, "gaps": 0, "overflow": 0, "skipped": 0, "clipped": 0}
    assert_no_partial(tmp_path)

    rate, data = reference(path)
    assert rate == RATE
    assert_bit_exact(data, x)
    info = soundfile.info(path)
    assert (info.format, info.subtype) == ("WAV", {"int16": "PCM_16", "int32": "PCM_32",
                                                   "float32": "FLOAT"}[dtype])

    back = replay(io.wav_source(path, chunk=999))
    assert_bit_exact(back.data, x)
    np.testing.assert_array_equal(back.indices, np.arange(5000))
    assert [c.samples for c in back.items] == [999] * 5 + [5]
    assert {c.rate for c in back.items} == {RATE}
    assert [c.time for c in back.items] == pytest.approx([c.index / RATE for c in back.items])
    assert back.overflow == {} and not any(c.meta for c in back.items)


def test_threaded_writer_gives_the_same_file(tmp_path, record, assert_bit_exact):
    x = random_samples("int16", 20_000, 2)
    record(io.wav_writer, source_of(x), tmp_path / "t.wav", threaded=True)
    assert_bit_exact(reference(tmp_path / "t.wav")[1], x)


def test_float_written_as_integers_is_scaled_and_clipped(tmp_path, record):
    x = np.array([-2.0, -1.0, -0.5, -1e-6, 0.0, 0.25, 0.5, 1 - 2**-15, 1.0, 3.0], np.float64)
    rec = record(io.wav_writer, source_of(x, (3,)), tmp_path / "s.wav", sample_format="int16")
    assert (rec.result["format"], rec.result["clipped"]) == ("int16", 3)  # 3.0, 1.0 and -2.0
    _, data = reference(tmp_path / "s.wav")
    expected = [-32768, -32768, -16384, 0, 0, 8192, 16384, 32767, 32767, 32767]
    assert data.dtype == np.int16 and data.tolist() == expected


def test_float64_is_written_as_float32(tmp_path, record, assert_bit_exact):
    x = random_samples("float64", 1000, 1)
    rec = record(io.wav_writer, source_of(x), tmp_path / "d.wav")
    assert rec.result["format"] == "float32"
    assert_bit_exact(reference(tmp_path / "d.wav")[1], x.astype(np.float32))


def test_real_part_of_the_simulated_adc_with_the_libsndfile_names(tmp_path, adc, record, replay,
                                                                   assert_bit_exact):
    real = df.block(accepts="complex")(lambda c: c.replace(data=c.data.real.copy()))
    rec = record(io.wav_writer, real(adc(4000, rate=RATE)), tmp_path / "a.wav", sample_format="FLOAT")
    assert (rec.result["format"], rec.result["samples"]) == ("float32", 4000)
    assert_bit_exact(replay(io.wav_source(tmp_path / "a.wav")).data, rec.seen.data)


# -- gaps: never filled, listed, given back --------------------------------------------------------

@pytest.fixture
def gappy(drop_chunks):
    """10 chunks of 100 int16 samples; chunks ``lost`` (0-based) lost (overflow), then
    chunks ``skipped`` dropped on purpose."""

    def make(lost, skipped):
        x = random_samples("int16", 1000, 1)
        return squelch_chunks(drop_chunks(source_of(x, (100,)), lost), frozenset(100 * k for k in skipped))

    return make


def test_gaps_are_listed_with_their_kind_and_replayed(tmp_path, gappy, record, replay, assert_bit_exact):
    path = tmp_path / "g.wav"
    rec = record(io.wav_writer, gappy(lost={2, 8}, skipped={5, 6}), path)
    assert rec.seen.overflow == {300: 100, 900: 100}  # what the writer was handed
    assert {c.index: c.meta["skipped"] for c in rec.seen.items if "skipped" in c.meta} == {700: 200}
    assert (rec.result["samples"], rec.result["gaps"]) == (600, 3)
    assert (rec.result["overflow"], rec.result["skipped"]) == (200, 200)

    assert_bit_exact(reference(path)[1], rec.seen.data)  # contiguous: nothing invented
    assert comment(path)["gaps"] == [[200, 300, 100, 0], [400, 700, 0, 200], [500, 900, 100, 0]]

    back = replay(io.wav_source(path, chunk=150))
    assert_bit_exact(back.data, rec.seen.data)
    np.testing.assert_array_equal(back.indices, rec.seen.indices)
    assert back.overflow == {300: 100, 900: 100}
    assert {c.index: c.meta["skipped"] for c in back.items if "skipped" in c.meta} == {700: 200}
    assert [c.index for c in back.items] == [0, 150, 300, 450, 700, 900]  # a chunk ends at each gap
    assert [c.time for c in back.items] == pytest.approx([c.index / RATE for c in back.items])


def test_lost_and_skipped_before_the_same_chunk(tmp_path, gappy, record, replay):
    rec = record(io.wav_writer, gappy(lost={3}, skipped={2}), tmp_path / "b.wav")
    assert comment(tmp_path / "b.wav")["gaps"] == [[200, 400, 100, 100]]
    back = replay(io.wav_source(tmp_path / "b.wav"))
    assert [(c.index, dict(c.meta)) for c in back.items] == [
        (0, {}), (400, {"overflow": 100, "skipped": 100})]
    np.testing.assert_array_equal(back.indices, rec.seen.indices)


def test_index_jump_without_a_mark_counts_as_lost(tmp_path, record, replay):
    pieces = [df.Chunk(np.ones(10, np.float32), RATE, 5000, 5000 / RATE, {"center_freq": 1e6}),
              df.Chunk(np.zeros(10, np.float32), RATE, 5030, 5030 / RATE, {"center_freq": 1e6}),
              df.Chunk(np.ones(5, np.float32), RATE, 5040, 5040 / RATE, {"center_freq": 2e6})]
    record(io.wav_writer, df.from_iterable(pieces), tmp_path / "late.wav")
    back = replay(io.wav_source(tmp_path / "late.wav"))
    assert [(c.index, c.time, dict(c.meta)) for c in back.items] == [
        (5000, 5000 / RATE, {"center_freq": 1e6}),
        (5030, pytest.approx(5030 / RATE), {"center_freq": 1e6, "overflow": 20}),
        (5040, pytest.approx(5040 / RATE), {"center_freq": 2e6})]


def test_replayed_marks_equal_the_index_jumps_as_sigmf_replays_them(tmp_path, record, replay):
    # marks a writer can be handed: one at the first chunk (nothing before it in the file), one
    # with no index jump, and a jump partly skipped on purpose and partly lost
    pieces = [df.Chunk(np.ones(10, np.float32), RATE, 7, 7 / RATE, {"overflow": 7}),
              df.Chunk(np.ones(10, np.float32), RATE, 17, 17 / RATE, {"overflow": 3}),
              df.Chunk(np.ones(10, np.float32), RATE, 77, 77 / RATE, {"skipped": 20, "overflow": 5})]
    record(io.wav_writer, df.from_iterable(pieces), tmp_path / "m.wav")
    record(io.sigmf_writer, df.from_iterable(pieces), tmp_path / "m")
    from_wav = replay(io.wav_source(tmp_path / "m.wav"))
    from_sigmf = replay(io.sigmf_source(tmp_path / "m"))

    def marks(items):
        return {c.index: (c.meta.get("overflow", 0), c.meta.get("skipped", 0))
                for c in items if "overflow" in c.meta or "skipped" in c.meta}

    assert marks(from_wav.items) == {77: (30, 20)}  # the jump 27 -> 77 is 20 skipped + 30 lost
    assert marks(from_wav.items) == marks(from_sigmf.items)
    np.testing.assert_array_equal(from_wav.indices, from_sigmf.indices)


def test_many_gaps_fit_in_the_comment(tmp_path, gappy, record, replay):
    """libsndfile keeps only short strings: the comment is written by daqflow."""
    x = random_samples("float32", 30_000, 1)
    stream = squelch_chunks(source_of(x, (10,)), frozenset(range(10, 30_000, 20)))
    rec = record(io.wav_writer, stream, tmp_path / "m.wav")
    assert rec.result["gaps"] == 1499
    back = replay(io.wav_source(tmp_path / "m.wav"))
    np.testing.assert_array_equal(back.indices, rec.seen.indices)
    assert reference(tmp_path / "m.wav")[1].shape == (15_000,)


# -- .partial until closed, whatever stops the writer -------------------------------------------

@df.block(name="watched")
async def watched(path, seen: list):
    """Chunks of 100 float32 samples; before the 5th, notes which files exist."""
    for k in range(8):
        if k == 5:
            await asyncio.sleep(0.1)  # the writer has taken the first chunks
            seen.append(sorted(p.name for p in path.parent.iterdir()))
        yield df.Chunk(np.full(100, k, np.float32), RATE, 100 * k, 100 * k / RATE)


def test_partial_until_closed(tmp_path, assert_no_partial):
    seen = []
    report = df.run(io.wav_writer(watched(tmp_path / "w.wav", seen), tmp_path / "w.wav", name="w"))
    assert seen == [["w.wav.partial"]]
    assert_no_partial(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.wav"]
    assert report.results["w"]["samples"] == 800


def test_stopped_by_duration(tmp_path, assert_no_partial, assert_bit_exact):
    adc = io.simulated_adc(RATE, chunk=480, tones=[(1000, 0.5)], dtype="float32", realtime=True)
    report = df.run(io.wav_writer(adc, tmp_path / "d.wav", name="w"), df.collect(adc, name="seen"),
                    duration=0.3)
    assert_no_partial(tmp_path)
    seen = report.results["seen"]
    assert report.results["w"]["samples"] == sum(c.samples for c in seen) > 0
    assert_bit_exact(reference(tmp_path / "d.wav")[1], np.concatenate([c.data for c in seen]))


def test_upstream_failure_keeps_what_came(tmp_path, fail_at, assert_no_partial, assert_bit_exact):
    x = random_samples("int32", 1000, 2)
    upstream = fail_at(source_of(x, (100,)), 4)
    with pytest.raises(df.BlockError) as err:
        df.run(io.wav_writer(upstream, tmp_path / "f.wav", name="w"), df.collect(upstream, name="seen"))
    assert err.value.block == "fail_at"
    assert err.value.report.results["w"]["samples"] == 400
    assert_no_partial(tmp_path)
    assert_bit_exact(reference(tmp_path / "f.wav")[1], x[:400])


def test_empty_stream_writes_no_file(tmp_path, record, assert_no_partial):
    rec = record(io.wav_writer, df.from_iterable([], rate=RATE), tmp_path / "e.wav")
    assert (rec.result["path"], rec.result["samples"]) == (None, 0)
    assert list(tmp_path.iterdir()) == []


# -- errors ------------------------------------------------------------------------------------

CHANGES = {
    "rate": ([np.zeros(10, np.int16), df.Chunk(np.zeros(10, np.int16), 8000.0, 10)],
             r"sample rate changed from 48000 to 8000 Hz at stream index 10"),
    "channels": ([np.zeros(10, np.int16), np.zeros((10, 2), np.int16)],
                 r"channels changed from 1 to shape \(2,\)"),
    "dtype": ([np.zeros(10, np.int16), np.zeros(10, np.float32)], r"changed from int16 to float32"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_change_mid_stream_fails_and_keeps_what_came_before(tmp_path, assert_no_partial, change):
    items, match = CHANGES[change]
    path = tmp_path / "c.wav"
    with pytest.raises(df.BlockError, match=match) as err:
        df.run(io.wav_writer(df.from_iterable(items, rate=RATE), path, name="w"))
    assert err.value.block == "w" and str(path) in str(err.value)
    assert_no_partial(tmp_path)
    assert reference(path)[1].tolist() == [0] * 10


@pytest.mark.parametrize("rate", [44_100.5, 0.5, 3e9])
def test_rate_must_be_whole_hz(tmp_path, assert_no_partial, rate):
    with pytest.raises(df.BlockError, match=r"whole number of Hz .* sample rate, got .*resample") as err:
        df.run(io.wav_writer(df.from_iterable([np.zeros(10, np.float32)], rate=rate), tmp_path / "r.wav",
                             name="w"))
    assert str(tmp_path / "r.wav") in str(err.value)
    assert_no_partial(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_complex_input_is_refused_with_what_to_do(tmp_path):
    with pytest.raises(df.GraphError, match=r"'mix' -> wav_writer .*complex chunks: take the real part"):
        io.wav_writer(dsp.mix(io.simulated_adc(RATE), freq=1e3), tmp_path / "c.wav")
    with pytest.raises(df.BlockError, match=r"WAV holds real samples, got complex \(complex64\): write "
                                            r"the real part \(chunk.data.real\) or demodulate first"):
        df.run(io.wav_writer(df.from_iterable([np.zeros(4, np.complex64)], rate=RATE), tmp_path / "c.wav"))
    assert list(tmp_path.iterdir()) == []


def test_unsupported_samples_and_formats(tmp_path):
    with pytest.raises(ValueError, match=r"sample_format must be one of \['float32', 'int16', 'int32'\]"):
        io.wav_writer(df.from_iterable([], rate=RATE), tmp_path / "u.wav", sample_format="int24")
    for data, fmt, match in [
        (np.zeros(4, np.uint8), None, "WAV holds int16, int32 or float32 samples, got uint8"),
        (np.zeros(4, np.int16), "float32", "int16 samples cannot be written as float32"),
    ]:
        with pytest.raises(df.BlockError, match=match):
            df.run(io.wav_writer(df.from_iterable([data], rate=RATE), tmp_path / "u.wav", sample_format=fmt))


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"wav_writer: directory .*nowhere' does not exist"):
        io.wav_writer(df.from_iterable([], rate=RATE), tmp_path / "nowhere" / "x.wav")


def test_wav_source_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"wav_source: no such file: .*absent.wav"):
        io.wav_source(tmp_path / "absent.wav")
    (tmp_path / "text.wav").write_text("not a sound file\n" * 10)
    with pytest.raises(ValueError, match=r"wav_source: .*text.wav' is not a WAV file \(no RIFF/WAVE"):
        io.wav_source(tmp_path / "text.wav")
    soundfile.write(tmp_path / "x.flac", np.zeros(100, np.int16), RATE)
    with pytest.raises(ValueError, match=r"x.flac' is not a WAV file"):
        io.wav_source(tmp_path / "x.flac")
    (tmp_path / "cut.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    with pytest.raises(ValueError, match=r"cut.wav' is not a WAV file libsndfile can read"):
        io.wav_source(tmp_path / "cut.wav")
    for chunk in (0, 1.5, True):
        with pytest.raises(ValueError, match="chunk must be an int >= 1"):
            io.wav_source(tmp_path / "x.flac", chunk=chunk)


# -- files from elsewhere, paced replay ------------------------------------------------------------

def test_wav_from_another_writer(tmp_path, replay, assert_bit_exact):
    x = random_samples("int16", 3000, 2)
    scipy.io.wavfile.write(tmp_path / "s.wav", 22_050, x)
    back = replay(io.wav_source(tmp_path / "s.wav", chunk=1024))
    assert_bit_exact(back.data, x)
    assert back.items[0].rate == 22_050 and back.items[0].index == 0
    assert io.inspect_recording(tmp_path / "s.wav").complete is None  # not known to be a daqflow file


def test_24_bit_file_is_read_as_int32_full_scale(tmp_path, replay, assert_bit_exact):
    x = random_samples("int32", 1000, 1) >> 8  # 24-bit values
    soundfile.write(tmp_path / "p24.wav", x << 8, RATE, subtype="PCM_24")
    _, expected = scipy.io.wavfile.read(tmp_path / "p24.wav")  # scipy: 24-bit in the top of int32
    assert_bit_exact(replay(io.wav_source(tmp_path / "p24.wav")).data, expected)
    assert expected.tolist() == (x << 8).tolist()


def test_realtime_replay_is_paced(tmp_path, record):
    record(io.wav_writer, df.from_iterable([np.zeros(5000, np.int16)], rate=10_000), tmp_path / "p.wav")
    t0 = time.perf_counter()
    fast = df.run(df.null_sink(io.wav_source(tmp_path / "p.wav", chunk=500)))
    unpaced = time.perf_counter() - t0
    t0 = time.perf_counter()
    paced = df.run(df.null_sink(io.wav_source(tmp_path / "p.wav", chunk=500, realtime=True)))
    elapsed = time.perf_counter() - t0
    assert fast.results == paced.results == {"null_sink": 10}
    assert 0.4 <= elapsed < 5.0, elapsed  # 10 chunks of 50 ms
    assert unpaced < elapsed


# -- daqflow inspect ------------------------------------------------------------------------------

def test_inspect_recording_and_cli(tmp_path, gappy, record, daqflow_cli):
    path = tmp_path / "g.wav"
    record(io.wav_writer, gappy(lost={2, 8}, skipped={5, 6}), path)
    info = io.inspect_recording(path)
    assert (info.format, info.dtype, info.rate, info.samples, info.complete) == ("WAV", "int16", RATE,
                                                                                 600, True)
    assert info.segments == 4 and info.center_freq is None

    result = daqflow_cli("inspect", path, "--plot", tmp_path / "g.png")
    assert result.returncode == 0, result.stderr
    rows = dict(line.split(None, 1) for line in result.stdout.splitlines()
                if line and not line.startswith(" ") and not line.startswith("plot:"))
    assert (rows["format"], rows["dtype"], rows["rate"], rows["samples"]) == ("WAV", "int16", "48000 Hz",
                                                                              "600")
    assert rows["duration"] == "0.0125 s" and rows["complete"] == "yes"
    listed = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("gap at")]
    assert [line.split(":")[0] for line in listed] == [f"gap at sample {p}" for p in (200, 400, 500)]
    assert (tmp_path / "g.png").stat().st_size > 10_000

    stereo = tmp_path / "st.wav"
    record(io.wav_writer, source_of(random_samples("float32", 100, 2)), stereo)
    assert io.inspect_recording(stereo).format == "WAV, 2 channels"

    (tmp_path / "bad.wav").write_bytes(b"\0" * 64)
    result = daqflow_cli("inspect", tmp_path / "bad.wav")
    assert result.returncode == 1
    assert "bad.wav' is named like WAV but is not a WAV file" in result.stderr
