"""daqflow.instruments: async instruments with a blocking face.

`Instrument` is the base (``async with``, ``connect``/``close``, ``await run_single(avg)``,
``stream()`` as a daqflow source, validated `Setting`s, ``describe()``); `SimScope`,
`SimSpectrumAnalyzer` and `SimNetworkAnalyzer` are simulated instruments that work with no
arguments. ``daqflow.blocking(instrument)`` makes every coroutine method a plain call.
"""

from .base import Instrument, Setting
from .simulated import SimNetworkAnalyzer, SimScope, SimSpectrumAnalyzer

__all__ = ["Instrument", "Setting", "SimNetworkAnalyzer", "SimScope", "SimSpectrumAnalyzer"]
