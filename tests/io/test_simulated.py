"""io.simulated_adc: the embedded default source."""

import numpy as np
import pytest

import daqflow as df
from daqflow import io


def take(stream, n):
    out = []
    for chunk in df.iterate(stream):
        out.append(chunk)
        if len(out) == n:
            break
    return out


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_phase_continuous_across_chunks(chunk):
    rate, f = 1e6, 123_456.7
    chunks = take(io.simulated_adc(rate, chunk=chunk, tones=[(f, 0.5)], realtime=False), 12)
    x = np.concatenate([c.data for c in chunks])
    n = np.arange(len(x))
    np.testing.assert_allclose(x, 0.5 * np.exp(2j * np.pi * f * n / rate), atol=1e-5)
    assert [c.index for c in chunks] == [k * chunk for k in range(12)]
    assert all(c.time == c.index / rate and c.rate == rate for c in chunks)


@pytest.mark.parametrize("dtype", ["complex64", "complex128", "float32", "float64", "int16"])
def test_dtypes_and_tone_position(dtype):
    rate, f = 1e6, 250e3
    chunk = take(io.simulated_adc(rate, chunk=4096, tones=[(f, 0.5)], dtype=dtype,
                                  realtime=False), 1)[0]
    assert chunk.data.dtype == np.dtype(dtype)
    spectrum = np.abs(np.fft.fft(chunk.data.astype(np.complex128)))
    freqs = np.fft.fftfreq(4096, 1 / rate)
    assert abs(abs(freqs[np.argmax(spectrum)]) - f) <= rate / 4096


def test_noise_level_and_seed():
    a = take(io.simulated_adc(1e6, chunk=50_000, tones=[], noise=0.1, seed=3, realtime=False), 1)[0]
    b = take(io.simulated_adc(1e6, chunk=50_000, tones=[], noise=0.1, seed=3, realtime=False), 1)[0]
    np.testing.assert_array_equal(a.data, b.data)
    assert np.std(a.data) == pytest.approx(0.1, rel=0.05)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"rate": 0}, "rate"), ({"rate": 1e6, "chunk": 0}, "chunk"),
     ({"rate": 1e6, "dtype": "uint8"}, "dtype"), ({"rate": 1e6, "noise": -1}, "noise")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        io.simulated_adc(**kwargs)


def test_realtime_flag_reaches_the_report():
    report = df.run(df.null_sink(io.simulated_adc(1e5, chunk=1000)), duration=0.2)
    assert report.blocks["simulated_adc"].realtime
    assert report.edges[0].realtime
    report = df.run(df.null_sink(io.simulated_adc(1e5, chunk=1000, realtime=False)), duration=0.2)
    assert not report.blocks["simulated_adc"].realtime
    assert report.blocks["simulated_adc"].samples_out > 0.2 * 1e5 * 3  # not paced: faster
