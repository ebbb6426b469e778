"""Timing on absolute deadlines: `sleep_until`, `Pacer` (catches up), `Grid` (skips), and
`SampleClock` (a real-time sampler's clock: what it runs past is lost, never delayed)."""

from __future__ import annotations

import asyncio
import math

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
    """Wakes at ``start + k * period`` for k = 1, 2, ... (no drift: lateness does not add up).

    Args:
        period: seconds between ticks (> 0).

    ``await pacer.wait()`` sleeps until the next deadline and returns how late it woke (s);
    when the caller is behind, it returns at once so the caller catches up.
    """

    def __init__(self, period: float):
        if not period > 0:
            raise ValueError(f"period must be > 0 seconds, got {period!r}")
        self.period = period
        self.ticks = 0
        self._start: float | None = None

    def reset(self) -> None:
        """Start counting from now at the next wait."""
        self._start = None
        self.ticks = 0

    @property
    def next_deadline(self) -> float | None:
        """Loop time of the next tick (None before the first wait)."""
        if self._start is None:
            return None
        return self._start + (self.ticks + 1) * self.period

    async def wait(self) -> float:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        self.ticks += 1
        deadline = self._start + self.ticks * self.period
        await sleep_until(deadline)
        return loop.time() - deadline


class Grid:
    """Ticks on ``start + k * period`` (loop time). A late wake-up moves to the latest tick
    already due, so ticks missed while the loop was busy are skipped, never run in a burst.

    ``start(t0)`` makes tick 0 at loop time ``t0``; ``await next_tick()`` sleeps until the
    next tick's deadline and returns its number k (the caller counts the skipped ones).
    """

    __slots__ = ("k", "period", "t0")

    def __init__(self, period: float):
        self.period = period
        self.t0 = 0.0
        self.k = 0

    def start(self, t0: float) -> None:
        self.t0 = t0
        self.k = 0

    def deadline(self, k: int) -> float:
        return self.t0 + k * self.period

    async def next_tick(self) -> int:
        k = self.k + 1
        await sleep_until(self.t0 + k * self.period)
        latest = int((asyncio.get_running_loop().time() - self.t0) // self.period)
        self.k = max(k, latest)
        return self.k


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
