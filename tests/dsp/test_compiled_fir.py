"""The compiled (numba) decimating FIR gives the numpy path's outputs, within float32 rounding."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from daqflow.dsp.kernels import compiled
from daqflow.dsp.kernels.fir import FirState

pytest.importorskip("numba")


def stream_through(state: FirState, x: np.ndarray, cuts: list[int]) -> np.ndarray:
    outputs, index = [], 0
    for piece in np.split(x, sorted(cuts)):
        outputs.append(state.process(piece, index))
        index += len(piece)
    return np.concatenate(outputs)


def close(a: np.ndarray, b: np.ndarray, scale: float) -> bool:
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= 2e-5 * scale))


@settings(max_examples=60, deadline=None)
@given(factor=st.integers(2, 12), taps_per_factor=st.integers(1, 16), complex_=st.booleans(),
       n=st.integers(1, 3000), data=st.data())
def test_compiled_and_numpy_paths_agree_on_any_cut(factor, taps_per_factor, complex_, n, data):
    length = data.draw(st.integers(1, taps_per_factor * factor))
    rng = np.random.default_rng(length * 7919 + n)
    taps = rng.standard_normal(length)
    x = rng.standard_normal((2 if complex_ else 1) * n).astype(np.float32)
    x = x.view(np.complex64) if complex_ else x
    cuts = data.draw(st.lists(st.integers(0, n), max_size=5))
    fast = FirState(taps, factor, jit="numba")
    slow = FirState(taps, factor, jit="numpy")
    assert fast.method == slow.method == "block"
    y_fast = stream_through(fast, x, cuts)
    y_slow = stream_through(slow, x, cuts)
    reference = signal.upfirdn(taps, x.astype(np.complex128 if complex_ else np.float64), 1,
                               factor)[:len(y_slow)]
    scale = float(np.sum(np.abs(taps))) * float(np.max(np.abs(x)))
    assert fast._dots is not None and slow._dots is None  # each ran on its own path
    assert y_fast.dtype == y_slow.dtype == x.dtype
    assert close(y_fast, y_slow, scale)
    assert close(y_fast, reference, scale)


@pytest.mark.parametrize("dtype", [np.complex64, np.float32])
def test_switching_mid_stream_keeps_the_filter_exact(dtype):
    """A filter made before the compiled loop was loaded runs on numpy, then switches between
    two chunks: the history carried over (numpy's block rows, or its real/imaginary planes)
    gives the same outputs as one path throughout."""
    rng = np.random.default_rng(3)
    taps = signal.firwin(48, 0.1)
    x = rng.standard_normal(2 * 20_000).astype(np.float32).view(dtype)[:20_000]
    state = FirState(taps, 6, jit="numpy")
    first = stream_through(state, x[:7_001], [1_000, 1_003, 5_000])
    assert state._dots is None
    state._switch_to(compiled.fir_decimator())
    outputs, index = [first], 7_001
    for piece in np.split(x[7_001:], [5, 4_000, 9_999]):
        outputs.append(state.process(piece, index))
        index += len(piece)
    y = np.concatenate(outputs)
    reference = signal.upfirdn(taps, x.astype(np.complex128), 1, 6)[:len(y)]
    assert close(y, reference, float(np.sum(np.abs(taps))) * float(np.max(np.abs(x))))


def test_read_only_and_strided_chunks():
    taps = signal.firwin(32, 0.2)
    x = np.random.default_rng(5).standard_normal(8192).astype(np.float32).view(np.complex64)
    frozen = x.copy()
    frozen.flags.writeable = False
    y_frozen = FirState(taps, 4, jit="numba").process(frozen, 0)
    strided = np.repeat(x, 2)[::2]  # not contiguous
    y_strided = FirState(taps, 4, jit="numba").process(strided, 0)
    reference = FirState(taps, 4, jit="numpy").process(x, 0)
    scale = float(np.sum(np.abs(taps))) * float(np.max(np.abs(x)))
    assert close(y_frozen, reference, scale) and close(y_strided, reference, scale)


def test_other_dtypes_and_complex_taps_stay_on_numpy():
    taps = signal.firwin(32, 0.2)
    x = np.arange(100, dtype=np.float64)
    wide = FirState(taps, 4, jit="numba")
    wide.process(x, 0)
    assert wide._dots is None  # float64 samples: the compiled loop is float32 only
    rotated = FirState(taps * np.exp(0.3j * np.arange(32)), 4)
    assert rotated.jit == "numpy"


def test_the_environment_chooses_the_backend(monkeypatch):
    monkeypatch.setenv(compiled.ENVIRONMENT, "numpy")
    assert FirState(np.ones(8), 4).jit == "numpy"
    monkeypatch.setenv(compiled.ENVIRONMENT, "cuda")
    with pytest.raises(ValueError, match="DAQFLOW_JIT='cuda': expected one of numba, numpy"):
        FirState(np.ones(8), 4)
    monkeypatch.delenv(compiled.ENVIRONMENT)
    assert FirState(np.ones(8), 4).jit == "numba"
    assert FirState(np.ones(8), 1).jit == "numpy"  # overlap-save: no compiled loop


def test_a_filter_switches_once_the_background_load_is_done(tmp_path):
    """In a fresh interpreter: a filter made at once runs its first chunk on numpy (the
    loop is still loading) and switches to the compiled loop by itself, outputs continuous."""
    script = textwrap.dedent("""
        import time
        import numpy as np
        from scipy import signal
        from daqflow.dsp.kernels import compiled
        from daqflow.dsp.kernels.fir import FirState
        taps = signal.firwin(64, 0.1)
        x = np.random.default_rng(1).standard_normal(2 * 8192 * 400).astype(np.float32)
        x = x.view(np.complex64)
        state = FirState(taps, 8)  # starts loading the compiled loop
        outputs, on_numpy, deadline = [], 0, time.monotonic() + 60
        for k in range(400):
            outputs.append(state.process(x[k * 8192:(k + 1) * 8192], k * 8192))
            on_numpy += state._dots is None
            if state._dots is None and k == 399:
                raise SystemExit("never switched")
            if state._dots is None:
                time.sleep(0.05 if time.monotonic() < deadline else 0)
        y = np.concatenate(outputs)
        reference = signal.upfirdn(taps, x.astype(np.complex128), 1, 8)[:len(y)]
        error = np.max(np.abs(y - reference)) / np.max(np.abs(reference))
        print(on_numpy, error)
    """)
    env = {k: v for k, v in os.environ.items() if k != compiled.ENVIRONMENT}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    on_numpy, error = done.stdout.split()
    assert int(on_numpy) >= 1  # the first chunk did not wait for numba
    assert float(error) < 1e-5
