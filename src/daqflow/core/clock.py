"""`Pacer`: drift-free periodic timing on absolute deadlines."""

from __future__ import annotations

import asyncio


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
        delay = deadline - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        return loop.time() - deadline
