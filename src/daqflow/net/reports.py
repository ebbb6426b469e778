"""Reports between processes: to JSON and buffers (no pickle), and merged into one."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..core.report import BlockReport, EdgeReport, Report
from .codec import pack_value, unpack_value
from .plan import MAIN, Plan

SEND, RECEIVE = "send:", "receive:"  # names of the blocks that end links


def pack_report(report: Report, *, results: bool = True) -> tuple[dict[str, Any], list[Any]]:
    """``report`` as a JSON tree and the buffers of its sinks' results."""
    tree, buffers = pack_value(dict(report.results)) if results else (None, [])
    return {
        "blocks": [dataclasses.asdict(b) for b in report.blocks.values()],
        "edges": [dataclasses.asdict(e) for e in report.edges],
        "results": tree,
        "duration": report.duration,
        "stopped_by": report.stopped_by,
        "error": report.error,
        "drain_cut": report.drain_cut,
        "cut_short": list(report.cut_short),
        "stuck": list(report.stuck),
    }, buffers


def unpack_report(tree: dict[str, Any], buffers: list[Any]) -> Report:
    blocks = [BlockReport(**b) for b in tree["blocks"]]
    return Report(
        blocks={b.name: b for b in blocks},
        edges=tuple(EdgeReport(**e) for e in tree["edges"]),
        results=unpack_value(tree["results"], buffers) if tree.get("results") else {},
        duration=tree["duration"],
        stopped_by=tree["stopped_by"],
        error=tree.get("error"),
        drain_cut=tree.get("drain_cut"),
        cut_short=tuple(tree.get("cut_short", ())),
        stuck=tuple(tree.get("stuck", ())),
    )


def _is_link_block(name: str) -> bool:
    return name.startswith((SEND, RECEIVE))


def merge_reports(plan: Plan, parts: dict[str, Report], *, stopped_by: str, error: str | None) -> Report:
    """One report for the whole graph: blocks in running order with their process, edges
    within processes as they are, each link as one edge adding up both ends' FIFOs."""
    blocks: dict[str, BlockReport] = {}
    found: dict[str, tuple[str, BlockReport]] = {}
    for part, report in parts.items():
        for name, b in report.blocks.items():
            if not _is_link_block(name):
                found[name] = (part, b)
    for name, node in plan.streams.items():
        part = node.proc.name if node.proc is not None else MAIN
        if name in found:
            b = found[name][1]
        else:  # its process reported nothing (it died)
            b = BlockReport(name, node.kind, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0,
                            error=f"process {part!r} sent no report")
        blocks[name] = dataclasses.replace(b, process=None if part == MAIN else part)
    edges: list[EdgeReport] = []
    by_ends: dict[tuple[str, str], EdgeReport] = {}
    for report in parts.values():
        for e in report.edges:
            if _is_link_block(e.producer) or _is_link_block(e.consumer):
                by_ends[(e.producer, e.consumer)] = e
            else:
                edges.append(e)
    for link in plan.links:
        out = by_ends.get((link.producer, SEND + link.id))
        into = by_ends.get((RECEIVE + link.id, link.consumer))
        ends = [e for e in (out, into) if e is not None]
        edges.append(EdgeReport(
            producer=link.producer,
            consumer=link.consumer,
            port=link.port,
            capacity=link.capacity,
            policy=link.policy,
            items=into.items if into is not None else 0,
            dropped_items=sum(e.dropped_items for e in ends),
            dropped_samples=sum(e.dropped_samples for e in ends),
            discarded=sum(e.discarded for e in ends),
            discarded_samples=sum(e.discarded_samples for e in ends),
            high_water=max((e.high_water for e in ends), default=0),
            blocked=out.blocked if out is not None else 0.0,
            realtime=out.realtime if out is not None else False,
            inline=False,
            size=sum(e.size for e in ends),
            transport=link.transport,
        ))
    order = {name: i for i, name in enumerate(plan.streams)}
    edges.sort(key=lambda e: (order.get(e.consumer, 0), order.get(e.producer, 0)))
    results: dict[str, Any] = {}
    for report in parts.values():
        for name, value in report.results.items():
            if not _is_link_block(name):
                results[name] = value
    results = {name: results[name] for name in plan.streams if name in results}
    return Report(
        blocks=blocks,
        edges=tuple(edges),
        results=results,
        duration=max((r.duration for r in parts.values()), default=0.0),
        stopped_by=stopped_by,
        error=error,
        drain_cut=next((r.drain_cut for r in parts.values() if r.drain_cut), None),
        cut_short=tuple(n for r in parts.values() for n in r.cut_short if not _is_link_block(n)),
        stuck=tuple(n for r in parts.values() for n in r.stuck if not _is_link_block(n)),
    )
