"""`Process`: where a block runs when it should not run in the main process.

``proc=df.Process("dsp")`` on any block places it in a separate OS process (spawned), or on
a Dask worker when the graph runs with ``cluster=``. Edges that cross from one process to
another keep the FIFO's semantics (bounded, ordered, end of stream, errors); see
`daqflow.net.partition`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

TRANSPORTS = ("shm", "zmq", "http")


@dataclasses.dataclass(frozen=True)
class Process:
    """A named partition of the graph.

    Args:
        name: the partition's name (in reports, errors and process titles).
        worker: with ``cluster=``: the Dask worker (name or address) to run on.
        resources: with ``cluster=``: Dask worker resources the partition needs, e.g.
            ``{"GPU": 1}``.
        transport: how edges into this process travel: "shm" (bodies through a shared
            ring, control over ZeroMQ ipc: the default on one machine), "zmq" (ZeroMQ: ipc
            locally, tcp across machines; the default with ``cluster=``) or "http" (the
            `daqflow.net.serve` protocol).

    >>> Process("dsp")
    Process('dsp')
    """

    name: str
    worker: str | None = None
    resources: tuple[tuple[str, float], ...] | Mapping[str, float] | None = None
    transport: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name == "main":
            raise ValueError(f"Process name must be a non-empty string other than 'main', got {self.name!r}")
        if self.transport is not None and self.transport not in TRANSPORTS:
            raise ValueError(
                f"Process {self.name!r}: transport must be one of {TRANSPORTS}, got {self.transport!r}"
            )
        if self.worker is not None and not isinstance(self.worker, str):
            raise ValueError(f"Process {self.name!r}: worker must be a str, got {self.worker!r}")
        if isinstance(self.resources, Mapping):
            object.__setattr__(self, "resources", tuple(sorted(self.resources.items())))

    def __repr__(self) -> str:
        extra = "".join(
            f", {f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)[1:]
            if getattr(self, f.name) is not None
        )
        return f"Process({self.name!r}{extra})"
