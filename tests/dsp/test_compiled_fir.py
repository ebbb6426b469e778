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
    """A filter runs its first samples (counted from the first it is given) on numpy, then
    switches at the first chunk past them: the history carried over (numpy's block rows, or
    its real and imaginary planes) continues the stream exactly (within float32 rounding)."""
    compiled.fir_decimator()  # loaded: the switch is where numpy_first says
    rng = np.random.default_rng(3)
    taps = signal.firwin(48, 0.1)
    x = rng.standard_normal(2 * 20_000).astype(np.float32).view(dtype)[:20_000]
    start = 10**9  # a stream whose indices began long ago (a replayed recording)
    state = FirState(taps, 6, numpy_first=7_001)
    cuts = [1_000, 1_003, 5_000, 7_001, 7_006, 11_000, 16_999]
    outputs, index, switched_at = [], start, None
    for piece in np.split(x, cuts):
        outputs.append(state.process(piece, index))
        if switched_at is None and state._dots is not None:
            switched_at = index - start
        index += len(piece)
    assert switched_at == 7_001
    y = np.concatenate(outputs)
    first = -(-start // 6) * 6 - start  # the first output's sample in x
    reference = signal.lfilter(taps, 1, x.astype(np.complex128))[first::6][:len(y)]
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


def test_a_block_never_waits_for_numba_and_switches_at_the_same_chunk_once_loaded():
    """In a fresh interpreter, with the loader held back (its lock taken): a run goes through
    on numpy (it did not wait: it would hang). Once the loops are loaded, each run switches
    at the first chunk past 0.5 s of samples: the same bits in every run, numpy's before the
    switch, and all within float32 rounding of scipy's upfirdn."""
    script = textwrap.dedent("""
        import numpy as np
        from scipy import signal
        import daqflow as df
        from daqflow import dsp
        from daqflow.dsp.kernels import compiled
        from daqflow.dsp.kernels.fir import FirState
        rate = 100e3  # (0.5 s: 50 000 samples, the first 7 chunks)
        taps = signal.firwin(64, 0.1)
        x = np.random.default_rng(1).standard_normal(2 * 8192 * 12).astype(np.float32)
        x = x.view(np.complex64)
        chunks = [df.Chunk(x[k:k + 8192], rate, index=k) for k in range(0, len(x), 8192)]
        numpy_state = FirState(taps, 8, jit="numpy")  # (the same chunks)
        numpy_path = np.concatenate([numpy_state.process(c.data, c.index) for c in chunks])

        def run():
            collected = df.run(graph).results["collect"]
            return np.concatenate([c.data for c in collected])

        with compiled._compiling:  # numba's load held back
            graph = df.collect(dsp.fir_decimate(df.from_iterable(chunks), taps, 8))
            held = run()
        compiled.fir_decimator()  # now loaded
        runs = [run(), run()]
        reference = signal.upfirdn(taps, x.astype(np.complex128), 1, 8)[:len(held)]
        error = max(np.max(np.abs(y - reference)) / np.max(np.abs(reference))
                    for y in (held, *runs))
        first = 7 * 8192 // 8  # outputs of the 7 chunks before the switch
        print(np.array_equal(held, numpy_path), np.array_equal(runs[0], runs[1]), error,
              np.array_equal(runs[0][:first], numpy_path[:first]),
              np.array_equal(runs[0][first:], numpy_path[first:]))
    """)
    env = {k: v for k, v in os.environ.items() if k != compiled.ENVIRONMENT}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    held_on_numpy, repeated, error, numpy_before, numpy_after = done.stdout.split()
    assert held_on_numpy == "True"  # the run did not wait for the held-back load
    assert repeated == "True" and float(error) < 1e-5
    assert numpy_before == "True"
    assert numpy_after == "False"  # (the compiled loop's own rounding: it did switch)


def test_a_broken_numba_leaves_the_filters_on_numpy(tmp_path):
    """numba installed but failing to import (as for a numpy it does not support): the
    loader logs one line, and filters run on numpy; asked for by name, it is an error."""
    broken = tmp_path / "numba"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('Numba needs NumPy 2.2 or less')\n")
    script = textwrap.dedent("""
        import logging, time
        import numpy as np
        import daqflow as df
        from daqflow import dsp
        from daqflow.dsp.kernels import compiled
        from daqflow.dsp.kernels.fir import FirState
        logging.basicConfig(level=logging.WARNING)
        x = np.ones(2 * 8192 * 20, np.float32).view(np.complex64)
        chunks = [df.Chunk(x[k:k + 8192], 1e3, index=k) for k in range(0, len(x), 8192)]
        graph = df.collect(dsp.fir_decimate(df.from_iterable(chunks), np.ones(16) / 16, 8))
        while compiled._loading.is_alive():
            time.sleep(0.01)
        out = df.run(graph).results["collect"]
        print(len(out), compiled.load_failed())
        try:
            FirState(np.ones(16), 8, jit="numba").process(x[:8192], 0)
        except RuntimeError as error:
            print("raised:", error)
    """)
    env = {k: v for k, v in os.environ.items() if k != compiled.ENVIRONMENT}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "20 True"  # every chunk filtered (1e3 Hz: all past the 0.5 s)
    assert lines[1].startswith("raised: numba could not load or compile daqflow's FIR loop "
                               "(ImportError: Numba needs NumPy 2.2 or less)")
    warnings = [line for line in done.stderr.splitlines() if "numba could not" in line]
    assert len(warnings) == 1


def test_compiled_power_gives_numpys_bits():
    """|x|^2 compiled (used by magnitude2 once numba's loops are loaded) rounds each square
    and then the sum, as numpy does: the same bits, so a stream may switch to it at any chunk."""
    compiled.fir_decimator()  # loads the loops
    power = compiled.ready_power()
    assert power is not None
    rng = np.random.default_rng(9)
    x = (rng.standard_normal(4099) * 10.0 ** rng.integers(-40, 38, 4099)).astype(np.float32)
    y = (rng.standard_normal(4099) * 10.0 ** rng.integers(-40, 38, 4099)).astype(np.float32)
    x[:4] = [np.inf, np.nan, 1e-45, -3e38]
    z = (x + 1j * y).astype(np.complex64)
    out = np.empty(len(z), np.float32)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        power(z.view(np.float32), out)
        expected = np.square(z.real) + np.square(z.imag)
    assert np.array_equal(out, expected, equal_nan=True)
    rows = np.ascontiguousarray(z[:4096].reshape(4, 1024))
    import daqflow as df
    from daqflow import dsp
    from daqflow.testing import run_block
    (block_out,) = run_block(dsp.magnitude2, [df.Chunk(rows, 1.0)])
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        assert np.array_equal(block_out.data, np.square(rows.real) + np.square(rows.imag),
                              equal_nan=True)
    assert block_out.data.dtype == np.float32 and not block_out.data.flags.writeable
