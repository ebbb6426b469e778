"""``daqflow recover`` after SIGKILL: a real child process records the simulated ADC into SigMF,
HDF5, .npy and WAV at once and is killed; ``daqflow recover`` (a real subprocess) turns what it
left into recordings that the sigmf library, h5py (and h5dump), numpy and soundfile read,
holding exactly the samples that were on disk (the deterministic generator's first samples),
marked as recovered so ``inspect`` says so. It refuses while the writer still runs, and over a
finished recording."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import sigmf
import soundfile

import daqflow as df
from daqflow import dsp, io

COMPLEX = {"rate": 200_000, "chunk": 2000, "seed": 5, "dtype": "complex64"}
REAL = {"rate": 48_000, "chunk": 480, "seed": 6, "dtype": "float32"}
NAMES = {"sigmf": "rec.sigmf-meta", "h5": "rec.h5", "npy": "rec.npy", "wav": "rec.wav"}

CHILD = """
import sys
import daqflow as df
from daqflow import dsp, io

def adc(rate, chunk, seed, dtype):  # not paced by a clock: deterministic, lossless; throttled
    return dsp.throttle(io.simulated_adc(rate, chunk=chunk, noise=0.1, dtype=dtype,
                                         realtime=False, seed=seed), rate)

if __name__ == "__main__":
    out = sys.argv[1]
    iq, audio = adc(**{complex}), adc(**{real})
    df.run(io.sigmf_writer(iq, out + "/rec.sigmf-meta"), io.hdf5_writer(iq, out + "/rec.h5",
           flush_interval=0.2), io.npy_writer(iq, out + "/rec.npy"),
           io.wav_writer(audio, out + "/rec.wav"), duration=120)
"""


def generated(n, rate, chunk, seed, dtype):
    """The first ``n`` samples of the child's source."""
    source = io.simulated_adc(rate, chunk=chunk, noise=0.1, dtype=dtype, realtime=False, seed=seed)
    chunks = df.run(df.collect(dsp.head(source, n), name="c")).results["c"]
    return np.concatenate([c.data for c in chunks])


def daqflow(*args):
    return subprocess.run([sys.executable, "-m", "daqflow", *map(str, args)], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A directory where a recording child was SIGKILLed; (directory, what the test saw of the
    running writer: ``daqflow recover``'s answer while it ran)."""
    where = tmp_path_factory.mktemp("killed")
    script = where / "child.py"
    script.write_text(textwrap.dedent(CHILD).replace("{complex}", repr(COMPLEX)).replace(
        "{real}", repr(REAL)))
    child = subprocess.Popen([sys.executable, str(script), str(where)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        partials = [where / f"{name}.partial" for name in ("rec.sigmf-data", "rec.npy", "rec.wav")]
        deadline = time.monotonic() + 60
        while not all(p.exists() and p.stat().st_size > 4096 for p in partials):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child did not start recording"
            time.sleep(0.05)
        time.sleep(0.6)  # a few HDF5 flushes
        live = daqflow("recover", where / "rec.npy")
        assert child.poll() is None, child.communicate()
    finally:
        child.kill()  # SIGKILL
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    return where, live


def test_a_running_writer_is_left_alone(killed):
    _, live = killed
    assert live.returncode == 1
    assert "still open in a running process" in live.stderr and "rec.npy.partial" in live.stderr


def test_recover_makes_every_format_readable_with_the_samples_on_disk(killed):
    import h5py

    where, _ = killed
    assert not (where / "rec.sigmf-meta").exists() and not (where / "rec.npy").exists()
    sizes = {name: (where / f"{name}.partial").stat().st_size
             for name in ("rec.sigmf-data", "rec.npy", "rec.wav")}
    with h5py.File(where / "rec.h5", "r", libver="latest", swmr=True) as f:
        flushed = f["signal"].shape[0]  # what its last flush saw
    assert flushed > 0
    if shutil.which("h5dump"):  # the killed writer's file is refused by HDF5's own tools
        assert subprocess.run(["h5dump", "-H", where / "rec.h5"], capture_output=True).returncode != 0

    done = daqflow("recover", *(where / name for name in NAMES.values()))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("recovered ") == 4, done.stdout
    assert sorted(p.name for p in where.iterdir() if "rec" in p.name) == sorted(
        [*NAMES.values(), "rec.sigmf-data", "rec.npy.ended"])  # no .partial left

    handle = sigmf.sigmffile.fromfile(str(where / "rec.sigmf-meta"), autoscale=False)
    handle.validate()
    iq = handle.read_samples()
    assert len(iq) == sizes["rec.sigmf-data"] // 8
    assert handle.get_global_info()["daqflow:ended"].startswith("recovered by daqflow recover")
    assert handle.get_global_info()["core:sample_rate"] == COMPLEX["rate"]

    npy = np.load(where / "rec.npy")
    assert len(npy) == (sizes["rec.npy"] - 128) // 8

    with h5py.File(where / "rec.h5", "r") as f:  # a plain open: no longer marked open
        data = f["signal"]
        h5 = data[()]
        assert len(h5) == flushed
        assert not data.attrs["complete"] and data.attrs["ended"].startswith("recovered")
        assert data.attrs["rate"] == COMPLEX["rate"]
    if shutil.which("h5dump"):
        assert subprocess.run(["h5dump", "-H", where / "rec.h5"], capture_output=True).returncode == 0

    with soundfile.SoundFile(where / "rec.wav") as f:
        assert f.samplerate == REAL["rate"]
        wav = f.read(dtype="float32")
        assert json.loads(f.comment)["ended"].startswith("recovered")
    with open(where / "rec.wav", "rb") as f:  # after libsndfile's float header (fact, PEAK)
        header = f.read(4096).index(b"data") + 8
    assert len(wav) == (sizes["rec.wav"] - header) // 4

    reference = generated(max(len(iq), len(npy), len(h5)), **COMPLEX)
    for recovered in (iq, npy, h5):
        assert len(recovered) > 0
        np.testing.assert_array_equal(recovered, reference[:len(recovered)])
    np.testing.assert_array_equal(wav, generated(len(wav), **REAL))

    for name in NAMES.values():
        info = io.inspect_recording(where / name)
        assert info.ended.startswith("recovered by daqflow recover"), name
        assert "ended     early: recovered" in str(info), str(info)


def test_recover_refuses_a_finished_recording(tmp_path):
    ones = df.from_iterable([np.ones(10, np.complex64)], rate=1.0)
    df.run(io.sigmf_writer(ones, tmp_path / "s"), io.hdf5_writer(ones, tmp_path / "h.h5"),
           io.npy_writer(ones, tmp_path / "n.npy"))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    out = daqflow("recover", tmp_path / "s.sigmf-meta", tmp_path / "h.h5", tmp_path / "n.npy")
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in out.stderr, out.stderr
    assert "s.sigmf-meta' exists: that recording is finished" in lines[0]
    assert "h.h5' was closed in order" in lines[1]
    assert "n.npy' exists: that recording is finished" in lines[2]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # untouched


def test_nothing_to_recover_is_one_clear_line(tmp_path):
    out = daqflow("recover", tmp_path / "none.sigmf-meta", tmp_path / "x.txt")
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 2 and "none.sigmf-data.partial" in lines[0] and "x.txt" in lines[1]
    assert os.listdir(tmp_path) == []
