"""daqflow.instruments: async instruments with a blocking face.

`Instrument` is the base (``async with``, ``connect``/``close``, ``await run_single(avg)``,
``stream()`` as a daqflow source, validated `Setting`s, each a `daqflow.Param` of the
instance: ``scope.param("timebase")``, ``describe()``); `SimScope`,
`SimSpectrumAnalyzer` and `SimNetworkAnalyzer` are simulated instruments that work with no
arguments. ``daqflow.blocking(instrument)`` makes every coroutine method a plain call.

`VisaInstrument` speaks SCPI over PyVISA (`Multimeter` and `FunctionGenerator` are example
drivers; `visa_poll` is a paced source of readings); `sim_backend` runs them on the
packaged pyvisa-sim definitions with no hardware. PyVISA is imported only when used.
"""

from .base import Instrument, Setting
from .simulated import SimNetworkAnalyzer, SimScope, SimSpectrumAnalyzer
from .visa import InstrumentError, VisaInstrument, sim_backend
from .visa_drivers import FunctionGenerator, Multimeter
from .visa_poller import visa_poll

__all__ = [
    "FunctionGenerator",
    "Instrument",
    "InstrumentError",
    "Multimeter",
    "Setting",
    "SimNetworkAnalyzer",
    "SimScope",
    "SimSpectrumAnalyzer",
    "VisaInstrument",
    "sim_backend",
    "visa_poll",
]
