"""A recording cut short says so: a block failing upstream of the writer, or the run cancelled
at once because the writer's parent process died (a writer in a ``df.Process`` partition whose
coordinator is SIGKILLed). The file keeps every sample delivered and says why it ended early
(SigMF ``daqflow:ended``, HDF5 attribute ``ended``, the WAV comment's ``ended``; npy: the
writer's result), and ``daqflow inspect`` shows it. A recording that ran to its end says
nothing of the kind."""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import pytest
import sigmf
import soundfile

import daqflow as df
from daqflow import io

WRITERS = {"sigmf-meta": io.sigmf_writer, "h5": io.hdf5_writer, "npy": io.npy_writer, "wav": io.wav_writer}
FAILED = "upstream block 'fail_at' failed: InjectedFault: injected failure at chunk 3"


def source(adc, ext):
    return adc(50_000, chunk=1000, dtype="float32" if ext == "wav" else "complex64")


def ended_in_file(path):
    """Why the recording ended early, as its format's reference reader finds it (npy: None)."""
    name = path.name
    if name.endswith(".sigmf-meta"):
        return sigmf.sigmffile.fromfile(str(path)).get_global_info().get("daqflow:ended")
    if name.endswith(".h5"):
        with h5py.File(path, "r") as f:
            assert bool(f["signal"].attrs["complete"])  # closed in order all the same
            return f["signal"].attrs["ended"] or None
    if name.endswith(".wav"):
        with soundfile.SoundFile(path) as f:
            return json.loads(f.comment).get("ended")
    return None


@pytest.mark.parametrize("threaded", [False, True], ids=["loop", "threaded"])
@pytest.mark.parametrize("ext", list(WRITERS))
def test_upstream_failure_is_marked_in_the_recording(tmp_path, adc, fail_at, ext, threaded):
    path = tmp_path / f"rec.{ext}"
    with pytest.raises(df.BlockError) as err:
        df.run(WRITERS[ext](fail_at(source(adc, ext), 3), path, name="recording", threaded=threaded))
    assert err.value.block == "fail_at"
    result = err.value.report.results["recording"]
    assert result["samples"] == 3000 and result["ended"] == FAILED
    info = io.inspect_recording(path)
    assert info.samples == 3000
    if ext != "npy":
        assert ended_in_file(path) == FAILED
        assert info.ended == FAILED and f"ended     early: {FAILED}" in str(info)


@pytest.mark.parametrize("ext", list(WRITERS))
def test_a_recording_that_ran_to_its_end_says_nothing(tmp_path, adc, ext):
    path = tmp_path / f"rec.{ext}"
    report = df.run(WRITERS[ext](source(adc, ext), path, name="recording"))
    assert "ended" not in report.results["recording"]
    assert ended_in_file(path) is None
    info = io.inspect_recording(path)
    assert info.samples == 50_000 and info.ended is None and "early" not in str(info)


def test_inspect_command_says_it_ended_early(tmp_path, adc, fail_at, daqflow_cli):
    path = tmp_path / "rec.sigmf-meta"
    with pytest.raises(df.BlockError):
        df.run(io.sigmf_writer(fail_at(source(adc, "sigmf-meta"), 3), path))
    out = daqflow_cli("inspect", path)
    assert out.returncode == 0, out.stderr
    assert f"ended     early: {FAILED}" in out.stdout.splitlines()


# -- the writer's process loses its parent ------------------------------------------------------

COORDINATOR = """
import sys
import daqflow as df
from daqflow import dsp, io

if __name__ == "__main__":
    out = sys.argv[1]
    adc = dsp.throttle(io.simulated_adc(1e5, chunk=1000, noise=0.1, realtime=False, seed=9), 1e5)
    writer = df.Process("writer")
    df.run(io.sigmf_writer(adc, out + "/rec.sigmf-meta", proc=writer),
           io.hdf5_writer(adc, out + "/rec.h5", flush_interval=0.2, proc=writer), duration=120)
"""


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(child) for child in f.read().split()]


def alive(pid):
    """The process runs (not gone, not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_writer_whose_parent_process_is_killed_marks_the_recording(tmp_path):
    pytest.importorskip("zmq")
    script = tmp_path / "coordinator.py"
    script.write_text(textwrap.dedent(COORDINATOR))
    out = tmp_path / "out"
    out.mkdir()
    coordinator = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    orphans = []
    try:
        deadline = time.monotonic() + 60
        while not (out / "rec.sigmf-data.partial").exists() or (
                out / "rec.sigmf-data.partial").stat().st_size < 100_000:
            assert coordinator.poll() is None, coordinator.communicate()
            assert time.monotonic() < deadline, "the writer did not start"
            time.sleep(0.05)
        orphans = children(coordinator.pid)  # the writer's process (and multiprocessing's helper)
        coordinator.kill()  # SIGKILL: the writer's process is left alone
        coordinator.communicate(timeout=30)
        assert coordinator.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in orphans):  # the writer notices, finishes and exits
            assert time.monotonic() < deadline, sorted(p.name for p in out.iterdir())
            time.sleep(0.05)
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
        for pid in orphans:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    assert sorted(p.name for p in out.iterdir()) == ["rec.h5", "rec.sigmf-data", "rec.sigmf-meta"]
    for name in ("rec.sigmf-meta", "rec.h5"):
        ended = ended_in_file(out / name)
        assert ended is not None and ended.startswith(
            "the stop's drain was cut short by the death of the process that ran the graph"), ended
        info = io.inspect_recording(out / name)
        assert info.samples > 0 and "ended     early: the stop's drain was cut short" in str(info)


@df.block
async def slow_pass(stream: df.Stream, delay: float):
    """Passes chunks on, ``delay`` seconds each (a drain that cannot finish in time)."""
    async for chunk in stream:
        await asyncio.sleep(delay)
        yield chunk


@pytest.mark.parametrize("threaded", [False, True], ids=["loop", "threaded"])
@pytest.mark.parametrize("ext", ["sigmf-meta", "h5", "wav"])
def test_a_drain_cut_short_is_marked_in_the_recording(tmp_path, adc, ext, threaded):
    path = tmp_path / f"rec.{ext}"
    chunks = slow_pass(source(adc, ext), 0.05, buffer=30)
    report = df.run(WRITERS[ext](chunks, path, name="recording", threaded=threaded),
                    duration=0.3, drain_timeout=0.3)
    assert report.drain_cut == "timeout" and report.discarded_items > 0
    result = report.results["recording"]
    assert result["ended"].startswith("the stop's drain was cut short")
    assert ended_in_file(path) == result["ended"]
    assert io.inspect_recording(path).samples == result["samples"] > 0
