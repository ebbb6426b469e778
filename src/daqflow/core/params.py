"""Live controls: a `Param` is a value a running graph reads once per chunk and anyone may set.

>>> import daqflow as df
>>> tune = df.param(-250e3, name="tune", low=-1e6, high=1e6, unit="Hz", doc="mixer frequency")
>>> tune.set(-200e3)
>>> tune.value, tune.version
(-200000.0, 1)
>>> tune.set(2e6)
Traceback (most recent call last):
...
ValueError: param 'tune': 2000000.0 Hz is out of range [-1e+06, 1e+06] Hz

Blocks that accept a Param where a number is expected (``dsp.mix(s, freq=tune)``,
``dsp.average(s, n=navg)``) read its value at each chunk boundary; the first output chunk
made with a new value records it in ``meta["params"]`` (``{"tune": -200000.0}``).
"""

from __future__ import annotations

import itertools
import math
import numbers
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import numpy as np

T = TypeVar("T", int, float, bool, str)

_unnamed = itertools.count(1)


class Param(Generic[T]):
    """A live, validated, thread-safe value (make one with `daqflow.param`).

    Every control surface (Qt, the control page, HTTP, EPICS, Tango) is a view of Params; an
    instrument's settings are Params too (`daqflow.instruments.Setting`), validated by the
    same code (`_check`) and told apart by `owner`.

    Attributes:
        name: the name change records use (``meta["params"][name]``).
        kind: ``float`` or ``int`` (an instrument setting may also be ``bool`` or ``str``).
        low, high: inclusive bounds (None: unbounded on that side).
        choices: the allowed values (None: any value in range).
        unit: the physical unit, for display (e.g. "Hz").
        doc: one line saying what it controls, for display.
        default: the initial value.
    """

    __slots__ = (
        "__weakref__", "_lock", "_state", "_watchers", "choices", "default", "doc", "high",
        "kind", "low", "name", "unit",
    )
    KINDS: tuple[type, ...] = (float, int)  # the kinds `daqflow.param` makes
    READS_TEXT = False  # numbers given as text ("1e-3") are refused

    def __init__(
        self,
        value: T,
        *,
        name: str | None = None,
        kind: type = float,
        low: T | None = None,
        high: T | None = None,
        choices: Iterable[T] | None = None,
        unit: str = "",
        doc: str = "",
    ):
        if kind not in self.KINDS:
            allowed = " or ".join(k.__name__ for k in self.KINDS)
            raise ValueError(f"param kind must be {allowed}, got {kind!r}")
        if name is None:
            name = f"param{next(_unnamed)}"
        if not isinstance(name, str) or not name:
            raise ValueError(f"param name must be a non-empty str, got {name!r}")
        self.name = name
        self.kind = kind
        self.unit = str(unit)
        self.doc = str(doc)
        self.low: T | None = None
        self.high: T | None = None
        self.choices: tuple[T, ...] | None = None
        self.low = None if low is None else self._convert(low, "low")
        self.high = None if high is None else self._convert(high, "high")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"param {name!r}: low={self.low!r} is above high={self.high!r}")
        if choices is not None:
            options = tuple(self._check(c) for c in choices)
            if not options:
                raise ValueError(f"param {name!r}: choices is empty")
            self.choices = options
        self.default: T = self._check(value)
        self._lock = threading.Lock()
        self._state: tuple[T, int] = (self.default, 0)  # (value, version): read as one
        self._watchers: list[Callable[[T], object]] = []

    # -- reading -------------------------------------------------------------------------
    @property
    def value(self) -> T:
        """The current value (any thread; no lock needed)."""
        return self._state[0]

    @property
    def version(self) -> int:
        """How many times the value has changed (0 until the first change)."""
        return self._state[1]

    def snapshot(self) -> tuple[T, int]:
        """(value, version) read together."""
        return self._state

    @property
    def owner(self) -> str | None:
        """What holds the value besides the Param: None for a free `daqflow.param`, an
        instrument's name for one of its settings."""
        return None

    def __float__(self) -> float:
        return float(self._state[0])

    def __int__(self) -> int:
        return int(self._state[0])

    # -- writing -------------------------------------------------------------------------
    def set(self, value: Any) -> None:
        """Validate and set the value, from any thread.

        Setting the value it already has is not a change: the version stays and watchers are
        not called. Watchers are called after the change, in this thread, with the new value.

        Raises:
            ValueError: not a number of the param's kind, out of ``[low, high]``, or not one of
                its choices (the message names the param and the allowed values).
        """
        new = self._check(value)
        with self._lock:
            old, version = self._state
            if new == old:
                return
            self._state = (new, version + 1)
            watchers = tuple(self._watchers)
        errors = []
        for callback in watchers:
            try:
                callback(new)
            except Exception as exc:  # every watcher runs; the first failure is raised after
                errors.append(exc)
        if errors:
            raise errors[0]

    def watch(self, callback: Callable[[T], object]) -> Callable[[], None]:
        """Call ``callback(value)`` after each change (in the thread that set it, so a GUI
        must hand the update to its own thread). Returns a function that unsubscribes."""
        if not callable(callback):
            raise TypeError(f"param {self.name!r}: watch() takes a callable, got {callback!r}")
        with self._lock:
            self._watchers.append(callback)

        def unwatch() -> None:
            with self._lock:
                if callback in self._watchers:
                    self._watchers.remove(callback)

        return unwatch

    # -- validation (the one path: daqflow.param and instrument settings) ------------------
    def _convert(self, value: Any, what: str = "value") -> T:
        """``value`` as this param's kind (no range check)."""
        given = value
        if isinstance(value, Param):
            value = value.value
        kind = self.kind
        if kind is str:
            return value if isinstance(value, str) else str(value)  # type: ignore[return-value]
        if kind is bool:
            if isinstance(value, bool | np.bool_):
                return bool(value)  # type: ignore[return-value]
            raise self._refused("kind", given, value, what)
        if isinstance(value, str) and self.READS_TEXT:  # "1e-3", as an instrument reads it
            try:
                value = float(value)
            except ValueError:
                raise self._refused("kind", given, value, what) from None
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            raise self._refused("kind", given, value, what)
        if kind is int:
            if isinstance(value, numbers.Integral):
                return int(value)  # type: ignore[return-value]
            number = float(value)  # (a real that is not an Integral: finite or not)
            if not number.is_integer():
                raise self._refused("integer", given, value, what)
            return int(number)  # type: ignore[return-value]
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            number = math.inf
        if not math.isfinite(number):
            raise self._refused("finite", given, value, what)
        return number  # type: ignore[return-value]

    def _check(self, value: Any) -> T:
        """``value`` converted and checked against the range and choices (ValueError)."""
        v = self._convert(value)
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            raise self._refused("range", value, v, "value")
        if self.choices is not None and v not in self.choices:
            raise self._refused("choices", value, v, "value")
        return v

    def _refused(self, problem: str, given: Any, value: Any, what: str) -> ValueError:
        """The message for a refused value. ``problem``: "kind", "integer", "finite",
        "range" or "choices"; ``given``: what the caller passed; ``value``: it converted (as
        far as it got); ``what``: "value", "low" or "high". Subclasses word it their way."""
        where = f"param {self.name!r}: "
        if problem == "range":
            return ValueError(f"{where}{value!r}{self._unit()} is out of range {self._range_text()}")
        if problem == "choices":
            return ValueError(f"{where}{value!r}{self._unit()} is not one of {list(self.choices or ())}")
        if problem == "integer":
            return ValueError(f"{where}{what} must be an integer, got {value!r}")
        if problem == "finite":
            return ValueError(f"{where}{what} must be finite, got {value!r:.40}")
        return ValueError(f"{where}{what} must be {self._kind_text()}, got {value!r}")

    def _unit(self) -> str:
        return f" {self.unit}" if self.unit else ""

    def _kind_text(self) -> str:
        return {int: "an integer", bool: "a bool", str: "a str"}.get(self.kind, "a real number")

    def _range_text(self) -> str:
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"[{low}, {high}]{self._unit()}"

    def __repr__(self) -> str:
        extra = ""
        if self.low is not None or self.high is not None:
            extra += f", range {self._range_text()}"
        if self.choices is not None:
            extra += f", choices {list(self.choices)}"
        return f"<Param {self.name!r} = {self.value!r}{self._unit()}{extra}>"

    # a Param shipped to another process is a copy: not live, no watchers
    def __getstate__(self) -> dict[str, Any]:
        slots = [k for cls in type(self).__mro__ for k in cls.__dict__.get("__slots__", ())]
        return {k: getattr(self, k) for k in slots
                if k not in ("__weakref__", "_lock", "_watchers")}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        self._lock = threading.Lock()
        self._watchers = []


def param(
    value: float,
    *,
    name: str | None = None,
    kind: type = float,
    low: float | None = None,
    high: float | None = None,
    choices: Iterable[float] | None = None,
    unit: str = "",
    doc: str = "",
) -> Param[Any]:
    """A live control: a value blocks read at each chunk boundary, settable from any thread.

    Pass it where a block expects a number (``dsp.mix(s, freq=p)``, ``dsp.average(s, n=p)``);
    ``p.set(v)`` from a GUI, a script or another thread changes what the running graph uses,
    and the first output chunk made with the new value records it in ``meta["params"]``.

    Args:
        value: the initial value.
        name: the name used in ``meta["params"]`` and by GUIs (default ``param1``, ...).
        kind: ``float`` (default) or ``int`` (e.g. averaging counts).
        low, high: inclusive bounds, in ``unit`` (None: unbounded).
        choices: the only values allowed.
        unit: physical unit, e.g. "Hz" (for display and messages).
        doc: what it controls, one line (for display).

    >>> navg = param(16, name="navg", kind=int, low=1, high=1024, doc="frames per average")
    >>> int(navg), navg.kind.__name__
    (16, 'int')

    Raises:
        ValueError: bad kind, bounds or choices, or an initial value they do not allow.
    """
    return Param(value, name=name, kind=kind, low=low, high=high, choices=choices, unit=unit,
                 doc=doc)


# -- for blocks --------------------------------------------------------------------------
def value_of(x: Any) -> Any:
    """The number ``x`` stands for: a Param's current value, else ``x`` itself."""
    return x.value if isinstance(x, Param) else x


def exposed_params(value: Any) -> tuple[Param[Any], ...]:
    """The Params ``value`` stands for, looked at once, not searched: a Param itself; those an
    object declares with ``__daqflow_params__()`` (an instrument's settings, a `Follow`)."""
    if isinstance(value, Param):
        return (value,)
    declare = getattr(type(value), "__daqflow_params__", None)
    if declare is None:
        return ()
    return tuple(p for p in declare(value) if isinstance(p, Param))


class Follow:
    """What a block keeps for one argument that may be a Param: the value it last used.

    Call `poll` once per chunk (at the chunk boundary): it reads the Param and says whether the
    value differs from the previous chunk's. A plain number never changes.
    """

    __slots__ = ("live", "name", "value")

    def __init__(self, source: Any):
        self.live = source if isinstance(source, Param) else None
        self.name = source.name if isinstance(source, Param) else ""
        self.value = value_of(source)

    def __daqflow_params__(self) -> tuple[Param[Any], ...]:
        """The Param it follows (none for a plain number): a block holding a Follow
        declares that control."""
        return () if self.live is None else (self.live,)

    def poll(self) -> bool:
        """Read the current value into ``value``; True if it changed since the last poll."""
        live = self.live
        if live is None:
            return False
        new = live.value
        if new == self.value:
            return False
        self.value = new
        return True


def with_params(meta: Mapping[str, Any], changes: Mapping[str, Any]) -> Mapping[str, Any]:
    """``meta`` plus ``changes`` merged into ``meta["params"]`` (a new dict; ``meta`` is kept)."""
    if not changes:
        return meta
    return {**meta, "params": {**meta.get("params", {}), **changes}}
