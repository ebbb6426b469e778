"""What a running graph reports: figures per block and per edge (`RunFigures.report`), what
each block's task waits on (`RunFigures.wait_states`) and the diagnosis built on both.

`Runtime` inherits these; they read its states, channels and tasks and change nothing, so
they are safe to call from another thread while the graph runs.
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import TYPE_CHECKING, Any

from .diagnosis import Diagnosis, Wait, diagnose
from .graph import Edge, is_fused
from .report import BlockReport, EdgeReport, Report

if TYPE_CHECKING:
    from .block_state import _State
    from .channel import Channel
    from .graph import Graph
    from .stream import Stream

WATCH_INTERVAL = 0.2  # seconds between notes of which blocks moved items (`wait_states`)


class RunFigures:
    """The reporting half of `Runtime` (see the module docstring)."""

    graph: Graph
    states: dict[Stream, _State]
    channels: dict[Edge, Channel]
    in_edges: dict[Stream, list[Edge]]
    realtime_host: dict[Stream, bool]
    loop: asyncio.AbstractEventLoop | None
    virtual: bool
    t_start: float
    t_end: float | None
    stopped_by: str
    error: tuple[Stream, BaseException] | None
    drain_cut: str | None
    cut_short: tuple[str, ...]
    stuck: tuple[str, ...]
    _tasks: dict[Stream, asyncio.Task[Any]]
    _moved: dict[Stream, int]
    _moved_at: dict[Stream, float]
    _noted_at: float
    _watch: asyncio.TimerHandle | None

    def _samples_read(self, edge: Edge, channel: Channel) -> int:
        """Samples the consumer took from ``channel``: sent - lost - discarded - queued."""
        sent = self.states[edge.producer].samples_out
        return max(0, sent - channel.dropped_samples - channel.discarded_samples
                   - channel.queued_samples())

    def _inline_children(self, node: Stream) -> list[Stream]:
        """Maps fused into ``node``'s task (their time is inside the host's steps)."""
        out = []
        for edge in self.graph.out_edges[node]:
            if edge.fused:
                out += [edge.consumer, *self._inline_children(edge.consumer)]
        return out

    def _children_busy(self, node: Stream) -> float:
        """Time of the maps fused after ``node`` that its own ``busy`` includes: a task's
        steps include the maps it runs; a fused map's own time is its call alone."""
        if is_fused(node):
            return 0.0
        return sum(self.states[m].busy for m in self._inline_children(node))

    def diagnose(self, stall_after: float = 2.0) -> Diagnosis:
        """The block that limits the graph and why (`daqflow.core.diagnosis`), with what each
        block waits on now; safe to call from another thread."""
        waits = self.live_waits()
        return diagnose(self.report(), waits, stall_after)

    def live_waits(self) -> dict[str, Wait] | None:
        """`wait_states` while the run is live on wall time; None otherwise (in virtual time
        a block's progress is not noted in real seconds, so no stall can be told)."""
        return self.wait_states() if self.t_end is None and not self.virtual else None

    def _note_moves(self) -> None:
        """Note the blocks that moved items since the last note, every `WATCH_INTERVAL` s
        while the loop runs (a loop held by a block notes nothing: that shows as idle)."""
        now = perf_counter()
        for node in self.graph.nodes:
            moved = self._items_moved(node)
            if moved != self._moved.get(node, 0):
                self._moved[node] = moved
                self._moved_at[node] = now
        self._noted_at = now
        if self.loop is not None and self.t_end is None:
            self._watch = self.loop.call_later(WATCH_INTERVAL, self._note_moves)

    def _items_moved(self, node: Stream) -> int:
        """Items ``node`` took from its inputs and delivered so far."""
        state = self.states[node]
        if is_fused(node):
            return state.items_out + self.states[node.inputs[0]].items_out
        return state.items_out + sum(self.channels[e].items_out for e in self.in_edges[node])

    def wait_states(self) -> dict[str, Wait]:
        """What each block's task waits on now, and for how many seconds it has moved no
        item (`daqflow.core.diagnosis.Wait`); safe to call from another thread."""
        now = perf_counter()
        names = self.graph.names
        fifo: dict[Stream, tuple[str, Stream, str]] = {}
        for edge, channel in tuple(self.channels.items()):
            if channel._putter is not None:
                fifo[self._task_of(edge.producer)] = ("put", edge.consumer, edge.port)
            if channel._getter is not None:
                fifo.setdefault(edge.consumer, ("get", edge.producer, edge.port))
        current = None
        if self.loop is not None and self.t_end is None:
            try:
                current = asyncio.current_task(self.loop)
            except RuntimeError:  # the loop has closed in between
                current = None
        waits = {}
        for node in self.graph.nodes:
            if self._items_moved(node) != self._moved.get(node, 0):
                # moved since the last note: at most one interval before the loop stopped
                # noting (a held loop notes nothing)
                idle = max(0.0, now - self._noted_at - WATCH_INTERVAL)
            else:
                idle = max(0.0, now - self._moved_at.get(node, self.t_start))
            task = self._tasks.get(node)
            if is_fused(node):
                wait = Wait("inline", names[self._task_of(node)], idle=idle)
            elif (task is not None and task.done()) or self.states[node].t_end is not None:
                wait = Wait("ended", idle=idle)
            elif node in fifo:
                on, peer, port = fifo[node]
                wait = Wait(on, names[peer], port, idle)
            elif task is not None and task is current:
                wait = Wait("running", idle=idle)
            else:
                wait = Wait("thread" if node.threaded else "other", idle=idle)
            waits[names[node]] = wait
        return waits

    @staticmethod
    def _task_of(node: Stream) -> Stream:
        """The block whose task runs ``node`` (itself, or the host of a fused map)."""
        while is_fused(node):
            node = node.inputs[0]
        return node

    def report(self) -> Report:
        """A snapshot of the figures (final once the run has ended)."""
        now = perf_counter() if self.t_end is None else self.t_end
        names = self.graph.names
        blocks: dict[str, BlockReport] = {}
        for node in self.graph.nodes:
            state = self.states[node]
            inline = is_fused(node)
            if inline:
                host = self.states[node.inputs[0]]
                items_in, samples_in, starved = host.items_out, host.samples_out, 0.0
            else:
                ins = [(e, self.channels[e]) for e in self.in_edges[node]]
                items_in = sum(ch.items_out for _, ch in ins)
                samples_in = sum(self._samples_read(e, ch) for e, ch in ins)
                starved = sum(ch.starved for _, ch in ins)
            blocked = sum(
                self.channels[e].blocked for e in self.graph.out_edges[node] if not e.fused
            )
            end = state.t_end if state.t_end is not None else now
            blocks[names[node]] = BlockReport(
                name=names[node],
                kind=node.kind,
                items_in=items_in,
                items_out=state.items_out,
                samples_in=samples_in,
                samples_out=state.samples_out,
                busy=state.busy + state.worker.busy - self._children_busy(node),
                blocked=blocked,
                starved=starved,
                wall=max(0.0, end - self.t_start),
                threaded=node.threaded,
                inline=inline,
                realtime=node.realtime,
                error=state.error,
                lost=state.lost,
                skipped=state.skipped,
            )
        edges = []
        for edge in self.graph.edges:
            channel = self.channels.get(edge)
            producer_state = self.states[edge.producer]
            edges.append(EdgeReport(
                producer=names[edge.producer],
                consumer=names[edge.consumer],
                port=edge.port,
                capacity=channel.capacity if channel is not None else 0,
                policy=channel.policy if channel is not None else "inline",
                items=channel.items_out if channel is not None else producer_state.items_out,
                dropped_items=channel.dropped_items if channel is not None else 0,
                dropped_samples=channel.dropped_samples if channel is not None else 0,
                discarded=channel.discarded if channel is not None else 0,
                discarded_samples=channel.discarded_samples if channel is not None else 0,
                high_water=channel.high_water if channel is not None else 0,
                blocked=channel.blocked if channel is not None else 0.0,
                realtime=self.realtime_host[edge.producer],
                inline=channel is None,
                size=len(channel) if channel is not None else 0,
            ))
        results = {
            names[node]: self.states[node].result
            for node in self.graph.nodes
            if node.kind == "sink" and self.states[node].has_result
        }
        error = None
        if self.error is not None:
            node, exc = self.error
            error = f"block {names[node]!r} failed: {type(exc).__name__}: {exc}"
        return Report(
            blocks=blocks,
            edges=tuple(edges),
            results=results,
            duration=now - self.t_start,
            stopped_by=self.stopped_by,
            error=error,
            drain_cut=self.drain_cut,
            cut_short=self.cut_short,
            stuck=self.stuck,
        )


