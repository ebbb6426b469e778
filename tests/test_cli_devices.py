"""The daqflow command on real devices: ``devices``, ``record --device``, ``demo --fm --device``.

The device is the test sound card (fixture ``sound_card``: a private PulseAudio daemon whose
null sink's monitor is the default capture), reached through SoapySDR's audio driver
(``driver=audio``) and PortAudio. The commands run as subprocesses, which find the daemon
through the XDG_RUNTIME_DIR the fixture set.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.io import wavfile

from daqflow import cli

DAQFLOW = [sys.executable, "-m", "daqflow"]


def run_cli(*args, timeout=60):
    done = subprocess.run([*DAQFLOW, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_devices_lists_the_radios_and_the_sound_cards(sound_card):
    import sounddevice

    from daqflow.io._system import soapysdr

    done = run_cli("devices")
    assert done.returncode == 0, done.stderr
    radios, cards = done.stdout.split("audio devices:")
    assert radios.startswith("SoapySDR devices:")
    # what SoapySDR itself enumerates, with the args to open it and the rates it takes
    found = [dict(k) for k in soapysdr().Device.enumerate()]
    assert any(k.get("driver") == "audio" for k in found)
    for kwargs in found:
        assert kwargs.get("label", kwargs["driver"]) in radios
    assert "driver=audio" in radios
    rates = next(line for line in radios.splitlines() if "rates:" in line)
    assert "8000" in rates and "192000" in rates
    assert "freq:" in radios and "antennas: RX" in radios
    # every PortAudio device (the real library's own list) is named, with its channels
    names = [d["name"] for d in sounddevice.query_devices()]
    assert names
    for name in names:
        assert name in cards
    assert "channels:" in cards


def test_record_from_a_radio_writes_sigmf_with_its_tuning(sound_card, tmp_path):
    import sigmf

    meta = tmp_path / "radio.sigmf-meta"
    done = run_cli("record", "--device", "driver=audio", "--rate", "48000", "--freq", "100e6",
                   "--duration", "3", meta)
    assert done.returncode == 0, done.stderr
    assert "soapy_source" in done.stdout  # the report names the device block
    recording = sigmf.sigmffile.fromfile(str(meta))  # the reference reader
    recording.validate()
    assert recording.get_global_field("core:sample_rate") == 48000
    assert recording.get_global_field("core:datatype") == "cf32_le"
    captures = recording.get_captures()
    assert captures and all(c["core:frequency"] == 100e6 for c in captures)
    # 3 s, less the device's start (SoapySDR's audio driver takes 1-2 s on a busy machine)
    assert 0 < recording.sample_count <= 3.1 * 48000
    assert f"samples={recording.sample_count}\n" in done.stdout  # what the command said it saved
    samples = recording.read_samples()
    assert samples.dtype == np.complex64 and np.all(np.isfinite(samples))
    assert "'driver=audio'" in recording.get_global_field("core:description")  # which device
    assert not list(tmp_path.glob("*.partial"))


def test_fm_receiver_runs_from_a_radio_into_wav(sound_card, tmp_path):
    out = tmp_path / "radio.wav"
    done = run_cli("demo", "--fm", "100e6", "--device", "driver=audio", "--rate", "192000",
                   "--output", out, "--duration", "3")
    assert done.returncode == 0, done.stderr
    assert "soapy_source" in done.stdout and "stopped by duration" in done.stdout
    assert "'driver=audio'" in done.stderr  # says where the signal comes from
    rate, audio = wavfile.read(out)
    assert rate == 48000
    assert 0 < len(audio) <= 3.1 * 48000  # 3 s, less the device's start (1-2 s)
    assert np.all(np.isfinite(audio))


def test_a_device_that_does_not_open_is_named(sound_card, tmp_path):
    done = run_cli("record", "--device", "driver=nosuchradio", "--freq", "100e6", "--duration", "1",
                   tmp_path / "x.sigmf-meta")
    assert done.returncode != 0
    assert "'driver=nosuchradio'" in done.stderr and "driver=audio" in done.stderr  # what is there


@pytest.mark.parametrize("argv, words", [
    (["record", "--device", "driver=audio", "x.sigmf-meta"], "--device 'driver=audio' needs --freq"),
    (["record", "--gain", "10", "x.sigmf-meta"], "--gain and --antenna go with --device"),
    (["demo", "--device", "driver=audio"], "--device and --gain go with --fm"),
    (["demo", "--fm", "99.5e6", "--output", "x.sigmf-meta"], "must be a .wav file, got 'x.sigmf-meta'"),
    (["demo", "--fm", "99.5e6", "--rate", "1234567"], "cannot bring 1234567 Hz to 48000 Hz"),
])
def test_wrong_options_are_one_clear_line(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err
    assert not list(tmp_path.iterdir())  # nothing was written
