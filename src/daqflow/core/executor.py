"""The executor seam: what runs a graph, and who watches a run.

An `Executor` runs one graph once: `run` (to the end or for ``duration`` seconds, returning
the `Report`), `request_stop` (orderly, with a reason), `abort` (cancel every block now),
`report` (a live snapshot) and `state` (one `Lifecycle`). The in-process `Runtime` is one;
`daqflow.net` registers another that spreads a graph over processes (`register_executor`):
core never imports it. `make_executor` picks the one a graph needs.

A `RunObserver` watches a run: `started`, `tick` (every ``interval`` seconds, with a fresh
report), `block_failed` (the first failure, before the drain), `ended`. The progress table,
the GUI's status line and a partition's error relay are observers (`daqflow.core.driver`
ticks them).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .graph import Graph
    from .report import Report

DRAIN_TIMEOUT = 10.0  # seconds allowed for FIFOs to drain after a stop


class Lifecycle(enum.Enum):
    """Where a run is: not started, running, stopping (FIFOs drain), stopped."""

    IDLE = "idle"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class RunObserver:
    """Watches one run; override what you need (each method here does nothing).

    Attributes:
        interval: seconds between `tick` calls (None: no ticks).
    """

    interval: float | None = None

    def started(self, executor: Executor) -> None:
        """The run has begun (its blocks are about to start)."""

    def tick(self, report: Report) -> None:
        """A snapshot, every ``interval`` seconds while the run is live."""

    def block_failed(self, block: str, error: BaseException) -> None:
        """The first block that failed, at once (the graph then stops in order)."""

    def ended(self, report: Report) -> None:
        """The final report (also when a block failed: ``report.error`` says which)."""


class Executor(Protocol):
    """Runs one graph once (see the module docstring)."""

    graph: Graph
    observers: list[RunObserver]
    stopped_by: str

    @property
    def state(self) -> Lifecycle: ...

    async def run(self, duration: float | None = None) -> Report: ...

    def request_stop(self, reason: str = "stop") -> None: ...

    def abort(self) -> None: ...

    def report(self) -> Report: ...


#: ``(graph, cluster=, transport=, drain_timeout=) -> Executor`` for graphs with blocks in
#: other processes; registered by `daqflow.net`
_partitioned: Callable[..., Executor] | None = None


def register_executor(factory: Callable[..., Executor]) -> None:
    """Register the executor of graphs split over processes (``proc=``, ``cluster=``)."""
    global _partitioned
    _partitioned = factory


def partitioned_executor() -> Callable[..., Executor]:
    """The registered executor of graphs split over processes."""
    if _partitioned is None:
        raise ImportError("running blocks in other processes needs daqflow.net: "
                          "pip install 'daqflow[net]'")
    return _partitioned
