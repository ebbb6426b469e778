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
