"""`InstrumentDetector`: a daqflow instrument as an ophyd-async device for step scans.

``trigger()`` takes one trace (``instrument.acquire(avg)``: the mean of ``avg`` traces);
``read()`` gives that trace and its axis; ``describe()`` their shape, dtype, units and
dims; the instrument's settings (the snapshot the trace was taken with) are the
configuration, one key per setting with its unit.

The instrument stays on its home loop: the RunEngine's loop awaits it there (see
`daqflow.instruments.base`). One that is not connected yet is connected at the first
``connect()`` or ``trigger()``, on the RunEngine's loop, which is its home from then on.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from bluesky.protocols import Reading
from event_model import DataKey
from ophyd_async.core import DEFAULT_TIMEOUT, AsyncStatus, Device, DeviceMock

from ..core import Chunk
from ..instruments.base import Instrument
from .keys import data_key, reading


class InstrumentDetector(Device):
    """A daqflow `Instrument` as a triggerable, readable, configurable bluesky device.

    Readings: ``NAME`` (the trace, the instrument's units: V for a scope, V^2 for a
    spectrum analyzer; shape (points,) or (points, channels)) and its axis, ``NAME-freqs``
    (Hz) when the trace carries ``meta["freqs"]``, else ``NAME-times`` (seconds from the
    trigger). Time stamps: when the trace came back (Unix seconds). Configuration:
    ``NAME-SETTING`` per setting and ``NAME-avg``.

    Args:
        instrument: the instrument (connected or not).
        name: the device's name (prefix of its data keys).
        avg: traces averaged per trigger.
        units: units of the trace (default: the trace's ``meta["units"]``).
    """

    def __init__(self, instrument: Instrument, name: str, *, avg: int = 1,
                 units: str | None = None) -> None:
        if isinstance(avg, bool) or not isinstance(avg, int) or avg < 1:
            raise ValueError(f"daqflow.bluesky.detector {name!r}: avg must be an int >= 1, "
                             f"got {avg!r}")
        self._instrument = instrument
        self._avg = avg
        self._units = units
        self._trace: Chunk | None = None
        self._stamp = 0.0
        super().__init__(name=name)

    @property
    def instrument(self) -> Instrument:
        return self._instrument

    @property
    def hints(self) -> dict[str, list[str]]:
        return {"fields": [self.name]}

    async def connect(self, mock: bool | DeviceMock = False, timeout: float = DEFAULT_TIMEOUT,
                      force_reconnect: bool = False) -> None:
        """Connect the device, and the instrument on this loop unless it already is (or
        ``mock``)."""
        await super().connect(mock, timeout, force_reconnect)
        if not mock:
            await self._instrument.connect()

    # -- Triggerable / AsyncReadable --------------------------------------------------------
    @AsyncStatus.wrap
    async def trigger(self) -> None:
        await self._acquire()

    async def read(self) -> dict[str, Reading]:
        trace = self._trace if self._trace is not None else await self._acquire()
        axis_key, axis, _ = self._axis(trace)
        return {self.name: reading(trace.data, self._stamp),
                axis_key: reading(axis, self._stamp)}  # type: ignore[dict-item]

    async def describe(self) -> dict[str, DataKey]:
        trace = self._trace if self._trace is not None else await self._acquire()
        axis_key, axis, axis_units = self._axis(trace)
        source = f"daqflow:{self._instrument.name}"
        dims = [axis_key] + [f"{self.name}-channel"] * (trace.data.ndim - 1)
        units = self._units or trace.meta.get("units")
        return {self.name: data_key(trace.data, source, units=units, dims=dims),
                axis_key: data_key(axis, source, units=axis_units, dims=[axis_key])}

    # -- AsyncConfigurable ------------------------------------------------------------------
    async def read_configuration(self) -> dict[str, Reading]:
        stamp = self._stamp or time.time()
        values = {f"{self.name}-{k}": reading(v, stamp) for k, v in self._settings().items()}
        values[f"{self.name}-avg"] = reading(self._avg, stamp)
        return values  # type: ignore[return-value]

    async def describe_configuration(self) -> dict[str, DataKey]:
        source = f"daqflow:{self._instrument.name}"
        keys = {}
        for key, value in self._settings().items():
            setting = getattr(type(self._instrument), key, None)
            keys[f"{self.name}-{key}"] = data_key(value, source,
                                                  units=getattr(setting, "unit", "") or None)
        keys[f"{self.name}-avg"] = data_key(self._avg, source)
        return keys

    # -- helpers ----------------------------------------------------------------------------
    async def _acquire(self) -> Chunk:
        if not self._instrument.connected:
            await self._instrument.connect()
        trace = await self._instrument.acquire(self._avg)
        self._trace, self._stamp = trace, time.time()
        return trace

    def _settings(self) -> dict[str, Any]:
        """The settings of the last trace (its snapshot), else the current ones."""
        if self._trace is not None and "settings" in self._trace.meta:
            return dict(self._trace.meta["settings"])
        return self._instrument.settings()

    def _axis(self, trace: Chunk) -> tuple[str, np.ndarray, str]:
        """(data key, values, units) of the trace's first axis."""
        freqs = trace.meta.get("freqs")
        if freqs is not None and len(freqs) == len(trace.data):
            return f"{self.name}-freqs", np.asarray(freqs), "Hz"
        return f"{self.name}-times", trace.times, "s"
