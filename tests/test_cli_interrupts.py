"""Ctrl-C at any moment of `daqflow record` ends in the orderly path: exit status 130, no
traceback, the saved count printed (or that nothing ran), and a file under its final name
that its reader opens."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import sigmf

DAQFLOW = [sys.executable, "-m", "daqflow"]


def record_and_interrupt(path, delay, second=0.002):
    """`daqflow record --fast PATH`; two SIGINTs ``second`` s apart, ``delay`` s after it
    says it starts recording. Returns (exit status, stdout, stderr)."""
    child = subprocess.Popen([*DAQFLOW, "record", "--fast", str(path), "--duration", "20"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stderr.readline()
        assert line.startswith("daqflow record:"), line
        time.sleep(delay)
        child.send_signal(signal.SIGINT)
        time.sleep(second)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
        return child.returncode, out, line + err
    finally:
        child.kill()
        child.wait()


def samples_in(path):
    """Samples in the recording at ``path``, as its reference reader sees them."""
    if path.suffix == ".npy":
        return np.load(path, mmap_mode="r").shape[0]
    return sigmf.sigmffile.fromfile(str(path)).sample_count


@pytest.mark.parametrize("name", ["rec.npy", "rec.sigmf-meta"])
@pytest.mark.parametrize("delay", [0.0, 0.02, 0.3, 1.0])
def test_two_quick_ctrl_c_end_a_fast_recording_in_order(tmp_path, delay, name):
    path = tmp_path / name
    code, out, err = record_and_interrupt(path, delay)
    assert code == 130, err
    assert "Traceback" not in err and "KeyError" not in err, err
    if "recorded:" in out:
        samples = int(out.split("samples=")[1].split(",")[0].split()[0])
        if samples or path.exists():  # (a writer that got nothing may leave no file)
            assert samples_in(path) == samples
    else:  # interrupted before the graph ran: it says so, and wrote nothing
        assert "interrupted before the graph ran" in err
        assert not path.exists()
