"""Splitting a graph at process boundaries, and describing each part by import path.

A partition's description names every block by the module and qualified name of its
function, so a child process (or a Dask worker) imports the blocks itself; only parameters
travel by value, to the processes this run spawns. A block that cannot be imported there (one
defined in a notebook's ``__main__`` or inside a function) is refused before anything starts.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import pickle
import sys
from typing import Any

from ..core.decorator import BlockFactory
from ..core.errors import GraphError
from ..core.graph import DEFAULT_BUFFER, Graph
from ..core.placement import Process
from ..core.stream import BlockSpec, Stream

MAIN = "main"  # the partition of blocks with no proc=


@dataclasses.dataclass(frozen=True)
class Link:
    """An edge between two partitions: the producer's side binds, the consumer's connects."""

    id: str
    producer: str  # block names
    consumer: str
    port: str
    producer_part: str
    consumer_part: str
    capacity: int  # items in flight, and the FIFO length on each side
    policy: str
    transport: str  # "shm" | "zmq" | "http"


@dataclasses.dataclass(frozen=True)
class NodeDesc:
    """One block of a partition, by import path."""

    name: str
    module: str
    qualname: str
    spec: dict[str, Any]  # the BlockSpec's declarations (name, form, realtime, ...)
    params: dict[str, Any]
    inputs: tuple[tuple[str, str], ...]  # (port, producer name or link id)
    buffer: int | None
    policy: str | None
    threaded: bool
    realtime: bool


@dataclasses.dataclass(frozen=True)
class PartitionDesc:
    """What one process runs: its blocks in running order and its links."""

    name: str
    process: Process | None
    nodes: tuple[NodeDesc, ...]
    inbound: tuple[Link, ...]
    outbound: tuple[Link, ...]


@dataclasses.dataclass
class Plan:
    parts: dict[str, PartitionDesc]
    links: list[Link]
    streams: dict[str, Stream]  # every block by name (the main partition runs these)


def _part(node: Stream) -> str:
    return node.proc.name if node.proc is not None else MAIN


def import_path(spec: BlockSpec) -> tuple[str, str]:
    """(module, qualname) of a block's function, checked to import back to it here."""
    fn = spec.fn
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    hint = "define it at the top level of a module (a .py file) and import it from there"
    if not module or "<locals>" in qualname or "<lambda>" in qualname:
        raise GraphError(
            f"block {spec.name!r} runs in another process, which imports blocks by name, but "
            f"{qualname or fn!r} is defined inside a function: {hint}"
        )
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if module == "__main__" and not (main_file and os.path.isfile(main_file)):
        raise GraphError(
            f"block {spec.name!r} runs in another process, which imports blocks by name, but it "
            f"is defined in the __main__ of an interactive session or notebook: {hint}"
        )
    if resolve(module, qualname) is not fn:
        raise GraphError(
            f"block {spec.name!r}: {module}.{qualname} does not import back to the block's "
            f"function (is it shadowed or redefined?): {hint}"
        )
    return module, qualname


def resolve(module: str, qualname: str) -> Any:
    """The function a block's import path names (a BlockFactory gives its function)."""
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if isinstance(obj, BlockFactory):
        obj = obj.spec.fn
    return obj


_SPEC_FIELDS = ("name", "form", "declared_inputs", "accepts", "produces", "realtime", "buffer", "policy",
                "per_run")


def spec_from(desc: NodeDesc) -> BlockSpec:
    """Rebuild a block's spec from its description (imports its module)."""
    fn = resolve(desc.module, desc.qualname)
    return BlockSpec(fn=fn, signature=inspect.signature(fn), **desc.spec)


def make_plan(
    graph: Graph, *, transport: str | None, default: str = "shm"
) -> Plan:
    """Split ``graph`` by ``proc=``; check every block of a child partition can be imported
    there and its parameters can be sent (raises GraphError naming the block otherwise)."""
    names = graph.names
    links: list[Link] = []
    for edge in graph.edges:
        if not edge.crosses:
            continue
        prod, cons = edge.producer, edge.consumer
        chosen = (cons.proc and cons.proc.transport) or (prod.proc and prod.proc.transport)
        links.append(Link(
            id=f"L{len(links)}",
            producer=names[prod],
            consumer=names[cons],
            port=edge.port,
            producer_part=_part(prod),
            consumer_part=_part(cons),
            capacity=edge.capacity or DEFAULT_BUFFER,
            policy=edge.policy,
            transport=chosen or transport or default,
        ))
    processes: dict[str, Process | None] = {MAIN: None}
    for node in graph.nodes:
        if node.proc is None:
            continue
        other = processes.setdefault(node.proc.name, node.proc)
        if other != node.proc:
            raise GraphError(
                f"two different processes are named {node.proc.name!r}: {other!r} and {node.proc!r}"
            )
    link_of = {(lk.producer, lk.consumer, lk.port): lk for lk in links}
    parts: dict[str, PartitionDesc] = {}
    for part, process in processes.items():
        nodes = []
        for node in graph.nodes:
            if _part(node) != part:
                continue
            inputs = []
            for port, upstream in zip(node.ports, node.inputs, strict=True):
                link = link_of.get((names[upstream], names[node], port))
                inputs.append((port, link.id if link else names[upstream]))
            nodes.append(_describe(node, names[node], tuple(inputs), part, remote=part != MAIN))
        parts[part] = PartitionDesc(
            name=part,
            process=process,
            nodes=tuple(nodes),
            inbound=tuple(lk for lk in links if lk.consumer_part == part),
            outbound=tuple(lk for lk in links if lk.producer_part == part),
        )
    return Plan(parts=parts, links=links, streams={names[n]: n for n in graph.nodes})


def _describe(
    node: Stream, name: str, inputs: tuple[tuple[str, str], ...], part: str, remote: bool
) -> NodeDesc:
    spec = node.spec
    module, qualname = import_path(spec) if remote else ("", "")
    if remote:
        for key, value in node.params.items():
            try:
                pickle.dumps(value)
            except Exception as exc:
                raise GraphError(
                    f"block {name!r} runs in process {part!r} but its parameter {key!r} cannot "
                    f"be sent there ({type(exc).__name__}: {exc}); pass plain values (numbers, "
                    "strings, arrays) and open devices inside the block"
                ) from None
    return NodeDesc(
        name=name,
        module=module,
        qualname=qualname,
        spec={f: getattr(spec, f) for f in _SPEC_FIELDS},
        params=dict(node.params),
        inputs=inputs,
        buffer=node.buffer,
        policy=node.policy,
        threaded=node.threaded,
        realtime=node.realtime,
    )


def build_streams(
    desc: PartitionDesc, receivers: dict[str, Stream], specs: dict[str, BlockSpec] | None = None
) -> dict[str, Stream]:
    """The partition's Streams (by block name), fed by ``receivers`` (by link id). ``specs``
    gives blocks' specs directly (the main partition); others are imported."""
    built: dict[str, Stream] = {}
    for nd in desc.nodes:
        spec = specs[nd.name] if specs is not None else spec_from(nd)
        inputs = tuple(receivers[src] if src in receivers else built[src] for _, src in nd.inputs)
        built[nd.name] = Stream(
            spec,
            inputs,
            tuple(port for port, _ in nd.inputs),
            dict(nd.params),
            label=nd.name,
            buffer=nd.buffer,
            policy=nd.policy,
            threaded=nd.threaded,
            realtime=nd.realtime,
        )
    return built
