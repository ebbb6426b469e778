"""`Switch` and `Pushbutton`: debounced contacts that call you back.

Both are async context managers: ``async with`` starts a watcher task that samples the pin,
leaving it stops the watcher (callback rules and error handling: `daqflow.hw.delay`).
"Closed" / "pressed" means ``pin.value()`` is True (for a contact that pulls its line low,
use an active-low pin, e.g. ``GpiodPin(..., active_low=True)``).

Sampling: the watcher reads the pin at loop times ``t0 + k * poll`` (absolute deadlines;
ticks missed while the loop was busy are skipped, not run in a burst). ``poll`` defaults to
``debounce / 5`` (at least 1 ms; 5 ms when ``debounce`` is 0). All durations below are
measured on this grid, in whole ticks, so they are exact to one ``poll`` period.

Debounce (stability rule): a change counts once the pin has read the new level at every
sample for at least ``debounce`` seconds. Its *edge* is the first sample that showed the new
level; it is *confirmed* at the first sample at least ``debounce`` after the edge, and the
callbacks run then. A sample at the old level in between cancels it, so a glitch or a burst
of contact bounce shorter than ``debounce`` produces nothing, and a bouncy press is one
press. The level read on entering ``async with`` is the starting state: no callback for it.
"""

from __future__ import annotations

import abc
import math
from typing import Any

from ..core.authoring import Grid
from .delay import Callback, Owner, check_callback, check_seconds


class _Debouncer:
    """Debounced level from samples on a tick grid (see the module docstring)."""

    __slots__ = ("since", "state", "ticks")

    def __init__(self, state: bool, ticks: int):
        self.state = state
        self.ticks = ticks
        self.since: int | None = None  # tick of the edge of a change not yet confirmed

    def update(self, raw: bool, k: int) -> int | None:
        """Feed the sample of tick k; returns the edge tick when a change is confirmed."""
        if raw == self.state:
            self.since = None
            return None
        if self.since is None:
            self.since = k
        if k - self.since >= self.ticks:
            edge, self.since = self.since, None
            self.state = raw
            return edge
        return None


MAX_DEBOUNCE = 1.0  # s: a contact that bounces longer is broken; 50 is a value in ms


def _plausible(who: str, name: str, value: Any, *, zero: bool, most: float) -> float:
    """``value`` in seconds, refused in one line unless it is a number in (0, ``most``]
    (or [0, ``most``] with ``zero``)."""
    seconds = check_seconds(who, name, value, zero=zero)
    if seconds > most:
        raise ValueError(
            f"{who}: {name}={value!r} s is implausible (at most {most:g} s); durations are in "
            f"seconds, e.g. {name}={seconds / 1000:g} for {value!r} ms"
        )
    return seconds


def _ticks(seconds: float, period: float) -> int:
    """Whole ticks of ``period`` covering ``seconds`` (float noise tolerated)."""
    return max(0, math.ceil(seconds / period - 1e-9))


class _Watcher(abc.ABC):
    """Samples a pin on a grid and feeds ``_sample``; owns the callbacks."""

    _who = "watcher"

    def __init__(self, pin: Any, debounce: float, poll: float | None):
        who = type(self).__name__
        if not callable(getattr(pin, "value", None)):
            raise TypeError(f"{who}: pin must have a value() method returning bool, got {pin!r}")
        self.pin = pin
        self.debounce = _plausible(who, "debounce", debounce, zero=True, most=MAX_DEBOUNCE)
        if poll is None:
            poll = max(self.debounce / 5, 0.001) if self.debounce > 0 else 0.005
        self.poll = check_seconds(who, "poll", poll, zero=False)
        self._owner = Owner(who)
        self._deb = _Debouncer(False, _ticks(self.debounce, self.poll))
        self._running = False

    async def __aenter__(self) -> Any:
        loop = self._owner.enter()
        try:
            initial = bool(self.pin.value())
        except BaseException:
            await self._owner.exit(None, None)
            raise
        self._deb = _Debouncer(initial, self._deb.ticks)
        self._reset(initial)
        self._running = True
        grid = Grid(self.poll)
        grid.start(loop.time())
        watcher = self._owner.spawn(self._watch(grid), "watcher (sampling the pin)")
        self._owner.stop_hook = watcher.cancel
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self._running = False
        return await self._owner.exit(exc_type, exc)

    async def _watch(self, grid: Grid) -> None:
        value, sample = self.pin.value, self._sample
        while self._owner.error is None:
            k = await grid.next_tick()
            sample(bool(value()), k)

    def _level(self) -> bool:
        return self._deb.state if self._running else bool(self.pin.value())

    @abc.abstractmethod
    def _reset(self, initial: bool) -> None:
        """Start from the pin's level at entry."""

    @abc.abstractmethod
    def _sample(self, raw: bool, k: int) -> None:
        """Take the raw pin level read at tick ``k``."""


class Switch(_Watcher):
    """A debounced on/off contact.

    Args:
        pin: a `Pin` (``value()`` True = closed).
        on_close: called when the switch closes (debounced).
        on_open: called when it opens.
        debounce: seconds the new level must hold before a change counts (>= 0, at most 1).
        poll: sampling period in seconds (default ``debounce / 5``, see the module).

    Callbacks take no argument, are plain functions or coroutine functions, and run once
    per confirmed change, at confirmation (``debounce`` after the edge, to one ``poll``).

    >>> import asyncio
    >>> from daqflow.hw import SimPin, Switch
    >>> async def main():
    ...     pin, seen = SimPin(), []
    ...     async with Switch(pin, on_close=lambda: seen.append("closed"),
    ...                       on_open=lambda: seen.append("opened"), debounce=0.01):
    ...         await pin.play([(0.0, True), (0.001, False), (0.002, True), (0.1, False)])
    ...         await asyncio.sleep(0.1)
    ...     return seen
    >>> asyncio.run(main())
    ['closed', 'opened']
    """

    def __init__(
        self,
        pin: Any,
        on_close: Callback | None = None,
        on_open: Callback | None = None,
        debounce: float = 0.05,
        *,
        poll: float | None = None,
    ):
        self.on_close = check_callback("Switch", "on_close", on_close)
        self.on_open = check_callback("Switch", "on_open", on_open)
        super().__init__(pin, debounce, poll)

    async def __aenter__(self) -> Switch:
        return await super().__aenter__()  # type: ignore[no-any-return]

    def closed(self) -> bool:
        """The debounced level inside ``async with`` (the pin's raw level outside)."""
        return self._level()

    def _reset(self, initial: bool) -> None:
        pass

    def _sample(self, raw: bool, k: int) -> None:
        if self._deb.update(raw, k) is not None:
            if self._deb.state:
                self._owner.call(self.on_close, "on_close")
            else:
                self._owner.call(self.on_open, "on_open")


class Pushbutton(_Watcher):
    """A debounced momentary button that tells presses, releases, double clicks and long presses.

    Modelled on micropython-async's ``Pushbutton``, with every duration in seconds.

    Args:
        pin: a `Pin` (``value()`` True = pressed).
        on_press: every press.
        on_release: every release; with ``suppress=True`` only the release of a single click.
        on_double: a double click.
        on_long: a long press.
        long_press: seconds held that make a press long (> 0, at most 60).
        double_click: seconds from a click's press within which a second press makes a
            double click (> 0, at most 5).
        debounce: seconds a new level must hold before it counts (>= 0, at most 1).
        suppress: ``on_release`` marks a single click: not the release of a long press or of
            either press of a double click (micropython-async's ``suppress=True``).
        poll: sampling period in seconds (default ``debounce / 5``, see the module).

    Durations are refused if they are not numbers in those ranges, or if ``debounce`` is not
    shorter than ``long_press`` and ``double_click``: ``debounce=50`` (a habit from
    milliseconds) is an error, not a 50 s wait.

    Each press begins a *gesture*: a click, a long press or a double click. Times are those
    of debounced edges (the first sample at the new level, see the module docstring);
    callbacks run when the watcher knows, never earlier.

    - ``on_press``: at every debounced press, immediately (physical: a double click has two
      presses). It says nothing about the gesture yet.
    - ``on_release``: at every debounced release, immediately, unless ``suppress``.
    - ``on_long`` (only if given): the press is long once it is still held, with no release
      pending, at a sample ``long_press`` or more after its edge; ``on_long`` runs then,
      while the button is held.
    - ``on_double`` (only if given): a press whose edge is less than ``double_click`` after
      the edge of a click's press makes a double click; ``on_double`` runs at that press's
      confirmation, after its ``on_press``. The second press can be neither long nor the
      first of another double.
    - with ``suppress=True``, ``on_release`` marks a single click: a press released before
      it became long (or any press, when ``on_long`` is None) and not part of a double
      click. Without ``on_double`` it runs at the release. With ``on_double`` it waits for
      the double window to close: it runs at the first sample ``double_click`` or more
      after the click's press edge with no press pending that started inside the window
      (so at the release itself, if the press was held longer than ``double_click``). A
      press that starts after the window is a new gesture. On leaving ``async with``, a
      click still waiting for its window is dropped.
    - a bounce or glitch shorter than ``debounce`` calls nothing. A button already held on
      entering ``async with`` is no gesture: its release calls nothing.
    - within one sample the order is: ``on_release`` (a release, or with ``suppress`` a
      click whose window just closed), ``on_press``, ``on_double``, ``on_long``.

    Sequences (all callbacks given): click ``press, release``; double click ``press,
    release, press, double, release``; long press ``press, long, release``. With
    ``suppress=True``: click ``press, release``; double ``press, press, double``; long
    ``press, long``. Bounce only: nothing.

    >>> import asyncio
    >>> from daqflow.hw import Pushbutton, SimPin
    >>> async def main():
    ...     pin, seen = SimPin(), []
    ...     async with Pushbutton(pin, on_press=lambda: seen.append("press"),
    ...                           on_release=lambda: seen.append("release"),
    ...                           on_long=lambda: seen.append("long"),
    ...                           long_press=0.2, debounce=0.01):
    ...         await pin.play([(0.0, True), (0.3, False)])
    ...         await asyncio.sleep(0.1)
    ...     return seen
    >>> asyncio.run(main())
    ['press', 'long', 'release']
    """

    def __init__(
        self,
        pin: Any,
        on_press: Callback | None = None,
        on_release: Callback | None = None,
        on_double: Callback | None = None,
        on_long: Callback | None = None,
        *,
        long_press: float = 1.0,
        double_click: float = 0.4,
        debounce: float = 0.05,
        suppress: bool = False,
        poll: float | None = None,
    ):
        who = "Pushbutton"
        self.on_press = check_callback(who, "on_press", on_press)
        self.on_release = check_callback(who, "on_release", on_release)
        self.on_double = check_callback(who, "on_double", on_double)
        self.on_long = check_callback(who, "on_long", on_long)
        if not isinstance(suppress, bool):
            raise TypeError(f"{who}: suppress must be True or False, got {suppress!r}")
        self.suppress = suppress
        self.long_press = _plausible(who, "long_press", long_press, zero=False, most=60.0)
        self.double_click = _plausible(who, "double_click", double_click, zero=False, most=5.0)
        super().__init__(pin, debounce, poll)
        for name, value in (("long_press", self.long_press), ("double_click", self.double_click)):
            if self.debounce >= value:
                raise ValueError(
                    f"{who}: debounce ({self.debounce} s) must be shorter than {name} "
                    f"({value} s); durations are in seconds"
                )
        self._long_ticks = max(1, _ticks(self.long_press, self.poll))
        self._double_ticks = max(1, _ticks(self.double_click, self.poll))
        self._gesture: str | None = None  # "held", "long", "double", "ignored" or None
        self._press = 0  # edge tick of the current press
        self._click: int | None = None  # press edge tick of a click waiting for its window

    async def __aenter__(self) -> Pushbutton:
        return await super().__aenter__()  # type: ignore[no-any-return]

    def pressed(self) -> bool:
        """The debounced level inside ``async with`` (the pin's raw level outside)."""
        return self._level()

    def _reset(self, initial: bool) -> None:
        self._gesture = "ignored" if initial else None
        self._click = None

    def _sample(self, raw: bool, k: int) -> None:
        deb = self._deb
        edge = deb.update(raw, k)
        if edge is not None:
            if deb.state:
                self._pressed(edge)
            else:
                self._released()
        pending = deb.since
        if (
            self._gesture == "held"
            and self.on_long is not None
            and deb.state
            and pending is None
            and k - self._press >= self._long_ticks
        ):
            self._gesture = "long"
            self._owner.call(self.on_long, "on_long")
        click = self._click
        if (
            click is not None
            and k - click >= self._double_ticks
            and (pending is None or pending - click >= self._double_ticks)
        ):
            self._click = None
            if self.suppress:
                self._owner.call(self.on_release, "on_release")

    def _pressed(self, edge: int) -> None:
        call = self._owner.call
        double = False
        if self._click is not None:
            if edge - self._click < self._double_ticks:
                double = True
            elif self.suppress:  # the window closed at this very sample: that click ends first
                call(self.on_release, "on_release")
            self._click = None
        call(self.on_press, "on_press")
        if double:
            self._gesture = "double"
            call(self.on_double, "on_double")
        else:
            self._gesture = "held"
            self._press = edge

    def _released(self) -> None:
        gesture, self._gesture = self._gesture, None
        if gesture == "ignored":  # held since entry: no gesture
            return
        if not self.suppress:
            self._owner.call(self.on_release, "on_release")
        if gesture != "held":
            return
        if self.on_double is not None:
            self._click = self._press
        elif self.suppress:
            self._owner.call(self.on_release, "on_release")
