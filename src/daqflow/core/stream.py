"""`Stream`: a node of the lazy graph, and `BlockSpec`: what the `@block` decorator learned."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Literal

from .chunk import Chunk
from .kinds import Kind, check_kind
from .placement import Process

BlockKind = Literal["source", "transform", "sink", "map"]


@dataclasses.dataclass(frozen=True, eq=False)
class BlockSpec:
    """A decorated function and what it declares.

    ``form`` is how the function is written ("generator", "sink" or "map"); a generator with
    input streams is a transform, one without is a source.
    """

    fn: Callable[..., Any]
    name: str
    form: Literal["generator", "sink", "map"]
    signature: inspect.Signature
    declared_inputs: tuple[str, ...] | None
    accepts: Kind | Mapping[str, Kind]
    produces: Kind | Literal["same"]
    realtime: bool
    buffer: int | None
    policy: str | None
    needs_samples: bool = False  # its inputs must be samples along time, not frames
    makes_frames: bool | None = None  # output: frames (True), samples (False), as its input (None)
    passive: bool = False  # a source fed from outside the graph: a stop does not cancel it

    def accepts_on(self, port: str) -> Kind:
        if isinstance(self.accepts, Mapping):
            return self.accepts.get(port)
        return self.accepts


class Stream:
    """A lazy node: a block, the streams it reads, its parameters and its run options.

    Nothing runs when a Stream is made; pass sinks to `daqflow.run` to run the graph above
    them. A Stream read by several blocks fans out: each reader gets its own FIFO.

    Attributes:
        spec: the block.
        inputs: upstream streams, one per input port.
        ports: the input port (parameter) names, parallel to ``inputs``.
        params: the other arguments, by parameter name.
        label: the name given with ``name=`` (None: the block's own name).
        buffer: FIFO length in items of this block's input FIFOs (None: the default).
        policy: "block" | "drop_oldest" | "drop_newest" for those FIFOs (None: "block").
        threaded: run the block's processing in a dedicated worker thread.
        realtime: a clock-driven source: never waits on a full FIFO, counts what it loses.
        proc: the `Process` it runs in (None: the main process).
        declared: what its items are, declared for this stream by the function that made it
            (a source's dtype: `io.simulated_adc(dtype=...)`, a file's datatype); None: the
            block's own ``produces``.
    """

    __slots__ = (
        "__weakref__",
        "buffer",
        "declared",
        "inputs",
        "label",
        "params",
        "policy",
        "ports",
        "proc",
        "realtime",
        "spec",
        "threaded",
    )

    def __init__(
        self,
        spec: BlockSpec,
        inputs: tuple[Stream, ...],
        ports: tuple[str, ...],
        params: dict[str, Any],
        *,
        label: str | None = None,
        buffer: int | None = None,
        policy: str | None = None,
        threaded: bool = False,
        realtime: bool = False,
        proc: Process | None = None,
    ):
        self.spec = spec
        self.inputs = inputs
        self.ports = ports
        self.params = params
        self.label = label
        self.buffer = buffer
        self.policy = policy
        self.threaded = threaded
        self.realtime = realtime
        self.proc = proc
        self.declared: Kind = None

    @property
    def kind(self) -> BlockKind:
        """"source", "transform", "sink" or "map"."""
        form = self.spec.form
        if form == "generator":
            return "transform" if self.inputs else "source"
        return form

    @property
    def name(self) -> str:
        """The name given with ``name=``, else the block's name (made unique per graph at run)."""
        return self.label or self.spec.name

    @property
    def produces(self) -> Kind:
        """What this stream's items are, as far as declared (None: unknown)."""
        if self.declared is not None:
            return self.declared
        produced = self.spec.produces
        if produced == "same":
            return self.inputs[0].produces if self.inputs else None
        return produced

    @property
    def frames(self) -> bool:
        """Its items are frames (one spectrum or image per row), not samples along time."""
        spec = self.spec
        if spec.makes_frames is not None:
            return spec.makes_frames
        produced = self.produces
        if isinstance(produced, type) and not issubclass(produced, Chunk):
            return False  # (items that are not Chunks carry no frames)
        return not spec.needs_samples and bool(self.inputs) and self.inputs[0].frames

    def declare(self, kind: Kind) -> Stream:
        """Declare what this stream's items are (checked when it is wired); returns it."""
        self.declared = check_kind(kind, f"stream {self.name!r}")
        return self

    def to_dot(self) -> str:
        """Graphviz DOT text of the graph that ends at this stream."""
        from .graph import build_graph

        return build_graph((self,), require_sinks=False).to_dot()

    def __repr__(self) -> str:
        ins = ", ".join(f"{p}={s.name}" for p, s in zip(self.ports, self.inputs, strict=True))
        return f"<Stream {self.name} ({self.kind}{': ' + ins if ins else ''})>"
