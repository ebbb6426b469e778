"""io.hdf5_writer / io.hdf5_source: files plain h5py reads back bit-exact with their
attributes and the segments/gaps tables; replay; a second process reading the file while it
grows (SWMR)."""

import json
import subprocess
import sys
import time
from itertools import pairwise

import h5py
import numpy as np
import pytest

import daqflow as df
from daqflow import io

RATE = 1e6  # the adc fixture's
CENTER = 433.92e6


def test_round_trip_bit_exact_with_attributes(tmp_path, adc, record, assert_bit_exact):
    path = tmp_path / "rec.h5"
    rec = record(io.hdf5_writer, adc(5500, chunk=1000, center_freq=CENTER), path)
    assert rec.result == {"path": str(path), "dataset": "signal", "samples": 5500}

    with h5py.File(path, "r") as f:
        assert sorted(f) == ["signal", "signal_gaps", "signal_segments"]
        ds = f["signal"]
        assert_bit_exact(ds[()], rec.seen.data)
        attrs = dict(ds.attrs)
        assert attrs["rate"] == RATE
        assert attrs["start_index"] == 0
        assert attrs["start_time"] == 0.0
        assert attrs["center_freq"] == CENTER
        assert bool(attrs["complete"]) is True
        assert json.loads(attrs["meta"]) == {"center_freq": CENTER}
        np.testing.assert_array_equal(f["signal_segments"][()], [[0, 0, RATE, CENTER]])
        assert f["signal_gaps"].shape == (0, 4)


@pytest.mark.parametrize("dtype", ["complex128", "float32", "int16"])
def test_other_sample_types_round_trip(tmp_path, adc, record, assert_bit_exact, dtype):
    rec = record(io.hdf5_writer, adc(3000, chunk=512, dtype=dtype, seed=5), tmp_path / "x.h5")
    with h5py.File(tmp_path / "x.h5", "r") as f:
        assert_bit_exact(f["signal"][()], rec.seen.data)
        assert "center_freq" not in f["signal"].attrs
        assert np.isnan(f["signal_segments"][0, 3])


def test_int16_iq_pairs_and_frames_keep_their_shape(tmp_path, record, replay, assert_bit_exact):
    iq = np.random.default_rng(2).integers(-32768, 32767, (2500, 2), endpoint=True).astype(np.int16)
    rec = record(io.hdf5_writer, df.from_iterable([iq[:1000], iq[1000:]], rate=1e5),
                 tmp_path / "iq.h5", chunk=4096)
    with h5py.File(tmp_path / "iq.h5", "r") as f:
        assert_bit_exact(f["signal"][()], iq)
    back = replay(io.hdf5_source(tmp_path / "iq.h5", chunk=700))
    assert_bit_exact(back.data, rec.seen.data)
    np.testing.assert_array_equal(back.indices, np.arange(2500))


def test_replay_gives_back_samples_indices_rate_and_center(tmp_path, adc, record, replay,
                                                           assert_bit_exact):
    rec = record(io.hdf5_writer, adc(10_000, chunk=1000, center_freq=CENTER), tmp_path / "r.h5")
    back = replay(io.hdf5_source(tmp_path / "r.h5", chunk=3000))
    assert [c.samples for c in back.items] == [3000, 3000, 3000, 1000]
    assert_bit_exact(back.data, rec.seen.data)
    np.testing.assert_array_equal(back.indices, rec.seen.indices)
    assert all(c.rate == RATE and c.meta["center_freq"] == CENTER for c in back.items)
    assert back.overflow == {}


def test_gaps_are_listed_and_replayed_as_index_jumps(tmp_path, adc, record, drop_chunks, replay,
                                                     assert_bit_exact):
    stream = drop_chunks(adc(10_000, chunk=1000, center_freq=CENTER), {2, 5, 6})
    rec = record(io.hdf5_writer, stream, tmp_path / "gappy.h5")
    assert rec.result["samples"] == 7000
    with h5py.File(tmp_path / "gappy.h5", "r") as f:
        assert_bit_exact(f["signal"][()], rec.seen.data)
        # (position, lost, index, skipped)
        np.testing.assert_array_equal(f["signal_gaps"][()], [[2000, 1000, 3000, 0], [4000, 2000, 7000, 0]])
        np.testing.assert_array_equal(
            f["signal_segments"][()],
            [[0, 0, RATE, CENTER], [2000, 3000, RATE, CENTER], [4000, 7000, RATE, CENTER]])

    back = replay(io.hdf5_source(tmp_path / "gappy.h5", chunk=1500))
    assert_bit_exact(back.data, rec.seen.data)
    np.testing.assert_array_equal(back.indices, rec.seen.indices)
    assert back.overflow == {3000: 1000, 7000: 2000}

    info = io.inspect_recording(tmp_path / "gappy.h5")
    assert info.gaps == ((2000, 1000, 0), (4000, 2000, 0)) and (info.lost, info.skipped) == (3000, 0)


def test_rate_and_center_frequency_changes_are_segments(tmp_path, adc, retune, record, replay,
                                                        assert_bit_exact):
    stream = retune(retune(adc(6000, chunk=1000, center_freq=CENTER), 2000, center_freq=868e6),
                    4000, rate=RATE / 4)
    rec = record(io.hdf5_writer, stream, tmp_path / "seg.h5")
    with h5py.File(tmp_path / "seg.h5", "r") as f:
        assert f["signal"].attrs["rate"] == RATE  # of the first segment
        np.testing.assert_array_equal(
            f["signal_segments"][()],
            [[0, 0, RATE, CENTER], [2000, 2000, RATE, 868e6], [4000, 4000, RATE / 4, 868e6]])
        assert f["signal_gaps"].shape == (0, 4)
    back = replay(io.hdf5_source(tmp_path / "seg.h5", chunk=1500))
    assert_bit_exact(back.data, rec.seen.data)
    np.testing.assert_array_equal(back.indices, np.arange(6000))
    assert back.per_sample(lambda c: (c.rate, c.meta["center_freq"])) == [
        (0, (RATE, CENTER)), (2000, (RATE, 868e6)), (4000, (RATE / 4, 868e6))]
    assert back.overflow == {}


def test_stream_not_starting_at_zero(tmp_path, record, replay):
    x = np.arange(50, dtype=np.float64)
    chunks = [df.Chunk(x[:20], 10.0, 700, 70.0), df.Chunk(x[20:], 10.0, 720, 72.0)]
    record(io.hdf5_writer, df.from_iterable(chunks), tmp_path / "late.h5")
    with h5py.File(tmp_path / "late.h5", "r") as f:
        assert f["signal"].attrs["start_index"] == 700
        assert f["signal"].attrs["start_time"] == 70.0
    back = replay(io.hdf5_source(tmp_path / "late.h5"))
    np.testing.assert_array_equal(back.indices, np.arange(700, 750))
    assert back.items[0].time == 70.0


def test_named_dataset(tmp_path, adc, record, replay, assert_bit_exact):
    rec = record(io.hdf5_writer, adc(2000), tmp_path / "n.h5", dataset="iq")
    with h5py.File(tmp_path / "n.h5", "r") as f:
        assert sorted(f) == ["iq", "iq_gaps", "iq_segments"]
    assert_bit_exact(replay(io.hdf5_source(tmp_path / "n.h5", dataset="iq")).data, rec.seen.data)
    datasets = r"'signal' is no such dataset \(its datasets: iq, iq_gaps, iq_segments\)"
    with pytest.raises(ValueError, match=datasets):
        io.hdf5_source(tmp_path / "n.h5")


def test_dataset_written_by_plain_h5py_replays_at_1_hz(tmp_path, replay):
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["signal"] = np.arange(10, dtype=np.int32)
    back = replay(io.hdf5_source(tmp_path / "plain.h5", chunk=4))
    np.testing.assert_array_equal(back.data, np.arange(10))
    assert all(c.rate == 1.0 for c in back.items)


def test_empty_stream_leaves_a_valid_empty_recording(tmp_path, adc, record):
    rec = record(io.hdf5_writer, adc(0), tmp_path / "empty.h5")
    assert rec.result["samples"] == 0
    with h5py.File(tmp_path / "empty.h5", "r") as f:
        assert f["signal"].shape == (0,)
        assert bool(f["signal"].attrs["complete"])


def test_threaded_writer_gives_the_same_file(tmp_path, adc, record, assert_bit_exact):
    rec = record(io.hdf5_writer, adc(30_000, chunk=999), tmp_path / "t.h5", threaded=True,
                 chunk=1024, flush_interval=0.01)
    with h5py.File(tmp_path / "t.h5", "r") as f:
        assert_bit_exact(f["signal"][()], rec.seen.data)


@pytest.mark.parametrize(("option", "value"), [("chunk", 0), ("chunk", 2.5), ("flush_interval", 0)])
def test_bad_writer_options(tmp_path, adc, option, value):
    with pytest.raises(ValueError, match=option):
        io.hdf5_writer(adc(10), tmp_path / "x.h5", **{option: value})
    assert not list(tmp_path.iterdir())


# -- a second process reads the file while it grows (SWMR) ------------------------------------

READER = r"""
import json, sys, time
import h5py

path, locking = sys.argv[1], {"default": None, "off": False}[sys.argv[2]]
options = {} if locking is None else {"locking": locking}
deadline = time.monotonic() + 30
while True:  # until the writer has made the dataset and switched to SWMR
    try:
        f = h5py.File(path, "r", libver="latest", swmr=True, **options)
        ds = f["signal"]
        break
    except (OSError, KeyError):
        if time.monotonic() > deadline:
            raise
        time.sleep(0.02)
lengths = []
while sys.stdin.readline().strip() == "poll":  # the test asks, every ~0.2 s
    ds.refresh()
    lengths.append(int(ds.shape[0]))
    print(lengths[-1], flush=True)
f.close()
"""


def watch_recording(tmp_path, locking):
    """``daqflow record OUT.h5`` (real time, 1 MHz, 3 s) watched by a reader process that
    refreshes the dataset every 0.2 s until the recorder has ended, then polls once more.
    Returns (lengths seen, the recorder's CompletedProcess)."""
    path = tmp_path / "live.h5"
    command = [sys.executable, "-m", "daqflow", "record", str(path), "--rate", "1e6", "--duration", "3"]
    lengths = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as recorder, \
            subprocess.Popen([sys.executable, "-c", READER, str(path), locking], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True) as reader:
        try:
            while True:
                ended = recorder.poll() is not None
                reader.stdin.write("poll\n")
                reader.stdin.flush()
                line = reader.stdout.readline()
                assert line, "the reader process died"
                lengths.append(int(line))
                if ended:
                    break
                time.sleep(0.2)
            reader.stdin.write("stop\n")
            reader.stdin.flush()
            assert reader.wait(timeout=30) == 0
            stdout, stderr = recorder.communicate(timeout=30)
        finally:
            for proc in (reader, recorder):
                if proc.poll() is None:
                    proc.kill()
    return lengths, subprocess.CompletedProcess(command, recorder.returncode, stdout, stderr)


def growths(lengths):
    assert all(b >= a for a, b in pairwise(lengths)), f"shrank: {lengths}"
    return sum(b > a for a, b in pairwise(lengths))


@pytest.fixture(scope="module")
def watched_with_default_locking(tmp_path_factory):
    """The reader opens the file exactly as the hdf5_writer docstring says."""
    tmp = tmp_path_factory.mktemp("swmr")
    lengths, recorder = watch_recording(tmp, "default")
    return tmp / "live.h5", lengths, recorder


def test_swmr_reader_sees_the_file_grow(watched_with_default_locking):
    _, lengths, _ = watched_with_default_locking
    assert growths(lengths) >= 3, lengths  # the writer flushes every second (and at the end)
    assert lengths[-1] > 2_000_000


def test_swmr_recording_is_complete_after_being_watched(watched_with_default_locking):
    path, lengths, recorder = watched_with_default_locking
    assert recorder.returncode == 0, recorder.stderr
    samples = int(recorder.stdout.rsplit("samples=", 1)[1])
    with h5py.File(path, "r") as f:
        assert bool(f["signal"].attrs["complete"])
        assert f["signal"].shape[0] == samples == lengths[-1]


def test_swmr_reader_without_file_locking_and_complete_file(tmp_path):
    lengths, recorder = watch_recording(tmp_path, "off")
    assert recorder.returncode == 0, recorder.stderr
    assert growths(lengths) >= 3, lengths
    samples = int(recorder.stdout.rsplit("samples=", 1)[1])
    assert 2_500_000 < samples <= 3_100_000  # 3 s at 1 MHz, in chunks of 8192
    with h5py.File(tmp_path / "live.h5", "r") as f:
        assert bool(f["signal"].attrs["complete"])
        assert f["signal"].shape[0] == samples == lengths[-1]


@pytest.mark.parametrize("frame_shape", [(), (3,), (2, 5)])
@pytest.mark.parametrize("hdf5_chunk", [1, 7, 64, 1000])
def test_raw_chunk_writes_and_flushes_keep_every_row_in_order(tmp_path, frame_shape, hdf5_chunk):
    """Rows reach HDF5 as whole raw chunks, ordinary writes up to a chunk boundary, and
    flushes in between (flush_interval tiny): the file holds every row once, in order."""
    rng = np.random.default_rng(hdf5_chunk)
    sizes = rng.integers(1, 90, size=40)
    data = rng.standard_normal((int(sizes.sum()), *frame_shape)).astype(np.float32)
    items, start = [], 0
    for size in sizes:
        items.append(df.Chunk(data[start:start + size], 1e3, start, start / 1e3))
        start += size
    path = tmp_path / "rows.h5"
    flush = 1e-4 if hdf5_chunk in (7, 1000) else 10.0
    report = df.run(io.hdf5_writer(df.from_iterable(items), path, chunk=hdf5_chunk,
                                   flush_interval=flush, name="w"))
    assert report.results["w"]["samples"] == len(data)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["signal"][()], data)
        assert f["signal"].attrs["complete"]
