"""Live progress while a graph runs: a table on a terminal, one plain line per interval otherwise.

Per block: items/s and MS/s (over the last second or so, not since the start), busy %, the
fill of its input FIFOs (items queued / capacity), items dropped on them, and samples a
real-time source could not deliver (overflow).

On a terminal the table is drawn with rich (``rich.live.Live``, the ``gui`` extra); rich is
imported only when needed, and without it (or when the stream is not a terminal) the same
figures come as one plain line per interval, with no escape codes.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import IO, Any

from .executor import RunObserver
from .report import Report
from .virtual_time import real_sleep

TABLE_INTERVAL = 0.5  # seconds between table refreshes on a terminal
LINE_INTERVAL = 1.0  # seconds between plain lines
WINDOW = 1.0  # rates are measured over at least this many seconds (when the run is that old)


@dataclasses.dataclass(frozen=True)
class BlockFigures:
    """One block's row of the live view.

    Attributes:
        items_per_s, samples_per_s: through the block (output; input for a sink), recently.
        busy: share of the recent wall time its code ran (0..1 per thread).
        fifo_items, fifo_capacity: items queued in its input FIFOs and their total length
            (0, 0 for a source or an inline map).
        dropped: items lost on its input FIFOs since the start (a real-time producer's
            overflow on a "block" FIFO).
        skipped: items its input FIFOs dropped by design since the start (a lossy policy:
            it keeps only the newest, as views do).
        overflow: samples it could not deliver since the start (a real-time source; losses
            on FIFOs after maps fused into it count here too).
    """

    name: str
    kind: str
    items_per_s: float
    samples_per_s: float
    busy: float
    fifo_items: int
    fifo_capacity: int
    dropped: int
    overflow: int
    realtime: bool = False
    inline: bool = False
    error: str | None = None
    skipped: int = 0


class Meter:
    """Turns successive reports into recent rates (over at least ``window`` seconds)."""

    def __init__(self, window: float = WINDOW):
        self.window = window
        self._history: deque[Report] = deque()

    def update(self, report: Report) -> list[BlockFigures]:
        """Figures of each block, in running order, from this report and earlier ones."""
        history = self._history
        history.append(report)
        while len(history) > 2 and report.duration - history[1].duration >= self.window:
            history.popleft()  # keep the newest snapshot at least ``window`` old
        return figures(report, history[0] if history[0] is not report else None)


def figures(report: Report, previous: Report | None = None) -> list[BlockFigures]:
    """Per-block figures of ``report``; rates since ``previous`` (None: since the start)."""
    span = report.duration - (previous.duration if previous is not None else 0.0)
    before = previous.blocks if previous is not None else {}
    fused_to = {e.consumer: e.producer for e in report.edges if e.inline}
    overflow: dict[str, int] = {}  # by the real-time block whose task lost the samples
    for e in report.edges:
        if e.realtime and not e.inline:
            host = e.producer
            while host in fused_to:
                host = fused_to[host]
            overflow[host] = overflow.get(host, 0) + e.lost_samples
    out = []
    for b in report.blocks.values():
        old = before.get(b.name)
        sink = b.kind == "sink"
        items = b.items_in if sink else b.items_out
        samples = b.samples_in if sink else b.samples_out
        busy = b.busy
        if old is not None:
            items -= old.items_in if sink else old.items_out
            samples -= old.samples_in if sink else old.samples_out
            busy -= old.busy
        ins = [e for e in report.edges if e.consumer == b.name and not e.inline]
        out.append(BlockFigures(
            name=b.name,
            kind=b.kind,
            items_per_s=items / span if span > 0 else 0.0,
            samples_per_s=samples / span if span > 0 else 0.0,
            busy=max(0.0, busy / span) if span > 0 else 0.0,
            fifo_items=sum(e.size for e in ins),
            fifo_capacity=sum(e.capacity for e in ins),
            dropped=sum(e.dropped_items for e in ins if not e.by_design),
            skipped=sum(e.dropped_items for e in ins if e.by_design),
            overflow=overflow.get(b.name, 0),
            realtime=b.realtime,
            inline=b.inline,
            error=b.error,
        ))
    return out


def progress_line(report: Report, previous: Report | None = None) -> str:
    """One plain line: elapsed time, then per block items/s, MS/s, busy %, FIFO fill, drops.

    Rates are since ``previous`` (None: averages since the start).

    >>> import daqflow as df
    >>> report = df.run(df.collect(df.from_iterable(range(3))))
    >>> line = progress_line(report)
    >>> line.startswith("[daqflow") and "from_iterable: " in line and "collect: " in line
    True
    >>> line.endswith("total: dropped 0 items, overflow 0 samples")
    True
    """
    return line(report, figures(report, previous))


def line(report: Report, rows: list[BlockFigures]) -> str:
    parts = []
    for f in rows:
        text = (f"{f.name}: {_count(f.items_per_s)} it/s {f.samples_per_s / 1e6:.3f} MS/s "
                f"busy {100 * f.busy:.0f}%")
        if f.fifo_capacity:
            text += f" fifo {f.fifo_items}/{f.fifo_capacity}"
        text += f" drops {f.dropped}"
        if f.skipped:
            text += f" skips {f.skipped}"
        if f.realtime or f.overflow:
            text += f" overflow {f.overflow}"
        if f.error:
            text += " FAILED"
        parts.append(text)
    head = f"[daqflow {report.duration:7.1f} s] "
    tail = f"total: dropped {report.lost_items} items, overflow {report.overflow} samples"
    if report.display_skips:
        tail += f", display skips {report.display_skips} samples"
    return head + " | ".join([*parts, tail])


def _count(rate: float) -> str:
    return f"{rate:.0f}" if rate >= 100 or rate == 0 else f"{rate:.1f}"


def table(report: Report, rows: list[BlockFigures], title: str = "daqflow",
          diagnosis: str | None = None) -> Any:
    """A ``rich.table.Table`` of the figures (needs rich); ``diagnosis``: a line under it."""
    from rich.markup import escape
    from rich.table import Table

    caption = f"dropped {report.lost_items} items, overflow {report.overflow} samples"
    if report.display_skips:
        caption += f", display skips {report.display_skips} samples (by design)"
    if diagnosis:
        caption += "\n" + escape(diagnosis)
    t = Table(
        title=f"{title}  {report.duration:.1f} s" + (
            f"  stopped by {report.stopped_by}" if report.stopped_by != "end" else ""),
        caption=caption,
        title_justify="left",
        caption_justify="left",
    )
    t.add_column("block")
    t.add_column("kind")
    for name in ("items/s", "MS/s", "busy %", "fifo", "drops", "skips", "overflow"):
        t.add_column(name, justify="right")
    for f in rows:
        kind = f.kind + (" rt" if f.realtime else "") + (" inline" if f.inline else "")
        busy = f"{100 * f.busy:.1f}"
        if f.busy > 0.8:
            busy = f"[bold red]{busy}[/]"
        if f.fifo_capacity:
            fill = f"{f.fifo_items}/{f.fifo_capacity}"
            if f.fifo_items >= 0.75 * f.fifo_capacity:
                fill = f"[yellow]{fill}[/]"
        else:
            fill = "-"
        drops = f"[red]{f.dropped}[/]" if f.dropped else "0"
        overflow = f"[red]{f.overflow}[/]" if f.overflow else ("0" if f.realtime else "-")
        name = f"[red]{f.name} (failed)[/]" if f.error else f.name
        t.add_row(name, kind, _count(f.items_per_s), f"{f.samples_per_s / 1e6:.3f}", busy, fill,
                  drops, str(f.skipped), overflow)
    return t


def _rich_console(file: IO[str]) -> Any:
    """A rich Console on ``file`` if it is a terminal and rich is installed, else None."""
    try:
        isatty = file.isatty()
    except (AttributeError, ValueError):
        return None
    if not isatty:
        return None
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(file=file)


class ProgressObserver(RunObserver):
    """Shows a run's progress: a live table on a terminal, else a line per interval.

    Args:
        interval: seconds between updates (default 0.5 for the table, 1.0 for lines).
        file: where to write (default ``sys.stderr``, looked up when the run starts).
        mode: "table" or "lines" forces one (None: the table on a terminal when rich is
            installed, else lines).
        diagnosis: add a one-line diagnosis (`daqflow.core.diagnosis`): under the table, or
            as an indented line after each line of figures (``daqflow top``). A callable
            ``report -> str`` gives the line itself.
    """

    def __init__(self, interval: float | None = None, file: IO[str] | None = None, *,
                 mode: str | None = None, diagnosis: bool | Callable[[Report], str] = False):
        if mode not in (None, "table", "lines"):
            raise ValueError(f"progress mode must be 'table', 'lines' or None, got {mode!r}")
        if interval is not None and not interval > 0:
            raise ValueError(f"progress interval must be > 0 seconds, got {interval!r}")
        self._interval, self._file, self._mode = interval, file, mode
        self._diagnosis = diagnosis
        self._out: IO[str] = sys.stderr
        self._console: Any = None
        self._live: Any = None
        self._meter = Meter()
        self._executor: Any = None
        self.interval = interval

    def started(self, executor: Any) -> None:
        self._executor = executor
        self.open(executor.report())

    def open(self, report: Report) -> None:
        """Start showing, from the first snapshot ``report``."""
        self._out = sys.stderr if self._file is None else self._file
        if self._mode is None:
            self._console = _rich_console(self._out)
        elif self._mode == "table":
            from rich.console import Console

            self._console = Console(file=self._out, force_terminal=True)
        default = LINE_INTERVAL if self._console is None else TABLE_INTERVAL
        self.interval = default if self._interval is None else self._interval
        if self._console is None:
            self._meter.update(report)
            return
        from rich.live import Live

        self._live = Live(self._draw(report), console=self._console, auto_refresh=False,
                          redirect_stderr=False)
        self._live.start(refresh=True)

    def tick(self, report: Report) -> None:
        if self._live is not None:
            self._live.update(self._draw(report), refresh=True)
            return
        text = line(report, self._meter.update(report))
        note = self._note(report)
        if note is not None:
            text += "\n  " + note
        print(text, file=self._out, flush=True)

    def ended(self, report: Report) -> None:
        if self._live is not None:  # the final figures stay on the screen
            self._live.update(self._draw(report), refresh=True)
            self._live.stop()
            self._live = None

    def _draw(self, report: Report) -> Any:
        return table(report, self._meter.update(report), diagnosis=self._note(report))

    def _note(self, report: Report) -> str | None:
        if callable(self._diagnosis):
            return self._diagnosis(report)
        if not self._diagnosis:
            return None
        from .diagnosis import diagnose

        waits = getattr(self._executor, "live_waits", None)
        return diagnose(report, waits() if waits is not None else None).line


async def show(snapshot: Callable[[], Report], interval: float | None = None,
               file: IO[str] | None = None, *, mode: str | None = None,
               diagnose: Callable[[Report], str] | None = None) -> None:
    """Show progress until cancelled (a `ProgressObserver` ticked on ``snapshot()``).

    Args:
        snapshot: returns the current report.
        interval, file, mode: as `ProgressObserver`.
        diagnose: gives a one-line diagnosis of a report, shown with the figures.
    """
    observer = ProgressObserver(interval, file, mode=mode, diagnosis=diagnose or False)
    observer.open(snapshot())
    try:
        await tick_forever(observer, snapshot)
    finally:
        observer.ended(snapshot())


async def tick_forever(observer: RunObserver, snapshot: Callable[[], Report]) -> None:
    """Call ``observer.tick(snapshot())`` every ``observer.interval`` seconds until cancelled,
    on absolute deadlines in real seconds (also in virtual time): a late tick does not push
    the next ones back."""
    interval = observer.interval
    assert interval is not None
    start = time.perf_counter()
    for k in itertools.count(1):
        await real_sleep(max(0.0, start + k * interval - time.perf_counter()))
        observer.tick(snapshot())
