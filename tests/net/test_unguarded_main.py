"""A script that runs blocks in other processes without `if __name__ == "__main__":`: the
child re-runs it; the run stops at once with one line saying what to fix (it used to end in
a 60-line multiprocessing traceback from the child)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BODY = """
import daqflow as df
from daqflow import dsp, io


def main():
    adc = io.simulated_adc(rate=1e6)
    spec = dsp.spectrum(adc, nfft=1024, proc=df.Process("dsp"))
    report = df.run(df.collect(spec), duration=0.3)
    print("items", len(report.results["collect"]))


{call}
"""


def _run(path: Path, guarded: bool) -> subprocess.CompletedProcess[str]:
    call = 'if __name__ == "__main__":\n    main()' if guarded else "main()"
    path.write_text(BODY.format(call=call))
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=90,
                          cwd=path.parent)


def test_an_unguarded_script_gets_one_line_naming_it_and_the_fix(tmp_path: Path) -> None:
    script = tmp_path / "unguarded.py"
    done = _run(script, guarded=False)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert str(script) in last and 'if __name__ == "__main__":' in last, done.stderr
    assert "process 'dsp'" in last
    assert "spawn.py" not in done.stderr, done.stderr  # no multiprocessing traceback from the child


def test_the_guarded_script_runs(tmp_path: Path) -> None:
    done = _run(tmp_path / "guarded.py", guarded=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 0


USER_PROCESS = """
import multiprocessing
import daqflow as df
from daqflow import io

def work():
    pass

df.run(df.collect(io.simulated_adc(rate=1e5)), duration=0.05)
child = multiprocessing.get_context("spawn").Process(target=work)
child.start()
child.join()
print("exit", child.exitcode)
"""


def test_a_users_own_spawned_child_says_it_too(tmp_path: Path) -> None:
    script = tmp_path / "own_process.py"
    script.write_text(USER_PROCESS)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.stderr.strip() == (
        f'daqflow: {script} runs a graph at import: a process it starts re-runs its top-level '
        'code. Put that code under `if __name__ == "__main__":`'), done.stderr
    assert done.stdout.split()[-1] == "78"
