"""SCPI instruments over PyVISA: `VisaInstrument`, the base of the drivers (`visa_drivers`).

Every VISA call runs in a worker thread, so the event loop (and every other instrument)
keeps running while one waits for an answer. All instruments opened on the same resource
name share that resource's worker thread and lock (`visa_transport`), so a command and its
answer are never split by another object's traffic, even across event loops and threads.

Settings of a VISA driver are `Setting` descriptors (Params of each instance:
``dmm.param("nplc")``); the ones named in ``setting_commands`` are written to the instrument:

- on connect (all of them, after the error queue is cleared and ``*IDN?`` read);
- by ``await inst.apply()`` (all of them, at once);
- before the next reading or trace (only those changed since they were last written):
  assigning a setting (or setting its Param: a GUI control, ``PUT /params/NAME``) is a
  plain write of the value, so it reaches the instrument at the next operation. Each write
  is checked against the instrument's error queue.

With no hardware, `sim_backend` gives the packaged pyvisa-sim definitions:

>>> import asyncio
>>> from daqflow.instruments import Multimeter
>>> async def measure():
...     async with Multimeter.simulated(nplc=10) as dmm:
...         return dmm.identity, round(await dmm.read(), 1)
>>> asyncio.run(measure())
('DAQFLOW,SIM-DMM-6500,SN000022,1.0', 1.0)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, ClassVar, Self

import numpy as np

from ..core import Chunk
from ..core.authoring import require
from .base import Instrument, Setting
from .visa_transport import (
    InstrumentError,
    _acquire,
    _manager,
    _Port,
    _port,
    _release,
    pyvisa_module,
    sim_backend,
)

__all__ = ["InstrumentError", "VisaInstrument", "sim_backend"]

MAX_ERRORS = 32  # error-queue entries read after one command, at most
_ERROR = re.compile(r"^\s*([+-]?\d+)\s*(?:,\s*(.*?))?\s*$", re.S)
_pyvisa = pyvisa_module


def _scpi_value(value: Any) -> str:
    """A setting's value as SCPI text: 1/0 for booleans, plain decimals for numbers."""
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return np.format_float_positional(float(value), trim="-")
    return str(value)


class VisaInstrument(Instrument):
    """An SCPI instrument over PyVISA: ``await query(cmd)``, ``await write(cmd)``, identity,
    error-queue checks, timeouts; subclass it for a driver (see `Multimeter`).

    Args:
        resource: VISA resource name, e.g. ``"GPIB0::22::INSTR"``,
            ``"TCPIP0::192.168.0.50::inst0::INSTR"``.
        backend: the PyVISA backend: ``"@py"`` (pyvisa-py), ``"@ivi"`` (NI/Keysight VISA),
            or ``"path/to/devices.yaml@sim"`` (pyvisa-sim; see `sim_backend`).
        name: the instrument's name in messages (default: the class name).
        timeout: seconds to wait for an answer (> 0); ``inst.timeout`` can be changed later.
        settings: initial values of the driver's `Setting` attributes.

    After connecting, ``identity`` holds the ``*IDN?`` answer. Errors are clear: an unknown
    resource or backend raises ConnectionError at connect, an unanswered query TimeoutError,
    an error the instrument reports `InstrumentError`, all naming instrument, resource and
    command.

    Subclasses set ``setting_commands`` (setting name -> SCPI template with ``{}`` for the
    value), and either ``trace_query`` (a query answering numbers) or their own ``_trace``.
    """

    kind = "visa"
    #: Setting name -> SCPI command writing it ("{}" is the value).
    setting_commands: ClassVar[Mapping[str, str]] = {}
    #: Query whose numbers are one trace (None: the driver implements `_trace` or has none).
    trace_query: ClassVar[str | None] = None
    #: Units of a trace's numbers (``meta["units"]``).
    trace_units: ClassVar[str] = ""
    #: Query reading one entry of the instrument's error queue (None: no error checks).
    error_query: ClassVar[str | None] = "SYST:ERR?"
    #: Resource of this driver in the packaged simulation (see `simulated`).
    sim_resource: ClassVar[str | None] = None
    read_termination: ClassVar[str] = "\n"
    write_termination: ClassVar[str] = "\n"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for key in cls.setting_commands:
            if not isinstance(getattr(cls, key, None), Setting):
                raise TypeError(f"{cls.__name__}.setting_commands names {key!r}, which is not a "
                                "Setting of the class")

    def __init__(self, resource: str, backend: str = "@py", name: str | None = None,
                 timeout: float = 2.0, **settings: Any):
        super().__init__(name, **settings)
        if not isinstance(resource, str) or not resource.strip():
            raise ValueError(f"{self.name}: resource must be a VISA resource name such as "
                             f"'GPIB0::22::INSTR', got {resource!r}")
        if not isinstance(backend, str):
            raise ValueError(f"{self.name}: backend must be a string such as '@py' or "
                             f"'devices.yaml@sim', got {backend!r}")
        self.resource = resource.strip()
        self.backend = backend
        self.timeout = timeout
        self.identity: str | None = None
        self._res: Any = None  # the pyvisa Resource while connected
        self._port: _Port | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._written: dict[str, Any] = {}  # settings as last written to the instrument
        self._t0 = time.monotonic()

    @classmethod
    def simulated(cls, name: str | None = None, timeout: float = 2.0,
                  **settings: Any) -> Self:
        """This driver on its resource of the packaged pyvisa-sim file (no hardware)."""
        if cls.sim_resource is None:
            raise TypeError(f"{cls.__name__} has no simulated resource (sim_resource is None)")
        return cls(cls.sim_resource, backend=sim_backend(), name=name, timeout=timeout, **settings)

    # -- properties ------------------------------------------------------------------------
    @property
    def timeout(self) -> float:
        """Seconds to wait for an answer (applies from the next command)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = math.nan
        if isinstance(value, bool) or not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError(f"{self.name}.timeout = {value!r}: must be a number of seconds > 0")
        self._timeout = seconds

    @property
    def lock(self) -> threading.Lock:
        """The lock held for each transaction on this resource, shared by every instrument
        opened on the same resource name."""
        return _port(self.resource).lock

    def describe(self) -> dict[str, Any]:
        """`Instrument.describe` plus resource, backend, timeout and identity."""
        return {**super().describe(), "resource": self.resource, "backend": self.backend,
                "timeout": self.timeout, "identity": self.identity}

    def __repr__(self) -> str:
        state = "connected" if self.connected else "closed"
        return f"<{type(self).__name__} {self.name!r} {self.resource} ({state})>"

    # -- life cycle ------------------------------------------------------------------------
    async def _connect(self) -> None:
        visa = _pyvisa()
        if self.backend.rstrip().endswith("@sim"):
            require("pyvisa_sim", "test", f"the simulated VISA backend {self.backend!r}")
        port = _port(self.resource)
        executor = _acquire(port)
        try:
            loop = asyncio.get_running_loop()
            res = await loop.run_in_executor(executor, self._locked, port, self._open_resource, visa)
        except BaseException:
            _release(port)
            raise
        self._port, self._executor, self._res = port, executor, res
        self._t0 = time.monotonic()
        self._written = {}
        try:
            await self._io(self._drain_errors)  # earlier errors are not ours
            self.identity = await self._io(self._query, "*IDN?")
            await self._write_settings(self.settings(), force=True)
        except BaseException:
            await self._disconnect()
            raise

    async def _disconnect(self) -> None:
        port, executor, res = self._port, self._executor, self._res
        self._port = self._executor = self._res = None
        if port is None or executor is None:
            return
        try:  # queued after any command already submitted: those finish first
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(executor, self._locked, port, res.close)
        finally:
            _release(port)

    def _open_resource(self, visa: ModuleType) -> Any:
        where = f"{self.name}: VISA resource {self.resource!r}"
        try:
            manager = _manager(visa, self.backend)
        except Exception as exc:
            raise ConnectionError(f"{self.name}: cannot open the VISA backend {self.backend!r} "
                                  f"for {self.resource!r}: {exc}") from exc
        try:
            res = manager.open_resource(self.resource)
        except Exception as exc:
            raise ConnectionError(f"{where} cannot be opened ({self.backend!r}): {exc}") from exc
        if not res.session:  # pyvisa-sim opens unknown names as session 0 without raising
            res.close()
            known = ""
            if self.backend.rstrip().endswith("@sim"):
                known = f"; the simulation has {', '.join(manager.list_resources('?*')) or 'none'}"
            raise ConnectionError(f"{where} not found (backend {self.backend!r}{known})")
        if not hasattr(res, "query"):
            res.close()
            raise ConnectionError(f"{where} is a {type(res).__name__}, not a message-based "
                                  "(SCPI) instrument")
        res.read_termination = self.read_termination
        res.write_termination = self.write_termination
        res.timeout = round(self.timeout * 1000)
        return res

    # -- transactions (each in the resource's worker thread, under its lock) ----------------
    @staticmethod
    def _locked(port: _Port, fn: Callable[..., Any], *args: Any) -> Any:
        with port.lock:
            return fn(*args)

    async def _io(self, fn: Callable[..., Any], *args: Any) -> Any:
        port, executor, res = self._port, self._executor, self._res
        if port is None or executor is None:
            raise RuntimeError(f"instrument {self.name!r} is not connected: "
                               "call connect() or use it as a context manager")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, self._locked, port, fn, res, *args)

    def _visa(self, res: Any, command: str, call: Callable[[], Any]) -> Any:
        visa = _pyvisa()
        ms = round(self.timeout * 1000)
        try:
            if res.timeout != ms:
                res.timeout = ms
            return call()
        except visa.errors.VisaIOError as exc:
            if exc.error_code == visa.constants.StatusCode.error_timeout:
                raise self._timeout_error(res, command) from None
            raise InstrumentError(f"{self.name} ({self.resource}): VISA error on {command!r}: "
                                  f"{exc}", instrument=self.name, resource=self.resource,
                                  command=command) from exc
        except visa.errors.InvalidSession as exc:
            raise RuntimeError(f"instrument {self.name!r} is not connected ({exc})") from exc

    def _timeout_error(self, res: Any, command: str) -> TimeoutError:
        message = (f"{self.name} ({self.resource}): no answer to {command!r} within "
                   f"{self.timeout:g} s (VISA timeout)")
        if command != self.error_query:  # the instrument may say why (an unknown command)
            try:
                errors = self._drain_errors(res)
            except Exception:
                errors = []
            if errors:
                message += "; the instrument reports " + "; ".join(
                    f"{code}, {text}" for code, text in errors)
        return TimeoutError(message)

    def _query(self, res: Any, command: str) -> str:
        return str(self._visa(res, command, lambda: res.query(command))).strip()

    def _write(self, res: Any, command: str, check: bool) -> None:
        self._visa(res, command, lambda: res.write(command))
        if check:
            errors = self._drain_errors(res)
            if errors:
                text = "; ".join(f"{code}, {message}" for code, message in errors)
                raise InstrumentError(
                    f"{self.name} ({self.resource}): {command!r} -> instrument error {text}",
                    instrument=self.name, resource=self.resource, command=command,
                    errors=tuple(errors))

    def _drain_errors(self, res: Any) -> list[tuple[int, str]]:
        if self.error_query is None:
            return []
        errors = []
        for _ in range(MAX_ERRORS):
            answer = self._query(res, self.error_query)
            match = _ERROR.match(answer)
            if match is None:
                errors.append((-1, answer))
                break
            code, message = int(match.group(1)), (match.group(2) or "").strip()
            if len(message) >= 2 and message[0] == message[-1] == '"':
                message = message[1:-1]
            if code == 0:
                break
            errors.append((code, message))
        return errors

    # -- public commands -------------------------------------------------------------------
    async def query(self, command: str) -> str:
        """Send ``command`` and return the answer (stripped)."""
        self._check_open()
        return await self._io(self._query, command)

    async def write(self, command: str, check: bool = True) -> None:
        """Send ``command``; then, with ``check``, read the error queue and raise
        `InstrumentError` with the instrument's messages if it holds errors."""
        self._check_open()
        await self._io(self._write, command, check)

    async def identify(self) -> str:
        """Ask ``*IDN?`` again; returns it and updates ``identity``."""
        self.identity = await self.query("*IDN?")
        return self.identity

    async def errors(self) -> list[tuple[int, str]]:
        """Read (and so clear) the instrument's error queue: (code, message) pairs."""
        self._check_open()
        return await self._io(self._drain_errors)

    async def apply(self) -> None:
        """Write every setting of ``setting_commands`` to the instrument now (each checked)."""
        self._check_open()
        await self._write_settings(self.settings(), force=True)

    async def _write_settings(self, values: Mapping[str, Any], force: bool = False) -> None:
        for key, template in self.setting_commands.items():
            value = values[key]
            if not force and key in self._written and self._written[key] == value:
                continue
            self._written.pop(key, None)  # unknown until the write succeeds
            await self._io(self._write, template.format(_scpi_value(value)), True)
            self._written[key] = value

    async def _sync(self) -> None:
        """Write the settings changed since last written (those of the trace in progress)."""
        await self._write_settings(self._active if self._active is not None else self.settings())

    # -- acquisition -----------------------------------------------------------------------
    def _numbers(self, command: str, answer: str) -> np.ndarray:
        try:
            return np.array([float(x) for x in answer.split(",")], dtype=np.float64)
        except ValueError:
            raise InstrumentError(f"{self.name} ({self.resource}): {command!r} answered "
                                  f"{answer!r}, not numbers", instrument=self.name,
                                  resource=self.resource, command=command) from None

    def _trace_rate(self) -> float:
        """Sample rate of a trace (Hz) for its Chunk; subclasses refine it."""
        return 1.0

    async def _trace(self) -> Chunk:
        if self.trace_query is None:
            raise TypeError(f"{self.name}: {type(self).__name__} has no trace: set "
                            "trace_query or implement _trace in a subclass")
        await self._sync()
        data = self._numbers(self.trace_query, await self._io(self._query, self.trace_query))
        return Chunk(data, self._trace_rate(), self._traces, time.monotonic() - self._t0,
                     {"units": self.trace_units})
