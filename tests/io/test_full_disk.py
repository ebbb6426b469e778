"""Recording onto a disk that fills up (a real tmpfs of a few MiB): the writer fails with one
line naming the file and saying how many samples it saved; the file under its final name opens
in its format's reference reader (sigmf, h5py, numpy, soundfile), holds exactly that many
samples, a prefix of what the writer was handed (no zeros presented as data), and says it
ended early; no temporary file is left. ``daqflow record`` on a full disk says the same.

Needs root to mount the tmpfs (skipped otherwise)."""

import json
import subprocess

import numpy as np
import pytest
import sigmf
import soundfile

import daqflow as df
from daqflow import dsp, io

DISK = "6m"  # tmpfs size
NO_SPACE = "No space left on device"
WRITERS = {"sigmf-meta": io.sigmf_writer, "h5": io.hdf5_writer, "npy": io.npy_writer, "wav": io.wav_writer}
FILES = {"sigmf-meta": ["rec.sigmf-data", "rec.sigmf-meta"], "h5": ["rec.h5"], "npy": ["rec.npy"],
         "wav": ["rec.wav"]}


@pytest.fixture
def disk(tmp_path):
    """A directory on a tmpfs of `DISK` bytes, unmounted afterwards."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)]).returncode != 0:  # a file left open: busy
            subprocess.run(["umount", "-l", str(where)], check=True)


def endless(ext, seed=3):
    """The simulated ADC, not paced, never ending: float32 at 48 kHz for WAV, else complex64."""
    if ext == "wav":
        return io.simulated_adc(48_000, chunk=4096, noise=0.1, dtype="float32", realtime=False, seed=seed)
    return io.simulated_adc(1e6, chunk=8192, noise=0.1, realtime=False, seed=seed)


def read_back(path):
    """(samples, how it ended) as the format's reference reader sees the recording."""
    name = path.name
    if name.endswith(".sigmf-meta"):
        handle = sigmf.sigmffile.fromfile(str(path), autoscale=False)
        handle.validate()
        return handle.read_samples(), handle.get_global_info().get("daqflow:ended")
    if name.endswith(".h5"):
        import h5py

        with h5py.File(path, "r") as f:  # a plain open: the file was closed in order
            data = f["signal"]
            assert bool(data.attrs["complete"])
            return data[()], data.attrs["ended"]
    if name.endswith(".wav"):
        with soundfile.SoundFile(path) as f:
            return f.read(dtype="float32"), json.loads(f.comment).get("ended")
    return np.load(path), None


@pytest.mark.parametrize("threaded", [False, True], ids=["loop", "threaded"])
@pytest.mark.parametrize("ext", list(WRITERS))
def test_full_disk_keeps_a_valid_prefix_and_says_how_much(disk, ext, threaded):
    path = disk / f"rec.{ext}"
    source = endless(ext)
    seen = df.collect(source, name="seen")
    with pytest.raises(df.BlockError) as err:
        df.run(WRITERS[ext](source, path, name="recording", threaded=threaded), seen)

    failure = err.value
    assert failure.block == "recording"
    message = str(failure.cause)
    result = failure.cause.result
    saved = result["samples"]
    assert saved > 0
    assert "\n" not in message and str(path) in message and NO_SPACE in message, message
    assert f"{saved} samples saved" in message
    assert f"{saved} samples saved" in failure.report.error  # the run's report says so too
    assert NO_SPACE in result["ended"]

    assert sorted(p.name for p in disk.iterdir()) == FILES[ext]  # no temporary file left
    data, ended = read_back(path)
    assert len(data) == saved
    handed = np.concatenate([c.data for c in failure.report.results["seen"]])
    assert len(handed) >= saved
    np.testing.assert_array_equal(data, handed[:saved])  # a prefix: no zeros made up
    if ext != "npy":  # npy has no place for it: the result says it (above)
        assert NO_SPACE in ended


@pytest.mark.parametrize("ext", ["sigmf-meta", "h5", "npy"])
def test_record_command_on_a_full_disk_says_what_it_saved(disk, daqflow_cli, ext):
    path = disk / f"rec.{ext}"
    out = daqflow_cli("record", path, "--fast", "--rate", "1e6", "--seed", "1")
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if NO_SPACE in line]
    assert len(errors) == 1 and str(path) in errors[0], out.stderr
    recorded = [line for line in out.stdout.splitlines() if line.startswith("recorded: ")]
    assert len(recorded) == 1, out.stdout
    saved = int(recorded[0].split("samples=")[1].split(",")[0])
    assert f"{saved} samples saved" in errors[0]
    assert saved > 0
    data, _ = read_back(path)
    assert len(data) == saved
    cli_source = io.simulated_adc(1e6, chunk=8192, noise=0.01, realtime=False, seed=1)  # as the CLI's
    first = df.run(df.collect(dsp.head(cli_source, saved), name="first")).results["first"]
    np.testing.assert_array_equal(data, np.concatenate([c.data for c in first]))
