"""Start-up imports no scipy.signal (0.6 s of import, issue 14): not ``import daqflow``,
``daqflow.dsp``, ``daqflow.io``, nor the receiver chain of benchmarks/startup.py up to its first
spectrum. Run in a fresh interpreter, as this test process has scipy.signal loaded already."""

import json
import subprocess
import sys

import pytest

CHILD = """
import json, sys
import daqflow as df
from daqflow import dsp, io
after_import = "scipy.signal" in sys.modules
first = []

@df.block
async def sink(x):
    async for item in x:
        first.append(item.data.shape[-1])
        return

chain = dsp.spectrum(dsp.fir_decimate(dsp.mix(io.simulated_adc(rate=8e6, chunk=8192), -1e6),
                                      dsp.lowpass(64, 0.05), 8), 1024)
df.run(sink(chain), duration=2.0)
print(json.dumps({"after_import": after_import, "after_first": "scipy.signal" in sys.modules,
                  "first": first, "dask": "dask.array" in sys.modules,
                  "fftw": "pyfftw" in sys.modules}))
"""


def test_startup_chain_imports_no_scipy_signal():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["first"] == [1024]  # the first spectrum (1024 bins) reached the sink
    assert seen["after_import"] is False
    assert seen["after_first"] is False
    # pyFFTW without its dask interface (0.17 s of dask.array, when dask is installed)
    assert seen["fftw"] is True and seen["dask"] is False


DESCRIBED = """
import json, sys
import numpy as np
import daqflow as df
from daqflow import dsp
source = df.from_iterable([])
blocks = {"fft": lambda: dsp.fft(source, 64), "deemphasis": lambda: dsp.deemphasis(source),
          "agc": lambda: dsp.agc(source),
          "iir": lambda: dsp.iir(source, np.array([[1.0, 0, 0, 1.0, 0, 0]]))}
blocks[sys.argv[1]]()
print(json.dumps({"pyfftw": "pyfftw" in sys.modules, "scipy.signal": "scipy.signal" in sys.modules}))
"""


@pytest.mark.parametrize("block, needs", [("fft", "pyfftw"), ("deemphasis", "scipy.signal"),
                                          ("agc", "scipy.signal"), ("iir", "scipy.signal")])
def test_libraries_a_block_needs_are_imported_when_it_is_described(block, needs):
    """A block whose kernel needs pyFFTW or scipy.signal imports it when the graph is described
    (each block in a fresh interpreter), not at its first chunk inside the run: scipy.signal's
    0.6 s there once made the FM demo's real-time source lose 1.4 M of 4.8 M samples."""
    out = subprocess.run([sys.executable, "-c", DESCRIBED, block], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen[needs] is True
    if block == "fft":
        assert seen["scipy.signal"] is False
