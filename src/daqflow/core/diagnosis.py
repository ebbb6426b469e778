"""Stall diagnosis: which block limits a graph, and why, in a few lines of text.

`diagnose` reads a `Report`'s figures (busy, blocked and starved seconds per block, the time
producers waited on each FIFO and what the FIFOs dropped) and, for a live run, what each block
waits on right now (`Wait`, from `Runtime.wait_states`). It tells, in this order:

- ``"stall"`` / ``"deadlock"``: no block has moved an item for ``stall_after`` seconds (live
  only; real-time sources, which never wait, do not count as progress): the block that holds
  the loop, or awaits something outside its FIFOs while the others wait on it, or the cycle
  of blocks that wait on each other, with what each waits on.
- ``"backpressure"``: a sink too slow for its input: the chain of full FIFOs back to the source.
- ``"cpu"``: a block whose own code takes the time while its input FIFO is full (or, with no
  full FIFO, whose code runs most of the time, or a loop whose blocks' code fills it).
- ``"uneven"``: a FIFO is full while its consumer waits on its other inputs (it reads them
  in an order its producers do not feed them).
- ``"waits"``: a block that is not a sink but awaits something outside its FIFOs (I/O, a
  sleep) while its input FIFO is full.
- ``"device"``: no FIFO is full and a source waits on its device most of the time: the graph
  keeps up.
- ``"none"``: no bottleneck; the text names the busiest block.

Figures are since the start of the run (a report's totals), not recent rates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import BlockReport, EdgeReport, Report

STALL_AFTER = 2.0  # seconds without an item moving before a live graph counts as stalled
FULL = 0.25  # a FIFO counts as full when its producer waited on it this share of its time
DROPPING = 0.01  # ... or when it dropped this share of the items offered to it
LIMITED = 0.6  # a block limits the graph when its code and outside waits take this share
CPU_BOUND = 0.8  # busy share of a block (or of all blocks on the loop) that is CPU-bound
DEVICE = 0.5  # a source that waits on its device this share of its time keeps up
LISTED = 6  # blocks listed, one a line, under a stall's first line


@dataclasses.dataclass(frozen=True)
class Wait:
    """What one block's task waits on at one moment of a live run.

    Attributes:
        on: "put" (its output FIFO to ``peer`` is full), "get" (its input from ``peer`` is
            empty), "running" (its code holds the loop now), "thread" (its code runs, or
            waits, in its own thread), "other" (it awaits something outside its FIFOs: a
            device, I/O, a sleep, an event), "inline" (a map run in ``peer``'s task),
            "ended".
        peer: the block at the other end of that FIFO, or the host task's block ("inline").
        port: the consumer's input port of that FIFO ("put", "get").
        idle: seconds since the block last took or delivered an item.
    """

    on: str
    peer: str | None = None
    port: str | None = None
    idle: float = 0.0


class Diagnosis(str):
    """The diagnosis text (a str: the first line sums it up), with the block it names
    (``block``, None when there is none) and its ``cause`` (see the module's list)."""

    block: str | None
    cause: str

    def __new__(cls, text: str, block: str | None, cause: str) -> Diagnosis:
        self = super().__new__(cls, text)
        self.block = block
        self.cause = cause
        return self

    @property
    def line(self) -> str:
        """The first line (what ``daqflow top`` shows)."""
        return self.split("\n", 1)[0]


def diagnose(report: Report, waits: Mapping[str, Wait] | None = None,
             stall_after: float = STALL_AFTER) -> Diagnosis:
    """The block that limits the graph of ``report`` and why, in a few lines.

    Args:
        report: a run's report, final or a live snapshot.
        waits: what each block waits on now, by name (a live run's `Runtime.wait_states`);
            without it no stall can be told.
        stall_after: seconds with no item moving that make a live graph stalled.
    """
    if not report.blocks:
        return Diagnosis("no blocks", None, "none")
    if waits is not None:
        stalled = _stall(report, waits, stall_after)
        if stalled is not None:
            return stalled
    return _Figures(report).diagnose()


# -- stalls ----------------------------------------------------------------------------------
def _stall(report: Report, waits: Mapping[str, Wait], stall_after: float) -> Diagnosis | None:
    live = {name: w for name, w in waits.items() if w.on != "ended" and name in report.blocks}
    counted = [w.idle for name, w in live.items()
               if not (report.blocks[name].realtime and report.blocks[name].kind == "source")]
    if not counted or min(counted) < stall_after:
        return None
    head = f"no progress for {min(counted):.1f} s"
    holder = next((name for name, w in live.items() if w.on == "running"), None)
    if holder is not None:
        first = f"{head}: {holder} holds the loop (its code has not yielded)"
        return Diagnosis(f"{first}\n  no other block can run meanwhile", holder, "stall")
    listed = [f"  {_waiting(name, w, report.blocks[name].kind)}" for name, w in live.items()
              if w.on != "inline"]
    if len(listed) > LISTED:
        listed = [*listed[:LISTED], f"  ... and {len(listed) - LISTED} more"]
    path, cycle = _who_holds(report, live)
    if cycle:
        culprit = _reader(report, live, cycle)
        loop = " → ".join([*cycle, cycle[0]])
        first = f"{head}: a deadlock: {loop} wait on each other"
        if culprit is not None:
            first += f"; {culprit} waits on one input while another is full"
        return Diagnosis("\n".join([first, *listed]), culprit or cycle[0], "deadlock")
    end = path[-1]
    what = {"thread": "its code in its thread has not returned",
            "other": "it awaits something outside its FIFOs (a device, I/O, an event)"}
    first = f"{head}: {end} holds the graph: {what.get(live[end].on, live[end].on)}"
    return Diagnosis("\n".join([first, *listed]), end, "stall")


def _waiting(name: str, w: Wait, kind: str) -> str:
    if w.on == "put":
        return f"{name} waits to put into {w.peer}.{w.port} (full)"
    if w.on == "get":
        return f"{name} waits for input from {w.peer} (its {w.port} FIFO is empty)"
    if w.on == "running":
        return f"{name} runs its own code (holding the loop)"
    if w.on == "thread":
        return f"{name} runs its own code in its thread"
    if kind == "source":
        return f"{name} waits on its device (or its own clock)"
    return f"{name} awaits something outside its FIFOs"


def _who_holds(report: Report, live: Mapping[str, Wait]) -> tuple[list[str], list[str]]:
    """Who waits on whom, followed from each block but the real-time sources (they never
    wait on a FIFO): (a path to the block most paths end at, []), or ([], a cycle)."""
    ends: dict[str, int] = {}
    found: list[str] = []
    for name in live:
        b = report.blocks[name]
        if b.realtime and b.kind == "source":
            continue
        path, cycle = _follow(live, name)
        if cycle:
            return [], cycle
        ends[path[-1]] = ends.get(path[-1], 0) + 1
        if not found or ends[path[-1]] > ends[found[-1]]:
            found = path
    return found or [next(iter(live))], []


def _follow(live: Mapping[str, Wait], start: str) -> tuple[list[str], list[str]]:
    """From ``start``, who waits on whom: (the path, the cycle it ends in or [])."""
    path: list[str] = []
    name: str | None = start
    while name is not None and name in live:
        if name in path:
            return path, path[path.index(name):]
        path.append(name)
        w = live[name]
        name = w.peer if w.on in ("put", "get", "inline") else None
    return path, []


def _reader(report: Report, live: Mapping[str, Wait], cycle: list[str]) -> str | None:
    """The block of ``cycle`` that waits on an empty input while another of its inputs is
    full (its reading order makes the deadlock), if there is one."""
    for name in cycle:
        w = live[name]
        if w.on != "get":
            continue
        for e in report.edges:
            if e.consumer == name and e.port != w.port and not e.inline and e.size >= e.capacity:
                return name
    return None


# -- figures ---------------------------------------------------------------------------------
class _Figures:
    """One report's figures per task (a block and the maps fused into it)."""

    def __init__(self, report: Report):
        self.report = report
        self.blocks = report.blocks
        fused_to = {e.consumer: e.producer for e in report.edges if e.inline}
        self.host: dict[str, str] = {}
        for name in self.blocks:
            host = name
            while host in fused_to:
                host = fused_to[host]
            self.host[name] = host
        self.fifos = [e for e in report.edges if not e.inline]

    def members(self, host: str) -> list[BlockReport]:
        return [b for b in self.blocks.values() if self.host[b.name] == host]

    def share(self, seconds: float, host: str) -> float:
        wall = self.blocks[host].wall
        return seconds / wall if wall > 0 else 0.0

    def busy(self, host: str) -> float:
        """Share of its task's wall time the code of ``host``'s task ran."""
        return self.share(sum(b.busy for b in self.members(host)), host)

    def outside(self, host: str) -> float:
        """Share of its wall time ``host``'s task awaited something other than its FIFOs."""
        b = self.blocks[host]
        members = self.members(host)
        waited = sum(m.busy + m.blocked for m in members) + b.starved
        return max(0.0, self.share(b.wall - waited, host))

    def full(self, e: EdgeReport) -> float:
        """Share of its producer's time the FIFO ``e`` was full: waited on, or dropping
        (a real-time producer's "block" FIFO; a lossy policy drops by design)."""
        waited = self.share(e.blocked, self.host[e.producer])
        offered = e.items + e.dropped_items
        dropped = e.dropped_items / offered if offered and e.policy == "block" else 0.0
        return max(waited, 1.0 if dropped >= DROPPING else 0.0)

    def is_full(self, e: EdgeReport) -> bool:
        return self.full(e) >= FULL

    def task_outputs(self, host: str) -> list[EdgeReport]:
        return [e for e in self.fifos if self.host[e.producer] == host]

    def diagnose(self) -> Diagnosis:
        if max(b.wall for b in self.blocks.values()) <= 0:
            return Diagnosis("no figures yet", None, "none")
        full = [e for e in self.fifos if self.is_full(e)]
        ends = {e.consumer for e in full
                if not any(self.is_full(out) for out in self.task_outputs(e.consumer))}
        ends = {h for h in ends if self.busy(h) + self.outside(h) >= LIMITED}
        if ends:
            return self.limited_by(max(ends, key=lambda h: self.busy(h) + self.outside(h)))
        joins = [e for e in full if sum(i.consumer == e.consumer for i in self.fifos) > 1]
        if joins:
            return self.uneven(max(joins, key=self.full))
        return self.keeping_up()

    def uneven(self, e: EdgeReport) -> Diagnosis:
        """A full FIFO whose consumer is not busy: it waits on its other inputs."""
        name = e.consumer
        b = self.blocks[name]
        text = (f"{name} reads its inputs unevenly: its {e.port} FIFO (from {e.producer}) full "
                f"{_pct(self.full(e))} of the time while it waits for its other inputs "
                f"{_pct(self.share(b.starved, name))}")
        return Diagnosis(text, name, "uneven")

    def limited_by(self, host: str) -> Diagnosis:
        b = self.blocks[host]
        busy, outside = self.busy(host), self.outside(host)
        inputs = [e for e in self.fifos if e.consumer == host and self.is_full(e)]
        worst = max(inputs, key=self.full)
        if worst.dropped_items and worst.blocked <= 0:
            evidence = f"its input FIFO dropped {worst.dropped_items} items"
        else:
            evidence = f"its input FIFO full {_pct(self.full(worst))} of the time"
        if b.kind == "sink":
            chain = self.chain(host)
            own = f"busy {_pct(busy)}" if busy >= outside else (
                f"busy {_pct(busy)}, awaiting other things (I/O, a sleep) {_pct(outside)}")
            text = (f"backpressure from {host}: sink {own} of {b.wall:.1f} s; FIFOs full back "
                    f"to {chain[0]} ({' → '.join(chain)})")
            return Diagnosis(text, host, "backpressure")
        starved = self.starved_below(host)
        tail = f", downstream starved {_pct(starved)}" if starved >= FULL else ""
        if busy >= outside:
            name = max(self.members(host), key=lambda m: m.busy).name
            text = (f"limited by {name}: CPU-bound, busy {_pct(busy)} of {b.wall:.1f} s, "
                    f"{evidence}{tail}")
            return Diagnosis(text, name, "cpu")
        text = (f"limited by {host}: it awaits something outside its FIFOs (I/O, a sleep) "
                f"{_pct(outside)} of {b.wall:.1f} s, {evidence}{tail}")
        return Diagnosis(text, host, "waits")

    def chain(self, host: str) -> list[str]:
        """Blocks from the far end of the full FIFOs that end at ``host``, down to it."""
        chain = [host]
        while True:
            inputs = [e for e in self.fifos if e.consumer == chain[0] and self.is_full(e)]
            if not inputs:
                return chain
            producer = max(inputs, key=self.full).producer
            hop = [producer]
            while hop[0] != self.host[producer]:  # the maps fused into the producer's task
                hop.insert(0, next(e.producer for e in self.report.edges
                                   if e.inline and e.consumer == hop[0]))
            if hop[0] in chain:
                return chain
            chain[:0] = hop

    def starved_below(self, host: str) -> float:
        """The largest share of time a consumer of ``host``'s task waited for input."""
        shares = [self.share(self.blocks[e.consumer].starved, e.consumer)
                  for e in self.task_outputs(host)]
        return max(shares, default=0.0)

    def keeping_up(self) -> Diagnosis:
        """No full FIFO limits the graph: a CPU-bound block or loop, a source waiting on its
        device, or no bottleneck."""
        busiest = max(self.blocks.values(), key=lambda b: self.share(b.busy, self.host[b.name]))
        top = self.share(busiest.busy, self.host[busiest.name])
        note = f"busiest block: {busiest.name}, busy {_pct(top)}"
        if top >= CPU_BOUND:
            starved = self.starved_below(self.host[busiest.name])
            tail = f", its consumers starved {_pct(starved)}" if starved >= FULL else ""
            if self.report.overflow:
                tail += f", real-time sources lost {self.report.overflow} samples"
            text = (f"limited by {busiest.name}: CPU-bound, busy {_pct(top)} of "
                    f"{self.blocks[self.host[busiest.name]].wall:.1f} s{tail}")
            return Diagnosis(text, busiest.name, "cpu")
        on_loop = [b for b in self.blocks.values() if not b.threaded and not b.process]
        duration = self.report.duration
        loop = sum(b.busy for b in on_loop) / duration if duration > 0 else 0.0
        if loop >= CPU_BOUND and len(on_loop) > 1:
            shares = sorted(on_loop, key=lambda b: -b.busy)[:3]
            parts = ", ".join(f"{b.name} {_pct(b.busy / duration)}" for b in shares)
            text = f"CPU-bound on the loop: its blocks' code runs {_pct(loop)} of the time ({parts})"
            return Diagnosis(text, busiest.name, "cpu")
        sources = [b.name for b in self.blocks.values()
                   if b.kind == "source" and self.host[b.name] == b.name]
        if sources:
            source = max(sources, key=self.outside)
            waiting = self.outside(source)
            if waiting >= DEVICE:
                text = (f"{source} waits on its device {_pct(waiting)} of the time: the graph "
                        f"keeps up ({note})")
                return Diagnosis(text, source, "device")
        return Diagnosis(f"no bottleneck ({note})", busiest.name, "none")


def _pct(share: float) -> str:
    return f"{100 * share:.0f} %"
