"""Timing on absolute deadlines of loop time: `sleep_until`; `Pacer`, the one pacing rule
(`dsp.throttle`, file replay, plot sinks, gui views, `web_view`); `Grid` and `ticks`, a
pacer whose missed ticks are skipped (pollers); `SampleClock`, a real-time sampler's clock
(what it runs past is lost, never delayed).

A pacer's arithmetic reads no clock: the caller passes ``now`` (``loop.time()``), so a graph
on a virtual clock paces in virtual time and the rule is tested without a loop; ``await
pacer.wait()`` is that arithmetic plus one `sleep_until`.

>>> p = Pacer.per_second(4.0, catch_up=False)  # a display: 4 frames a second at most
>>> p.ready(0.0), p.went(0.0), p.ready(0.125), p.delay(0.125), p.went(1.0)
(True, 0.25, False, 0.125, 1.25)
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import AsyncIterator

from .block_state import running_block


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def sleep_until(deadline: float) -> None:
    """Sleep until loop time ``deadline`` (at once if it has passed)."""
    loop = asyncio.get_running_loop()
    if deadline <= loop.time():
        return
    future = loop.create_future()
    handle = loop.call_at(deadline, _wake, future)
    try:
        await future
    finally:
        handle.cancel()


class Pacer:
    """Deadlines on a grid of loop time: after k items (or samples) the next may go at
    ``t0 + k * period``, t0 being when the first went.

    Args:
        period: seconds per item (per sample when `went` and `wait` count samples); 0: no
            limit. Settable between items (a gui view sets it from what its frames cost).
        catch_up: what a late item does. True: the grid stays, so the long-run rate is exact
            and there is no drift (items that came late go back to back until they are on
            time again: replay, throttle). False, for displays: the grid moves to when the
            late item went, so a late item never makes the next ones come sooner.

    ``await pacer.wait()`` counts an item as going now and sleeps until the deadline it
    takes (the first wait sleeps one period); it returns how late it woke, in seconds.
    """

    def __init__(self, period: float, *, catch_up: bool = True):
        self.catch_up = bool(catch_up)
        self._period = _check_period(period)
        self._ticks = 0  # items counted since the first (or the last reset)
        self._base: float | None = None  # loop time of a point on the grid (None: no item yet)
        self._n = 0  # items counted since _base: the next may go at _base + _n * period

    @classmethod
    def per_second(cls, rate: float | None, *, catch_up: bool = True) -> Pacer:
        """A pacer for at most ``rate`` items (or samples) a second; None or inf: no limit."""
        if rate is None or rate == math.inf:
            return cls(0.0, catch_up=catch_up)
        value = float(rate)
        if not value > 0:  # (nan too)
            raise ValueError(f"rate must be > 0 items per second, got {rate!r}")
        return cls(1.0 / value, catch_up=catch_up)

    @property
    def period(self) -> float:
        """Seconds per item (0: no limit). A new period counts from the current deadline."""
        return self._period

    @period.setter
    def period(self, seconds: float) -> None:
        seconds = _check_period(seconds)
        if self._base is not None:
            self._base, self._n = self.due, 0
        self._period = seconds

    @property
    def rate(self) -> float:
        """Items per second at most (inf: no limit)."""
        return 1.0 / self._period if self._period else math.inf

    @property
    def ticks(self) -> int:
        """Items (or samples) counted since the first. Adding to it moves the deadline on."""
        return self._ticks

    @ticks.setter
    def ticks(self, value: int) -> None:
        self._n += value - self._ticks
        self._ticks = value

    @property
    def due(self) -> float:
        """Loop time (s) from which the next item may go (-inf before the first)."""
        if self._base is None:
            return -math.inf
        return self._base + self._n * self._period

    @property
    def next_deadline(self) -> float | None:
        """Loop time of the deadline the next `wait` takes (None before the first)."""
        if self._base is None:
            return None
        return self.due + self._period

    def deadline(self, k: int) -> float:
        """Loop time of tick ``k`` (after k items) on the current grid (after the first item)."""
        if self._base is None:
            raise RuntimeError("Pacer.deadline: no item has gone yet")
        return self._base + (self._n + k - self._ticks) * self._period

    def ready(self, now: float) -> bool:
        """Whether an item may go at loop time ``now``."""
        return now >= self.due

    def delay(self, now: float) -> float:
        """Seconds from loop time ``now`` until an item may go (0: at once)."""
        return max(0.0, self.due - now)

    def went(self, now: float, count: int = 1) -> float:
        """``count`` items (or samples) went at loop time ``now``; returns the new `due`."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count!r}")
        if self._base is None:
            self._base = now  # the first item starts the grid
        elif not self.catch_up and now > self.due:
            self._base, self._n = now, 0  # a late item moves the grid: no burst after it
        self._n += count
        self._ticks += count
        return self.due

    async def wait(self, count: int = 1) -> float:
        """Count ``count`` items (or samples) as going now and sleep until their deadline;
        returns how late it woke (s). A caller that is behind returns at once (catch_up)."""
        loop = asyncio.get_running_loop()
        deadline = self.went(loop.time(), count)
        await sleep_until(deadline)
        return loop.time() - deadline

    def reset(self) -> None:
        """Forget the past: the next item goes at once and starts a new grid."""
        self._base = None
        self._ticks = self._n = 0

    def __repr__(self) -> str:
        mode = "catch_up" if self.catch_up else "display"
        return f"<Pacer {self.rate:g}/s {mode} ticks={self._ticks} due={self.due:g}>"


def _check_period(seconds: float) -> float:
    value = float(seconds)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"period must be a finite number of seconds >= 0, got {seconds!r}")
    return value


class Grid(Pacer):
    """A `Pacer` for pollers: tick k at ``t0 + k * period``; a late wake-up moves to the
    latest tick already due, so ticks missed while the loop was busy are skipped, never run
    in a burst (and the grid keeps its phase).

    ``start(t0)`` makes tick 0 at loop time ``t0``; ``await next_tick()`` sleeps until the
    next tick's deadline and returns its number k (the caller counts the skipped ones).

    Args:
        period: seconds between ticks (> 0).
    """

    def __init__(self, period: float):
        if not period > 0:
            raise ValueError(f"period must be > 0 seconds, got {period!r}")
        super().__init__(period)

    def start(self, t0: float) -> None:
        """Make tick 0 at loop time ``t0``."""
        self.reset()
        self._base = t0

    @property
    def k(self) -> int:
        """The number of the last tick."""
        return self.ticks

    async def next_tick(self) -> int:
        """Sleep until the next tick; returns its number, or the latest one already due."""
        await self.wait()
        latest = math.floor((asyncio.get_running_loop().time() - self.deadline(0)) / self.period)
        if latest > self.ticks:
            self.ticks = latest  # skip the missed ones
        return self.ticks


@dataclasses.dataclass(frozen=True, slots=True)
class Tick:
    """One deadline of a poller (see `ticks`).

    Attributes:
        k: its number: the deadline is ``k * interval`` seconds after the first (k = 0).
        missed: deadlines skipped just before it because the previous step or the event loop
            ran late (0 when on time): the next step is taken at once for the latest deadline
            already due, never in a burst.
        late: seconds between its deadline and now (when it is handed out).
    """

    k: int
    missed: int
    late: float

    def time(self, interval: float) -> float:
        """Its deadline in seconds since the first: ``k * interval``."""
        return self.k * interval


async def ticks(interval: float) -> AsyncIterator[Tick]:
    """The pollers' clock (`hw.poll`, `instruments.visa_poll`): deadlines every ``interval``
    seconds (> 0) of loop time on a `Grid`, the first at once.

    The caller's work between two ticks delays only the next one: a late tick moves to the
    latest deadline already due (its ``missed`` counts those skipped), so polling never
    drifts and never catches up in a burst.

    >>> async def first_ticks(n):
    ...     seen = []
    ...     async for tick in ticks(0.001):
    ...         seen.append(tick)
    ...         if len(seen) == n:
    ...             return seen
    >>> seen = asyncio.run(first_ticks(3))
    >>> seen[0].k, all(b.k == a.k + 1 + b.missed for a, b in zip(seen, seen[1:]))
    (0, True)
    """
    if not interval > 0:
        raise ValueError(f"ticks: interval must be > 0 seconds, got {interval!r}")
    loop = asyncio.get_running_loop()
    grid = Grid(interval)
    grid.start(loop.time())
    k = missed = 0
    while True:
        yield Tick(k, missed, max(0.0, loop.time() - grid.deadline(k)))
        following = await grid.next_tick()
        missed, k = following - k - 1, following


BACKLOG = 0.25  # seconds of samples a simulated device buffers before it loses the oldest


class SampleClock:
    """The clock of a real-time sampler at ``rate`` Hz: sample k exists from loop time
    ``t0 + (k + 1) / rate``, t0 being when its block started (in a run; else the first
    `lost_before` call).

    Like a device's buffer it holds at most ``backlog`` seconds (at least two chunks) of
    samples nobody has taken yet. A reader that falls further behind (a block that holds the
    loop, a CPU that cannot keep up) loses the oldest whole chunks: `lost_before` says how
    many samples to skip, so what is delivered never claims a time the clock has left behind
    and the loss is counted (the caller marks it ``meta["overflow"]``).

    An orderly stop of the run (``duration``, ``stop()``, Ctrl-C) takes effect at a loop
    time; the source is not cancelled but ends by itself once `ended` says its next chunk did
    not exist by then, so it delivers everything its clock produced until the stop, however
    far behind the loop was: ``duration=5`` at 1 MHz yields 5 M samples (whole chunks).

    Args:
        rate: samples per second (> 0).
        backlog: seconds of samples held before the oldest are lost (> 0).
    """

    __slots__ = ("backlog", "block", "rate", "t0")

    def __init__(self, rate: float, backlog: float = BACKLOG):
        if not rate > 0:
            raise ValueError(f"rate must be > 0 Hz, got {rate!r}")
        if not backlog > 0:
            raise ValueError(f"backlog must be > 0 seconds, got {backlog!r}")
        self.rate = float(rate)
        self.backlog = float(backlog)
        self.t0: float | None = None
        self.block = None  # the running block whose clock this is (the first caller's)

    def produced(self) -> int:
        """Samples the clock has produced so far (0 before it starts)."""
        if self.t0 is None:
            return 0
        return max(0, math.floor((asyncio.get_running_loop().time() - self.t0) * self.rate))

    def lost_before(self, index: int, chunk: int) -> int:
        """Samples (whole chunks of ``chunk``) lost before the chunk that would start at
        ``index``: 0 while the reader is within the backlog; otherwise enough that the next
        chunk is the newest one not yet complete. Starts the clock on the first call."""
        if self.t0 is None:
            block = self.block = running_block()
            start = asyncio.get_running_loop().time()
            if block is not None:
                block.clocked = True  # the run lets it end itself (see `ended`)
                if block.started_at is not None:  # the device started with its block
                    start = block.started_at
            self.t0 = start - index / self.rate
            return 0
        behind = self.produced() - index
        if behind <= max(self.backlog * self.rate, 2 * chunk):
            return 0
        return (behind // chunk) * chunk

    async def wait_for(self, end: int) -> None:
        """Sleep until the samples before index ``end`` exist."""
        assert self.t0 is not None, "lost_before starts the clock"
        await sleep_until(self.t0 + end / self.rate)

    def ended(self, end: int) -> bool:
        """Whether the run has stopped before the samples before index ``end`` existed: the
        source delivers the chunk ending there only if this is False, else it returns."""
        stop = None if self.block is None else self.block.stop_time
        return stop is not None and self.t0 is not None and self.t0 + end / self.rate > stop + 1e-9

    def existed_at_stop(self, start: int, end: int) -> int:
        """How many of the samples [start, end) existed when the run stopped (all of them
        while it runs): what a source that ends counts as lost of those it skipped."""
        stop = None if self.block is None else self.block.stop_time
        if stop is None or self.t0 is None:
            return max(0, end - start)
        produced = math.floor((stop - self.t0) * self.rate + 1e-9)
        return max(0, min(end, produced) - start)
