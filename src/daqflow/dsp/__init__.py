"""daqflow.dsp: signal-processing blocks on numpy/scipy, exact across chunk boundaries.

Kernels with explicit state (`FirState`, `NcoState`, `IirState`, `SpectrumState`, ...; in
`daqflow.dsp.kernels`) do the math and can be used and tested alone; the blocks move Chunks
through them with one driver (`daqflow.dsp.driver`) that keeps ``rate``, ``index``, ``time``
and ``meta`` true. One name per block whatever the dtype;
outputs keep the input's precision (complex64 stays complex64).
"""

from .averaging import average, moving_average
from .broadcast import agc, deemphasis, squelch
from .design import Taps, bandpass, highpass, lowpass
from .filters import decimate, fir, fir_decimate, iir, resample, resample_taps
from .flow import head, rechunk, skip, throttle
from .kernels.fir import FirState
from .kernels.iir import IirState
from .kernels.nco import NcoState
from .kernels.peaks import find_peaks
from .kernels.spectral import FftState, SpectrumState
from .kernels.stats import FrameAverager, MovingAverageState
from .kernels.trigger import TriggerState
from .modulation import demod_am, demod_fm, mix
from .scope import trigger
from .spectra import calibrate, fft, magnitude2, spectrum, to_db, waterfall

__all__ = [
    "FftState",
    "FirState",
    "FrameAverager",
    "IirState",
    "MovingAverageState",
    "NcoState",
    "SpectrumState",
    "Taps",
    "TriggerState",
    "agc",
    "average",
    "bandpass",
    "calibrate",
    "decimate",
    "deemphasis",
    "demod_am",
    "demod_fm",
    "fft",
    "find_peaks",
    "fir",
    "fir_decimate",
    "head",
    "highpass",
    "iir",
    "lowpass",
    "magnitude2",
    "mix",
    "moving_average",
    "rechunk",
    "resample",
    "resample_taps",
    "skip",
    "spectrum",
    "squelch",
    "throttle",
    "to_db",
    "trigger",
    "waterfall",
]
