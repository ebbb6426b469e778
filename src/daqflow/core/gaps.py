"""The gap rule, once: how an index jump is told as samples lost or dropped on purpose.

``meta["overflow"] = n``: n samples were lost just before a chunk; ``meta["skipped"] = n``:
n samples were dropped on purpose (squelch, a retune). The jump of ``index`` over the end of
the previous chunk is what they explain. Blocks (`InputGaps`, `OutputMarks`, `GapTally`),
recording writers (`split_gap`) and readers (`mark_gap`) all read and write marks here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .chunk import Chunk

#: The meta keys that mark a gap: samples lost (``overflow``) or dropped on purpose (``skipped``)
#: just before a chunk. A block recomputes them for its own output, never copies the input's.
MARKS = ("overflow", "skipped")


def gap_kind(meta: Mapping[str, Any], jump: int) -> str:
    """"skipped" when ``meta`` explains an index jump of ``jump`` samples as dropped on purpose
    (``meta["skipped"]`` covers it, nothing marked lost), else "overflow": a loss, or a mix of
    loss and skipping (counted as loss: conservative), or a jump nobody explained."""
    if jump > 0 and not meta.get("overflow") and meta.get("skipped", 0) >= jump:
        return "skipped"
    return "overflow"


def split_gap(meta: Mapping[str, Any], jump: int) -> tuple[int, int]:
    """(lost, skipped) samples behind a chunk whose index jumped by ``jump`` samples:
    skipped is what ``meta["skipped"]`` says (>= 0); lost is the part of the jump it does
    not explain, or ``meta["overflow"]``, whichever is larger."""
    skipped = max(int(meta.get("skipped", 0)), 0)
    lost = max(jump - skipped, int(meta.get("overflow", 0)), 0)
    return lost, skipped


def mark_gap(meta: dict[str, Any], jump: int, skipped: int) -> None:
    """Marks for an index jump of ``jump`` samples of which ``skipped`` were dropped on
    purpose (a replayed recording's gap): that part is ``meta["skipped"]``, the rest
    ``meta["overflow"]`` (lost)."""
    skipped = min(max(skipped, 0), jump)
    if skipped:
        meta["skipped"] = skipped
    if jump > skipped:
        meta["overflow"] = jump - skipped


def unmarked(meta: Mapping[str, Any], lost: int = 0, skipped: int = 0) -> Mapping[str, Any]:
    """``meta`` without the input's gap marks, with ``lost`` and ``skipped`` (when not 0)."""
    if not lost and not skipped and "overflow" not in meta and "skipped" not in meta:
        return meta
    out = {k: v for k, v in meta.items() if k not in MARKS}
    if lost:
        out["overflow"] = lost
    if skipped:
        out["skipped"] = skipped
    return out


class InputGaps:
    """Tells whether a chunk continues the previous one (index == previous end_index), and
    keeps the kind of the gaps not yet marked on the output (see `OutputMarks`)."""

    __slots__ = ("expected", "pending")

    def __init__(self) -> None:
        self.expected: int | None = None
        self.pending: str | None = None  # "skipped" or "overflow" (any loss wins), or None

    def is_gap(self, chunk: Chunk) -> bool:
        expected = self.expected
        self.expected = chunk.end_index
        if expected is None or chunk.index == expected:
            return False
        if self.pending != "overflow":
            self.pending = gap_kind(chunk.meta, chunk.index - expected)
        return True

    def take(self) -> str:
        """The mark for an output gap: "skipped" if every input gap since the last one taken
        was dropped on purpose, else "overflow"; starts afresh."""
        kind, self.pending = self.pending or "overflow", None
        return kind


class OutputMarks:
    """Meta for output chunks: a jump of the output index over the end of the previous output
    is marked ``overflow`` (samples missing) or, when the input gaps behind it were all dropped
    on purpose (told by ``source``), ``skipped``; the input's own marks are never copied."""

    __slots__ = ("_shared", "expected", "source")

    def __init__(self, source: InputGaps | None = None) -> None:
        self.expected: int | None = None
        self.source = source
        self._shared: tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]] | None = None

    def meta(self, meta: Mapping[str, Any], index: int, samples: int,
             extra: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        """Meta of an output chunk of ``samples`` at output ``index`` made from an input chunk
        with ``meta``, plus ``extra`` items (read, never changed). With no gap and no marks,
        the same read-only ``meta`` and ``extra`` (e.g. a spectrum's axis, a
        ``MappingProxyType``) give the same read-only result, made once."""
        gap = index - self.expected if self.expected is not None and index > self.expected else 0
        self.expected = index + samples
        if not gap and "overflow" not in meta and "skipped" not in meta:
            if not extra:
                return meta  # the usual case: the input's (read-only) meta, shared, no copy
            shared = self._shared
            if shared is not None and shared[0] is meta and shared[1] is extra:
                return shared[2]
            if type(meta) is MappingProxyType and type(extra) is MappingProxyType:
                made = MappingProxyType({**meta, **extra})
                self._shared = (meta, extra, made)
                return made
        out = {k: v for k, v in meta.items() if k not in MARKS}
        if extra:
            out.update(extra)
        if gap:
            out["overflow" if self.source is None else self.source.take()] = gap
        return out


class GapTally:
    """Input samples lost and dropped on purpose since the last output, for a block whose
    outputs do not follow its input's index grid (triggered frames, squelched stretches):
    `add` counts each input chunk's gap, `take` marks the next output with the sum."""

    __slots__ = ("expected", "lost", "skipped")

    def __init__(self) -> None:
        self.expected: int | None = None  # input index expected next
        self.lost = 0
        self.skipped = 0

    def gap(self, chunk: Chunk) -> int | None:
        """The index jump before ``chunk`` (None: it continues the previous one, or is the
        stream's first)."""
        expected, self.expected = self.expected, chunk.end_index
        return None if expected is None or chunk.index == expected else chunk.index - expected

    def count(self, meta: Mapping[str, Any], jump: int) -> None:
        """Count a jump of ``jump`` samples before a chunk with ``meta``: skipped as far as
        ``meta["skipped"]`` explains it, the rest (or ``meta["overflow"]``) lost."""
        if gap_kind(meta, jump) == "skipped":
            self.skipped += jump
        else:  # what the input did not say was skipped was lost
            part = min(max(int(meta.get("skipped", 0)), 0), max(jump, 0))
            self.skipped += part
            self.lost += max(jump - part, 0) or int(meta.get("overflow", 0))

    def count_marks(self, meta: Mapping[str, Any]) -> None:
        """Count the marks ``meta`` carries as they are (a stream's first chunk)."""
        self.lost += int(meta.get("overflow", 0))
        self.skipped += int(meta.get("skipped", 0))

    def add(self, chunk: Chunk) -> None:
        """Count ``chunk``'s gap, if any (`gap`, then `count`)."""
        jump = self.gap(chunk)
        if jump is not None:
            self.count(chunk.meta, jump)

    def take(self, meta: Mapping[str, Any]) -> Mapping[str, Any]:
        """``meta`` (the input's) marked with the gaps counted since the last take."""
        out = unmarked(meta, self.lost, self.skipped)
        self.lost = self.skipped = 0
        return out
