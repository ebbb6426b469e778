"""`Chunk`: a block of samples with the metadata that keeps it meaningful downstream."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

_EMPTY_META: Mapping[str, Any] = MappingProxyType({})


@dataclasses.dataclass(frozen=True, slots=True, eq=False, init=False)
class Chunk:
    """Samples of one stream plus where they sit in it.

    Args:
        data: the samples (first axis is time); stored as a read-only array (a view, no copy).
        rate: sample rate in Hz (samples of the first axis per second).
        index: number of the first sample since the stream began, lost samples included.
        time: time of the first sample in seconds.
        meta: small read-only mapping: ``center_freq`` (Hz), ``overflow`` (samples lost just
            before this chunk), units, tags.

    >>> c = Chunk(np.arange(4.0), rate=1e3, index=8)
    >>> c.samples, c.end_index, c.duration
    (4, 12, 0.004)
    """

    data: np.ndarray
    rate: float
    index: int = 0
    time: float = 0.0
    meta: Mapping[str, Any] = dataclasses.field(default_factory=lambda: _EMPTY_META)
    samples: int = dataclasses.field(init=False, repr=False, compare=False)
    """Number of samples along the first (time) axis."""

    def __init__(self, data: Any, rate: float, index: int = 0, time: float = 0.0,
                 meta: Mapping[str, Any] = _EMPTY_META) -> None:
        # Written out (not the dataclass's) and filled through the slots' own setters: a
        # Chunk is made for every item of every block, and this halves its cost.
        if not isinstance(data, np.ndarray):
            data = np.asarray(data)
        if data.flags.writeable:
            data = data.view()
            data.flags.writeable = False
        _set_data(self, data)
        _set_rate(self, rate)
        _set_index(self, index)
        _set_time(self, time)
        _set_meta(self, meta if type(meta) is MappingProxyType else MappingProxyType(dict(meta)))
        _set_samples(self, data.shape[0] if data.ndim else 1)

    @property
    def end_index(self) -> int:
        """Index one past the last sample."""
        return self.index + self.samples

    @property
    def duration(self) -> float:
        """Length of the chunk in seconds."""
        return self.samples / self.rate if self.rate else 0.0

    @property
    def times(self) -> np.ndarray:
        """Time of each sample in seconds: ``time + arange(samples) / rate`` (a trace's axis;
        for an instrument's trace, seconds from its trigger).

        >>> Chunk(np.zeros(3), rate=10.0, time=-0.1).times
        array([-0.1,  0. ,  0.1])
        """
        return self.time + np.arange(self.samples) / self.rate

    def replace(self, **changes: Any) -> Chunk:
        """A new chunk with some fields changed (``data``, ``rate``, ``index``, ``time``, ``meta``)."""
        return dataclasses.replace(self, **changes)

    def with_meta(self, **items: Any) -> Chunk:
        """A new chunk whose meta has ``items`` added or replaced."""
        return Chunk(self.data, self.rate, self.index, self.time, {**self.meta, **items})

    def __repr__(self) -> str:
        meta = f", meta={dict(self.meta)!r}" if self.meta else ""
        return (
            f"Chunk({self.data.dtype}{list(self.data.shape)}, rate={self.rate:g}, "
            f"index={self.index}, time={self.time:.6g}{meta})"
        )


_set_data, _set_rate, _set_index, _set_time, _set_meta, _set_samples = (
    getattr(Chunk, name).__set__ for name in ("data", "rate", "index", "time", "meta", "samples"))


def item_samples(item: object) -> int:
    """Samples an item carries: a Chunk's length, else 1 (one item)."""
    return item.samples if type(item) is Chunk else 1


def mark_overflow(item: object, lost: int) -> object:
    """``item`` with ``lost`` samples added to ``meta["overflow"]`` (Chunks only)."""
    if type(item) is not Chunk or not lost:
        return item
    return item.with_meta(overflow=int(item.meta.get("overflow", 0)) + lost)


class Dropped:
    """What dropped items take with them, to be marked on the next item that gets through:
    their samples and the losses marked on them (``lost``, added to ``meta["overflow"]``),
    the samples they said were skipped on purpose (``meta["skipped"]``), the parameter
    changes they announced (``meta["params"]``) and whether a count was an estimate. So the
    index jump at the next item still equals its marks, and a retune is never hidden.

    ``by_design``: the items were dropped by a FIFO whose consumer asked to keep only the
    newest (a lossy policy): their own samples count as skipped on purpose, not lost.
    """

    __slots__ = ("by_design", "estimated", "lost", "params", "skipped")

    def __init__(self, by_design: bool = False) -> None:
        self.by_design = by_design
        self.lost = 0
        self.skipped = 0
        self.params: dict[str, Any] = {}
        self.estimated = False

    def add(self, item: object) -> None:
        """Take the dropped ``item``'s samples and marks."""
        if self.by_design:
            self.skipped += item_samples(item)
        else:
            self.lost += item_samples(item)
        if type(item) is Chunk and item.meta:
            meta = item.meta
            self.lost += int(meta.get("overflow", 0))
            self.skipped += int(meta.get("skipped", 0))
            self.params.update(meta.get("params", {}))
            self.estimated |= bool(meta.get("overflow_estimated", False))

    def mark(self, item: object) -> object:
        """``item`` carrying these marks (Chunks only; other items pass unchanged)."""
        if type(item) is not Chunk:
            return item
        meta = item.meta
        updates: dict[str, Any] = {}
        if self.lost:
            updates["overflow"] = int(meta.get("overflow", 0)) + self.lost
        if self.skipped:
            updates["skipped"] = int(meta.get("skipped", 0)) + self.skipped
        if self.params:
            updates["params"] = {**self.params, **meta.get("params", {})}
        if self.estimated and self.lost:
            updates["overflow_estimated"] = True
        return item.with_meta(**updates) if updates else item
