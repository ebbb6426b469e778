"""Device tests run on the real device libraries:

- the real sound stack: a private PulseAudio null sink (fixture ``sound_card`` in
  tests/conftest.py), PortAudio through sounddevice, and SoapySDR's audio driver
  (``driver=audio``) reading the sink's monitor;
- ``loopback_radio``: a SoapySDR driver with hardware time and a TX side
  (tests/devices/loopback_radio.cpp), compiled here against Debian's libsoapysdr-dev and
  loaded into the real SoapySDR library, as pyvisa-sim is for the instruments.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).with_name("loopback_radio.cpp")


@pytest.fixture(autouse=True)
def _sound(sound_card):
    return sound_card


@pytest.fixture(scope="session")
def loopback_radio(tmp_path_factory) -> str:
    """Device args of the loopback radio (loaded into SoapySDR here, and found by child
    processes through SOAPY_SDR_PLUGIN_PATH)."""
    compiler = shutil.which("g++")
    if compiler is None or not Path("/usr/include/SoapySDR/Device.hpp").is_file():
        raise RuntimeError("the loopback radio needs g++ and SoapySDR's headers: "
                           "apt-get install -y g++ libsoapysdr-dev")
    folder = tmp_path_factory.mktemp("soapy-modules")
    library = folder / "libdaqflow_loopback.so"
    subprocess.run([compiler, "-std=c++17", "-O2", "-shared", "-fPIC", str(SOURCE), "-lSoapySDR",
                    "-o", str(library)], check=True, capture_output=True, timeout=120)
    from daqflow.io._system import soapysdr

    soapysdr().loadModule(str(library))
    os.environ["SOAPY_SDR_PLUGIN_PATH"] = str(folder)
    return "driver=loopback"
