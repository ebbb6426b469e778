"""HDF5 recordings open in the HDF5 1.10 command-line tools (Debian bookworm's hdf5-tools,
1.10.8: ``h5dump``, ``h5ls``): complex64 samples, the boolean ``complete`` attribute and the
segment and gap tables, with the values that were written. (Files in HDF5's newest format,
``libver="latest"``, are refused by these tools.)"""

import re
import shutil
import subprocess

import numpy as np
import pytest

import daqflow as df
from daqflow import io

pytestmark = pytest.mark.skipif(
    not (shutil.which("h5dump") and shutil.which("h5ls")),
    reason="HDF5's command-line tools are not installed (apt-get install hdf5-tools)")

RATE = 1000.0


def tool(*args):
    """Run an HDF5 tool; its output (it must exit 0)."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def dumped_values(text):
    """The numbers of h5dump's (first) DATA block, in order, without the (index) labels."""
    start = text.index("DATA {")
    end = text.find("ATTRIBUTE", start)
    block = text[start:end if end > 0 else len(text)]
    number = r"(?<![(\w.])(?:nan|-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)(?![)\w])"
    return [float(v) for v in re.findall(number, block)]


@pytest.fixture
def recording(tmp_path, drop_chunks):
    """10 chunks of 100 complex64 samples (sample k is k + 0.25j k), chunk 3 lost on the way."""
    values = (np.arange(1000) * (1 + 0.25j)).astype(np.complex64)
    stream = drop_chunks(df.from_iterable(np.split(values, 10), rate=RATE), {3})
    path = tmp_path / "rec.h5"
    df.run(io.hdf5_writer(stream, path, name="recording", chunk=128))
    written = np.concatenate([values[:300], values[400:]])
    return path, written


def test_h5ls_lists_the_datasets(recording):
    path, written = recording
    listing = tool("h5ls", "-r", path)
    assert re.search(rf"^/signal\s+Dataset {{{len(written)}/Inf}}$", listing, re.M), listing
    assert re.search(r"^/signal_segments\s+Dataset {2/Inf, 4}$", listing, re.M), listing
    assert re.search(r"^/signal_gaps\s+Dataset {1/Inf, 4}$", listing, re.M), listing


def test_h5dump_shows_the_samples_written(recording):
    path, written = recording
    for start in (0, 299, 300, len(written) - 3):
        text = tool("h5dump", "-d", "/signal", "-s", start, "-c", 3, path)
        assert "H5T_COMPOUND" in text and 'H5T_IEEE_F32LE "r"' in text
        pairs = np.array(dumped_values(text)[-6:]).reshape(3, 2)  # (index): { re, im } x 3
        np.testing.assert_array_equal(pairs[:, 0] + 1j * pairs[:, 1], written[start:start + 3])


def test_h5dump_shows_the_attributes_and_the_gap(recording):
    path, _ = recording
    assert re.search(r"DATA {\s*\(0\): TRUE\s*}", tool("h5dump", "-a", "/signal/complete", path))
    assert dumped_values(tool("h5dump", "-a", "/signal/rate", path)) == [RATE]
    gap = dumped_values(tool("h5dump", "-d", "/signal_gaps", path))
    assert gap == [300, 100, 400, 0]  # (position, lost, index after, skipped)
    segments = dumped_values(tool("h5dump", "-d", "/signal_segments", path))
    assert len(segments) == 8 and np.isnan(segments[3]) and np.isnan(segments[7])  # no centre freq
    assert segments[:3] + segments[4:7] == [0, 0, RATE, 300, 400, RATE]  # position, index, rate
