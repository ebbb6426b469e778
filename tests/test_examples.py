"""The examples the README shows run as written."""

import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_runs_and_reports(capsys):
    main = runpy.run_path(str(EXAMPLES / "quickstart.py"))["main"]
    report = main(0.5)
    power = report.results["power"]
    assert power and all(abs(p) < 0.1 for p in power)  # tone amplitude 1 -> 0 dB
    tap = report.results["tap"]
    assert [c.index for c in tap] == sorted(c.index for c in tap)
    assert "daqflow report" in capsys.readouterr().out


def test_the_radio_page_example_serves_its_graph():
    import re
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "daqflow", "serve", str(EXAMPLES / "radio_page.py"),
                          "--port", "0", "--duration", "1"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert re.search(r"watch and steer the graph at http://127\.0\.0\.1:\d+/", out.stderr)
    assert "stopped by duration" in out.stdout and "spectrum" in out.stdout
