"""Files written by GNU Radio, replayed bit-exact: a raw ``blocks.file_sink`` file with
``io.file_source`` and a ``blocks.sigmf_sink_minimal`` recording with ``io.sigmf_source``.

GNU Radio lives in the system Python (/usr/bin/python3), not in the project's: the tests make
the files there when it is installed, and also read small files GNU Radio made once, kept in
tests/data, so they run without it. Regenerate those with
``python tests/io/test_gnuradio_files.py`` (needs GNU Radio).
"""

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import daqflow as df
from daqflow import io

GNURADIO_PYTHON = "/usr/bin/python3"
DATA = Path(__file__).resolve().parents[1] / "data"
RATE = 250e3
CENTER = 433.92e6
N = 1000

#: the flowgraph: vector_source_c/_s with the samples of an .npy file -> file_sink (raw) or
#: sigmf_sink_minimal (cf32_le SigMF); argv: kind, samples.npy, output, rate, center
FLOWGRAPH = r"""
import sys
import numpy as np
from gnuradio import blocks, gr

kind, samples, output = sys.argv[1], np.load(sys.argv[2]), sys.argv[3]
rate, center = float(sys.argv[4]), float(sys.argv[5])
top = gr.top_block()
if kind == "raw_c":
    source = blocks.vector_source_c(samples.tolist(), False)
    sink = blocks.file_sink(gr.sizeof_gr_complex, output, False)
elif kind == "raw_s":
    source = blocks.vector_source_s(samples.tolist(), False)
    sink = blocks.file_sink(gr.sizeof_short, output, False)
elif kind == "sigmf_c":
    source = blocks.vector_source_c(samples.tolist(), False)
    sink = blocks.sigmf_sink_minimal(gr.sizeof_gr_complex, output, rate, center,
                                     "daqflow tests", "known ramp", "vector_source_c", True)
else:
    raise SystemExit("unknown kind " + kind)
top.connect(source, sink)
top.run()
"""


def known_complex(n=N):
    """Samples that every numpy computes alike (small multiples of 1/8 and 1/4)."""
    k = np.arange(n)
    return (((k * 7) % 61 - 30) / 8 + 1j * (((k * 13) % 37 - 18) / 4)).astype(np.complex64)


def known_int16(n=N):
    return ((np.arange(n) * 37) % 2001 - 1000).astype(np.int16)


KNOWN = {"raw_c": known_complex, "raw_s": known_int16, "sigmf_c": known_complex}


def gnuradio_status():
    """None if GNU Radio runs here, else why not."""
    if not Path(GNURADIO_PYTHON).exists():
        return f"no {GNURADIO_PYTHON}"
    probe = subprocess.run([GNURADIO_PYTHON, "-c", "from gnuradio import gr, blocks"],
                           capture_output=True, text=True, timeout=60)
    return None if probe.returncode == 0 else f"GNU Radio not importable: {probe.stderr[-300:]}"


def has_sigmf_sink():
    probe = subprocess.run([GNURADIO_PYTHON, "-c", "from gnuradio import blocks; blocks.sigmf_sink_minimal"],
                           capture_output=True, timeout=60)
    return probe.returncode == 0


def write_with_gnuradio(kind, output, workdir):
    """Run the flowgraph; ``output`` is the file (raw) or the name without extension (SigMF)."""
    samples = Path(workdir) / f"{kind}-samples.npy"
    np.save(samples, KNOWN[kind]())
    output = Path(output)  # given by name in its directory: sigmf_sink_minimal cuts a path
    done = subprocess.run([GNURADIO_PYTHON, "-c", FLOWGRAPH, kind, str(samples.resolve()),  # at ".sigmf"
                           output.name, repr(RATE), repr(CENTER)],
                          capture_output=True, text=True, timeout=60, cwd=output.parent)
    assert done.returncode == 0, done.stderr
    samples.unlink()


@pytest.fixture(scope="module")
def gnuradio():
    why = gnuradio_status()
    if why:
        pytest.skip(why)


def replay(source):
    return df.run(df.collect(source, name="replayed")).results["replayed"]


def check_raw(path, kind, dtype):
    chunks = replay(io.file_source(path, dtype, RATE, chunk=300, center_freq=CENTER))
    data = np.concatenate([c.data for c in chunks])
    expected = KNOWN[kind]()
    assert data.dtype == expected.dtype and data.tobytes() == expected.tobytes()
    assert [c.index for c in chunks] == [0, 300, 600, 900]
    assert all(c.rate == RATE and c.meta["center_freq"] == CENTER for c in chunks)


def check_sigmf(base):
    chunks = replay(io.sigmf_source(base, chunk=400))
    data = np.concatenate([c.data for c in chunks])
    expected = known_complex()
    assert data.dtype == expected.dtype and data.tobytes() == expected.tobytes()
    assert [c.index for c in chunks] == [0, 400, 800]
    assert all(c.rate == RATE and c.meta == {"center_freq": CENTER} for c in chunks)
    info = io.inspect_recording(f"{base}.sigmf-meta")
    assert (info.format, info.dtype, info.samples, info.center_freq) == ("SigMF", "cf32_le", N, CENTER)
    import sigmf

    handle = sigmf.sigmffile.fromfile(f"{base}.sigmf-meta")
    handle.validate()
    assert handle.read_samples().tobytes() == expected.tobytes()


# -- made by GNU Radio now ------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "dtype"), [("raw_c", "complex64"), ("raw_s", "int16")])
def test_raw_file_sink_output_replays_bit_exact(tmp_path, gnuradio, kind, dtype):
    write_with_gnuradio(kind, tmp_path / "gr.raw", tmp_path)
    assert (tmp_path / "gr.raw").stat().st_size == N * np.dtype(dtype).itemsize
    check_raw(tmp_path / "gr.raw", kind, dtype)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "gr.raw"))):
        io.file_source(tmp_path / "gr.raw", "V3", RATE)  # 3-byte samples: a wrong dtype


def test_sigmf_sink_minimal_output_replays_bit_exact(tmp_path, gnuradio):
    if not has_sigmf_sink():
        pytest.skip("this GNU Radio has no blocks.sigmf_sink_minimal")
    write_with_gnuradio("sigmf_c", tmp_path / "gr", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gr.sigmf-data", "gr.sigmf-meta"]
    check_sigmf(tmp_path / "gr")


def test_kept_files_are_what_gnuradio_writes(tmp_path, gnuradio):
    """tests/data holds GNU Radio's output, unchanged."""
    write_with_gnuradio("raw_c", tmp_path / "c.raw", tmp_path)
    write_with_gnuradio("raw_s", tmp_path / "s.raw", tmp_path)
    assert (tmp_path / "c.raw").read_bytes() == (DATA / "gnuradio_cf32.raw").read_bytes()
    assert (tmp_path / "s.raw").read_bytes() == (DATA / "gnuradio_s16.raw").read_bytes()
    if has_sigmf_sink():
        write_with_gnuradio("sigmf_c", tmp_path / "m", tmp_path)
        assert (tmp_path / "m.sigmf-data").read_bytes() == (DATA / "gnuradio_cf32.sigmf-data").read_bytes()
        assert json.loads((tmp_path / "m.sigmf-meta").read_text()) == json.loads(
            (DATA / "gnuradio_cf32.sigmf-meta").read_text())


# -- kept in tests/data: run without GNU Radio ----------------------------------------------------

@pytest.mark.parametrize(("name", "kind", "dtype"), [
    ("gnuradio_cf32.raw", "raw_c", "complex64"), ("gnuradio_s16.raw", "raw_s", "int16")])
def test_kept_raw_files_replay_bit_exact(name, kind, dtype):
    check_raw(DATA / name, kind, dtype)


def test_kept_sigmf_file_replays_bit_exact(tmp_path):
    meta = json.loads((DATA / "gnuradio_cf32.sigmf-meta").read_text())
    assert meta["global"]["core:hw"] == "vector_source_c"  # written by sigmf_sink_minimal
    check_sigmf(DATA / "gnuradio_cf32")


def regenerate():
    """Write the files of tests/data with GNU Radio."""
    why = gnuradio_status()
    if why:
        raise SystemExit(why)
    DATA.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        write_with_gnuradio("raw_c", DATA / "gnuradio_cf32.raw", work)
        write_with_gnuradio("raw_s", DATA / "gnuradio_s16.raw", work)
        if has_sigmf_sink():
            write_with_gnuradio("sigmf_c", Path(work) / "gnuradio_cf32", work)
            for ext in (".sigmf-meta", ".sigmf-data"):
                shutil.copyfile(Path(work) / f"gnuradio_cf32{ext}", DATA / f"gnuradio_cf32{ext}")
    print("\n".join(f"{p.name}: {p.stat().st_size} bytes" for p in sorted(DATA.glob("gnuradio_*"))))


if __name__ == "__main__":
    sys.exit(regenerate())
