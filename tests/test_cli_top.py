"""daqflow top (a script's graph with live figures) and daqflow graph --svg."""

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

DAQFLOW = [sys.executable, "-m", "daqflow"]


def run_cli(*args, timeout=60, env=None):
    return subprocess.run([*DAQFLOW, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def run_on_a_terminal(argv, timeout=60):
    """Run ``argv`` with stderr on a pseudo-terminal; returns (returncode, stdout, terminal text)."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "140"}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            env=env)
    os.close(slave)
    seen = b""
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            seen += data
        stdout, _ = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
        os.close(master)
    return proc.returncode, stdout.decode(), seen.decode(errors="replace")


@pytest.fixture
def script(tmp_path):
    """A receive chain on a real-time ADC, run (for 100 s) by a script that then writes a file."""
    marker = tmp_path / "ran"
    path = tmp_path / "receiver.py"
    path.write_text(textwrap.dedent(f"""
        import daqflow as df
        from daqflow import dsp, io

        tune = df.param(-250e3, name="tune", low=-1e6, high=1e6, unit="Hz")
        adc = io.simulated_adc(1e6, chunk=8192, tones=[(250e3, 1.0)], noise=0.01)
        base = dsp.mix(adc, freq=tune)
        nb = dsp.fir_decimate(base, dsp.lowpass(63, 50e3, rate=1e6), factor=8)
        spec = dsp.spectrum(nb, nfft=256, average=4)
        df.run(df.collect(spec, name="spectra"),
               df.null_sink(adc, buffer=3, policy="drop_oldest", name="tap"), duration=100)
        open({str(marker)!r}, "w").write("ran")
    """))
    return path


BLOCKS = ("simulated_adc", "mix", "fir_decimate", "spectrum", "spectra", "tap")


def test_top_on_a_pipe_prints_a_line_per_interval_then_the_report(script):
    out = run_cli("top", str(script), "--duration", "1.8", "--interval", "0.5")
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert "Ctrl-C stops" in lines[0]
    figures = [line for line in lines if line.startswith("[daqflow")]
    assert len(figures) == 3, out.stderr  # at 0.5, 1.0, 1.5 s
    for line in figures:
        for name in BLOCKS:
            assert f"{name}: " in line, line
        for text in ("it/s", "MS/s", "busy", "drops", "overflow"):
            assert text in line
    found = re.search(r"simulated_adc: (\d+) it/s ([\d.]+) MS/s", figures[-1])
    assert 100 < int(found[1]) < 145 and 0.85 < float(found[2]) < 1.15  # 1 MS/s, 8192 a chunk
    assert "\x1b" not in out.stderr and "Traceback" not in out.stderr
    assert "daqflow report" in out.stdout and "stopped by duration" in out.stdout
    assert "results: spectra=" in out.stdout
    assert not (script.parent / "ran").exists()  # the script's own run() was intercepted


def test_top_runs_a_finite_graph_to_its_end(tmp_path):
    path = tmp_path / "finite.py"
    path.write_text(textwrap.dedent("""
        import daqflow as df
        df.run(df.collect(df.from_iterable(range(1000)), name="got"))
    """))
    out = run_cli("top", str(path))
    assert out.returncode == 0, out.stderr
    assert "stopped by end" in out.stdout and "results: got=[1000 items]" in out.stdout


def test_top_ctrl_c_stops_in_order(script):
    proc = subprocess.Popen([*DAQFLOW, "top", str(script), "--interval", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "Ctrl-C stops" in proc.stderr.readline()
        assert proc.stderr.readline().startswith("[daqflow")  # running
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "stopped by interrupt" in stdout and "results: spectra=" in stdout
    assert "Traceback" not in stderr


def test_top_on_a_terminal_draws_the_table(script):
    rc, stdout, terminal = run_on_a_terminal(
        [*DAQFLOW, "top", str(script), "--duration", "1.2", "--interval", "0.3"])
    assert rc == 0
    for text in ("items/s", "busy %", "fifo", *BLOCKS):
        assert text in terminal
    assert "\x1b[" in terminal and "[daqflow" not in terminal
    assert "daqflow report" in stdout and "stopped by duration" in stdout


def test_top_reports_a_failing_block(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text(textwrap.dedent("""
        import daqflow as df

        @df.block
        def boom(x):
            if x == 5:
                raise RuntimeError("bad item")
            return x

        df.run(df.collect(boom(df.from_iterable(range(10)))))
    """))
    out = run_cli("top", str(path))
    assert out.returncode == 1
    assert "stopped by error" in out.stdout and "bad item" in out.stderr


@pytest.mark.parametrize("args, message", [
    (["--interval", "0"], "--interval must be > 0"),
    (["--duration", "-1"], "--duration must be > 0"),
])
def test_top_refuses_bad_options(script, args, message):
    out = run_cli("top", str(script), *args)
    assert out.returncode == 2 and message in out.stderr


def test_top_missing_file_and_help(tmp_path):
    out = run_cli("top", str(tmp_path / "nope.py"))
    assert out.returncode != 0 and "daqflow top: no such file" in out.stderr
    text = " ".join(run_cli("top", "--help").stdout.split())
    assert "usage: daqflow top" in text and "--interval" in text and "--duration" in text
    assert "--attach URL" in text and "daqflow serve" in text
    both = run_cli("top", str(tmp_path / "x.py"), "--attach", "http://127.0.0.1:1")
    assert both.returncode == 2 and "either FILE.py" in both.stderr
    nobody = run_cli("top", "--attach", "http://127.0.0.1:1")  # nothing listens on port 1
    assert nobody.returncode == 1 and "no graph answers there" in nobody.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_graph_svg_with_dot(script, tmp_path):
    svg = tmp_path / "flow.svg"
    out = run_cli("graph", str(script), "--svg", str(svg))
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""  # the picture, not the text
    text = svg.read_text()
    assert text.lstrip().startswith(("<?xml", "<svg")) and "</svg>" in text
    for name in BLOCKS:
        assert name in text
    assert "drop_oldest, 3" in text  # edges labelled with policy and FIFO length
    assert not (script.parent / "ran").exists()


def test_graph_svg_without_dot_writes_the_dot_text(script, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    svg = tmp_path / "flow.svg"
    out = run_cli("graph", str(script), "--svg", str(svg), env={**os.environ, "PATH": str(empty)})
    assert out.returncode == 0, out.stderr
    assert not svg.exists()
    dot = tmp_path / "flow.dot"
    assert f"wrote the DOT text to {dot}" in out.stderr and "not installed" in out.stderr
    text = dot.read_text()
    assert text.startswith("digraph daqflow {")
    assert "drop_oldest, 3" in text and '"spectra"' in text and "inline" in text


@pytest.mark.parametrize("command", ["graph", "top"])
def test_a_script_importing_a_module_beside_it_works(tmp_path, command):
    # as with `python FILE.py`, the script's folder is on sys.path (run from another folder)
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "lab_blocks.py").write_text(textwrap.dedent("""
        import daqflow as df

        @df.block
        def doubled(x):
            return 2 * x
    """))
    (folder / "measure.py").write_text(textwrap.dedent("""
        import daqflow as df
        from lab_blocks import doubled

        df.run(df.collect(doubled(df.from_iterable(range(5)))))
    """))
    done = subprocess.run([*DAQFLOW, command, str(folder / "measure.py")], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    if command == "graph":
        assert "doubled" in done.stdout and "->" in done.stdout
    else:
        assert "results: collect=[5 items]" in done.stdout
