"""From sinks to a validated graph: nodes in running order, unique names, edges, DOT text."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from .errors import GraphError
from .stream import Stream

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
