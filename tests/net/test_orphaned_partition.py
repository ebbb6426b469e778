"""A partition child whose parent is SIGKILLed: it stops at once, in order, and the run's
private directory on /dev/shm is removed by the next run that starts."""

import glob
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import sigmf
from _partition_blocks import ramp, scale

import daqflow as df

pytest.importorskip("zmq")

HERE = Path(__file__).parent

PARENT = """
import sys
sys.path.insert(0, {here!r})
import daqflow as df
from _partition_blocks import ramp, scale
from daqflow import io
from _partition_blocks import pid_then_ramp

if __name__ == "__main__":
    a = df.Process("a")
    src = pid_then_ramp({pid_path!r}, 64, 0.005, proc=a)
    df.run(io.sigmf_writer(src, {recording!r}, proc=a), df.collect(src),
           transport={transport!r})
"""

def _gone(pid):
    """True once ``pid`` has exited (a zombie waiting for a reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True

def _wait_for(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False

def _private_dirs_of(pid):
    return glob.glob(f"/dev/shm/daqflow-{pid}-*") + glob.glob(
        f"{tempfile.gettempdir()}/daqflow-{pid}-*")

@pytest.mark.parametrize("transport", ["shm", "zmq", "http"])
def test_a_child_stops_promptly_and_closes_its_recording_when_its_parent_is_killed(
        tmp_path, transport):
    pid_path, recording = tmp_path / "child.pid", tmp_path / "rec"
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(PARENT.format(
        here=str(HERE), pid_path=str(pid_path), recording=str(recording),
        transport=transport)))
    parent = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: parent.poll() is not None or (pid_path.exists() and pid_path.read_text()),
                  60)
        assert parent.poll() is None, parent.stderr.read().decode()
        child = int(pid_path.read_text())
        time.sleep(0.5)  # the recording is under way
        assert _private_dirs_of(parent.pid), "the run's private directory is named by its pid"
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        killed_at = time.monotonic()
        assert _wait_for(lambda: _gone(child), 30), "the orphaned child never exited"
        waited = time.monotonic() - killed_at
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stderr.close()
    # the bound is loose (it used to take ~7 s): a parent's death is noticed at once and the
    # child neither waits for the drain of a graph whose other end is gone nor lingers
    assert waited < 3.0, f"the child took {waited:.1f} s to exit"
    print(f"orphaned child exited {waited:.2f} s after its parent was killed")

    handle = sigmf.sigmffile.fromfile(str(recording))  # under its final name: valid
    samples = handle.read_samples()
    assert len(samples) > 0 and len(samples) % 64 == 0
    assert handle.get_global_field("daqflow:ended")  # the end was not a clean one

def test_a_stale_private_directory_of_a_dead_process_is_removed_at_the_next_start(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    stale = Path(tempfile.mkdtemp(prefix=f"daqflow-{dead.pid}-", dir=base))
    (stale / "ring-0").write_bytes(b"\0" * 4096)
    alive = Path(tempfile.mkdtemp(prefix=f"daqflow-{os.getppid()}-", dir=base))  # a live pid
    try:

        report = df.run(df.collect(scale(ramp(3, 8), proc=df.Process("a"))))
        assert len(report.results["collect"]) == 3
        assert not stale.exists(), "the dead process's directory was left behind"
        assert alive.exists(), "a live process's directory was removed"
    finally:
        import shutil

        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(alive, ignore_errors=True)
