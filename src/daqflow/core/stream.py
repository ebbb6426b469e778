"""The lazy graph: `Stream` (a node), `BlockSpec` (what the `@block` decorator learned), and
`build_graph`: from sinks to a validated `Graph` (nodes in running order, unique names,
edges, DOT text). `daqflow.core.graph` is its face for the graph half."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from .chunk import Chunk
from .errors import GraphError
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
    per_run: bool = False  # a map whose fn makes its per-item function at each run's start

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
        return build_graph((self,), require_sinks=False).to_dot()

    def __repr__(self) -> str:
        ins = ", ".join(f"{p}={s.name}" for p, s in zip(self.ports, self.inputs, strict=True))
        return f"<Stream {self.name} ({self.kind}{': ' + ins if ins else ''})>"


DEFAULT_BUFFER = 8  # items per FIFO when a block does not say


@dataclasses.dataclass(frozen=True, eq=False)
class Edge:
    """One connection: ``producer`` feeds input port ``port`` of ``consumer``."""

    producer: Stream
    consumer: Stream
    port: str

    @property
    def fused(self) -> bool:
        """A map with no FIFO options runs inline in its producer's task: no FIFO, no hop."""
        return is_fused(self.consumer)

    @property
    def crosses(self) -> bool:
        """Producer and consumer run in different processes."""
        return self.producer.proc != self.consumer.proc

    @property
    def capacity(self) -> int:
        return self.consumer.buffer or DEFAULT_BUFFER

    @property
    def policy(self) -> str:
        return self.consumer.policy or "block"


def is_fused(node: Stream) -> bool:
    return (
        node.kind == "map"
        and not node.threaded
        and node.buffer is None
        and node.policy is None
        and node.proc == node.inputs[0].proc
    )


class Graph:
    """Validated graph: ``nodes`` sources first, ``names`` unique per node, ``edges``."""

    def __init__(self, nodes: list[Stream], sinks: tuple[Stream, ...]):
        self.nodes = nodes
        self.sinks = sinks
        self.names = _unique_names(nodes)
        self.edges = [
            Edge(producer, node, port)
            for node in nodes
            for port, producer in zip(node.ports, node.inputs, strict=True)
        ]
        self.out_edges: dict[Stream, list[Edge]] = {node: [] for node in nodes}
        for edge in self.edges:
            self.out_edges[edge.producer].append(edge)

    def to_dot(self) -> str:
        """Graphviz DOT text: a node per block, edges labelled with policy and FIFO length."""
        shapes = {"source": "invhouse", "sink": "house", "map": "ellipse", "transform": "box"}
        lines = ["digraph daqflow {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
        groups: dict[str | None, list[Stream]] = {}
        for node in self.nodes:
            groups.setdefault(node.proc.name if node.proc else None, []).append(node)
        for proc, members in groups.items():
            indent = "  "
            if proc is not None:
                lines.append(f'  subgraph "cluster_{_esc(proc)}" {{')
                lines.append(f'    label="process {_esc(proc)}"; style=dashed;')
                indent = "    "
            for node in members:
                name = self.names[node]
                extra = [node.kind]
                if node.realtime:
                    extra.append("realtime")
                if node.threaded:
                    extra.append("threaded")
                label = f"{name}\\n({', '.join(extra)})"
                lines.append(
                    f'{indent}"{_esc(name)}" [label="{_esc(label)}", shape={shapes[node.kind]}];'
                )
            if proc is not None:
                lines.append("  }")
        for edge in self.edges:
            label = "inline" if edge.fused else f"{edge.policy}, {edge.capacity}"
            if edge.crosses:
                label = f"{edge.policy}, {edge.capacity}, between processes"
            if len(edge.consumer.inputs) > 1:
                label = f"{edge.port}: {label}"
            lines.append(
                f'  "{_esc(self.names[edge.producer])}" -> "{_esc(self.names[edge.consumer])}"'
                f' [label="{_esc(label)}"];'
            )
        lines.append("}")
        return "\n".join(lines) + "\n"


def _esc(text: str) -> str:
    return text.replace('"', '\\"')


def build_graph(sinks: Iterable[object], *, require_sinks: bool = True) -> Graph:
    """Walk upstream from ``sinks``, check the wiring, and order the nodes.

    Raises:
        GraphError: a non-stream argument, a stream that is not a sink (nobody would consume
            it), a cycle, or two blocks given the same ``name=``.
    """
    sinks = tuple(sinks)
    if not sinks:
        raise GraphError("nothing to run: pass at least one sink stream (e.g. df.collect(s))")
    for sink in sinks:
        if not isinstance(sink, Stream):
            raise GraphError(f"run() takes sink streams, got {type(sink).__name__}: {sink!r}")
        if require_sinks and sink.kind != "sink":
            raise GraphError(
                f"stream {sink.name!r} ({sink.kind}) is not a sink and nothing consumes it: "
                f"pass it to a sink, e.g. df.collect({sink.name}) or df.null_sink({sink.name})"
            )
    order: list[Stream] = []
    state: dict[Stream, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: Stream, path: list[Stream]) -> None:
        mark = state.get(node)
        if mark == 2:
            return
        if mark == 1:
            loop = [*path[path.index(node):], node]
            raise GraphError("cycle in the graph: " + " -> ".join(s.name for s in reversed(loop)))
        state[node] = 1
        path.append(node)
        for upstream in node.inputs:
            if upstream.kind == "sink":
                raise GraphError(
                    f"{upstream.name!r} -> {node.name!r}: {upstream.name!r} is a sink, it has "
                    "no output stream to read"
                )
            visit(upstream, path)
        path.pop()
        state[node] = 2
        order.append(node)

    for sink in dict.fromkeys(sinks):
        visit(sink, [])
    labels: dict[str, Stream] = {}
    for node in order:
        if node.label is None:
            continue
        other = labels.setdefault(node.label, node)
        if other is not node:
            raise GraphError(f"two blocks are named {node.label!r}: {other!r} and {node!r}")
    return Graph(order, tuple(dict.fromkeys(sinks)))


def _unique_names(nodes: list[Stream]) -> dict[Stream, str]:
    taken = {node.label for node in nodes if node.label is not None}
    names: dict[Stream, str] = {}
    counts: dict[str, int] = {}
    for node in nodes:
        if node.label is not None:
            names[node] = node.label
            continue
        base = node.spec.name
        n = counts.get(base, 0)
        name = base if n == 0 and base not in taken else f"{base}_{n + 1}"
        while name in taken:
            n += 1
            name = f"{base}_{n + 1}"
        counts[base] = n + 1
        taken.add(name)
        names[node] = name
    return names
