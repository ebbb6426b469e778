"""Suite-wide settings.

- hypothesis runs the same examples on every run (derandomized), so a CI result is
  reproducible; ``HYPOTHESIS_PROFILE=explore`` searches afresh.
- The end of the session: with Qt, Dask and pyzmq threads alive, CPython's finalization has
  crashed (SIGSEGV, once in several full runs) after every test had passed and pytest had
  reported. The exit status is decided by then, so the session ends with it directly
  (``os._exit``), after the faulthandler is re-armed to print where any crash before that
  happens. Set ``DAQFLOW_TEST_FINALIZE=1`` to run the full interpreter finalization instead.
"""

import contextlib
import faulthandler
import os
import sys

import pytest
from hypothesis import settings

import sound_server

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_status: list[int] = []


@pytest.fixture(scope="session")
def sound_card():
    """A private PulseAudio daemon whose null sink ``daq`` is the default output and whose
    monitor ``daq.monitor`` is the default input (`tests/sound_server.py`)."""
    server, daemon = sound_server.start()
    try:
        yield server
    finally:
        sound_server.stop(server, daemon)


def pytest_sessionfinish(session, exitstatus):
    _status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    faulthandler.enable(file=sys.__stderr__, all_threads=True)
    if not _status or os.environ.get("DAQFLOW_TEST_FINALIZE") == "1":
        return
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.flush()
    os._exit(_status[0])
