"""``daqflow inspect FILE [--plot out.png] [--dtype --rate]`` and io.inspect_recording: what a
recording holds (format, dtype, rate, samples, duration, gaps), a plot that is not blank, and
clear errors (naming the path) for files that are not recordings."""

import json
import re

import h5py
import matplotlib.image
import numpy as np
import pytest

from daqflow import cli, io

RATE = 1e6  # the adc fixture's
CENTER = 100e6

# SigMF recordings with gaps use daqflow:* keys the sigmf library warns about (the undeclared
# extension: see test_sigmf.py::test_recording_with_a_gap_validates_without_warnings)


def inspect(capsys, *args):
    """Run ``daqflow inspect ARGS`` in this process: (exit code, rows by name, stdout, stderr)."""
    code = cli.main(["inspect", *map(str, args)])
    out, err = capsys.readouterr()
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in out.splitlines()
                if line and not line.startswith(" ") and not line.startswith("plot: "))
    return code, rows, out, err


@pytest.fixture
def gappy(adc, drop_chunks):
    """7000 samples in 10 chunks of 1000, chunks 2, 5 and 6 lost (1000 + 2000 samples)."""
    return drop_chunks(adc(10_000, chunk=1000, center_freq=CENTER), {2, 5, 6})


@pytest.mark.parametrize(("name", "writer", "fmt", "dtype"), [
    ("rec.sigmf-meta", io.sigmf_writer, "SigMF", "cf32_le"),
    ("rec.h5", io.hdf5_writer, "HDF5", "complex64"),
])
def test_inspect_recording_with_gaps(tmp_path, capsys, gappy, record, name, writer, fmt, dtype):
    record(writer, gappy, tmp_path / name)
    code, rows, out, _ = inspect(capsys, tmp_path / name)
    assert code == 0
    assert rows == {
        "file": str(tmp_path / name), "format": fmt, "dtype": dtype, "rate": "1e+06 Hz",
        "samples": "7000", "duration": "0.007 s", "center freq": "1e+08 Hz", "segments": "3",
        "gaps": "2 (3000 samples lost)", "complete": "yes",
    }
    assert "  gap at sample 2000: 1000 samples lost\n  gap at sample 4000: 2000 samples lost" in out

    info = io.inspect_recording(tmp_path / name)
    assert (info.format, info.dtype, info.rate, info.samples) == (fmt, dtype, RATE, 7000)
    assert info.duration == pytest.approx(0.007)
    assert info.gaps == ((2000, 1000, 0), (4000, 2000, 0)) and (info.lost, info.skipped) == (3000, 0)
    assert (info.center_freq, info.segments, info.complete) == (CENTER, 3, True)


def test_inspect_sigmf_by_its_data_file(tmp_path, capsys, adc, record):
    record(io.sigmf_writer, adc(4096, dtype="int16"), tmp_path / "s")
    code, rows, _, _ = inspect(capsys, tmp_path / "s.sigmf-data")
    assert code == 0
    assert rows["file"] == str(tmp_path / "s.sigmf-meta")
    assert (rows["dtype"], rows["samples"], rows["gaps"]) == ("ri16_le", "4096", "0 (0 samples lost)")


def test_inspect_npy(tmp_path, capsys, adc, record):
    record(io.npy_writer, adc(5000, dtype="float32"), tmp_path / "x.npy")
    code, rows, _, _ = inspect(capsys, tmp_path / "x.npy")
    assert code == 0
    assert (rows["format"], rows["dtype"], rows["samples"]) == ("NumPy .npy", "float32", "5000")
    assert rows["rate"] == rows["duration"] == "unknown"
    code, rows, _, _ = inspect(capsys, tmp_path / "x.npy", "--rate", "1e6")
    assert (rows["rate"], rows["duration"]) == ("1e+06 Hz", "0.005 s")


def test_inspect_raw_needs_its_dtype(tmp_path, capsys):
    np.zeros(1000, np.complex64).tofile(tmp_path / "x.cf32")
    code, rows, _, _ = inspect(capsys, tmp_path / "x.cf32", "--dtype", "complex64", "--rate", "2e3")
    assert code == 0
    assert rows == {"file": str(tmp_path / "x.cf32"), "format": "raw", "dtype": "complex64",
                    "rate": "2000 Hz", "samples": "1000", "duration": "0.5 s", "segments": "1",
                    "gaps": "0 (0 samples lost)"}
    code, _, out, err = inspect(capsys, tmp_path / "x.cf32")
    assert code == 1 and not out
    assert str(tmp_path / "x.cf32") in err and "give its dtype" in err
    code, _, _, err = inspect(capsys, tmp_path / "x.cf32", "--dtype", "complex128")
    assert code == 0  # 8000 bytes are 500 complex128
    code, _, _, err = inspect(capsys, tmp_path / "x.cf32", "--dtype", "V3")
    assert code == 1 and str(tmp_path / "x.cf32") in err and "not a whole number" in err


def test_many_gaps_are_summarised(tmp_path, capsys, adc, drop_chunks, record):
    record(io.hdf5_writer, drop_chunks(adc(5200, chunk=100), range(1, 51, 2)), tmp_path / "g.h5")
    code, rows, out, _ = inspect(capsys, tmp_path / "g.h5")
    assert code == 0 and rows["gaps"] == "25 (2500 samples lost)"
    assert out.count("  gap at sample ") == 20
    assert "  ... 5 more gaps" in out


def test_interrupted_hdf5_says_so(tmp_path, capsys):
    with h5py.File(tmp_path / "cut.h5", "w") as f:  # as hdf5_writer leaves it while writing
        f["signal"] = np.zeros(10, np.complex64)
        f["signal"].attrs["rate"] = 1e3
        f["signal"].attrs["complete"] = False
    code, rows, _, _ = inspect(capsys, tmp_path / "cut.h5")
    assert code == 0 and rows["complete"] == "NO (interrupted while writing)"


# -- --plot -----------------------------------------------------------------------------------

def assert_not_blank(png):
    assert png.stat().st_size > 0
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].var() > 0


@pytest.mark.parametrize(("name", "writer", "dtype"), [
    ("c.sigmf-meta", io.sigmf_writer, "complex64"),
    ("r.h5", io.hdf5_writer, "float32"),
    ("i.npy", io.npy_writer, "int16"),
])
def test_plot_writes_a_picture(tmp_path, capsys, adc, record, name, writer, dtype):
    record(writer, adc(20_000, dtype=dtype), tmp_path / name)
    code, _, out, _ = inspect(capsys, tmp_path / name, "--plot", tmp_path / "out.png")
    assert code == 0 and f"plot: {tmp_path / 'out.png'}" in out
    assert_not_blank(tmp_path / "out.png")


def test_plot_of_a_raw_file_and_of_iq_pairs(tmp_path, capsys, record):
    x = np.exp(2j * np.pi * 0.05 * np.arange(5000)).astype(np.complex64)
    x.tofile(tmp_path / "x.cf32")
    code, _, _, _ = inspect(capsys, tmp_path / "x.cf32", "--dtype", "complex64", "--rate", "1e4",
                            "--plot", tmp_path / "raw.png")
    assert code == 0
    assert_not_blank(tmp_path / "raw.png")

    iq = (np.stack([x.real, x.imag], axis=1) * 1000).astype(np.int16)
    import daqflow as df

    record(io.sigmf_writer, df.from_iterable([iq], rate=1e4), tmp_path / "iq")
    code, _, _, _ = inspect(capsys, tmp_path / "iq.sigmf-meta", "--plot", tmp_path / "iq.png")
    assert code == 0
    assert_not_blank(tmp_path / "iq.png")


def test_inspect_command_end_to_end(tmp_path, daqflow_cli):
    out = daqflow_cli("record", tmp_path / "r.h5", "--rate", "1e6", "--samples", "50000", "--fast",
                      "--center-freq", "2.4e9", "--seed", "1")
    assert out.returncode == 0, out.stderr
    assert "recorded: path=" in out.stdout and "samples=50000" in out.stdout
    out = daqflow_cli("inspect", tmp_path / "r.h5", "--plot", tmp_path / "r.png")
    assert out.returncode == 0, out.stderr
    for line in ("format       HDF5", "dtype        complex64", "rate         1e+06 Hz",
                 "samples      50000", "duration     0.05 s", "center freq  2.4e+09 Hz",
                 "gaps         0 (0 samples lost)", "complete     yes"):
        assert line in out.stdout
    assert_not_blank(tmp_path / "r.png")


# -- files that are not recordings --------------------------------------------------------------

NOT_SIGMF = {
    "empty": "",
    "text": "hello, world",
    "object": "{}",
    "no datatype": json.dumps({"global": {"core:version": "1.0.0"}}),
    "wrong types": json.dumps({"global": {"core:datatype": 5}, "captures": [], "annotations": []}),
    "array": "[1, 2]",
    "unknown type": json.dumps({"global": {"core:datatype": "xf32_le", "core:version": "1.0.0",
                                           "core:sample_rate": 1.0}, "captures": [], "annotations": []}),
}
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # sigmf leaks a file
@pytest.mark.parametrize("kind", list(NOT_SIGMF))
@pytest.mark.parametrize("opener", ["sigmf_source", "inspect_recording"])
def test_meta_that_is_not_sigmf_is_a_value_error_naming_it(tmp_path, kind, opener):
    meta = tmp_path / "bad.sigmf-meta"
    meta.write_text(NOT_SIGMF[kind])
    np.zeros(4, np.complex64).tofile(tmp_path / "bad.sigmf-data")
    with pytest.raises(ValueError, match=re.escape(str(meta))):
        getattr(io, opener)(meta)


@pytest.mark.parametrize("opener", ["sigmf_source", "inspect_recording"])
def test_sigmf_without_sample_rate_opens_or_is_a_value_error_naming_it(tmp_path, opener):
    meta = tmp_path / "norate.sigmf-meta"
    meta.write_text(json.dumps({"global": {"core:datatype": "cf32_le", "core:version": "1.0.0"},
                                "captures": [], "annotations": []}))
    np.zeros(4, np.complex64).tofile(tmp_path / "norate.sigmf-data")
    try:
        getattr(io, opener)(meta)  # the rate unknown, or ...
    except ValueError as exc:  # ... a clear refusal
        assert str(meta) in str(exc)


def test_sigmf_missing_either_file(tmp_path, adc, record):
    record(io.sigmf_writer, adc(100), tmp_path / "a")
    (tmp_path / "a.sigmf-data").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "a.sigmf-data"))):
        io.sigmf_source(tmp_path / "a")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "b.sigmf-meta"))):
        io.sigmf_source(tmp_path / "b.sigmf-data")


@pytest.mark.filterwarnings("ignore:Data source does not contain an integer number of samples")
def test_sigmf_data_that_is_not_whole_samples(tmp_path, adc, record):
    record(io.sigmf_writer, adc(100), tmp_path / "a", checksum=False)
    with open(tmp_path / "a.sigmf-data", "ab") as f:
        f.write(b"\0" * 3)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "a.sigmf-data")) + ".*not a whole number"):
        io.sigmf_source(tmp_path / "a")


NOT_HDF5 = {
    "junk": lambda p: p.write_bytes(b"\x00\x01 not hdf5 at all" * 10),
    "empty": lambda p: p.write_bytes(b""),
    "sigmf meta": lambda p: p.write_text('{"global": {}}'),
    "group": lambda p: h5py.File(p, "w").create_group("signal").file.close(),
}


@pytest.mark.parametrize("kind", list(NOT_HDF5))
@pytest.mark.parametrize("opener", ["hdf5_source", "inspect_recording"])
def test_file_that_is_not_hdf5_is_a_value_error_naming_it(tmp_path, kind, opener):
    path = tmp_path / "bad.h5"
    NOT_HDF5[kind](path)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        getattr(io, opener)(path)


@pytest.mark.parametrize("content", [b"", b"\x00\x01 not hdf5", b'{"global": {}}'])
def test_inspect_command_on_a_file_that_is_no_recording(tmp_path, capsys, content):
    (tmp_path / "bad.h5").write_bytes(content)
    code, _, out, err = inspect(capsys, tmp_path / "bad.h5")
    assert code == 1 and not out
    assert err.startswith("daqflow inspect: ") and str(tmp_path / "bad.h5") in err


def test_inspect_command_on_a_missing_file(tmp_path, capsys):
    code, _, _, err = inspect(capsys, tmp_path / "nope.h5")
    assert code == 1 and "no such file" in err and str(tmp_path / "nope.h5") in err
