"""Bad device settings fail with one clear line naming the device and what it supports,
on the real SoapySDR library and PortAudio."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from _sound_signals import RATE

import daqflow as df
from daqflow import io


def _failure(sink: df.Stream) -> str:
    with pytest.raises(df.BlockError) as caught:
        df.run(sink, duration=10)
    return str(caught.value)


@pytest.mark.parametrize(("options", "expected"), [
    ({"device": "driver=nosuch"}, ["'driver=nosuch'", "devices found: driver=audio,device_id=0",
                                   "driver modules installed:", "libaudioSupport.so"]),
    ({"rate": 1e6}, ["'driver=audio'", "sample rate 1e+06 Hz is not supported",
                     "8000, 16000, 22050, 32000, 44100, 48000, 96000, 192000 Hz"]),
    ({"freq": 7e9}, ["'driver=audio'", "frequency 7e+09 Hz is out of its range 0..6000 MHz"]),
    ({"gain": 20}, ["'driver=audio'", "gain 20 dB is out of its range 0..0 dB"]),
    ({"channels": (0, 1)}, ["'driver=audio'", "channels [0, 1] asked, the device has 1 RX channel"]),
    ({"antenna": "TX/RX"}, ["'driver=audio'", "antenna 'TX/RX' is not one of ['RX']"]),
])
def test_soapy_source_refuses_what_the_device_cannot_do(options, expected):
    settings = {"device": "driver=audio", "rate": RATE, "freq": 100e6, **options}
    message = _failure(df.null_sink(io.soapy_source(**settings)))
    assert "soapy_source" in message
    for part in expected:
        assert part in message, message
    assert "\n" not in message


def test_soapy_sink_on_a_receive_only_device_says_so():
    message = _failure(io.soapy_sink(io.simulated_adc(RATE, realtime=False), device="driver=audio",
                                     rate=RATE))
    assert "soapy_sink 'driver=audio': channels [0] asked, the device has no TX channel" in message


def test_audio_source_names_an_unknown_device_and_lists_the_inputs():
    message = _failure(df.null_sink(io.audio_source(RATE, device="no such card")))
    assert ("audio_source 'no such card': 48000 Hz x 1 channel(s) asked: No input device "
            "matching 'no such card'; input devices: ['pulse', 'default']") in message


def test_audio_source_says_what_the_card_supports_when_it_refuses_the_channels():
    message = _failure(df.null_sink(io.audio_source(RATE, channels=200)))
    assert "audio_source 'default input': 48000 Hz x 200 channel(s) asked: " in message
    assert "Invalid number of channels" in message
    assert " input channel(s), default rate 44100 Hz, rates 8000, 16000, " in message


def test_audio_sink_refuses_a_stream_that_changes_rate():
    silence = np.zeros(4800, np.float32)
    chunks = [df.Chunk(silence, RATE, 0), df.Chunk(silence, 44100.0, 4800)]
    message = _failure(io.audio_sink(df.from_iterable(chunks)))
    assert "audio_sink: the stream changed from 48000 Hz x 1 channel(s) to 44100 Hz x 1" in message


def test_invalid_parameters_fail_when_the_graph_is_described():
    with pytest.raises(ValueError, match="soapy_source: rate must be > 0 Hz, got -1"):
        io.soapy_source("driver=audio", rate=-1)
    with pytest.raises(ValueError, match="audio_source: dtype must be one of"):
        io.audio_source(dtype="complex64")


def test_a_missing_soapysdr_module_is_one_line_saying_what_to_install():
    code = ("import sys; sys.modules['SoapySDR'] = None\n"
            "import daqflow.io._system as system; system.SYSTEM_DIRS = ()\n"
            "from daqflow import io\n"
            "try:\n    io.soapy_source('driver=audio')\n"
            "except ImportError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("SoapySDR's Python module is missing: on Debian/Ubuntu, apt-get "
                                   "install python3-soapysdr plus the module of your radio (e.g. "
                                   "soapysdr-module-rtlsdr, soapysdr-module-audio)")
