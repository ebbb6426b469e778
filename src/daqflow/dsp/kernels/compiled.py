"""Compiled loops (numba, the ``fast`` extra) for kernels that numpy can only do with waste.

The decimating FIR (`FirState`'s polyphase method): numpy computes it as matrix products
over rows of samples, which multiply twice the taps that matter and copy complex samples into
real and imaginary planes first. The compiled loop computes each kept output as one dot
product of the taps with its window of input samples, reading complex samples in place as
interleaved floats (the taps spread over the real lanes for the real part, over the imaginary
lanes for the imaginary part): 2-4x faster for float32 and complex64 samples. Also |x|^2
(`complex_power`, for ``magnitude2``), with numpy's bits.

The backend is chosen when a filter is made: with numba installed, "numba", unless
``DAQFLOW_JIT=numpy`` (or ``NUMBA_DISABLE_JIT``) is in the environment; ``DAQFLOW_JIT=numba``
requires it. Both give the same outputs within float32 rounding.

Loading takes time: importing numba and loading the loops from numba's cache on disk takes
0.3-0.5 s (compiling them, the first time on a machine, a few seconds). So a block that will
need them starts `load_in_background` when it is described, and its filter runs its first
half second of samples on numpy (`FirState`'s ``numpy_first``), then switches at the first
chunk that finds the loop loaded: neither start-up nor a real-time source waits for numba,
and where the load takes less than that half second (from the cache) a stream switches at the
same chunk in every run. A numba that cannot load (broken, or for another numpy) is logged
once and the filters stay on numpy.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Callable

import numpy as np

BACKENDS = ("numba", "numpy")
ENVIRONMENT = "DAQFLOW_JIT"
log = logging.getLogger(__name__)


def chosen_backend() -> str:
    """"numba" or "numpy": what a filter made now uses (see the module docstring)."""
    wanted = os.environ.get(ENVIRONMENT, "").strip().lower()
    if wanted and wanted not in BACKENDS:
        raise ValueError(f"{ENVIRONMENT}={wanted!r}: expected one of {', '.join(BACKENDS)}")
    if wanted == "numpy":
        return "numpy"  # (numba not even imported)
    disabled = os.environ.get("NUMBA_DISABLE_JIT", "0").strip() not in ("", "0")
    if importlib.util.find_spec("numba") is not None and not disabled:  # (numba loads later)
        return "numba"
    if wanted == "numba":
        why = "NUMBA_DISABLE_JIT is set" if disabled else "pip install 'daqflow[fast]'"
        raise ValueError(f"{ENVIRONMENT}=numba needs numba's compiler: {why}")
    return "numpy"


def _two_lane_dots(x: np.ndarray, w0: np.ndarray, w1: np.ndarray, step: int, count: int,
                   out: np.ndarray) -> None:
    """out[2k] = w0 . x[k*step:][:width], out[2k+1] = w1 . (the same): one pass, float32."""
    width = w0.shape[0]
    for k in range(count):
        window = x[k * step:]
        a0 = np.float32(0)
        a1 = np.float32(0)
        for m in range(width):
            a0 += w0[m] * window[m]
            a1 += w1[m] * window[m]
        out[2 * k] = a0
        out[2 * k + 1] = a1


def _one_lane_dots(x: np.ndarray, w0: np.ndarray, step: int, count: int, out: np.ndarray
                   ) -> None:
    """out[k] = w0 . x[k*step:][:width], float32."""
    width = w0.shape[0]
    for k in range(count):
        window = x[k * step:]
        acc = np.float32(0)
        for m in range(width):
            acc += w0[m] * window[m]
        out[k] = acc


def decimating_dots(past: np.ndarray, x: np.ndarray, weights: np.ndarray, factor: int,
                    offset: int, count: int, out: np.ndarray) -> None:
    """Outputs of a FIR filter kept every ``factor`` input samples, in float32.

    ``x`` holds the chunk as ``c`` interleaved lanes per sample (1: real, 2: complex), ``past``
    the last L-1 samples before it (updated here to the last L-1 samples of ``past + x``).
    ``weights`` is (c, c*L): row q holds the taps, reversed, on lane q, so output lane q of
    output j is ``weights[q] . window`` where the window holds the L samples up to input
    sample ``offset + j*factor`` of the chunk. ``out`` receives ``count`` outputs (c floats
    each). Compiled by `fir_decimator`; plain Python too (slowly), for reading.
    """
    lanes, width = weights.shape
    keep = past.shape[0]  # lanes * (L - 1) floats
    step = lanes * factor
    first = lanes * offset - keep  # window start of output 0, in floats of x (< 0: in past)
    head = 0  # outputs whose window begins in the past: computed over past + start of x
    while head < count and first + head * step < 0:
        head += 1
    joined = np.empty(keep + min(x.shape[0], width), weights.dtype)
    joined[:keep] = past
    joined[keep:] = x[:joined.shape[0] - keep]
    start = first + head * step  # outputs from `head` on: windows in x itself, no copy
    if lanes == 2:
        w0, w1 = weights[0], weights[1]
        _two_lane_dots(joined[keep + first:], w0, w1, step, head, out)
        _two_lane_dots(x[start:], w0, w1, step, count - head, out[2 * head:])
    else:
        _one_lane_dots(joined[keep + first:], weights[0], step, head, out)
        _one_lane_dots(x[start:], weights[0], step, count - head, out[head:])
    n = x.shape[0]
    if n >= keep:
        past[:] = x[n - keep:]
    else:
        past[:keep - n] = past[n:].copy()
        past[keep - n:] = x


def complex_power(floats: np.ndarray, out: np.ndarray) -> None:
    """|x|^2 of complex samples given as interleaved floats: ``out[i] = re*re + im*im``,
    each product rounded, then the sum (no fused multiply-add): the same bits as numpy's
    ``square(x.real) + square(x.imag)``. Compiled by `fir_decimator`'s load."""
    for i in range(out.shape[0]):
        re = floats[2 * i]
        im = floats[2 * i + 1]
        out[i] = re * re + im * im


_decimator: Callable[..., None] | None = None
_power: Callable[..., None] | None = None
_failure: str | None = None  # why numba could not make it (said again to each filter)
_compiling = threading.Lock()  # held while numba loads or compiles
_starting = threading.Lock()  # held while a loading thread is started
_loading: threading.Thread | None = None


def fir_decimator() -> Callable[..., None]:
    """`decimating_dots` compiled for float32 samples (writable or read-only): loaded from
    numba's cache, or compiled and cached; waits for a load already under way.

    Raises:
        RuntimeError: numba is missing, or could not be imported or compile (in one line).
    """
    global _decimator, _power, _failure
    with _compiling:
        if _decimator is None and _failure is None:
            try:
                _decimator, _power = _compile_loops()
            except Exception as error:
                first_line = (str(error).strip().splitlines() or [""])[0]
                _failure = (f"numba could not load or compile daqflow's FIR loop "
                            f"({type(error).__name__}: {first_line}); FIR filters run on numpy "
                            f"(set {ENVIRONMENT}=numpy to skip numba)")
        if _failure is not None:
            raise RuntimeError(_failure)
        assert _decimator is not None
        return _decimator


def ready_decimator() -> Callable[..., None] | None:
    """`fir_decimator`'s loop if it has been loaded, else None (never waits)."""
    return _decimator


def load_failed() -> bool:
    """Whether loading the loops failed (numba missing or broken: `fir_decimator` says why)."""
    return _failure is not None


def ready_power() -> Callable[..., None] | None:
    """`complex_power` compiled (float32), if the loops have been loaded; else None (never
    waits: it gives the same bits as numpy, so a stream may switch to it at any chunk)."""
    return _power


def _after_fork_in_child() -> None:
    """A child forked while the loader ran has its locks held by no thread: new ones, and a
    new load when it asks."""
    global _compiling, _starting, _loading
    _compiling, _starting = threading.Lock(), threading.Lock()
    if _decimator is None:
        _loading = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def load_in_background() -> None:
    """Start loading `fir_decimator` in a thread, once per process (a failure is logged; the
    filter that then asks for the loop gets the error)."""
    global _loading
    with _starting:
        if _loading is not None or _decimator is not None:
            return
        _loading = threading.Thread(target=_load_quietly, name="daqflow-jit", daemon=True)
        _loading.start()


def _load_quietly() -> None:
    try:
        fir_decimator()
    except RuntimeError as error:  # (raised again to a filter that asks for numba)
        log.warning("%s", error)


def _compile_loops() -> tuple[Callable[..., None], Callable[..., None]]:
    import numba  # (an ImportError: numba is there but broken, e.g. for this numpy)

    types = numba.types
    floats = types.Array(types.float32, 1, "C")
    samples = types.Array(types.float32, 1, "C", readonly=True)  # (writable ones convert)
    signature = types.void(floats, samples, types.Array(types.float32, 2, "C"), types.int64,
                           types.int64, types.int64, floats)
    # fastmath: the dot products may be summed in any order (SIMD lanes); nogil: a thread
    # running a graph part leaves the GIL to the others meanwhile
    # the loops over windows are functions of their own (numba inlines them): written in
    # line, with the head's windows over `joined`, they ran 30-40% slower
    global _two_lane_dots, _one_lane_dots
    options = {"fastmath": True, "nogil": True, "cache": True}
    _two_lane_dots = numba.njit(**options)(_two_lane_dots)
    _one_lane_dots = numba.njit(**options)(_one_lane_dots)
    dots = numba.njit([signature], **options)(decimating_dots)
    power = numba.njit([types.void(samples, floats)], nogil=True, cache=True)(complex_power)
    return dots, power


def lane_weights(taps: np.ndarray, lanes: int, dtype: np.dtype) -> np.ndarray:
    """The (lanes, lanes*L) weights of `decimating_dots` for real ``taps``, in ``dtype``."""
    reversed_taps = np.asarray(taps)[::-1]
    weights = np.zeros((lanes, lanes * len(reversed_taps)), dtype)
    for q in range(lanes):
        weights[q, q::lanes] = reversed_taps
    return weights
