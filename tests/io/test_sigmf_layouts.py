"""SigMF layouts the `sigmf` library writes and reads: several channels, header and trailing
bytes, big-endian types and `.sigmf` archives. daqflow reads each as `sigmf` does (values
compared with `sigmf`'s own reader) and `inspect` says what they hold."""

import warnings

import numpy as np
import pytest
from sigmf import SigMFFile, sigmffile

import daqflow as df
from daqflow import io

RATE = 1000.0


def _write(tmp_path, name, data_bytes, datatype, captures, **global_fields):
    """A recording whose metadata the `sigmf` library writes; returns its meta path."""
    data_path = tmp_path / f"{name}.sigmf-data"
    data_path.write_bytes(data_bytes)
    handle = SigMFFile(data_file=str(data_path), global_info={
        "core:datatype": datatype, "core:sample_rate": RATE, **global_fields})
    for start, fields in captures:
        handle.add_capture(start, metadata=fields)
    meta = tmp_path / f"{name}.sigmf-meta"
    handle.tofile(str(meta))
    return meta


def _sigmf_reads(path, capture=None):
    """What the `sigmf` library reads (unscaled)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handle = sigmffile.fromfile(str(path), autoscale=False)
        if capture is None:
            return handle.read_samples()
        return handle.read_samples_in_capture(capture)


def _daqflow_reads(path, chunk=7):
    chunks = df.run(df.collect(io.sigmf_source(path, chunk=chunk))).results["collect"]
    return chunks, np.concatenate([c.data for c in chunks])


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


def test_header_and_trailing_bytes_are_not_samples(tmp_path):
    first, second = np.arange(100, 140, dtype=np.uint8), np.arange(200, 224, dtype=np.uint8)
    junk = bytes(range(16))
    raw = junk + first.tobytes() + bytes(8) + second.tobytes() + b"TRAILER-" * 4
    meta = _write(tmp_path, "ncd", raw, "ru8",
                  [(0, {"core:header_bytes": 16}),
                   (40, {"core:header_bytes": 8})],
                  **{"core:trailing_bytes": 32})
    _, data = _daqflow_reads(meta)
    assert data.dtype == np.uint8
    np.testing.assert_array_equal(data, np.concatenate([first, second]))
    np.testing.assert_array_equal(data[:40], _sigmf_reads(meta, capture=0))
    np.testing.assert_array_equal(data[40:], _sigmf_reads(meta, capture=1))
    assert io.inspect_recording(meta).samples == 64 == sigmffile.fromfile(str(meta)).sample_count


@pytest.mark.parametrize(("datatype", "dtype"), [("cf32_be", ">c8"), ("ri16_be", ">i2"),
                                                 ("rf64_be", ">f8"), ("ci16_be", ">i2")])
def test_big_endian_types_come_back_in_native_order(tmp_path, datatype, dtype):
    rng = np.random.default_rng(1)
    values = rng.integers(-3000, 3000, 40).astype(np.float64)
    if dtype == ">c8":
        samples = (values[:20] + 1j * values[20:]).astype(dtype)
    elif datatype == "ci16_be":
        samples = values.reshape(20, 2).astype(dtype)
    else:
        samples = values.astype(dtype)
    meta = _write(tmp_path, "be", samples.tobytes(), datatype, [(0, {})])
    _, data = _daqflow_reads(meta)
    assert data.dtype.isnative and len(data) == len(samples)
    np.testing.assert_array_equal(data, samples)  # the same values, native bytes
    theirs = _sigmf_reads(meta)
    np.testing.assert_array_equal(data.view(np.complex64 if datatype == "cf32_be" else data.dtype)
                                  if datatype != "ci16_be" else data[:, 0] + 1j * data[:, 1], theirs)


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
    info = io.inspect_recording(archive)
    assert info.format == "SigMF archive" and info.samples == 50
    assert info.center_freq == 433.92e6


def test_a_compressed_archive_is_refused_in_one_line(tmp_path):
    samples = np.zeros(10, np.complex64)
    data_path = tmp_path / "src.sigmf-data"
    samples.tofile(data_path)
    handle = SigMFFile(data_file=str(data_path), global_info={
        "core:datatype": "cf32_le", "core:sample_rate": RATE})
    handle.add_capture(0)
    packed = tmp_path / "packed.sigmf"
    handle.archive(str(packed), compression="gz")
    with pytest.raises(ValueError, match="compressed") as info:
        io.sigmf_source(packed)
    assert str(packed) in str(info.value) and "\n" not in str(info.value)


def test_channels_that_do_not_divide_the_data_are_refused_naming_the_file(tmp_path):
    meta = _write(tmp_path, "odd", np.arange(8, dtype=np.int16).tobytes(), "ri16_le", [(0, {})],
                  **{"core:num_channels": 2})
    data = tmp_path / "odd.sigmf-data"
    data.write_bytes(data.read_bytes()[:-2])  # half a sample short
    with pytest.raises(ValueError, match="2 channels") as info:
        io.sigmf_source(meta)
    assert str(tmp_path / "odd.sigmf-data") in str(info.value)
