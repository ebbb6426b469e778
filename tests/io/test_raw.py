"""io.npy_writer (numpy.load reads it back bit-exact) and io.file_source (raw files such as
GNU Radio's file_sink output and ndarray.tofile)."""

import re
import time

import numpy as np
import pytest

import daqflow as df
from daqflow import io


@pytest.mark.parametrize("dtype", ["complex64", "complex128", "float32", "int16"])
def test_npy_round_trip(tmp_path, adc, record, assert_bit_exact, assert_no_partial, dtype):
    path = tmp_path / "x.npy"
    rec = record(io.npy_writer, adc(7777, chunk=1000, dtype=dtype, seed=9), path)
    assert rec.result == {"path": str(path), "samples": 7777}
    assert_bit_exact(np.load(path), rec.seen.data)
    assert_no_partial(tmp_path)


def test_npy_int16_iq_pairs(tmp_path, record, assert_bit_exact):
    iq = np.random.default_rng(4).integers(-32768, 32767, (3000, 2), endpoint=True).astype(np.int16)
    record(io.npy_writer, df.from_iterable([iq[:10], iq[10:2000], iq[2000:]], rate=1e6),
           tmp_path / "iq.npy")
    assert_bit_exact(np.load(tmp_path / "iq.npy"), iq)


def test_npy_of_an_empty_stream(tmp_path, adc, record):
    rec = record(io.npy_writer, adc(0), tmp_path / "e.npy")
    assert rec.result["samples"] == 0
    data = np.load(tmp_path / "e.npy")
    assert data.shape == (0,) and data.dtype == np.complex64


def test_npy_of_a_gappy_stream_holds_the_samples_that_came(tmp_path, adc, drop_chunks, record,
                                                          assert_bit_exact):
    rec = record(io.npy_writer, drop_chunks(adc(5000, chunk=1000), {0, 3}), tmp_path / "g.npy")
    assert rec.result["samples"] == 3000
    assert_bit_exact(np.load(tmp_path / "g.npy"), rec.seen.data)


@pytest.mark.parametrize("dtype", ["complex64", "float32", "int16", "uint8"])
def test_file_source_replays_tofile_output(tmp_path, replay, assert_bit_exact, dtype):
    x = (np.arange(10_001) % 251 - 120).astype(dtype)
    x.tofile(tmp_path / "x.raw")
    back = replay(io.file_source(tmp_path / "x.raw", dtype, 48e3, chunk=4096, center_freq=1e9))
    assert [c.samples for c in back.items] == [4096, 4096, 1809]
    assert_bit_exact(back.data, x)
    np.testing.assert_array_equal(back.indices, np.arange(10_001))
    assert all(c.rate == 48e3 and c.time == c.index / 48e3 and c.meta == {"center_freq": 1e9}
               for c in back.items)


def test_file_source_of_an_empty_file(tmp_path, replay):
    (tmp_path / "empty.raw").write_bytes(b"")
    assert replay(io.file_source(tmp_path / "empty.raw", "complex64", 1e6)).items == []


def test_file_source_paced(tmp_path):
    np.zeros(4000, np.float32).tofile(tmp_path / "z.raw")
    t0 = time.perf_counter()
    report = df.run(df.null_sink(io.file_source(tmp_path / "z.raw", "float32", 1e4, chunk=1000,
                                                paced=True)))
    elapsed = time.perf_counter() - t0
    assert report.results["null_sink"] == 4
    assert 0.3 <= elapsed < 5.0, elapsed  # 4 chunks of 0.1 s


def test_file_source_dtype_that_does_not_divide_the_size(tmp_path):
    path = tmp_path / "odd.cf32"
    np.zeros(5, np.float32).tofile(path)  # 20 bytes: 5 float32, 2.5 complex64
    with pytest.raises(ValueError, match=re.escape(str(path)) + r".*20 bytes.*complex64.*wrong dtype"):
        io.file_source(path, "complex64", 1e6)
    io.file_source(path, "float32", 1e6)  # the right one is fine


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"dtype": "no-such-type"}, "dtype"), ({"rate": 0}, "rate"), ({"chunk": 0}, "chunk"),
])
def test_file_source_bad_arguments(tmp_path, kwargs, match):
    np.zeros(8, np.complex64).tofile(tmp_path / "x.raw")
    with pytest.raises((ValueError, TypeError), match=match):
        io.file_source(tmp_path / "x.raw", **{"dtype": "complex64", "rate": 1e6, **kwargs})


def test_file_source_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope.raw"))):
        io.file_source(tmp_path / "nope.raw", "complex64", 1e6)


def test_npy_writer_given_another_dtype_mid_stream_fails(tmp_path, record):
    # what it leaves behind: test_interrupts.py::test_writer_failing_mid_stream_leaves_only_valid_files
    source = df.from_iterable([np.ones(4, np.complex64), np.ones(4, np.float32)], rate=1.0)
    with pytest.raises(df.BlockError, match=r"npy_writer: .* holds complex64") as err:
        record(io.npy_writer, source, tmp_path / "m.npy")
    assert err.value.block == "recording"
