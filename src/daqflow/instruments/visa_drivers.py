"""Example SCPI drivers on `VisaInstrument`: `Multimeter` (34401A style) and
`FunctionGenerator` (33500 style), each with a resource in the packaged simulation."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..core import Chunk
from .base import Setting
from .visa import VisaInstrument


class Multimeter(VisaInstrument):
    """A DC voltmeter (SCPI, 34401A style): ``await dmm.read()`` is one reading in volts.

    A trace is one reading: ``await dmm.run_single(avg)`` is the mean of ``avg`` readings
    (a 1-sample array); ``dmm.stream()`` is a source of 1-sample Chunks.

    Args:
        resource, backend, name, timeout: see `VisaInstrument`.
        settings: range (V: 0.1, 1, 10, 100, 1000), nplc (integration time in power-line
            cycles, 0.02 to 100).
    """

    kind = "multimeter"
    sim_resource = "GPIB0::22::INSTR"
    line_frequency: ClassVar[float] = 50.0  # Hz: one power-line cycle is 1/line_frequency s
    range = Setting(10.0, unit="V", choices=(0.1, 1.0, 10.0, 100.0, 1000.0),
                    doc="DC voltage range (full scale)")
    nplc = Setting(1.0, unit="PLC", low=0.02, high=100.0,
                   doc="integration time in power-line cycles")
    setting_commands: ClassVar[Mapping[str, str]] = {
        "range": "VOLT:DC:RANG {}", "nplc": "VOLT:DC:NPLC {}"}
    trace_query = "READ?"
    trace_units = "V"

    async def read(self) -> float:
        """One DC voltage reading in volts (settings changed since last written are
        written first)."""
        self._check_open()
        await self._write_settings(self.settings())
        return float(self._numbers(self.trace_query, await self._io(self._query, self.trace_query))[0])

    def _trace_rate(self) -> float:
        """Readings per second the integration time allows (nominal)."""
        return self.line_frequency / self.active("nplc")


class FunctionGenerator(VisaInstrument):
    """A function generator (SCPI, 33500 style): waveform, frequency, amplitude, offset, output.

    Settings reach the generator on connect, at ``await fg.apply()``, and before each trace.
    A trace is the generator's state read back: float64 [frequency Hz, amplitude Vpp,
    offset V, output 0/1] (``meta["fields"]``, ``meta["waveform"]``), so
    ``await fg.run_single()`` applies the settings and confirms what the instrument runs;
    ``meta["differs"]`` lists settings whose read-back value differs from the one set.

    Args:
        resource, backend, name, timeout: see `VisaInstrument`.
        settings: waveform (one of WAVEFORMS), frequency (Hz, 1 mHz to 20 MHz), amplitude
            (Vpp, 10 mV to 10 V), offset (V, -5 to 5), output (bool).
    """

    kind = "function_generator"
    sim_resource = "TCPIP0::192.168.0.50::inst0::INSTR"
    WAVEFORMS: ClassVar[tuple[str, ...]] = ("SIN", "SQU", "RAMP", "PULS", "NOIS", "DC")
    FIELDS: ClassVar[tuple[str, ...]] = ("frequency", "amplitude", "offset", "output")
    waveform = Setting("SIN", kind=str, choices=WAVEFORMS, doc="output waveform")
    frequency = Setting(1e3, unit="Hz", low=1e-3, high=20e6, doc="output frequency")
    amplitude = Setting(1.0, unit="Vpp", low=0.01, high=10.0, doc="peak-to-peak amplitude")
    offset = Setting(0.0, unit="V", low=-5.0, high=5.0, doc="DC offset")
    output = Setting(False, kind=bool, doc="output enabled")
    setting_commands: ClassVar[Mapping[str, str]] = {
        "waveform": "FUNC {}", "frequency": "FREQ {}", "amplitude": "VOLT {}",
        "offset": "VOLT:OFFS {}", "output": "OUTP {}"}
    readback: ClassVar[Mapping[str, str]] = {
        "frequency": "FREQ?", "amplitude": "VOLT?", "offset": "VOLT:OFFS?", "output": "OUTP?"}

    async def _trace(self) -> Chunk:
        await self._sync()
        values = []
        for key in self.FIELDS:
            command = self.readback[key]
            values.append(self._numbers(command, await self._io(self._query, command))[0])
        waveform = await self._io(self._query, "FUNC?")
        data = np.array(values, dtype=np.float64)
        wanted = [float(self.active(key)) for key in self.FIELDS]
        differs = [key for key, got, want in zip(self.FIELDS, values, wanted, strict=True)
                   if not math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)]
        if waveform.upper() != self.active("waveform"):
            differs.append("waveform")
        meta: dict[str, Any] = {"fields": self.FIELDS, "units": ("Hz", "Vpp", "V", ""),
                                "waveform": waveform}
        if differs:
            meta["differs"] = differs
        return Chunk(data, 1.0, self._traces, time.monotonic() - self._t0, meta)
