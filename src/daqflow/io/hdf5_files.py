"""HDF5 recordings (h5py): `hdf5_writer` with SWMR live readers, and `hdf5_source`.

Layout of a recording (dataset name ``D``, default "signal"):

- ``D``: the samples, resizable along the first axis, chunked, growing as data arrives.
  Attributes: ``rate`` (Hz, of the first segment), ``start_index``, ``start_time`` (s),
  ``center_freq`` (Hz, if known), ``meta`` (JSON of the first chunk's plain meta),
  ``complete`` (False while writing; True once closed in order), ``ended`` ("" or why the
  recording ended early: a block failed upstream, the disk filled up, the run was cancelled;
  `daqflow recover` sets it, with ``complete=False``, on what a killed writer left);
  from `io.write_hdf5`: ``user_meta`` (JSON of the user's metadata) and ``datetime`` (ISO
  8601 UTC time of the first sample), if given.
- ``D_segments``: rows (file position, stream index, rate Hz, centre frequency Hz or NaN):
  a row at the start, after every gap, and where rate or centre frequency change.
- ``D_gaps``: rows (file position, samples lost, stream index after the gap, samples skipped
  on purpose); its ``columns`` attribute names them. Lost samples (overflow) and samples
  dropped on purpose (``meta["skipped"]``: squelch, retune) are told apart; files with the
  older three columns read as nothing skipped.

The file is in SWMR mode while it grows, so another process can read it
(``h5py.File(path, "r", libver="latest", swmr=True)`` and ``dataset.refresh()``); it is
flushed every ``flush_interval`` seconds and when it closes. Files are in HDF5 1.10's format
(`LIBVER`): HDF5 1.10 and later, its command-line tools included, read them. The writer stops
as on a full disk when less than `MARGIN` bytes would be left, so it can still finish the file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block
from ..core.authoring import mark_gap, require
from .paths import check_input, check_output, hold
from .recorder import RecordingError, describe, record, write_failed
from .segments import SegmentTracker


def _plain(meta: Any) -> dict[str, Any]:
    """The JSON-able part of a meta mapping."""
    out = {}
    for key, value in dict(meta).items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, str | int | float | bool) or value is None:
            out[str(key)] = value
    return out


#: HDF5 file format bounds: files that HDF5 1.10 and later read (h5dump, h5ls of Debian
#: bookworm), with SWMR (which needs 1.10's format)
LIBVER = ("v110", "v110")
#: bytes of free disk kept for HDF5's own records: HDF5 cannot finish a file on a full disk,
#: so the writer stops (as if the disk were full) before the samples would take them
MARGIN = 256 * 1024


class Hdf5Recorder:
    """Writes Chunks into an HDF5 dataset (no asyncio: used by `hdf5_writer`)."""

    def __init__(self, path: str | os.PathLike[str], dataset: str = "signal", chunk: int = 262144,
                 flush_interval: float = 1.0, meta: dict[str, Any] | None = None,
                 datetime: str | None = None):
        """``meta``: the user's metadata (JSON values), kept as attribute ``user_meta`` (JSON
        text); ``datetime``: ISO 8601 UTC time of the first sample, attribute ``datetime``."""
        self.h5py = require("h5py", "io", "hdf5_writer")
        self.meta, self.datetime = meta, datetime
        self.path = check_output(path, "hdf5_writer")
        self.where = f"hdf5_writer {str(self.path)!r}"
        self.name = dataset
        self.chunk = chunk
        self.flush_interval = flush_interval
        self.samples = 0
        self.tracker = SegmentTracker()
        self._file: Any = None
        self._data: Any = None
        self._segments: Any = None
        self._gaps: Any = None
        self._lock: int | None = None  # a descriptor holding the "being written" lock
        self._flushed = time.monotonic()
        self._pending: list[np.ndarray] = []  # rows not yet handed to HDF5
        self._pending_rows = 0
        self._stored = 0  # rows handed to HDF5 whose writes succeeded
        self._rows_per_chunk = 1
        self._unopened = False  # the file could not be created

    def _create(self, first: Chunk) -> None:
        h5 = self.h5py
        # whole chunks go straight to the file (write_direct_chunk): no chunk cache needed
        try:
            self._file = h5.File(self.path, "w", libver=LIBVER, rdcc_nbytes=0)
        except OSError:
            self.path.unlink(missing_ok=True)  # absent rather than broken
            self._unopened = True
            raise
        shape = first.data.shape[1:]
        self._rows_per_chunk = max(1, self.chunk // max(1, int(np.prod(shape, dtype=np.int64))))
        self._data = self._file.create_dataset(
            self.name, shape=(0, *shape), maxshape=(None, *shape), dtype=first.data.dtype,
            chunks=(self._rows_per_chunk, *shape))
        attrs = self._data.attrs
        attrs["rate"] = float(first.rate)
        attrs["start_index"] = int(first.index)
        attrs["start_time"] = float(first.time)
        if first.meta.get("center_freq") is not None:
            attrs["center_freq"] = float(first.meta["center_freq"])
        attrs["meta"] = json.dumps(_plain(first.meta))
        if self.meta:
            attrs["user_meta"] = json.dumps(self.meta)
        if self.datetime:
            attrs["datetime"] = self.datetime
        attrs["complete"] = False
        attrs["ended"] = ""  # why the recording ended early ("": it did not)
        self._segments = self._file.create_dataset(
            f"{self.name}_segments", shape=(0, 4), maxshape=(None, 4), dtype=np.float64, chunks=(64, 4))
        self._gaps = self._file.create_dataset(
            f"{self.name}_gaps", shape=(0, 4), maxshape=(None, 4), dtype=np.int64, chunks=(64, 4))
        self._gaps.attrs["columns"] = "position,lost,index,skipped"
        self._file.swmr_mode = True  # (HDF5 lets go of its file lock: readers may open it)
        self._lock = os.open(self.path, os.O_RDONLY)
        hold(self._lock)

    def write(self, chunk: Chunk) -> None:
        if self._file is None:
            self._create(chunk)
        data = self._data
        if chunk.data.shape[1:] != data.shape[1:] or chunk.data.dtype != data.dtype:
            raise ValueError(f"hdf5_writer: {str(self.path)!r} holds {data.dtype} samples of shape "
                             f"{data.shape[1:]}, got {chunk.data.dtype} {chunk.data.shape[1:]}")
        segment, gap = self.tracker.add(chunk, self.samples)
        if segment is not None:
            center = np.nan if segment.center_freq is None else segment.center_freq
            _append(self._segments, [[segment.position, segment.index, segment.rate, center]])
        if gap is not None:
            _append(self._gaps, [[gap.position, gap.lost, gap.index, gap.skipped]])
        self._pending.append(chunk.data)
        self._pending_rows += chunk.samples
        self.samples += chunk.samples
        now = time.monotonic()
        if self._pending_rows >= self._rows_per_chunk:
            self._write_pending(everything=False)
        if now - self._flushed >= self.flush_interval:
            self._write_pending(everything=True)
            self._file.flush()
            self._flushed = now

    def _write_pending(self, everything: bool) -> None:
        """Hand held rows to HDF5: whole chunks as raw chunk writes (no data pipeline), the
        rest by ordinary writes when ``everything`` (a flush), else kept for later."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        self._room(data.nbytes)
        dataset, rows = self._data, self._rows_per_chunk
        position = dataset.shape[0]
        head = min((-position) % rows, len(data))  # up to the next chunk boundary
        if head:
            _append(dataset, data[:head])
            data, position = data[head:], position + head
            self._stored = dataset.shape[0]
        whole = len(data) // rows
        if whole:
            dataset.resize(position + whole * rows, axis=0)
            zeros = (0,) * (data.ndim - 1)
            for k in range(whole):
                block = np.ascontiguousarray(data[k * rows:(k + 1) * rows])
                dataset.id.write_direct_chunk((position + k * rows, *zeros), block.data)
                self._stored = position + (k + 1) * rows
            data = data[whole * rows:]
        if everything and len(data):
            _append(dataset, data)
            self._stored = dataset.shape[0]
            data = data[:0]
        self._pending, self._pending_rows = ([data] if len(data) else []), len(data)

    def _room(self, nbytes: int) -> None:
        """Raise "No space left on device" if writing ``nbytes`` would leave less than
        `MARGIN` bytes free."""
        if self._lock is None:
            return
        disk = os.fstatvfs(self._lock)
        if disk.f_bavail * disk.f_frsize < nbytes + MARGIN:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    def close(self, ended: str | None = None) -> dict[str, Any]:
        """Flush and close; then mark the recording complete (with attribute ``ended``
        saying why if it ended early). After a failed write the dataset is cut back to the
        rows whose writes succeeded: no unwritten (zero) rows are presented as data."""
        failure: OSError | None = None
        if self._unopened:
            return {"path": None, "dataset": self.name, "samples": 0, **({"ended": ended} if ended else {})}
        try:
            if self._file is None:  # nothing arrived: still leave a valid, empty recording
                self._file = self.h5py.File(self.path, "w", libver=LIBVER)
                self._file.create_dataset(self.name, shape=(0,), maxshape=(None,), dtype=np.complex64)
            try:
                self._write_pending(everything=True)
            except OSError as exc:
                failure, ended = exc, ended or f"writing failed: {describe(exc)}"
            self._finish(ended)
        except (OSError, RuntimeError) as exc:  # (h5py: a failed flush is a RuntimeError)
            self._abandon()
            raise RecordingError(f"{self.where}: {describe(exc)} while finishing: it holds what "
                                 "its last flush saw and says complete=False (daqflow recover "
                                 "makes it readable by every HDF5 tool)") from None
        result: dict[str, Any] = {"path": str(self.path), "dataset": self.name, "samples": self.samples}
        if ended:
            result["ended"] = ended
        if failure is not None:
            raise write_failed(self.where, failure, result)
        return result

    def _finish(self, ended: str | None) -> None:
        data = self._file[self.name]
        if self._data is not None and (self._stored != data.shape[0] or self._stored != self.samples):
            self._cut(self._stored)
        # an existing attribute may change in SWMR mode (its size stays): no reopening, which
        # a reader's file lock would refuse
        if ended:
            data.attrs["ended"] = ended
        data.attrs["complete"] = True
        self._file.flush()
        self._file.close()
        self._release_lock()

    def _cut(self, rows: int) -> None:
        """Keep the first ``rows`` samples, and the segments and gaps before them (the tables
        are written again from the tracker: a row whose write failed is not kept)."""
        self._data.resize(rows, axis=0)
        segments = [[s.position, s.index, s.rate, np.nan if s.center_freq is None else s.center_freq]
                    for s in self.tracker.segments if s.position < rows]
        gaps = [[g.position, g.lost, g.index, g.skipped] for g in self.tracker.gaps if g.position < rows]
        for table, kept in ((self._segments, segments), (self._gaps, gaps)):
            table.resize(len(kept), axis=0)
            if kept:
                table[:] = np.asarray(kept, table.dtype)
        self.samples = rows

    def _abandon(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def _append(dataset: Any, rows: Any) -> None:
    rows = np.asarray(rows)
    start = dataset.shape[0]
    dataset.resize(start + len(rows), axis=0)
    dataset[start:] = rows


@block(name="hdf5_writer", accepts="chunk")
async def _hdf5_writer(stream: Stream, path: Path, dataset: str, chunk: int,
                       flush_interval: float) -> dict[str, Any]:
    return await record(Hdf5Recorder(path, dataset, chunk, flush_interval), stream)


def hdf5_writer(stream: Stream, path: str | os.PathLike[str], dataset: str = "signal",
                chunk: int = 262144, flush_interval: float = 1.0, **options: Any) -> Stream:
    """Record a stream into an HDF5 dataset that other processes can read while it grows.

    Args:
        stream: chunks (1-D samples, or frames: each chunk's rows are appended).
        path: the .h5 file (created or overwritten).
        dataset: dataset name; ``<dataset>_segments`` and ``<dataset>_gaps`` sit beside it.
        chunk: HDF5 chunk size in values (no compression; whole chunks are written raw).
        flush_interval: seconds between flushes (readers see data at least this often; samples
            are handed to HDF5 an HDF5 chunk at a time, or at each flush).
        options: name=, buffer=, policy=, threaded=.

    The sink's result: ``{"path": ..., "dataset": ..., "samples": count}``, and ``"ended"``:
    why, if the recording ended early.

    Raises (while running):
        RecordingError: the disk is (nearly) full; the file keeps the samples whose writes
            succeeded and the message says how many.
    """
    require("h5py", "io", "hdf5_writer")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1 value, got {chunk!r}")
    if not flush_interval > 0:
        raise ValueError(f"flush_interval must be > 0 seconds, got {flush_interval!r}")
    path = check_output(path, "hdf5_writer")
    return _hdf5_writer(stream, path, str(dataset), chunk, float(flush_interval),
                        **options)


def _rate_attr(value: Any, where: str) -> float:
    """The ``rate`` attribute as Hz (a number > 0), else one line naming the dataset."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise ValueError(f"{where}: attribute rate must be a sample rate > 0 Hz, got {value!r}")
    return float(value)


class Hdf5Recording:
    """An HDF5 recording opened for reading (attributes, segments, gaps, samples)."""

    def __init__(self, path: str | os.PathLike[str], dataset: str = "signal"):
        h5py = require("h5py", "io", "hdf5_source")
        self.path = check_input(path, "HDF5 recording")
        self.name = dataset
        try:
            with h5py.File(self.path, "r", libver="latest", swmr=True) as f:
                if not isinstance(f.get(dataset), h5py.Dataset):
                    what = "a group, not a dataset" if dataset in f else "no such dataset"
                    names = [k for k in sorted(f.keys()) if isinstance(f[k], h5py.Dataset)]
                    raise ValueError(f"{str(self.path)!r}: {dataset!r} is {what} (its datasets: "
                                     f"{', '.join(names) or 'none'})")
                data = f[dataset]
                self.dtype, self.shape = data.dtype, data.shape
                self.attrs = dict(data.attrs)
                self.segments = f[f"{dataset}_segments"][()] if f"{dataset}_segments" in f else None
                gaps = f[f"{dataset}_gaps"][()] if f"{dataset}_gaps" in f else np.zeros((0, 4), np.int64)
        except OSError as exc:
            raise ValueError(f"{str(self.path)!r} is not an HDF5 file: {exc}") from None
        where = f"{str(self.path)!r} dataset {dataset!r}"
        if not self.shape:
            raise ValueError(f"{where} is a scalar: a recording has samples along its first axis")
        self.samples = self.shape[0]
        self.rate = _rate_attr(self.attrs.get("rate", 1.0), where)
        if self.segments is not None and (self.segments.ndim != 2 or self.segments.shape[1] != 4):
            raise ValueError(f"{str(self.path)!r}: {dataset}_segments has shape {self.segments.shape}, "
                             "expected rows of (position, index, rate, centre frequency)")
        if gaps.ndim != 2 or gaps.shape[1] not in (3, 4):
            raise ValueError(f"{str(self.path)!r}: {dataset}_gaps has shape {gaps.shape}, expected rows of "
                             "(position, lost, index, skipped)")
        if gaps.shape[1] == 3:  # written before skipped gaps were told apart: all lost
            gaps = np.concatenate((gaps, np.zeros((len(gaps), 1), gaps.dtype)), axis=1)
        #: rows (file position, samples lost, stream index after the gap, samples skipped)
        self.gaps = gaps.astype(np.int64)

    def skipped_at(self) -> dict[int, int]:
        """Samples skipped on purpose before each file position with a gap."""
        out: dict[int, int] = {}
        for position, _, _, skipped in self.gaps:
            if skipped:
                out[int(position)] = out.get(int(position), 0) + int(skipped)
        return out

    def segment_list(self) -> list[tuple[int, int, int, float, float | None]]:
        """(first position, end position, stream index, rate, centre frequency) per segment."""
        rows = self.segments
        if rows is None or not len(rows):
            center = self.attrs.get("center_freq")
            rows = np.array([[0, self.attrs.get("start_index", 0), self.rate,
                              np.nan if center is None else center]])
        out = []
        for k, (position, index, rate, center) in enumerate(rows):
            end = int(rows[k + 1][0]) if k + 1 < len(rows) else self.samples
            out.append((int(position), end, int(index), float(rate),
                        None if np.isnan(center) else float(center)))
        return out

    def open(self) -> Any:
        """The file, open for reading (also while a writer still appends to it)."""
        h5py = require("h5py", "io", "hdf5_source")
        return h5py.File(self.path, "r", libver="latest", swmr=True)


@block(name="hdf5_source", produces="chunk")
async def _hdf5_source(recording: Hdf5Recording, chunk: int) -> AsyncIterator[Chunk]:
    expected: int | None = None
    skipped = recording.skipped_at()
    with recording.open() as f:
        data_set = f[recording.name]
        for start, end, index, rate, center in recording.segment_list():
            for position in range(start, end, chunk):
                data = data_set[position:min(position + chunk, end)]
                at = index + position - start
                meta: dict[str, Any] = {} if center is None else {"center_freq": center}
                if expected is not None and at > expected:
                    mark_gap(meta, at - expected, skipped.get(position, 0))
                expected = at + len(data)
                yield Chunk(data, rate, at, at / rate, meta)


def hdf5_source(path: str | os.PathLike[str], dataset: str = "signal", chunk: int = 8192,
                **options: Any) -> Stream:
    """Replay an HDF5 recording made by `hdf5_writer` (or any 1-D/N-D dataset: ``rate``
    attribute if present, else 1 Hz): indices, gaps and centre frequency come back (an index
    jump marked ``meta["overflow"]`` for samples lost, ``meta["skipped"]`` for samples
    dropped on purpose).

    Args:
        path: the .h5 file.
        dataset: dataset name.
        chunk: samples (rows) per chunk.
        options: name=, buffer=, policy=, threaded=.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1 sample, got {chunk!r}")
    recording = Hdf5Recording(path, dataset)
    return _hdf5_source(recording, chunk, **options)
