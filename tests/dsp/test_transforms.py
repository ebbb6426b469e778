"""The FFT backends (`daqflow.dsp.kernels.transforms`): FFTW through pyFFTW and scipy.fft give
the same transforms, and the FFT-based blocks give the same outputs on either."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import fft as scipy_fft

from daqflow import dsp
from daqflow.dsp.kernels import transforms
from daqflow.dsp.kernels.fir import FirState
from daqflow.dsp.kernels.spectral import FftState, SpectrumState
from daqflow.dsp.kernels.transforms import MAX_PLANS, Transforms
from daqflow.testing import chunks, run_block

pytest.importorskip("pyfftw")  # the `fast` extra; `[test]` installs it

BACKENDS = ["fftw", "scipy"]
KINDS = ["fft", "ifft", "rfft", "irfft"]
RTOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}


def rows(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    data = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        data = data + 1j * rng.standard_normal(shape)
    return data.astype(dtype)


def reference(kind: str, a: np.ndarray, n: int | None) -> np.ndarray:
    return getattr(scipy_fft, kind)(a, n, axis=-1)


def operand(kind: str, rng: np.random.Generator, batch: int, n: int, real: np.dtype
            ) -> tuple[np.ndarray, int | None]:
    """The input a ``kind`` transform takes for rows of ``n`` samples, and its ``n`` argument."""
    cplx = np.result_type(real, np.complex64)
    if kind == "rfft":
        return rows(rng, (batch, n), real), None
    if kind == "irfft":
        return rows(rng, (batch, n // 2 + 1), cplx), n
    return rows(rng, (batch, n), cplx), None


@settings(max_examples=40, deadline=None)
@given(backend=st.sampled_from(BACKENDS), kind=st.sampled_from(KINDS),
       batch=st.integers(1, 9), n=st.sampled_from([1, 2, 3, 8, 100, 512, 1024, 1000]),
       real=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_each_backend_gives_scipys_transform(backend, kind, batch, n, real, seed):
    rng = np.random.default_rng(seed)
    a, size = operand(kind, rng, batch, n, np.dtype(real))
    expected = reference(kind, a, size)
    got = getattr(Transforms(backend), kind)(a, *([size] if kind == "irfft" else []))
    assert got.dtype == expected.dtype and got.shape == expected.shape
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(got, expected, rtol=0, atol=RTOL[np.dtype(real)] * scale * np.sqrt(n))
    if kind in ("ifft", "irfft"):  # unscaled: n times the inverse (the caller folds in 1/n)
        raw = getattr(Transforms(backend), kind)(a, *([size] if kind == "irfft" else []), scaled=False)
        np.testing.assert_allclose(raw, n * expected, rtol=0,
                                   atol=n * RTOL[np.dtype(real)] * scale * np.sqrt(n))


@pytest.mark.parametrize("kind", KINDS)
def test_a_result_is_the_callers_until_asked_for_scratch(kind):
    """A result handed on downstream must not change when the same plan runs again."""
    rng = np.random.default_rng(1)
    t = Transforms("fftw")
    a, n = operand(kind, rng, 4, 64, np.dtype(np.float32))
    extra = [n] if kind == "irfft" else []
    first = getattr(t, kind)(a, *extra)
    kept = first.copy()
    b, _ = operand(kind, rng, 4, 64, np.dtype(np.float32))
    getattr(t, kind)(b, *extra)
    np.testing.assert_array_equal(first, kept)
    scratch = getattr(t, kind)(a, *extra, scratch=True)
    again = getattr(t, kind)(b, *extra, scratch=True)
    assert np.shares_memory(again, scratch)  # the plan's own array, reused


def test_read_only_strided_views_are_transformed_and_left_alone():
    """Frames are read-only views of a chunk (as a framer makes them): FFTW must copy them in,
    never adopt them as its own input array (it once did, and the next call failed)."""
    rng = np.random.default_rng(2)
    t = Transforms("fftw")
    signal = rows(rng, (4096,), np.complex64)
    before = signal.copy()
    for start in (0, 1024, 7):
        frames = np.lib.stride_tricks.sliding_window_view(signal[start:], 512)[::256][:8]
        assert not frames.flags.writeable
        np.testing.assert_allclose(t.fft(frames), scipy_fft.fft(frames, axis=-1), atol=1e-4)
    np.testing.assert_array_equal(signal, before)


def test_plans_are_kept_per_shape_and_bounded():
    t = Transforms("fftw")
    rng = np.random.default_rng(3)
    for batch in range(1, 6 * MAX_PLANS):
        a = rows(rng, (batch, 16), np.complex64)
        np.testing.assert_allclose(t.fft(a), scipy_fft.fft(a, axis=-1), atol=1e-4)
        assert len(t._plans) <= MAX_PLANS
    # one per size up to 16 rows, then one per multiple of four rows
    assert t.plans_made == 16 + -(-(6 * MAX_PLANS - 1) // 4) - 4


def test_plans_are_bounded_in_bytes(monkeypatch):
    monkeypatch.setattr(transforms, "MAX_PLAN_BYTES", 1 << 20)
    t = Transforms("fftw")
    for batch in (4, 8, 64, 128, 4):  # 64 and 128 rows of 1024 complex64: 0.5 and 1 MiB each
        t.fft(np.ones((batch, 1024), np.complex64))
        assert t._plan_bytes <= 1 << 20 or len(t._plans) == 1
    assert t._plan_bytes == sum(p.input_array.nbytes + p.output_array.nbytes for p in t._plans.values())


@pytest.mark.parametrize("make", [
    lambda: FirState(np.hanning(64), 1, "fft"),
    lambda: FirState(np.hanning(255), 4, "fft"),
    lambda: FftState(256),
    lambda: SpectrumState(256, 2, 128),
])
def test_chunk_lengths_that_vary_make_few_plans(make):
    """Random chunk lengths (1000 to 20000 samples) give batches of many sizes: a plan per
    multiple of four rows, kept least recently used last, not new plans all the time (they
    once were: every 17th shape cleared them all, and FFTW ran 1.4-3x slower than scipy)."""
    rng = np.random.default_rng(5)
    kernel, index = make(), 0
    plans = [t for t in vars(kernel).values() if isinstance(t, Transforms)]
    made = []
    for _ in range(2):
        for _ in range(300):
            n = int(rng.integers(1000, 20_001))
            kernel.work(rows(rng, (n,), np.complex64), index)
            index += n
        made.append(sum(t.plans_made for t in plans))
    assert 0 < made[0] <= MAX_PLANS and made[1] - made[0] <= 4  # the second 300: next to none


def test_empty_and_other_dtypes_take_scipys_way():
    t = Transforms("fftw")
    assert t.fft(np.empty((0, 8), np.complex64)).shape == (0, 8)
    ints = np.arange(16, dtype=np.int16).reshape(2, 8)
    np.testing.assert_array_equal(t.fft(ints), scipy_fft.fft(ints, axis=-1))
    real = np.arange(16, dtype=np.float32).reshape(2, 8)
    np.testing.assert_array_equal(t.fft(real), scipy_fft.fft(real, axis=-1))


def test_the_environment_chooses_the_backend(monkeypatch):
    monkeypatch.setenv("DAQFLOW_FFT", "scipy")
    assert Transforms().backend == "scipy"
    monkeypatch.setenv("DAQFLOW_FFT", "FFTW")
    assert Transforms().backend == "fftw"
    monkeypatch.delenv("DAQFLOW_FFT")
    assert transforms.chosen_backend() == "fftw"  # pyFFTW installed: the default
    monkeypatch.setenv("DAQFLOW_FFT", "mkl")
    with pytest.raises(ValueError, match=r"^DAQFLOW_FFT='mkl': expected one of fftw, scipy$"):
        Transforms()


def test_without_pyfftw_fftw_is_refused_in_one_line_and_scipy_is_used(monkeypatch):
    monkeypatch.setattr(transforms, "_pyfftw_builders", lambda: None)  # as if not installed
    assert Transforms().backend == "scipy"
    monkeypatch.setenv("DAQFLOW_FFT", "fftw")
    with pytest.raises(ValueError, match=r"needs pyFFTW: pip install 'daqflow\[fast\]'"):
        Transforms()


RATE = 1e6
BLOCKS = {
    "fft": lambda s: dsp.fft(s, 256, window="hann"),
    "fft_shifted": lambda s: dsp.fft(s, 256, shift=True),
    "spectrum": lambda s: dsp.spectrum(s, 256, average=3, overlap=0.5),
    "fir_fft": lambda s: dsp.fir(s, dsp.lowpass(129, 0.2)),
    "fir_decimate_fft": lambda s: dsp.fir_decimate(s, dsp.lowpass(255, 0.1), 4),
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
@pytest.mark.parametrize("dtype", [np.complex64, np.float32, np.complex128])
def test_blocks_give_the_same_output_on_either_backend(monkeypatch, name, dtype):
    """The pure scipy path and the FFTW path of each FFT-based block, on the same chunked
    stream (uneven chunk lengths, so plans for several shapes are made)."""
    rng = np.random.default_rng(4)
    data = rows(rng, (20_000,), dtype)
    sizes = [1000, 3000, 17, 4096, 8192, 3695]
    items, start = [], 0
    for size in sizes:
        items += chunks(data[start:start + size], RATE, size, index=start)
        start += size
    outputs = {}
    for backend in BACKENDS:
        monkeypatch.setenv("DAQFLOW_FFT", backend)
        outputs[backend] = run_block(BLOCKS[name], items)
    fftw, plain = outputs["fftw"], outputs["scipy"]
    assert [c.index for c in fftw] == [c.index for c in plain] and fftw
    got, expected = (np.concatenate([c.data for c in out]) for out in (fftw, plain))
    assert got.dtype == expected.dtype
    rtol = 1e-12 if np.dtype(dtype) == np.complex128 else 2e-5
    np.testing.assert_allclose(got, expected, rtol=0, atol=rtol * float(np.max(np.abs(expected))) * 16)


def test_batches_too_large_for_a_plan_take_scipys_way(monkeypatch):
    """Chunks of up to a million samples, of every length: the batches above 4 MB run on
    scipy.fft (plans of them crowded each other out: 225 MB held), the plans stay within
    their cap."""
    rng = np.random.default_rng(6)
    kernel, index = FirState(np.hanning(64), 1, "fft"), 0
    for n in rng.integers(1, 1_000_000, 24):
        x = rows(rng, (int(n),), np.complex64)
        y = kernel.work(x, index)[0]
        assert len(y) == n
        index += int(n)
    plans = kernel._transforms
    assert plans._plan_bytes <= transforms.MAX_PLAN_BYTES
    assert all(p.input_array.nbytes <= transforms.LARGE_BATCH_BYTES for p in plans._plans.values())
    a = rows(rng, (1100, 1024), np.complex64)  # 8.6 MB: scipy's
    made = plans.plans_made
    np.testing.assert_allclose(plans.fft(a), scipy_fft.fft(a, axis=-1), atol=1e-4)
    assert plans.plans_made == made
