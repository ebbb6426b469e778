"""Filter design (``scipy.signal``'s firwin and kaiserord; their common cases in numpy, see
`kernels.windowing`): FIR taps that remember the sample rate they were made for;
low-pass taps by number of taps or by transition width (Kaiser, like GNU Radio's firdes)."""

from __future__ import annotations

from typing import Any, overload

import numpy as np

from .kernels import windowing


class Taps(np.ndarray):
    """FIR coefficients (a float64 ndarray) with ``rate``: the sample rate in Hz they were
    designed for, or None. Filter blocks check it against the stream's rate."""

    rate: float | None

    def __new__(cls, coefficients: Any, rate: float | None = None) -> Taps:
        obj = np.asarray(coefficients).view(cls)
        obj.rate = rate
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.rate = getattr(obj, "rate", None)


def _check(numtaps: int, rate: float | None) -> None:
    if not isinstance(numtaps, int | np.integer) or numtaps < 1:
        raise ValueError(f"numtaps must be an int >= 1, got {numtaps!r}")
    if rate is not None and not rate > 0:
        raise ValueError(f"rate must be > 0 Hz, got {rate!r}")


def _cutoff_error(cutoff: float, nyq: float, rate: float | None) -> str:
    if rate is None and cutoff > 1:
        return (f"cutoff={cutoff!r} looks like Hz: give the sample rate (rate=... Hz), or the "
                "cutoff as a fraction of Nyquist in (0, 1)")
    return f"cutoff must be in (0, {nyq:g}){' Hz' if rate else ''}, got {cutoff!r}"


def _nyquist(rate: float | None) -> float:
    return rate / 2 if rate is not None else 1.0


@overload
def lowpass(numtaps: int, cutoff: float, rate: float | None = None, window: Any = "hamming") -> Taps: ...


@overload
def lowpass(cutoff: float, *, rate: float | None = None, transition: float,
            atten_db: float = 60.0) -> Taps: ...


def lowpass(numtaps: Any = None, cutoff: Any = None, rate: float | None = None, window: Any = None, *,
            transition: float | None = None, atten_db: float | None = None) -> Taps:
    """Low-pass FIR taps (``scipy.signal.firwin``), unit gain at DC, in one of two forms:

    - ``lowpass(numtaps, cutoff, rate=None, window="hamming")``: ``numtaps`` taps, windowed;
    - ``lowpass(cutoff, rate=..., transition=..., atten_db=60)``: designed by transition width
      like GNU Radio's ``firdes.low_pass_2``: a Kaiser window, with the number of taps and the
      window's beta from ``scipy.signal.kaiserord(atten_db, transition)``, made odd (a whole
      number of samples of delay, as firdes does). The pass band ends at cutoff - transition/2
      (must be > 0), the stop band (``atten_db`` below the pass band) starts at cutoff +
      transition/2 (if that is beyond Nyquist, the attenuation there is only partial).

    Args:
        numtaps: number of taps.
        cutoff: -6 dB frequency in Hz if ``rate`` is given, else as a fraction of Nyquist (0..1).
        rate: sample rate in Hz the taps are for.
        window: any window ``scipy.signal.get_window`` knows (first form only).
        transition: width in Hz (fraction of Nyquist without ``rate``) of the band from the
            pass band's edge to the stop band's.
        atten_db: stop-band attenuation in dB (> 0; default 60).

    >>> taps = lowpass(31, 100e3, rate=1e6)
    >>> len(taps), round(float(taps.sum()), 6), taps.rate
    (31, 1.0, 1000000.0)
    >>> len(lowpass(15e3, rate=240e3, transition=3e3, atten_db=60))
    293
    """
    if transition is None:
        if atten_db is not None:
            raise ValueError(f"lowpass: atten_db={atten_db!r} needs transition= (the design by "
                             "transition width: lowpass(cutoff, rate=..., transition=..., atten_db=...))")
        if numtaps is None or cutoff is None:
            given = numtaps if cutoff is None else cutoff
            raise ValueError(f"lowpass({given!r}): give lowpass(numtaps, cutoff, rate=...), or design the "
                             "number of taps with lowpass(cutoff, rate=..., transition=..., atten_db=...)")
        window = "hamming" if window is None else window
        _check(numtaps, rate)
        nyq = _nyquist(rate)
        if not 0 < cutoff < nyq:
            raise ValueError(_cutoff_error(cutoff, nyq, rate))
        return Taps(windowing.firwin(numtaps, cutoff / nyq, window=window), rate)
    if numtaps is not None and cutoff is not None:  # lowpass(cutoff, ...) puts it first
        raise ValueError(f"lowpass: with transition= the number of taps is designed, so give the cutoff "
                         f"alone: lowpass(cutoff, rate=..., transition=..., atten_db=...), got "
                         f"({numtaps!r}, {cutoff!r})")
    cutoff = cutoff if numtaps is None else numtaps
    if cutoff is None:
        raise ValueError("lowpass: give the cutoff: lowpass(cutoff, rate=..., transition=...)")
    if window is not None:
        raise ValueError(f"lowpass: window={window!r} cannot be chosen with transition= (the design "
                         "uses the Kaiser window kaiserord gives)")
    atten = 60.0 if atten_db is None else atten_db
    _check(1, rate)
    nyq = _nyquist(rate)
    unit = " Hz" if rate else ""
    if not 0 < cutoff < nyq:
        raise ValueError(_cutoff_error(cutoff, nyq, rate))
    if not (isinstance(transition, int | float | np.integer | np.floating) and transition > 0):
        raise ValueError(f"lowpass: transition must be a width > 0{unit}, got {transition!r}")
    if not cutoff - transition / 2 > 0:
        raise ValueError(f"lowpass: transition={transition:g}{unit} is too wide for cutoff={cutoff:g}{unit}: "
                         f"the pass band, which ends at cutoff - transition/2, would be empty (make the "
                         f"transition narrower than {2 * cutoff:g}{unit})")
    if not (isinstance(atten, int | float | np.integer | np.floating) and 0 < atten < np.inf):
        raise ValueError(f"lowpass: atten_db must be a stop-band attenuation > 0 dB, got {atten_db!r}")
    numtaps, beta = windowing.kaiserord(float(atten), transition / nyq)
    numtaps |= 1
    return Taps(windowing.firwin(numtaps, cutoff / nyq, window=("kaiser", beta)), rate)


def highpass(numtaps: int, cutoff: float, rate: float | None = None, window: Any = "hamming") -> Taps:
    """High-pass FIR taps (``scipy.signal.firwin``, ``pass_zero=False``); ``numtaps`` must be odd.

    Args: as `lowpass`.
    """
    _check(numtaps, rate)
    if numtaps % 2 == 0:
        raise ValueError(f"numtaps must be odd for a high-pass filter, got {numtaps}")
    nyq = _nyquist(rate)
    if not 0 < cutoff < nyq:
        raise ValueError(_cutoff_error(cutoff, nyq, rate))
    return Taps(windowing.firwin(numtaps, cutoff / nyq, window=window, pass_zero=False), rate)


def bandpass(numtaps: int, low: float, high: float, rate: float | None = None,
             window: Any = "hamming") -> Taps:
    """Band-pass FIR taps passing ``low``..``high`` (Hz with ``rate``, else fraction of Nyquist).

    Args: as `lowpass`; ``low`` < ``high`` are the band edges.
    """
    _check(numtaps, rate)
    nyq = _nyquist(rate)
    if not 0 < low < high < nyq:
        raise ValueError(f"band edges must satisfy 0 < low < high < {nyq:g}, got low={low!r}, "
                         f"high={high!r}")
    return Taps(windowing.firwin(numtaps, [low / nyq, high / nyq], window=window, pass_zero=False), rate)
