"""Dry runs: execute a script that builds and runs a graph, and catch the graph instead.

`daqflow graph FILE.py` uses this: inside ``capturing()``, the first ``run``/``arun``/
``start``/``iterate`` call raises `Captured` with its sinks instead of running anything.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from .stream import Stream

_state = threading.local()


class Captured(BaseException):
    """Raised by run functions during a dry run; ``sinks`` is what they were given."""

    def __init__(self, sinks: tuple[Stream, ...]):
        super().__init__("graph captured")
        self.sinks = sinks


def intercept(sinks: tuple[Stream, ...]) -> None:
    """Raise `Captured` if a dry run is active in this thread."""
    if getattr(_state, "active", False):
        raise Captured(tuple(sinks))


@contextlib.contextmanager
def capturing() -> Iterator[None]:
    """Within this block, run functions raise `Captured` instead of running."""
    previous = getattr(_state, "active", False)
    _state.active = True
    try:
        yield
    finally:
        _state.active = previous
