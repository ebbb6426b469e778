"""The daqflow command: demo (the README's main job), Ctrl-C, graph, --help."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

DAQFLOW = [sys.executable, "-m", "daqflow"]


def run_cli(*args, timeout=60):
    return subprocess.run([*DAQFLOW, *args], capture_output=True, text=True, timeout=timeout)


def test_demo_runs_and_prints_report(tmp_path):
    recording = tmp_path / "demo.sigmf-meta"
    out = run_cli("demo", "--duration", "1", "--output", str(recording))
    assert out.returncode == 0, out.stderr
    assert "daqflow report" in out.stdout
    assert "stopped by duration" in out.stdout
    # the receive chain finds the two tones the simulated ADC sends, at their RF frequencies
    assert "peaks found: 100.2500 MHz (0.0 dB), 100.2900 MHz (-20.0 dB)" in out.stdout
    assert "Traceback" not in out.stderr
    assert f"in {recording}" in out.stdout  # says where the recording is
    info = run_cli("inspect", str(recording))
    assert info.returncode == 0 and "SigMF" in info.stdout and "complete     yes" in info.stdout


@pytest.mark.parametrize("command", [[], ["demo"], ["graph"], ["record"], ["inspect"],
                                     ["devices"]])
def test_help_on_every_command(command):
    out = run_cli(*command, "--help")
    assert out.returncode == 0
    assert "usage: daqflow" in out.stdout


def test_sigint_is_an_orderly_stop():  # (recordings under interruption: tests/io)
    proc = subprocess.Popen(
        [*DAQFLOW, "demo", "--duration", "60", "--no-record"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert "Ctrl-C stops" in proc.stderr.readline()  # running now
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode in (0, 130)
    assert "stopped by interrupt" in stdout
    assert "results: spectra=" in stdout
    assert "Traceback" not in stderr


def test_graph_prints_dot_of_a_script_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    script = tmp_path / "pipeline.py"
    script.write_text(textwrap.dedent(f"""
        import daqflow as df
        from daqflow import io

        @df.block
        def scale(x, k=2.0):
            return x

        adc = io.simulated_adc(1e6)
        report = df.run(df.collect(scale(adc), name="saved"),
                        df.null_sink(adc, buffer=3, policy="drop_oldest"), duration=100)
        open({str(marker)!r}, "w").write("ran")
    """))
    out = run_cli("graph", str(script))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("digraph daqflow {")
    for text in ('"simulated_adc"', '"scale"', '"saved"', '"null_sink"', "drop_oldest, 3", "inline"):
        assert text in out.stdout
    assert not marker.exists()  # run() was intercepted


def test_graph_of_missing_file_is_a_clear_error(tmp_path):
    out = run_cli("graph", str(tmp_path / "nope.py"))
    assert out.returncode != 0
    assert "no such file" in out.stderr


def test_demo_help_names_duration():
    assert "--duration" in run_cli("demo", "--help").stdout


def test_module_and_script_entry_points_agree():
    exe = os.path.join(os.path.dirname(sys.executable), "daqflow")
    if not os.path.exists(exe):
        pytest.skip("console script not installed next to this interpreter")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "demo" in out.stdout


def test_demo_instruments_runs_without_hardware():
    out = run_cli("demo", "--instruments")
    assert out.returncode == 0, out.stderr
    assert "network analyzer: |S21| peaks at 10.0000 MHz" in out.stdout
    assert "they overlapped" in out.stdout
    assert "DAQFLOW,SIM-DMM-6500" in out.stdout and "refused by the instrument" in out.stdout
    assert out.stdout.count(" V, ") >= 3  # the polled multimeter readings
