"""SigMF layouts the `sigmf` library writes and reads: several channels, header and trailing
bytes, big-endian and unsigned complex types, `.sigmf` archives and Non-Conforming Datasets.
daqflow reads each as `sigmf` does (values compared exactly with `sigmf`'s own reader, which
gives float32 / complex64 of the integer values with autoscale=False) and `inspect` says what
they hold, per channel."""

import re
import warnings

import numpy as np
import pytest
from sigmf import SigMFFile, sigmffile

import daqflow as df
from daqflow import cli, io
from daqflow.io.inspection import read_samples

RATE = 1000.0


def _write(tmp_path, name, data_bytes, datatype, captures, rate=RATE, annotations=(), **global_fields):
    """A recording whose metadata the `sigmf` library writes; returns its meta path."""
    data_path = tmp_path / f"{name}.sigmf-data"
    data_path.write_bytes(data_bytes)
    handle = SigMFFile(global_info={
        "core:datatype": datatype, "core:sample_rate": rate, **global_fields})
    for start, fields in captures:
        handle.add_capture(start, metadata=fields)
    for start, length, fields in annotations:
        handle.add_annotation(start, length, metadata=fields)
    handle.set_data_file(str(data_path))  # (its sample count: with the captures' header bytes)
    meta = tmp_path / f"{name}.sigmf-meta"
    handle.tofile(str(meta))
    return meta


def _sigmf_reads(path, capture=None):
    """What the `sigmf` library reads (unscaled): all samples, or those of one capture."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handle = sigmffile.fromfile(str(path), autoscale=False)
        if capture is None:
            return handle.read_samples()
        return handle.read_samples_in_capture(capture)


def _sigmf_count(path):
    return sigmffile.fromfile(str(path), skip_checksum=True).sample_count


def _daqflow_reads(path, chunk=7):
    chunks = df.run(df.collect(io.sigmf_source(path, chunk=chunk))).results["collect"]
    return chunks, np.concatenate([c.data for c in chunks])


def _as_sigmf_gives(data, complex_integers):
    """daqflow's samples as `sigmf` gives them: float32, complex64 (I/Q pairs as complex)."""
    if complex_integers:
        return data[..., 0].astype(np.float32) + 1j * data[..., 1].astype(np.float32)
    return data.astype(np.complex64 if data.dtype.kind == "c" else np.float32)


def _inspect_rows(capsys, *args):
    """``daqflow inspect ARGS`` in this process: (exit code, rows by name)."""
    code = cli.main(["inspect", *map(str, args)])
    out, _ = capsys.readouterr()
    return code, dict(re.split(r"\s{2,}", line, maxsplit=1) for line in out.splitlines() if line)


# -- several channels ---------------------------------------------------------------------

def test_two_channels_come_back_as_columns(tmp_path):
    samples = np.arange(60, dtype=np.int16).reshape(30, 2)  # channel 0: even, channel 1: odd
    meta = _write(tmp_path, "two", samples.tobytes(), "ri16_le", [(0, {})],
                  **{"core:num_channels": 2})
    chunks, data = _daqflow_reads(meta)
    assert data.shape == (30, 2) and data.dtype == np.int16
    np.testing.assert_array_equal(data, _sigmf_reads(meta))
    assert [c.index for c in chunks] == list(range(0, 30, 7))  # indices count samples
    info = io.inspect_recording(meta)
    assert info.samples == 30 and info.duration == pytest.approx(30 / RATE)
    assert info.format == "SigMF, 2 channels"


def test_the_sigmf_logo_layout_is_two_channels_of_six_seconds(tmp_path, capsys):
    """The official SigMF logo recording's layout (its metadata; a signal of our own): ri16_le,
    2 channels at 48 kHz for 6 s. `inspect` by its bare name (as sigmf's README opens it)."""
    rate, seconds = 48000, 6
    t = np.arange(rate * seconds) / rate
    xy = np.stack([np.cos(2 * np.pi * 5 * t), np.sin(2 * np.pi * 5 * t)], axis=1)
    samples = np.round(20000 * xy).astype("<i2")
    comment = {"core:freq_lower_edge": -22000.0, "core:freq_upper_edge": 22000.0}
    meta = _write(tmp_path, "sigmf_logo", samples.tobytes(), "ri16_le",
                  [(0, {"core:datetime": "2021-06-18T23:17:51.163959Z"})], rate=rate,
                  annotations=[(6000, 42000, {"core:comment": "logo warmup", **comment}),
                               (48000, 138000, {"core:comment": "logo spinup", **comment}),
                               (186000, 96000, {"core:comment": "logo steady", **comment})],
                  **{"core:num_channels": 2, "core:author": "Kyle Logue, K6OF",
                     "core:description": "The Official SigMF Logo",
                     "core:recorder": "OsciStudio & Audacity"})
    assert _sigmf_count(meta) == rate * seconds
    _, data = _daqflow_reads(tmp_path / "sigmf_logo", chunk=1 << 16)
    assert data.shape == (rate * seconds, 2)
    np.testing.assert_array_equal(_as_sigmf_gives(data, False), _sigmf_reads(meta))

    code, rows = _inspect_rows(capsys, tmp_path / "sigmf_logo")
    assert code == 0
    assert (rows["format"], rows["samples"], rows["duration"]) == (
        "SigMF, 2 channels", str(rate * seconds), "6 s")
    info = io.inspect_recording(meta)
    np.testing.assert_array_equal(read_samples(info, 10), samples[:10, 0])  # inspect --plot's


# -- header and trailing bytes ------------------------------------------------------------

SIGMF_PYTHON_U8 = {  # sigmf-python's own test recordings (tests/testdata.py, TEST_U8_*)
    "two captures, header and trailing bytes": (
        [0xFE] * 32 + list(range(192)) + [0xFF] * 32,
        [(0, 32), (128, 0)], {"core:trailing_bytes": 32}),
    "a header per capture": (
        [0xFE] * 32 + list(range(128)) + [0xFE] * 16 + list(range(128, 192)) + [0xFF] * 16,
        [(0, 32), (128, 16)], {"core:trailing_bytes": 16}),
    "three captures, two headers": (
        [0xFE] * 32 + list(range(128)) + [0xFE] * 32 + list(range(128, 192)),
        [(0, 32), (32, 0), (128, 32)], {}),
    "two channels": (
        [0xFE] * 32 + [y for y in range(96) for _ in (0, 1)] + [0xFF] * 32,
        [(0, 32), (64, 0)], {"core:trailing_bytes": 32, "core:num_channels": 2}),
}


@pytest.mark.parametrize("case", list(SIGMF_PYTHON_U8))
def test_sigmf_pythons_own_ru8_recordings(tmp_path, case):
    values, headers, fields = SIGMF_PYTHON_U8[case]
    meta = _write(tmp_path, "ncd", bytes(values), "ru8",
                  [(start, {"core:header_bytes": n} if n else {}) for start, n in headers], **fields)
    chunks, data = _daqflow_reads(meta, chunk=50)
    channels = fields.get("core:num_channels", 1)
    assert data.dtype == np.uint8 and len(data) == 192 // channels == _sigmf_count(meta)
    theirs = np.concatenate([_sigmf_reads(meta, capture=k) for k in range(len(headers))])
    np.testing.assert_array_equal(_as_sigmf_gives(data, False), theirs)
    assert [c.index for c in chunks][-1] < len(data) == io.inspect_recording(meta).samples
    # what `inspect --plot` draws: the samples, no header byte among them
    np.testing.assert_array_equal(read_samples(io.inspect_recording(meta), 1000),
                                  data[:, 0] if channels > 1 else data)


@pytest.mark.parametrize(("datatype", "stored", "complex_integers"), [
    ("ci16_le", "<i2", True), ("rf32_be", ">f4", False), ("cu16_be", ">u2", True),
])
def test_header_and_trailing_bytes_around_two_channels(tmp_path, datatype, stored, complex_integers):
    rng = np.random.default_rng(3)
    shape = (40, 2, 2) if complex_integers else (40, 2)
    samples = rng.integers(0, 30000, shape).astype(stored)
    first, second = samples[:25], samples[25:]
    # (headers of whole samples: sigmf maps the file, headers and all, as samples)
    raw = b"HEADER" * 4 + first.tobytes() + b"hdr-hdr-" + second.tobytes() + b"TRAILER"
    meta = _write(tmp_path, "framed", raw, datatype,
                  [(0, {"core:header_bytes": 24}), (25, {"core:header_bytes": 8})],
                  **{"core:num_channels": 2, "core:trailing_bytes": 7})
    chunks, data = _daqflow_reads(meta, chunk=10)
    assert data.dtype.isnative and data.shape == samples.shape
    np.testing.assert_array_equal(data, samples)
    assert [c.index for c in chunks] == [0, 10, 20, 25, 35]  # a chunk per capture's part
    theirs = np.concatenate([_sigmf_reads(meta, capture=0), _sigmf_reads(meta, capture=1)])
    np.testing.assert_array_equal(_as_sigmf_gives(data, complex_integers), theirs)
    info = io.inspect_recording(meta)
    assert (info.samples, info.segments, info.format) == (40, 2, "SigMF, 2 channels")
    assert info.samples == _sigmf_count(meta)


# -- types --------------------------------------------------------------------------------

@pytest.mark.parametrize(("datatype", "dtype"), [
    ("cf32_be", ">c8"), ("cf64_be", ">c16"), ("ri16_be", ">i2"), ("rf64_be", ">f8"),
    ("ri32_be", ">i4"), ("ci16_be", ">i2"), ("cu16_le", "<u2"), ("cu32_be", ">u4"),
    ("ri8_le", "i1"),
])
def test_types_come_back_in_native_order(tmp_path, datatype, dtype):
    rng = np.random.default_rng(1)
    values = rng.integers(0 if "u" in dtype else -100, 100, 40).astype(np.float64)
    complex_integers = datatype.startswith("c") and not datatype.startswith("cf")
    if datatype.startswith("cf"):
        samples = (values[:20] + 1j * values[20:]).astype(dtype)
    elif complex_integers:
        samples = values.reshape(20, 2).astype(dtype)
    else:
        samples = values.astype(dtype)
    meta = _write(tmp_path, "typed", samples.tobytes(), datatype, [(0, {})])
    _, data = _daqflow_reads(meta)
    assert data.dtype.isnative and data.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(data, samples)  # the same values, native bytes
    np.testing.assert_array_equal(_as_sigmf_gives(data, complex_integers), _sigmf_reads(meta))
    info = io.inspect_recording(meta)
    assert (info.samples, info.dtype) == (len(samples), datatype)
    assert info.samples == _sigmf_count(meta)


def test_uint16_iq_pairs_are_written_as_cu16_that_sigmf_reads(tmp_path):
    iq = np.arange(2000, dtype=np.uint16).reshape(1000, 2)
    df.run(io.sigmf_writer(df.from_iterable([iq[:600], iq[600:]], rate=RATE), tmp_path / "u"))
    handle = sigmffile.fromfile(str(tmp_path / "u"), autoscale=False)
    assert handle.get_global_info()["core:datatype"] == "cu16_le"
    np.testing.assert_array_equal(handle.read_samples(), _as_sigmf_gives(iq, True))
    _, data = _daqflow_reads(tmp_path / "u", chunk=300)
    np.testing.assert_array_equal(data, iq)


# -- archives and Non-Conforming Datasets -------------------------------------------------

def test_a_sigmf_archive_is_read_in_place(tmp_path):
    samples = (np.arange(50) * (1 + 2j)).astype(np.complex64)
    data_path = tmp_path / "src.sigmf-data"
    samples.tofile(data_path)
    handle = SigMFFile(data_file=str(data_path), global_info={
        "core:datatype": "cf32_le", "core:sample_rate": RATE})
    handle.add_capture(0, metadata={"core:frequency": 433.92e6})
    archive = tmp_path / "capture.sigmf"
    handle.tofile(str(archive), toarchive=True)
    assert archive.is_file() and not (tmp_path / "capture.sigmf-meta").exists()

    for name in (archive, tmp_path / "capture"):  # the archive, or its name alone
        chunks, data = _daqflow_reads(name)
        np.testing.assert_array_equal(data, samples)
        assert chunks[0].meta["center_freq"] == 433.92e6
    np.testing.assert_array_equal(data, _sigmf_reads(archive))
    for name in (archive, tmp_path / "capture"):
        info = io.inspect_recording(name)
        assert info.format == "SigMF archive" and info.samples == 50
        assert info.center_freq == 433.92e6


def test_an_archive_of_two_big_endian_channels_with_header_and_trailing_bytes(tmp_path):
    """Packed with sigmf's archive API: the header bytes, channels and byte order hold inside
    the tar as in the files. (sigmf's own archive reader counts header bytes as samples in an
    archive, 64 here, so the reference is sigmf reading the files the archive was made of.)"""
    samples = np.arange(-60, 60, dtype=">i2").reshape(60, 2)
    raw = bytes(12) + samples[:20].tobytes() + bytes(4) + samples[20:].tobytes() + bytes(6)
    meta = _write(tmp_path, "plain", raw, "ri16_be",
                  [(0, {"core:header_bytes": 12}), (20, {"core:header_bytes": 4})],
                  **{"core:num_channels": 2, "core:trailing_bytes": 6})
    archive = tmp_path / "framed.sigmf"
    sigmffile.fromfile(str(meta)).archive(str(archive))

    _, data = _daqflow_reads(archive, chunk=16)
    assert data.dtype == np.int16 and data.dtype.isnative
    np.testing.assert_array_equal(data, samples)
    theirs = np.concatenate([_sigmf_reads(meta, capture=0), _sigmf_reads(meta, capture=1)])
    np.testing.assert_array_equal(_as_sigmf_gives(data, False), theirs)
    info = io.inspect_recording(archive)
    assert (info.format, info.samples) == ("SigMF archive, 2 channels", 60)
    assert _sigmf_count(meta) == 60


def test_a_non_conforming_dataset_reads_the_file_core_dataset_names(tmp_path):
    """A WAV-like file described by SigMF metadata: ``core:dataset`` names it, its header is
    the capture's ``core:header_bytes``."""
    samples = np.arange(80, dtype="<i2").reshape(40, 2)
    (tmp_path / "take.wav").write_bytes(b"RIFF" + bytes(40) + samples.tobytes() + b"LIST")
    handle = SigMFFile(data_file=str(tmp_path / "take.wav"), global_info={
        "core:datatype": "ri16_le", "core:sample_rate": RATE, "core:num_channels": 2,
        "core:dataset": "take.wav", "core:trailing_bytes": 4})
    handle.add_capture(0, metadata={"core:header_bytes": 44})
    handle.tofile(str(tmp_path / "take.sigmf-meta"))
    assert not (tmp_path / "take.sigmf-data").exists()

    _, data = _daqflow_reads(tmp_path / "take")
    np.testing.assert_array_equal(data, samples)
    np.testing.assert_array_equal(_as_sigmf_gives(data, False), _sigmf_reads(tmp_path / "take"))
    info = io.inspect_recording(tmp_path / "take.sigmf-meta")
    assert (info.samples, info.format) == (40, "SigMF, 2 channels")


# -- refusals -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["packed.sigmf", "packed.sigmf.gz"])
def test_a_compressed_archive_is_refused_in_one_line(tmp_path, name):
    samples = np.zeros(10, np.complex64)
    data_path = tmp_path / "src.sigmf-data"
    samples.tofile(data_path)
    handle = SigMFFile(data_file=str(data_path), global_info={
        "core:datatype": "cf32_le", "core:sample_rate": RATE})
    handle.add_capture(0)
    packed = tmp_path / name
    handle.tofile(str(packed), toarchive=True, compression="gz")
    assert packed.is_file()
    for open_it in (io.sigmf_source, io.inspect_recording):
        with pytest.raises(ValueError, match="compressed") as info:
            open_it(packed)
        assert str(packed) in str(info.value) and "\n" not in str(info.value)


def test_channels_that_do_not_divide_the_data_are_refused_naming_the_file(tmp_path):
    meta = _write(tmp_path, "odd", np.arange(8, dtype=np.int16).tobytes(), "ri16_le", [(0, {})],
                  **{"core:num_channels": 2})
    data = tmp_path / "odd.sigmf-data"
    data.write_bytes(data.read_bytes()[:-2])  # half a sample short
    with pytest.raises(ValueError, match="2 channels") as info:
        io.sigmf_source(meta)
    assert str(tmp_path / "odd.sigmf-data") in str(info.value)


def test_a_missing_non_conforming_dataset_is_named(tmp_path):
    meta = _write(tmp_path, "gone", bytes(8), "ri16_le", [(0, {})], **{"core:dataset": "gone.wav"})
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "gone.wav"))):
        io.sigmf_source(meta)
