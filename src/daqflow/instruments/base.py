"""`Instrument`: one async implementation; `run_single`, continuous `stream`, validated settings.

Written once, async: ``await scope.run_single(avg=10)`` lets several instruments acquire at
the same time (``asyncio.gather(scope.run_single(1), na.run_single(1))`` takes about the
longer of the two), and ``daqflow.blocking(scope)`` gives the same object a blocking face
for scripts, Jupyter and Qt apps.

Settings are `Setting` descriptors; each instance holds them as Params
(``scope.param("timebase")``, `settings.SettingParam`), validated when set (ValueError naming
the instrument, the setting and its range), so every control surface steers them. Every
trace takes a snapshot of the settings when it starts: a change made while a stream runs
takes effect at the next trace boundary, and that trace's ``meta["changed"]`` lists it
(``meta["settings"]`` always holds the snapshot).

An instrument lives on the event loop it was connected on (its `home_loop`). Its public
coroutine methods, and a stream's traces, called from another loop (a graph run in a thread,
the blocking facade's loop) are sent there and awaited, so one lock orders every trace.
Calls that cannot be answered are refused in one line: the home loop has ended (close and
connect again), or a blocking call is made from the home loop itself (await it instead).
"""

from __future__ import annotations

import abc
import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, ClassVar, TypeVar

import numpy as np

from ..core import Chunk, Stream, block
from ..core.authoring import Param
from .settings import Setting, SettingParam

T = TypeVar("T")
_ROUTED = "__daqflow_routed__"


def _routed(method: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., Awaitable[T]]:
    """``method`` run on its instrument's home loop, whichever loop awaits it."""
    if getattr(method, _ROUTED, False):
        return method

    @functools.wraps(method)
    async def on_home_loop(self: Instrument, *args: Any, **kwargs: Any) -> T:
        home = self._home_for_call(method.__name__)
        if home is None:
            return await method(self, *args, **kwargs)
        future = asyncio.run_coroutine_threadsafe(method(self, *args, **kwargs), home)
        return await asyncio.wrap_future(future)

    setattr(on_home_loop, _ROUTED, True)
    return on_home_loop


class Instrument(abc.ABC):
    """Base of daqflow's instruments (simulated or real): subclass and implement `_trace`.

    Use as ``async with Scope() as scope: data = await scope.run_single(avg=10)``, or from
    blocking code as ``with daqflow.blocking(Scope()) as scope: data = scope.run_single(10)``.

    Args:
        name: the instrument's name in messages and metadata (default: the class name).
        settings: initial values of its `Setting` attributes.
    """

    kind: ClassVar[str] = "instrument"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Route the subclass's public coroutine methods to the home loop (see the module)."""
        super().__init_subclass__(**kwargs)
        for key, value in list(vars(cls).items()):
            if not key.startswith("_") and inspect.iscoroutinefunction(value):
                setattr(cls, key, _routed(value))

    def __init__(self, name: str | None = None, **settings: Any):
        self._name = name or type(self).__name__
        self._params: dict[str, SettingParam] = {
            key: getattr(type(self), key).bind(self._name) for key in self.setting_names()}
        self._active: dict[str, Any] | None = None  # snapshot of the trace in progress
        self._open = False
        self._lock: asyncio.Lock | None = None
        self._home: asyncio.AbstractEventLoop | None = None  # the loop it was connected on
        self._traces = 0
        for key, value in settings.items():
            if not isinstance(getattr(type(self), key, None), Setting):
                raise ValueError(f"{self.name}: no setting {key!r} (settings: "
                                 f"{', '.join(self.setting_names())})")
            setattr(self, key, value)

    # -- life cycle ------------------------------------------------------------------------
    async def connect(self) -> None:
        """Open the instrument on the running loop, its home from now on (idempotent)."""
        home = self._home_for_call("connect")
        if home is not None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.connect(), home))
            return
        if not self._open:
            self._home, self._lock = asyncio.get_running_loop(), None
            try:
                await self._connect()
            except BaseException:
                self._home = None
                raise
            self._open = True

    async def close(self) -> None:
        """Close the instrument (idempotent); later acquisitions raise. From any loop: on
        its home loop while that runs, here once it has ended."""
        home = self._home_for_call("close", ended_ok=True)
        if home is not None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.close(), home))
            return
        if self._open:
            self._open = False
            try:
                await self._disconnect()
            finally:
                self._home, self._lock = None, None

    @property
    def home_loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop it was connected on (None when closed)."""
        return self._home

    def _home_for_call(self, what: str, *, ended_ok: bool = False) -> asyncio.AbstractEventLoop | None:
        """The home loop if a call of ``what`` must be sent there, None to run it here;
        RuntimeError when the home loop has ended (unless ``ended_ok``)."""
        home = self._home
        if home is None or home is asyncio.get_running_loop():
            return None
        if home.is_closed() or not home.is_running():
            if ended_ok:
                return None
            raise RuntimeError(
                f"instrument {self.name!r}: {what} cannot run: it was connected on an event "
                "loop that is no longer running; close() it and connect() it on this loop"
            )
        return home

    async def __aenter__(self) -> Instrument:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._open

    async def _connect(self) -> None:  # noqa: B027 - optional hook
        """Subclass hook: open the transport."""

    async def _disconnect(self) -> None:  # noqa: B027 - optional hook
        """Subclass hook: close the transport."""

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError(f"instrument {self.name!r} is not connected: "
                               "call connect() or use it as a context manager")

    @property
    def name(self) -> str:
        """The instrument's name in messages, metadata and its settings' Param names."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value
        for p in getattr(self, "_params", {}).values():
            p.rename(value)

    # -- settings --------------------------------------------------------------------------
    def param(self, name: str) -> SettingParam:
        """The setting ``name`` as a live `daqflow.Param` (named ``"<instrument>.<name>"``):
        ``set`` changes the setting (validated), ``watch`` follows it."""
        try:
            return self._params[name]
        except KeyError:
            raise ValueError(f"{self.name}: no setting {name!r} (settings: "
                             f"{', '.join(self.setting_names())})") from None

    def params(self) -> list[SettingParam]:
        """Every setting as a Param, by setting name order."""
        return [self._params[key] for key in self.setting_names()]

    def __daqflow_params__(self) -> list[Param[Any]]:
        """A block given this instrument declares its settings as controls (core/finding.py)."""
        return list(self.params())

    @classmethod
    def setting_names(cls) -> list[str]:
        """Names of the class's `Setting` attributes (looked up once per class)."""
        names = cls.__dict__.get("_setting_names")
        if names is None:
            names = [k for k in dir(cls) if isinstance(getattr(cls, k, None), Setting)]
            cls._setting_names = names  # type: ignore[attr-defined]
        return list(names)

    def settings(self) -> dict[str, Any]:
        """The current value of every setting."""
        return {k: getattr(self, k) for k in self.setting_names()}

    def active(self, name: str) -> Any:
        """A setting's value for the trace being acquired (the snapshot taken at its start)."""
        return (self._active or self.settings())[name]

    def describe(self) -> dict[str, Any]:
        """Metadata: name, type, connection, and each setting with its unit and range."""
        described = {}
        for key in self.setting_names():
            setting = getattr(type(self), key)
            entry: dict[str, Any] = {"value": getattr(self, key), "unit": setting.unit}
            if setting.choices is not None:
                entry["choices"] = list(setting.choices)
            elif setting.low is not None or setting.high is not None:
                entry["range"] = [setting.low, setting.high]
            if setting.doc:
                entry["doc"] = setting.doc
            described[key] = entry
        return {"name": self.name, "type": type(self).__name__, "kind": self.kind,
                "connected": self._open, "settings": described}

    # -- acquisition -----------------------------------------------------------------------
    @abc.abstractmethod
    async def _trace(self) -> Chunk:
        """Subclass hook: acquire one trace with the settings of `active` (a Chunk whose
        meta may add to what the base records)."""

    @_routed
    async def acquire(self, avg: int = 1) -> Chunk:
        """One trace, or the mean of ``avg`` traces, as a Chunk: ``rate`` (Hz), ``time`` and
        ``times`` (seconds; a scope's count from its trigger), ``meta["settings"]`` (those it
        was taken with), ``meta["trace"]`` (its number)."""
        self._check_open()
        if isinstance(avg, bool) or not isinstance(avg, int | np.integer) or avg < 1:
            raise ValueError(f"{self.name}.run_single: avg must be an int >= 1, got {avg!r}")
        traces = [await self._one_trace() for _ in range(int(avg))]
        first = traces[0]
        if avg == 1:
            return first
        work = np.result_type(first.data.dtype, np.float64)
        mean = np.mean([t.data for t in traces], axis=0, dtype=work).astype(first.data.dtype)
        return Chunk(mean, first.rate, first.index, first.time, {**first.meta, "average": int(avg)})

    @_routed
    async def run_single(self, avg: int = 1) -> np.ndarray:
        """Acquire ``avg`` traces and return their mean (pyrpl's ``run_single``)."""
        return (await self.acquire(avg)).data

    @_routed
    async def _one_trace(self) -> Chunk:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one trace at a time per instrument (run_single and streams)
            return await self._snapshot_trace()

    async def _snapshot_trace(self) -> Chunk:
        previous = self._active
        snapshot = self.settings()
        changed = {} if previous is None else {
            k: v for k, v in snapshot.items() if previous.get(k) != v}
        self._active = snapshot
        trace = await self._trace()
        self._traces += 1
        meta = {**trace.meta, "instrument": self.name, "settings": snapshot, "trace": self._traces}
        if changed:
            meta["changed"] = changed
        return Chunk(trace.data, trace.rate, trace.index, trace.time, meta)

    def stream(self, **options: Any) -> Stream:
        """Continuous acquisition as a daqflow source of traces (Chunks).

        Clock-driven: when a consumer falls behind, traces are dropped, counted and marked
        (``meta["overflow"]``) rather than delaying the instrument. Settings changed while it
        runs apply from the next trace.

        Args:
            options: name=, buffer=, policy=, threaded=, realtime= (see `daqflow.block`).
        """
        return _traces.renamed(self.name)(self, **options)


@block(realtime=True)
async def _traces(instrument: Instrument) -> AsyncIterator[Chunk]:
    instrument._check_open()
    while True:
        yield await instrument._one_trace()
