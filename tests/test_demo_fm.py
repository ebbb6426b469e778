"""The FM broadcast receiver (daqflow.demo_fm): a tone sent over FM comes back as audio.

The test signals are built here with numpy and scipy alone (pre-emphasis filter, phase
integration), independent of the package's own simulated station, which the CLI test
checks in turn.
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from scipy import signal
from scipy.io import wavfile

import daqflow as df
from daqflow import demo_fm, io

DAQFLOW = [sys.executable, "-m", "daqflow"]
AUDIO_RATE = 48000


def fm_signal(rate: float, seconds: float, tones, *, deviation=75e3, tau=75e-6, offset=0.0,
              noise=0.01, seed=0) -> np.ndarray:
    """complex64 I/Q of a station: audio tones (Hz, level), pre-emphasised with
    H(s) = 1 + s*tau (bilinear transform), integrated into the carrier's phase."""
    n = np.arange(int(seconds * rate))
    audio = sum(level * np.cos(2 * np.pi * f * n / rate) for f, level in tones)
    if tau:  # 1 + s*tau is improper; tame it with a pole far above the band (rate/4)
        pole = 1 / (2 * np.pi * rate / 4)
        b, a = signal.bilinear([tau, 1], [pole, 1], fs=rate)
        audio = signal.lfilter(b, a, audio)
    phase = 2 * np.pi * deviation * np.cumsum(audio) / rate + 2 * np.pi * offset * n / rate
    rng = np.random.default_rng(seed)
    x = np.exp(1j * phase) + noise / np.sqrt(2) * (rng.standard_normal(len(n))
                                                   + 1j * rng.standard_normal(len(n)))
    return x.astype(np.complex64)


def chunks_of(x: np.ndarray, rate: float, size: int = 8192, center_freq: float | None = None):
    meta = {} if center_freq is None else {"center_freq": center_freq}
    return df.from_iterable([df.Chunk(x[i:i + size], rate, i, i / rate, meta)
                             for i in range(0, len(x), size)])


def tone_analysis(x: np.ndarray, rate: float, band: float = 15e3):
    """(frequency Hz, amplitude, SNR dB, THD) of the strongest tone in ``x``: frequency from a
    parabola through the log spectrum (Blackman-Harris window), SNR against everything else
    from 50 Hz to ``band`` Hz, THD from harmonics 2..5."""
    x = np.asarray(x, np.float64)
    window = signal.windows.blackmanharris(len(x))
    power = np.abs(np.fft.rfft(x * window)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    k = int(np.argmax(power[1:])) + 1
    a, b, c = np.log(power[k - 1:k + 2])
    frequency = (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / len(x)
    spread = 6  # bins of a tone's main lobe (Blackman-Harris: 4 bins each side)

    def around(f):
        j = round(f * len(x) / rate)
        return slice(max(j - spread, 0), j + spread + 1)

    fundamental = power[around(frequency)].sum()
    amplitude = 2 * np.sqrt(fundamental / (len(x) * np.sum(window**2)))  # Parseval, one side
    harmonics = sum(power[around(h * frequency)].sum() for h in range(2, 6) if h * frequency < band)
    in_band = (freqs >= 50) & (freqs <= band)
    rest = power[in_band].sum() - fundamental
    return frequency, amplitude, 10 * np.log10(fundamental / rest), np.sqrt(harmonics / fundamental)


def audio_of(report, name="audio"):
    chunks = report.results[name]
    assert all(c.rate == AUDIO_RATE for c in chunks)
    return np.concatenate([c.data for c in chunks])


@pytest.mark.parametrize("rate", [2.4e6, 2.048e6, 1.92e6, 1e6, 250e3, 240e3, 192e3])
def test_plan_brings_common_sdr_rates_exactly_to_48k(rate):
    steps = demo_fm.plan(rate)
    assert steps.if_rate == rate / steps.if_decimation >= 2 * (75e3 + 15e3)  # Carson bandwidth
    audio = Fraction(rate) / (steps.if_decimation * steps.audio_decimation) * steps.up / steps.down
    assert audio == AUDIO_RATE
    assert max(steps.up, steps.down) <= demo_fm.MAX_FACTOR


@pytest.mark.parametrize("rate, words", [(100e3, "below"), (1234567.0, "small integer")])
def test_plan_refuses_unusable_rates_naming_them(rate, words):
    with pytest.raises(ValueError, match=rf"{rate:.10g} Hz.*{words}"):
        demo_fm.plan(rate)


def test_receiver_recovers_a_tone_from_sigmf_into_wav(tmp_path):
    rate, offset = 2.4e6, 250e3
    x = fm_signal(rate, 0.6, [(1e3, 0.5)], offset=offset)
    df.run(io.sigmf_writer(chunks_of(x, rate, center_freq=99.25e6), tmp_path / "station"))
    replay = io.sigmf_source(tmp_path / "station.sigmf-meta")
    audio = demo_fm.receiver(replay, rate, offset=offset)
    report = df.run(io.wav_writer(audio, tmp_path / "audio.wav", name="wav"),
                    df.collect(audio, name="audio"))
    wav_rate, y = wavfile.read(tmp_path / "audio.wav")  # the reference reader
    assert wav_rate == AUDIO_RATE and y.ndim == 1
    assert len(y) == len(audio_of(report)) == pytest.approx(0.6 * AUDIO_RATE, abs=10)
    scale = 1.0 if y.dtype.kind == "f" else float(np.iinfo(y.dtype).max)
    settled = y[AUDIO_RATE // 20:] / scale  # after the filters' start-up (50 ms)
    frequency, amplitude, snr, thd = tone_analysis(settled, AUDIO_RATE)
    assert frequency == pytest.approx(1000.0, abs=0.5)
    assert amplitude == pytest.approx(0.5, rel=0.03)  # 1.0 = 75 kHz: de-emphasis gives it back flat
    assert snr > 40
    assert thd < 0.01


@pytest.mark.parametrize("rate, tau", [(2.048e6, 75e-6), (1e6, 50e-6), (250e3, 75e-6), (192e3, 50e-6)])
def test_deemphasis_makes_the_audio_flat(rate, tau):
    tones = [(1e3, 0.3), (10e3, 0.1)]  # pre-emphasis lifts 10 kHz ~4.8x (75 us) before the FM
    x = fm_signal(rate, 0.5, tones, tau=tau, offset=demo_fm.tuning_offset(rate))
    audio = demo_fm.receiver(chunks_of(x, rate), rate, offset=demo_fm.tuning_offset(rate), tau=tau)
    y = audio_of(df.run(df.collect(audio, name="audio")))
    assert y.dtype == np.float32
    settled = y[AUDIO_RATE // 20:].astype(np.float64)
    for f, level in tones:  # each tone alone: a band-pass around it
        sos = signal.butter(4, [f / 1.3, f * 1.3], "bandpass", fs=AUDIO_RATE, output="sos")
        alone = signal.sosfiltfilt(sos, settled)[AUDIO_RATE // 20:-AUDIO_RATE // 20]
        assert np.sqrt(2 * np.mean(alone**2)) == pytest.approx(level, rel=0.03), f


def test_offset_outside_the_band_is_refused():
    with pytest.raises(ValueError, match=r"offset 1.2e\+06 Hz.*2.4e\+06 Hz band"):
        demo_fm.receiver(chunks_of(np.zeros(8, np.complex64), 2.4e6), 2.4e6, offset=1.2e6)


def test_squelch_drops_the_silence_and_marks_it_skipped():
    rate = 240e3
    station = fm_signal(rate, 0.4, [(1e3, 0.5)], noise=0.0)
    station[len(station) // 2:] = 0  # the carrier goes off: noise alone
    rng = np.random.default_rng(1)
    x = (station + 0.01 * (rng.standard_normal(len(station)) + 1j * rng.standard_normal(len(station)))
         ).astype(np.complex64)
    audio = demo_fm.receiver(chunks_of(x, rate, size=4800), rate, squelch_db=-20.0)
    chunks = df.run(df.collect(audio, name="audio")).results["audio"]
    ends = [c.index for c in chunks[1:]], [c.end_index for c in chunks[:-1]]
    assert sum(c.samples for c in chunks) < 0.3 * AUDIO_RATE  # the second half is gone
    assert sum(c.samples for c in chunks) > 0.15 * AUDIO_RATE  # the first half is not
    for c in chunks:
        assert "overflow" not in c.meta  # nothing was lost: it was dropped on purpose
    skipped = [c.meta.get("skipped", 0) for c in chunks[1:]]
    assert [i - e for i, e in zip(*ends, strict=True)] == skipped


def test_cli_fm_demo_writes_the_tone_to_wav(tmp_path):
    out = tmp_path / "fm.wav"
    done = subprocess.run([*DAQFLOW, "demo", "--fm", "99.5e6", "--output", str(out), "--duration", "2"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "daqflow report" in done.stdout and "overflow (real-time samples lost): 0" in done.stdout
    assert "audio tones: 1000.0 Hz" in done.stdout
    wav_rate, y = wavfile.read(out)
    assert wav_rate == AUDIO_RATE
    assert len(y) > 1.5 * AUDIO_RATE  # 2 s, less the start
    scale = 1.0 if y.dtype.kind == "f" else float(np.iinfo(y.dtype).max)
    frequency, amplitude, snr, thd = tone_analysis(y[AUDIO_RATE // 10:] / scale, AUDIO_RATE)
    assert frequency == pytest.approx(1000.0, abs=0.5)
    assert amplitude == pytest.approx(0.5, rel=0.03)  # the simulated station's level
    assert snr > 40 and thd < 0.01
    assert not list(tmp_path.glob("*.partial"))


def test_cli_fm_demo_plays_the_station_on_the_sound_card(sound_card):
    import sounddevice

    captured: list[np.ndarray] = []
    # the null sink's monitor, through PortAudio: what the sound card played
    with sounddevice.InputStream(samplerate=AUDIO_RATE, channels=1, dtype="float32",
                                 callback=lambda data, *_: captured.append(data[:, 0].copy())):
        done = subprocess.run([*DAQFLOW, "demo", "--fm", "99.5e6", "--duration", "2"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "to the sound card" in done.stderr and "audio tones: 1000.0 Hz" in done.stdout
    # the sound card's clock paces the simulated station: nothing lost
    assert "overflow (real-time samples lost): 0" in done.stdout
    heard = np.concatenate(captured)
    frames = heard[:len(heard) // 4800 * 4800].reshape(-1, 4800)  # 100 ms each
    loud = np.flatnonzero(np.sqrt(np.mean(frames**2, axis=1)) > 0.1)
    # of the 2 s, the sound card opens after ~0.5 s and what it holds at the end is cut
    assert len(loud) >= 6, f"{len(loud)} loud frames of {len(frames)}"
    assert np.all(np.diff(loud) == 1)  # one stretch, no dropouts
    steady = frames[loud[1]:loud[-1]].ravel()  # without the edges
    frequency, amplitude, snr, _ = tone_analysis(steady, AUDIO_RATE)
    assert frequency == pytest.approx(1000.0, abs=0.5)
    assert amplitude == pytest.approx(0.5, rel=0.05)
    assert snr > 30
