"""Virtual time (``df.run(..., clock="virtual")``): an event loop whose clock jumps to the
next timer as soon as the graph has nothing left to do now.

Everything that waits on the loop's clock (`SampleClock`, `Pacer`, `Grid`, ``asyncio.sleep``,
timeouts, ``duration=``) then runs as fast as the CPU allows, and computing takes no time:
a run gives the same data, indices, times and overflow decisions every time, those of a
wall-clock run on an infinitely fast machine. The loop's clock starts at 0.0 s.

Work handed to a thread that comes back to the loop (``loop.run_in_executor``,
``asyncio.to_thread``, ``threaded=True`` maps) holds the clock until it is back: time does
not move on while a thread still computes. ``threaded=True`` sources and sinks run on the
graph's loop instead (a thread of their own would have a wall-clock loop). Only if held
work has not come back after `STALL` seconds of real time does the clock go on without it
(one warning: the run is then no longer deterministic). Other I/O (sockets, device threads)
is not waited for: it is taken when it comes, at whatever virtual time it finds.
"""

from __future__ import annotations

import asyncio
import logging
import selectors
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

CLOCKS = ("wall", "virtual")
STALL = 10.0  # real seconds held thread work may take before virtual time goes on without it

_T = TypeVar("_T")
log = logging.getLogger("daqflow.virtual_time")


def check_clock(clock: object, where: str = "run") -> str:
    """``clock`` if it is one of `CLOCKS`, else a one-line ValueError naming ``where``."""
    if clock not in CLOCKS:
        raise ValueError(f"{where}: clock must be 'wall' or 'virtual', got {clock!r}")
    return clock  # type: ignore[return-value]


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop on a simulated clock (seconds, from ``start``).

    When nothing is ready to run, no I/O is ready and no thread work is held, the clock
    jumps to the next timer instead of sleeping; with no timer at all it waits in real time
    for I/O or a thread's call (a device, a signal).

    Args:
        start: loop time at creation (s).
        stall: real seconds held thread work may take before the clock goes on without it.
    """

    def __init__(self, start: float = 0.0, stall: float = STALL):
        super().__init__()
        self._now = float(start)
        self._stall = float(stall)
        self._held = 0  # thread work in flight that will come back to the loop
        self._poll = self._selector.select
        self._selector.select = self._select  # type: ignore[method-assign]

    def time(self) -> float:
        return self._now

    def hold(self) -> None:
        """Hold the clock: thread work is in flight (pair with `release`)."""
        self._held += 1

    def release(self, *_: object) -> None:
        """The held work is back on the loop (usable as a done callback)."""
        self._held -= 1

    def run_in_executor(self, executor: Any, func: Callable[..., _T], *args: Any
                        ) -> asyncio.Future[_T]:
        future = super().run_in_executor(executor, func, *args)
        self.hold()
        future.add_done_callback(self.release)
        return future

    def _select(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        """asyncio asks to wait ``timeout`` s (None: no timer) when nothing is ready to run."""
        ready = self._poll(0)
        if ready or timeout == 0:
            return ready
        if self._held:  # a thread will hand work back: wait for it, time stands still
            ready = self._poll(self._stall)
            if ready:
                return ready
            log.warning("virtual time: thread work has not come back to the loop after %g s "
                        "of real time; the clock goes on without waiting for threads (this "
                        "run is no longer deterministic)", self._stall)
            self._stall = 0.0
        if timeout is None:
            return self._poll(None)
        self._now += timeout  # to the next timer (asyncio caps the wait at a day)
        return []


def is_virtual(loop: asyncio.AbstractEventLoop | None) -> bool:
    """Whether ``loop`` keeps virtual time."""
    return isinstance(loop, VirtualTimeLoop)


async def held(awaitable: Awaitable[_T]) -> _T:
    """Await ``awaitable`` (thread work coming back to this loop) holding a virtual clock."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualTimeLoop):
        return await awaitable
    loop.hold()
    try:
        return await awaitable
    finally:
        loop.release()


async def real_sleep(seconds: float) -> None:
    """Sleep ``seconds`` of real time on any loop; on a `VirtualTimeLoop` the clock is not
    held meanwhile (a thread's timer wakes the loop), so the graph runs on at its own pace."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualTimeLoop):
        await asyncio.sleep(seconds)
        return
    woken = loop.create_future()

    def wake() -> None:
        if not woken.done():
            woken.set_result(None)

    timer = threading.Timer(max(0.0, seconds), loop.call_soon_threadsafe, (wake,))
    timer.daemon = True
    timer.start()
    try:
        await woken
    finally:
        timer.cancel()


def loop_factory(clock: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The ``asyncio.Runner`` loop factory for ``clock`` (None: asyncio's default loop)."""
    return VirtualTimeLoop if check_clock(clock) == "virtual" else None


__all__ = ["CLOCKS", "STALL", "VirtualTimeLoop", "check_clock", "held", "is_virtual",
           "loop_factory", "real_sleep"]
