"""plot_recording lives in daqflow.plot (io reads, plot draws): io does not import plot."""

import subprocess
import sys

import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.image

import daqflow.io as dio
import daqflow.plot as dplot


def recording(tmp_path):
    rate = 1e6
    x = (np.exp(2j * np.pi * 125e3 * np.arange(65536) / rate)).astype(np.complex64)
    path = tmp_path / "tone.npy"
    np.save(path, x)
    return dio.inspect_recording(path, rate=rate)


def test_plot_recording_draws_a_png(tmp_path):
    info = recording(tmp_path)
    out = dplot.plot_recording(info, tmp_path / "tone.png", samples=16384)
    pixels = matplotlib.image.imread(out)
    assert out == tmp_path / "tone.png" and pixels.shape[0] > 100 and len(np.unique(pixels)) > 10


def test_io_does_not_import_plot(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(16))
    code = ("import sys, daqflow.io as dio\n"
            f"info = dio.inspect_recording({str(tmp_path / 'x.npy')!r}, rate=1.0)\n"
            "assert 'daqflow.plot' not in sys.modules and 'matplotlib' not in sys.modules\n"
            "try:\n    dio.plot_recording\nexcept AttributeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "moved to daqflow.plot.plot_recording" in out.stdout
