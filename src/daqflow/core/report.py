"""`Report`: what a run did, per block and per edge, and each sink's result."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

DRAIN_CUT_BY = {  # why a drain was cut short (`Runtime.cut_drain`), in words
    "timeout": "the drain timeout",
    "interrupt": "an interrupt",
    "parent died": "the death of the process that ran the graph",
}


@dataclasses.dataclass(frozen=True)
class BlockReport:
    """Figures of one block over the run (times in seconds).

    Attributes:
        busy: time the block's own code ran (on the loop, or in its worker thread).
        blocked: time it waited on a full output FIFO (backpressure).
        starved: time it waited on empty input FIFOs.
        wall: time from the start of the run to the block's end.
        lost: samples a real-time source marked lost in its own output before it reached a
            FIFO (a device's overflow: ``meta["overflow"]`` of the chunks it yielded).
        skipped: samples a real-time source dropped on purpose (``meta["skipped"]``, e.g. the
            settling after a retune).
    """

    name: str
    kind: str
    items_in: int
    items_out: int
    samples_in: int
    samples_out: int
    busy: float
    blocked: float
    starved: float
    wall: float
    threaded: bool = False
    inline: bool = False
    realtime: bool = False
    error: str | None = None
    process: str | None = None
    lost: int = 0
    skipped: int = 0

    @property
    def samples_per_s(self) -> float:
        """Samples per second through the block (output, or input for a sink)."""
        samples = self.samples_in if self.kind == "sink" else self.samples_out
        return samples / self.wall if self.wall > 0 else 0.0

    @property
    def items_per_s(self) -> float:
        """Items per second through the block (output, or input for a sink)."""
        items = self.items_in if self.kind == "sink" else self.items_out
        return items / self.wall if self.wall > 0 else 0.0

    @property
    def busy_fraction(self) -> float:
        """Share of the wall time the block's code ran (0..1 per thread)."""
        return self.busy / self.wall if self.wall > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class EdgeReport:
    """Figures of one FIFO (``inline`` edges are fused maps: no FIFO).

    ``size`` is the number of items queued in the FIFO when the report was made.
    ``discarded``/``discarded_samples``: items (samples) queued when the consumer stopped
    reading or a drain was cut short, thrown away unread.
    ``transport`` is "shm", "zmq" or "http" for an edge between processes (its figures add both
    ends' FIFOs), None within one process.
    ``dropped_items``/``dropped_samples`` are losses on a "block" FIFO (a real-time producer
    that cannot wait), skips by design under a lossy policy (`by_design`).
    """

    producer: str
    consumer: str
    port: str
    capacity: int
    policy: str
    items: int
    dropped_items: int
    dropped_samples: int
    discarded: int
    high_water: int
    blocked: float
    realtime: bool = False
    inline: bool = False
    size: int = 0
    transport: str | None = None
    discarded_samples: int = 0

    @property
    def by_design(self) -> bool:
        """Its consumer keeps only the newest items (a lossy policy, as views do): what it
        drops is skipped by design, not lost."""
        return self.policy != "block"

    @property
    def lost_samples(self) -> int:
        """Samples dropped that no one chose to drop (0 under a lossy policy)."""
        return 0 if self.by_design else self.dropped_samples

    @property
    def skipped_samples(self) -> int:
        """Samples dropped by design (a lossy policy's; 0 on a "block" FIFO)."""
        return self.dropped_samples if self.by_design else 0


@dataclasses.dataclass(frozen=True, repr=False)
class Report:
    """The run's report; ``print(report)`` shows it as a table.

    Attributes:
        blocks: per block, by name, in running order (sources first).
        edges: per connection.
        results: each sink's result, by the sink's name.
        duration: seconds from start to end.
        stopped_by: "end" (sources finished), "duration", "stop", "interrupt" or "error".
        error: the failure message, when a block failed.
        drain_cut: why the stop's drain was cut short ("timeout": FIFOs took longer than the
            drain timeout; "interrupt": a second Ctrl-C), None if it completed; what the
            FIFOs still held is counted in ``discarded_items``/``discarded_samples``.
        cut_short: blocks still running when the drain was cut.
        stuck: blocks that did not end even when cancelled (left running in their thread).
    """

    blocks: Mapping[str, BlockReport]
    edges: tuple[EdgeReport, ...]
    results: Mapping[str, Any]
    duration: float
    stopped_by: str
    error: str | None = None
    drain_cut: str | None = None
    cut_short: tuple[str, ...] = ()
    stuck: tuple[str, ...] = ()

    @property
    def overflow(self) -> int:
        """Samples real-time sources could not deliver: lost at the source (a device's
        overflow) plus dropped on their full FIFOs."""
        return self.source_lost + sum(e.lost_samples for e in self.edges if e.realtime)

    @property
    def source_lost(self) -> int:
        """Samples real-time sources marked lost before their FIFOs (device overflows)."""
        return sum(b.lost for b in self.blocks.values() if b.realtime)

    @property
    def skipped(self) -> int:
        """Samples real-time sources dropped on purpose (not losses)."""
        return sum(b.skipped for b in self.blocks.values() if b.realtime)

    @property
    def display_skips(self) -> int:
        """Samples skipped by design: dropped by FIFOs whose consumers keep only the newest
        (views, taps with ``policy="drop_oldest"``). Not losses: not in `overflow`."""
        return sum(e.skipped_samples for e in self.edges)

    @property
    def dropped_items(self) -> int:
        """Items dropped on all FIFOs (real-time overflow, and skips by design)."""
        return sum(e.dropped_items for e in self.edges)

    @property
    def lost_items(self) -> int:
        """Items lost on FIFOs that no one chose to drop (real-time overflow)."""
        return sum(e.dropped_items for e in self.edges if not e.by_design)

    @property
    def dropped_samples(self) -> int:
        return sum(e.dropped_samples for e in self.edges)

    @property
    def discarded_items(self) -> int:
        """Items thrown away unread from FIFOs (a consumer that stopped, a drain cut short)."""
        return sum(e.discarded for e in self.edges)

    @property
    def discarded_samples(self) -> int:
        return sum(e.discarded_samples for e in self.edges)

    def diagnose(self) -> str:
        """A few lines naming the block that limits the graph and why (CPU-bound, a slow
        sink's backpressure, a source waiting on its device, ...): see
        `daqflow.core.diagnosis`. The result is a `Diagnosis` (a str with ``block``, ``cause``).
        A stall (nothing moving) needs a live run: `Running.diagnose`."""
        from .diagnosis import diagnose

        return diagnose(self)

    def __repr__(self) -> str:
        """One short line (the results summarised: a repr must not cost a copy of the data;
        asyncio makes one of a finished run's result)."""
        results = ", ".join(f"{name}={_summary(value)}" for name, value in self.results.items())
        return (f"<Report {self.duration:.3f} s, stopped by {self.stopped_by}, "
                f"{len(self.blocks)} blocks, {len(self.edges)} edges, results: {results or '-'}>")

    def __str__(self) -> str:
        head = f"daqflow report: {self.duration:.3f} s, stopped by {self.stopped_by}"
        if self.error:
            head += f" ({self.error})"
        rows = [("block", "kind", "items in", "items out", "items/s", "MS/s", "busy %", "blocked s",
                 "starved s")]
        for b in self.blocks.values():
            kind = b.kind + (" rt" if b.realtime else "") + (" thr" if b.threaded else "")
            kind += f" @{b.process}" if b.process else ""
            kind += " inline" if b.inline else ""
            rows.append((
                b.name, kind, str(b.items_in), str(b.items_out), f"{b.items_per_s:.1f}",
                f"{b.samples_per_s / 1e6:.3f}",
                f"{100 * b.busy_fraction:.1f}", f"{b.blocked:.3f}", f"{b.starved:.3f}",
            ))
        lines = [head, "", *_table(rows)]
        fifo_rows = [("edge", "policy", "fifo", "max fill", "items", "dropped", "samples lost",
                      "skipped", "discarded")]
        for e in self.edges:
            if e.inline:
                continue
            fifo_rows.append((
                f"{e.producer} -> {e.consumer}.{e.port}",
                e.policy + (" rt" if e.realtime else "") + (f" {e.transport}" if e.transport else ""),
                str(e.capacity), str(e.high_water), str(e.items), str(e.dropped_items),
                str(e.lost_samples), str(e.skipped_samples), str(e.discarded),
            ))
        if len(fifo_rows) > 1:
            lines += ["", *_table(fifo_rows)]
        overflow = f"overflow (real-time samples lost): {self.overflow}"
        if self.source_lost:
            overflow += f" ({self.source_lost} at the sources, {self.overflow - self.source_lost} on FIFOs)"
        if self.skipped:
            overflow += f"; skipped on purpose: {self.skipped}"
        if self.display_skips:
            overflow += f"; display skips (FIFOs keeping the newest, by design): {self.display_skips}"
        lines += ["", overflow]
        if self.discarded_items:
            lines.append(f"discarded unread in FIFOs: {self.discarded_items} items "
                         f"({self.discarded_samples} samples)")
        if self.drain_cut:
            why = DRAIN_CUT_BY
            cut = f"drain cut short by {why.get(self.drain_cut, self.drain_cut)}"
            if self.cut_short:
                cut += "; still running then: " + ", ".join(map(repr, self.cut_short))
            lines.append(cut)
        if self.stuck:
            lines.append("did not stop when cancelled (left running): "
                         + ", ".join(map(repr, self.stuck)))
        if self.results:
            lines.append("results: " + ", ".join(
                f"{name}={_summary(value)}" for name, value in self.results.items()))
        return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def _summary(value: Any) -> str:
    if isinstance(value, list):
        return f"[{len(value)} items]"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
