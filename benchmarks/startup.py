"""Seconds from ``import daqflow`` to the first chunk in a sink, in a fresh interpreter.

Each run is a new ``python -c`` process (nothing cached in memory; the OS file cache is
warm after the first): it imports daqflow, describes ``io.simulated_adc -> dsp.mix ->
dsp.fir_decimate -> dsp.spectrum -> sink`` (the receiver's chain, 8192-sample chunks) and
runs it until the first spectrum reaches the sink. Also the time of ``import daqflow, daqflow.dsp,
daqflow.io``, and whether anything had imported ``scipy.signal`` (0.6 s of import alone; the chain
should not need it). Target (issue 14): import to first chunk <= 0.5 s. ``DAQFLOW_FFT=scipy`` in
the environment measures without pyFFTW (its import, at the first FFT, is part of the time).
With numba installed, fir_decimate's compiled loop loads in a thread meanwhile (its first 0.5 s
of samples run on numpy); ``DAQFLOW_JIT=numpy`` measures without numba.

    python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from _common import emit

CHILD = """
import time
t0 = time.perf_counter()
import daqflow as df
from daqflow import dsp, io
imported = time.perf_counter() - t0
first = []

@df.block
async def sink(x):
    async for item in x:
        first.append(time.perf_counter() - t0)
        return

chain = dsp.spectrum(dsp.fir_decimate(dsp.mix(io.simulated_adc(rate=8e6, chunk=8192), -1e6),
                                      dsp.lowpass(64, 0.05), 8), 1024)
df.run(sink(chain), duration=2.0)
print(json.dumps({"import_s": imported, "first_chunk_s": first[0],
                  "scipy_signal": "scipy.signal" in sys.modules}))
""".replace("import time", "import json, sys, time", 1)


# as installed: with PYTHONDONTWRITEBYTECODE set (some CI images set it), every start would
# compile daqflow's sources again, which no installed copy does (pip writes the bytecode)
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def one_run() -> dict[str, float | bool]:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         timeout=60, check=True, env=CHILD_ENV)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters (median)")
    args = parser.parse_args()
    one_run()  # warm the OS file cache (and write the bytecode, numba's cache)
    runs = [one_run() for _ in range(args.runs)]
    first = statistics.median(r["first_chunk_s"] for r in runs)
    emit("startup", {
        "import_s_median": round(statistics.median(r["import_s"] for r in runs), 3),
        "first_chunk_s_median": round(first, 3),
        "first_chunk_s_max": round(max(r["first_chunk_s"] for r in runs), 3),
        "scipy_signal_imported": any(r["scipy_signal"] for r in runs),
        "fft_backend_env": os.environ.get("DAQFLOW_FFT", ""),
        "jit_backend_env": os.environ.get("DAQFLOW_JIT", ""),
        "runs": args.runs,
        "target": "<= 0.5 s import to first chunk",
        "target_met": first <= 0.5,
    })


if __name__ == "__main__":
    main()
