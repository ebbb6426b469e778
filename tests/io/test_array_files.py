"""io.write_sigmf / read_sigmf, write_hdf5 / read_hdf5, write_wav / read_wav: arrays to and
from files in one call. Each file is read back by its format's reference reader (the sigmf
library, h5py and h5dump, scipy.io.wavfile and soundfile); write -> read round trips give
back the array (dtype, shape, bits) and the metadata; the file is the graph writer's own;
no event loop is needed (they run inside a running one); bad input is one line naming the
path."""

import asyncio
import datetime as dt
import json
import re
import subprocess
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io.wavfile
import sigmf
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import daqflow as df
from daqflow import io

WHEN = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)
META = {"antenna": "dipole", "gain_db": 12.5, "runs": [1, 2, 3], "site": {"lat": 52.1, "ok": True}}


def samples(dtype, n=500, channels=None, seed=3):
    """Random samples of ``dtype``, (n,) or (n, channels); integers over their whole range."""
    rng = np.random.default_rng(seed)
    shape = (n,) if channels is None else (n, channels)
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True, dtype=dtype)


def assert_same(actual, expected):
    assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape)
    assert actual.tobytes() == expected.tobytes()


# -- reference readers ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, shape", [("complex64", None), ("float32", None), ("int16", None),
                                          ("int16", 2)])
def test_sigmf_file_read_by_the_sigmf_library(tmp_path, dtype, shape):
    x = samples(dtype, channels=shape)
    path = io.write_sigmf(tmp_path / "rec", x, rate=2.4e6, center_freq=433.92e6,
                          meta={**META, "datetime": WHEN})
    assert path == tmp_path / "rec.sigmf-meta"
    handle = sigmf.sigmffile.fromfile(str(path), autoscale=False)
    handle.validate()
    info, captures = handle.get_global_info(), handle.get_captures()
    assert info["core:sample_rate"] == 2.4e6
    assert info["core:datatype"] == {"complex64": "cf32_le", "float32": "rf32_le",
                                     "int16": "ci16_le" if shape else "ri16_le"}[dtype]
    assert info["daqflow:meta"] == META
    assert [c["core:frequency"] for c in captures] == [433.92e6]
    assert captures[0]["core:datetime"] == "2026-03-04T05:06:07.891011Z"
    back = handle.read_samples()
    expected = x[:, 0] + 1j * x[:, 1] if shape else x
    assert back.shape == expected.shape
    np.testing.assert_array_equal(back, expected)


@pytest.mark.parametrize("dtype, channels", [("complex64", None), ("float32", None), ("int16", None),
                                             ("float32", 2), ("uint8", 3)])
def test_hdf5_file_read_by_h5py(tmp_path, dtype, channels):
    x = samples(dtype, channels=channels)
    path = io.write_hdf5(tmp_path / "rec.h5", x, rate=1e5, center_freq=915e6,
                         meta={**META, "datetime": WHEN})
    assert path == tmp_path / "rec.h5"
    with h5py.File(path, "r") as f:
        data = f["signal"]
        assert_same(data[()], x)
        assert data.attrs["rate"] == 1e5
        assert data.attrs["center_freq"] == 915e6
        assert bool(data.attrs["complete"])
        assert json.loads(data.attrs["user_meta"]) == META
        assert data.attrs["datetime"] == "2026-03-04T05:06:07.891011Z"


def test_hdf5_file_read_by_h5dump(tmp_path):
    x = np.array([-32768, -1, 0, 1, 7, 32767], np.int16)
    path = io.write_hdf5(tmp_path / "rec.h5", x, rate=8000, meta={"note": "h5dump"})
    out = subprocess.run(["/usr/bin/h5dump", "-d", "/signal", str(path)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert "H5T_STD_I16LE" in out
    values = out.split("DATA {", 1)[1].split("}", 1)[0].replace("(0):", "")
    assert [int(v) for v in values.split(",")] == x.tolist()

    def attribute(name):
        return re.search(rf'ATTRIBUTE "{name}" {{.*?\(0\): ([^\n]*)', out, re.DOTALL).group(1)

    assert float(attribute("rate")) == 8000.0
    assert attribute("user_meta") == '"{"note": "h5dump"}"'
    assert attribute("complete") == "TRUE"


@pytest.mark.parametrize("dtype, channels", [("int16", None), ("int32", None), ("float32", None),
                                             ("int16", 2), ("float32", 2)])
def test_wav_file_read_by_scipy_and_soundfile(tmp_path, dtype, channels):
    x = samples(dtype, channels=channels)
    path = io.write_wav(tmp_path / "rec.wav", x, rate=44100, meta=META)
    rate, data = scipy.io.wavfile.read(path)  # (a warning about an unknown chunk fails the test)
    assert rate == 44100
    assert_same(data, x)
    back, sf_rate = soundfile.read(path, dtype=dtype)
    assert sf_rate == 44100
    assert_same(back, x)
    with soundfile.SoundFile(path) as f:
        assert json.loads(f.comment)["meta"] == META


# -- round trips ------------------------------------------------------------------------------

CASES = {  # format: (writer, reader, dtypes, channel counts)
    "sigmf": (io.write_sigmf, io.read_sigmf, ["complex64", "float32", "int16", "complex128"],
              [None, 2]),  # (n, 2) integers: I/Q pairs
    "hdf5": (io.write_hdf5, io.read_hdf5, ["complex64", "float32", "int16", "float64"], [None, 1, 2]),
    "wav": (io.write_wav, io.read_wav, ["float32", "int16", "int32"],
            [None, 2]),  # (n, 1) is a mono file: read as (n,)
}
NAMES = {"sigmf": "rec", "hdf5": "rec.h5", "wav": "rec.wav"}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)
user_meta = st.dictionaries(st.text(min_size=1, max_size=8).filter(
    lambda k: k not in ("rate", "center_freq", "ended", "datetime", "gaps")), json_values, max_size=4)


@pytest.mark.parametrize("kind", CASES)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_gives_back_array_and_meta(kind, data):
    write, read, dtypes, channel_counts = CASES[kind]
    dtype = data.draw(st.sampled_from(dtypes), label="dtype")
    channels = data.draw(st.sampled_from(channel_counts), label="channels")
    if kind == "sigmf" and np.dtype(dtype).kind != "i":
        channels = None  # SigMF holds one channel: (n, 2) are integer I/Q pairs
    n = data.draw(st.integers(1, 300), label="n")
    x = samples(dtype, n, channels, seed=data.draw(st.integers(0, 2**16), label="seed"))
    rate = data.draw(st.integers(1, 10**6) if kind == "wav" else st.floats(1e-3, 1e10), label="rate")
    center = data.draw(st.none() | st.floats(-1e10, 1e10), label="center_freq")
    when = data.draw(st.none() | st.datetimes(timezones=st.just(dt.UTC)), label="datetime")
    meta = data.draw(user_meta, label="meta")
    given_meta = meta if when is None else {**meta, "datetime": when}
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory) / NAMES[kind], x, rate=rate, center_freq=center, meta=given_meta)
        back, back_meta = read(path)
        assert sorted(p.name for p in Path(directory).iterdir() if p.name.endswith(".partial")) == []
    assert_same(back, x)
    assert back_meta == {"rate": float(rate), "center_freq": center, "datetime": when, "gaps": [],
                         **meta}


def test_read_sigmf_gives_channels_as_columns(tmp_path):
    """A 2-channel recording written by the sigmf library (samples interleaved)."""
    x = samples("complex64", 300, 2)
    x.tofile(tmp_path / "two.sigmf-data")
    handle = sigmf.SigMFFile(data_file=str(tmp_path / "two.sigmf-data"), global_info={
        "core:datatype": "cf32_le", "core:sample_rate": 5e5, "core:num_channels": 2})
    handle.add_capture(0, metadata={"core:frequency": 2.4e9, "core:datetime": "2026-03-04T05:06:07Z"})
    handle.tofile(str(tmp_path / "two.sigmf-meta"))
    back, meta = io.read_sigmf(tmp_path / "two")
    assert_same(back, x)
    assert meta == {"rate": 5e5, "center_freq": 2.4e9,
                    "datetime": dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC), "gaps": []}


def test_reads_files_written_elsewhere(tmp_path):
    """A WAV file from scipy and an HDF5 dataset from h5py, with none of daqflow's metadata."""
    x = samples("int16", 400, 2)
    scipy.io.wavfile.write(tmp_path / "scipy.wav", 22050, x)
    back, meta = io.read_wav(tmp_path / "scipy.wav")
    assert_same(back, x)
    assert meta == {"rate": 22050.0, "center_freq": None, "datetime": None, "gaps": []}
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["frames"] = samples("float64", 20, 3)
    back, meta = io.read_hdf5(tmp_path / "plain.h5", dataset="frames")
    assert_same(back, samples("float64", 20, 3))
    assert meta == {"rate": None, "center_freq": None, "datetime": None, "gaps": []}


def test_hdf5_dataset_name(tmp_path):
    x = samples("float32", 50)
    path = io.write_hdf5(tmp_path / "rec.h5", x, rate=10.0, dataset="trace")
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["trace", "trace_gaps", "trace_segments"]
    assert_same(io.read_hdf5(path, "trace")[0], x)
    with pytest.raises(ValueError, match=r"^write_hdf5 .*: dataset must be a dataset name, got ''$"):
        io.write_hdf5(tmp_path / "other.h5", x, rate=10.0, dataset="")


def test_overwrites_an_existing_file(tmp_path):
    for kind, (write, read, dtypes, _) in CASES.items():
        first, second = samples(dtypes[0], 100), samples(dtypes[0], 30, seed=9)
        path = write(tmp_path / NAMES[kind], first, rate=8000, meta={"take": 1})
        assert write(tmp_path / NAMES[kind], second, rate=16000) == path
        back, meta = read(path)
        assert_same(back, second)
        assert meta == {"rate": 16000.0, "center_freq": None, "datetime": None, "gaps": []}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_works_inside_a_running_event_loop(tmp_path):
    """As in Jupyter: called from a coroutine while the loop runs (df.run could not be)."""
    x = samples("int16", 200, 2)

    async def notebook_cell():
        loop = asyncio.get_running_loop()
        out = {}
        for kind, (write, read, _, _) in CASES.items():
            y = x[:, 0].copy() if kind == "sigmf" else x
            out[kind] = (y, read(write(tmp_path / NAMES[kind], y, rate=48000)))
        assert asyncio.get_running_loop() is loop
        return out

    for y, (back, meta) in asyncio.run(notebook_cell()).values():
        assert_same(back, y)
        assert meta["rate"] == 48000.0


# -- the same file as the graph writer --------------------------------------------------------

def graph_write(writer, chunk, path):
    df.run(writer(df.from_iterable([chunk]), path, name="w"))


def test_sigmf_file_equals_the_graph_writers(tmp_path):
    x = samples("complex64", 1000)
    io.write_sigmf(tmp_path / "one", x, rate=1e6, center_freq=1e8)
    graph_write(io.sigmf_writer, df.Chunk(x, 1e6, meta={"center_freq": 1e8}), tmp_path / "graph")
    for ext in (".sigmf-meta", ".sigmf-data"):
        assert (tmp_path / f"one{ext}").read_bytes() == (tmp_path / f"graph{ext}").read_bytes()


def test_hdf5_file_equals_the_graph_writers(tmp_path):
    x = samples("float32", 1000, 2)
    io.write_hdf5(tmp_path / "one.h5", x, rate=1e6, center_freq=1e8)
    graph_write(io.hdf5_writer, df.Chunk(x, 1e6, meta={"center_freq": 1e8}), tmp_path / "graph.h5")

    def contents(path):
        with h5py.File(path, "r") as f:
            return {name: (f[name][()].tobytes(), f[name].dtype, f[name].shape, f[name].chunks,
                           {k: str(v) for k, v in f[name].attrs.items()}) for name in f}

    assert contents(tmp_path / "one.h5") == contents(tmp_path / "graph.h5")


@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_wav_file_equals_the_graph_writers(tmp_path, dtype):
    x = samples(dtype, 1000, 2)
    io.write_wav(tmp_path / "one.wav", x, rate=48000, center_freq=1e8)
    graph_write(io.wav_writer, df.Chunk(x, 48000, meta={"center_freq": 1e8}), tmp_path / "graph.wav")
    one, graph = (tmp_path / "one.wav").read_bytes(), (tmp_path / "graph.wav").read_bytes()
    if dtype == "float32":  # libsndfile's PEAK chunk (now JUNK) holds the time it was written (s)
        peak = one.index(b"JUNK")
        assert peak == graph.index(b"JUNK")
        one, graph = (f[:peak + 12] + f[peak + 16:] for f in (one, graph))
    assert one == graph


# -- refused input: one line naming the path --------------------------------------------------

def _bad_cases():
    f32, c64 = samples("float32", 10), samples("complex64", 10)
    ok = {"rate": 1000}
    return [
        ("sigmf", [1.0, 2.0], ok, TypeError, "array must be a numpy array, got list"),
        ("hdf5", np.array(1.0, np.float32), ok, ValueError, "got a scalar"),
        ("wav", f32, {"rate": 0}, ValueError, "rate must be a sample rate > 0 Hz, got 0"),
        ("sigmf", c64, {"rate": -1e6}, ValueError, "rate must be a sample rate > 0 Hz, got -1000000.0"),
        ("hdf5", f32, {"rate": float("nan")}, ValueError, "rate must be a sample rate > 0 Hz, got nan"),
        ("hdf5", f32, {"rate": True}, ValueError, "rate must be a sample rate > 0 Hz, got True"),
        ("wav", f32, {"rate": "48k"}, ValueError, "rate must be a sample rate > 0 Hz, got '48k'"),
        ("wav", f32, {"rate": 44100.5}, ValueError, "WAV needs a whole number of Hz"),
        ("sigmf", c64, {"rate": 1e6, "center_freq": "100M"}, ValueError, "center_freq must be a frequency"),
        ("sigmf", samples("float16", 10), ok, ValueError, "SigMF cannot hold float16 samples"),
        ("sigmf", samples("float32", 10, 3), ok, ValueError,
         "SigMF cannot hold float32 samples of shape (3,) per sample (1-D samples, or (n, 2) integer I/Q "
         "pairs; several channels: one file each, or write_hdf5)"),
        ("sigmf", c64[:0], ok, ValueError, "the array has no samples"),
        ("hdf5", np.array(["a", "b"]), ok, ValueError,
         "numeric samples (bool, integers, floats, complex), got <U1"),
        ("hdf5", np.zeros((4, 0)), ok, ValueError, "values in every sample, got shape (4, 0)"),
        ("wav", c64, ok, ValueError, "int16, int32 or float32 samples, got complex64 (take the real part"),
        ("wav", samples("float64", 10), ok, ValueError,
         "got float64 (convert first: array.astype(np.float32))"),
        ("wav", samples("uint8", 10), ok, ValueError, "int16, int32 or float32 samples, got uint8"),
        ("wav", np.zeros((4, 2, 2), np.int16), ok, ValueError, "(n,) or (n, channels), got shape (4, 2, 2)"),
        ("hdf5", f32, {**ok, "meta": {"rate": 5}}, ValueError,
         "meta key 'rate' is the file's own: give rate="),
        ("wav", f32, {**ok, "meta": {"ended": "x"}}, ValueError, "meta key 'ended' is the file's own"),
        ("sigmf", c64, {**ok, "meta": {"x": object()}}, ValueError, "meta must hold JSON values"),
        ("hdf5", f32, {**ok, "meta": {"x": float("inf")}}, ValueError, "meta must hold JSON values"),
        ("hdf5", f32, {**ok, "meta": {1: "a"}}, TypeError, "meta keys must be strings, got 1"),
        ("wav", f32, {**ok, "meta": [("a", 1)]}, TypeError, "meta must be a dict or None, got list"),
        ("sigmf", c64, {**ok, "meta": {"datetime": dt.datetime(2026, 1, 1)}}, ValueError,
         "meta['datetime'] must be a timezone-aware datetime"),
        ("hdf5", f32, {**ok, "meta": {"datetime": "yesterday"}}, ValueError,
         "meta['datetime'] must be a timezone-aware datetime"),
    ]


@pytest.mark.parametrize("kind, array, kwargs, error, words", _bad_cases())
def test_refused_input_is_one_line_naming_the_path(tmp_path, kind, array, kwargs, error, words):
    write = CASES[kind][0]
    path = tmp_path / NAMES[kind]
    with pytest.raises(error) as caught:
        write(path, array, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"write_{kind} {str(path)!r}: "), message
    assert words in message
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing left behind


def test_rate_is_keyword_only(tmp_path):
    with pytest.raises(TypeError):
        io.write_wav(tmp_path / "x.wav", samples("int16"), 8000)  # type: ignore[misc]


@pytest.mark.parametrize("kind", CASES)
def test_missing_file_names_the_path(tmp_path, kind):
    path = tmp_path / NAMES[kind]
    with pytest.raises(FileNotFoundError) as caught:
        CASES[kind][1](path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("kind", CASES)
def test_not_a_recording_names_the_path(tmp_path, kind):
    path = tmp_path / NAMES[kind]
    target = path.with_name(path.name + ".sigmf-meta") if kind == "sigmf" else path
    target.write_text("not a recording\n")
    with pytest.raises(ValueError) as caught:
        CASES[kind][1](path)
    assert str(target) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_directory_names_it(tmp_path):
    path = tmp_path / "absent" / "rec.wav"
    with pytest.raises(FileNotFoundError, match=r"write_wav: directory .*absent.* does not exist"):
        io.write_wav(path, samples("int16"), rate=8000)


@pytest.mark.parametrize("kind, writer", [("sigmf", io.sigmf_writer), ("hdf5", io.hdf5_writer),
                                          ("wav", io.wav_writer)])
def test_a_recordings_gaps_are_in_the_readers_meta(kind, writer, tmp_path):
    """Samples come back back to back; where 50 were lost and 20 skipped, meta says so (the
    one-call readers said nothing: a time axis from the rate was silently wrong after it)."""
    x = samples("float32", 300)
    chunks = [df.Chunk(x[:100], 1e3, 0),
              df.Chunk(x[100:200], 1e3, 150, 0.15, {"overflow": 50}),
              df.Chunk(x[200:], 1e3, 270, 0.27, {"skipped": 20})]
    path = tmp_path / NAMES[kind]
    df.run(writer(df.from_iterable(chunks), path))
    read = {"sigmf": io.read_sigmf, "hdf5": io.read_hdf5, "wav": io.read_wav}[kind]
    back, meta = read(path)
    assert_same(back, x)
    assert meta["gaps"] == [(100, 50, 0), (200, 0, 20)]
