"""SigMF recordings (the ``sigmf`` library): `sigmf_writer` and `sigmf_source`.

The data file is written as ``NAME.sigmf-data.partial`` and renamed when the recording
ends, and the metadata file, written last, is the mark of a complete recording. Captures
follow the stream's segments (start, gaps, rate or centre-frequency changes; the capture's
``core:global_index`` is the stream index, so replay restores the gaps), and each gap gets
an annotation per kind: label "overflow" with ``daqflow:lost_samples`` for samples lost, label
"skipped" with ``daqflow:skipped_samples`` for samples dropped on purpose (squelch, retune).

A recording that ended early says why in the global ``daqflow:ended`` (a block failed
upstream, the disk filled up, the run was cancelled, `daqflow recover` finished it). While it
is written, ``NAME.sigmf-meta.partial`` holds the metadata so far, for `daqflow recover`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from ..core import Chunk, Pacer, Stream, block
from ._deps import require
from .paths import check_input, check_output, commit, give_back, hold, partial, write_all
from .recorder import RecordingError, describe, record
from .segments import SegmentTracker, mark_gap

DATATYPES = {
    "complex64": "cf32_le", "complex128": "cf64_le", "float32": "rf32_le", "float64": "rf64_le",
    "int8": "ri8", "uint8": "ru8", "int16": "ri16_le", "uint16": "ru16_le", "int32": "ri32_le",
    "uint32": "ru32_le",
}
COMPLEX_INTEGERS = {"int8": "ci8", "uint8": "cu8", "int16": "ci16_le", "int32": "ci32_le"}


def datatype_of(data: np.ndarray) -> str:
    """SigMF datatype of samples: an (N,) array, or an (N, 2) integer array of I/Q pairs."""
    name = data.dtype.name
    if data.ndim == 2 and data.shape[1] == 2 and name in COMPLEX_INTEGERS:
        return COMPLEX_INTEGERS[name]
    if data.ndim != 1 or name not in DATATYPES:
        raise ValueError(f"SigMF cannot hold {name} samples of shape {data.shape[1:]} per sample")
    return DATATYPES[name]


def dtype_of(datatype: str) -> tuple[np.dtype, int]:
    """numpy dtype and values per sample (2 for complex integers) of a SigMF datatype."""
    for name, code in DATATYPES.items():
        if code == datatype or code.removesuffix("_le") == datatype:
            return np.dtype(name), 1
    for name, code in COMPLEX_INTEGERS.items():
        if code == datatype or code.removesuffix("_le") == datatype:
            return np.dtype(name), 2
    raise ValueError(f"unsupported SigMF datatype {datatype!r} (big-endian types are not read)")


def sigmf_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(meta, data) paths from a path given with or without a SigMF extension."""
    path = Path(path).expanduser()
    base = path
    for suffix in (".sigmf-meta", ".sigmf-data", ".sigmf"):
        if path.name.endswith(suffix):
            base = path.with_name(path.name[: -len(suffix)])
            break
    return base.with_name(base.name + ".sigmf-meta"), base.with_name(base.name + ".sigmf-data")


NOTE_INTERVAL = 1.0  # seconds between updates of NAME.sigmf-meta.partial while recording


class SigmfRecorder:
    """Writes Chunks into a SigMF recording (no asyncio: used by `sigmf_writer`).

    While it records, ``NAME.sigmf-data.partial`` holds the samples (written unbuffered: a
    killed process leaves all it wrote) and ``NAME.sigmf-meta.partial`` the metadata so far
    (written at the first chunk, then at most every `NOTE_INTERVAL` seconds; its global
    ``daqflow:known_samples`` says up to which sample its captures and gaps are complete), so
    `daqflow recover` can finish a recording whose process was killed."""

    def __init__(self, path: str | os.PathLike[str], description: str | None = None,
                 author: str | None = None, checksum: bool = False):
        self.sigmf = require("sigmf", "io", "sigmf_writer")
        self.meta_path, self.data_path = sigmf_paths(path)
        check_output(self.data_path, "sigmf_writer")
        self.where = f"sigmf_writer {str(self.meta_path)!r}"
        self.description, self.author, self.checksum = description, author, checksum
        self.temporary = partial(self.data_path)
        self.meta_temporary = partial(self.meta_path)
        self.samples = 0
        self.datatype: str | None = None
        self.source: dict[str, str] = {}  # the device that made the samples (meta hw, device)
        self.tracker = SegmentTracker()
        self._noted = -NOTE_INTERVAL  # time.monotonic() of the last metadata note
        self._file = open(self.temporary, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        hold(self._file.fileno())

    def write(self, chunk: Chunk) -> None:
        datatype = datatype_of(chunk.data)
        if self.datatype is None:
            self.datatype = datatype
        elif datatype != self.datatype:
            raise ValueError(f"sigmf_writer: samples changed from {self.datatype} to {datatype} "
                             f"in {str(self.data_path)!r}")
        if not self.samples:
            self.source = {k: str(chunk.meta[k]) for k in ("hw", "device") if k in chunk.meta}
        self.tracker.add(chunk, self.samples)
        now = time.monotonic()
        if now - self._noted >= NOTE_INTERVAL:  # before the data: what it says holds for it
            self._note(self.samples + chunk.samples)
            self._noted = now
        write_all(self._file, np.ascontiguousarray(chunk.data))
        self.samples += chunk.samples

    def _note(self, known: int) -> None:
        """Write ``NAME.sigmf-meta.partial`` (atomically: a kill never leaves half of it)."""
        info = {**self._global(None), "daqflow:known_samples": int(known)}
        note = self._metadata(info).dumps(pretty=True)
        temporary = partial(self.meta_temporary)
        temporary.write_text(note)
        commit(temporary, self.meta_temporary)

    def _global(self, ended: str | None) -> dict[str, Any]:
        first = self.tracker.segments[0]
        info: dict[str, Any] = {
            "core:datatype": self.datatype,
            "core:sample_rate": first.rate,
            "core:recorder": "daqflow",
            "core:extensions": [{"name": "daqflow", "version": "1.0.0", "optional": True}],
        }
        if self.description:
            info["core:description"] = self.description
        if self.author:
            info["core:author"] = self.author
        if "hw" in self.source:
            info["core:hw"] = self.source["hw"]
        if "device" in self.source:
            info["daqflow:device"] = self.source["device"]
        if ended:
            info["daqflow:ended"] = ended
        return info

    def _metadata(self, info: dict[str, Any]) -> Any:
        """The SigMF metadata: ``info`` as global, a capture per segment, gap annotations."""
        meta = self.sigmf.SigMFFile(global_info=info)
        first = self.tracker.segments[0]
        for segment in self.tracker.segments:
            capture: dict[str, Any] = {"core:global_index": int(segment.index)}
            if segment.center_freq is not None:
                capture["core:frequency"] = segment.center_freq
            if segment.rate != first.rate:
                capture["daqflow:sample_rate"] = segment.rate
            if segment.gain is not None:
                capture["daqflow:gain"] = segment.gain
            meta.add_capture(int(segment.position), metadata=capture)
        for gap in self.tracker.gaps:
            if gap.lost:
                meta.add_annotation(int(gap.position), 0, metadata={
                    "core:label": "overflow",
                    "core:comment": f"{gap.lost} samples lost before this point",
                    "daqflow:lost_samples": int(gap.lost),
                })
            if gap.skipped:
                meta.add_annotation(int(gap.position), 0, metadata={
                    "core:label": "skipped",
                    "core:comment": f"{gap.skipped} samples dropped on purpose before this point "
                                    "(e.g. squelch or retune), not lost",
                    "daqflow:skipped_samples": int(gap.skipped),
                })
        return meta

    def _per_sample(self) -> int:
        dtype, width = dtype_of(self.datatype or "cf32_le")
        return dtype.itemsize * width

    def close(self, ended: str | None = None) -> dict[str, Any]:
        """Finish: the metadata (with ``daqflow:ended`` if the recording ended early) is
        written, then the data and the metadata are renamed to their final names: the
        metadata, last, marks a complete recording. After a failed write the recording holds
        the whole samples on disk; on a full disk the last few are given back to make room
        for the metadata."""
        per_sample = self._per_sample()
        try:
            samples = os.fstat(self._file.fileno()).st_size // per_sample if self.datatype else 0
        finally:
            self._file.close()
        extra = {"ended": ended} if ended else {}
        partial(self.meta_temporary).unlink(missing_ok=True)  # a note cut short (a full disk)
        for attempt in range(4):
            if samples:
                os.truncate(self.temporary, samples * per_sample)  # whole samples only
            else:  # no recording (SigMF readers cannot open an empty data file)
                for leftover in (self.temporary, self.meta_temporary):
                    leftover.unlink(missing_ok=True)
                return {"meta": None, "data": None, "samples": 0, **extra}
            text = self._final(samples, ended)
            try:
                temporary = partial(self.meta_temporary)
                try:
                    temporary.write_text(text)
                except OSError as exc:
                    temporary.unlink(missing_ok=True)
                    if exc.errno != errno.ENOSPC or attempt == 3:
                        raise
                    samples = give_back(self.temporary, len(text) << attempt, per_sample) // per_sample
                    continue
                commit(temporary, self.meta_temporary)
                commit(self.temporary, self.data_path)
                commit(self.meta_temporary, self.meta_path)
                break
            except OSError as exc:
                raise RecordingError(f"{self.where}: {describe(exc)} while finishing: its {samples} "
                                     f"samples are in {str(self.temporary)!r} (daqflow recover "
                                     "finishes it)") from None
        return {"meta": str(self.meta_path), "data": str(self.data_path), "samples": self.samples,
                **extra}

    def _final(self, samples: int, ended: str | None) -> str:
        """The metadata of the first ``samples`` samples, as text."""
        self.samples = samples
        self.tracker.segments = [s for s in self.tracker.segments if s.position < samples]
        self.tracker.gaps = [g for g in self.tracker.gaps if g.position < samples]
        info = self._global(ended)
        if self.checksum:  # (the data is read once more)
            info["core:sha512"] = _sha512(self.temporary)
        meta = self._metadata(info)
        meta.validate()
        return meta.dumps(pretty=True)


def _sha512(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


@block(name="sigmf_writer", accepts="chunk")
async def _sigmf_writer(stream: Stream, path: Path, description: str | None, author: str | None,
                        checksum: bool) -> dict[str, Any]:
    return await record(SigmfRecorder(path, description, author, checksum), stream)


def sigmf_writer(stream: Stream, path: str | os.PathLike[str], description: str | None = None,
                 author: str | None = None, checksum: bool = False, **options: Any) -> Stream:
    """Record a stream of sample Chunks as SigMF (``NAME.sigmf-meta`` + ``NAME.sigmf-data``).

    Args:
        stream: chunks of samples (datatype from the dtype: complex64 -> cf32_le, ...).
        path: the recording's name, with or without a ``.sigmf-meta``/``-data`` extension.
        description, author: ``core:description``, ``core:author``.

    Chunks from a radio (`soapy_source`) say where they come from: ``meta["hw"]`` becomes
    ``core:hw`` and ``meta["device"]`` ``daqflow:device`` (the SoapySDR args); each capture
    has the centre frequency (``core:frequency``) and the gain in dB (``daqflow:gain``) it
    was recorded at, and `sigmf_source` gives both back.
        checksum: store ``core:sha512`` of the data (the file is read once more when it closes:
            ~80 MS/s of complex64 here, so off by default).
        options: name=, buffer=, policy=, threaded= (threaded moves the disk writes off the loop).

    The sink's result: ``{"meta": path, "data": path, "samples": count}`` (no files and None
    paths if no sample arrived), and ``"ended"``: why, if the recording ended early.

    Raises (while running):
        RecordingError: the disk is full; the recording keeps the samples on disk (a few less
            if the metadata needed their room) and the message says how many.
    """
    meta_path, data_path = sigmf_paths(path)
    check_output(data_path, "sigmf_writer")
    return _sigmf_writer(stream, meta_path, description, author, bool(checksum),
                         **options)


class SigmfRecording:
    """A SigMF recording opened for reading: its metadata, checked, and its samples."""

    def __init__(self, path: str | os.PathLike[str]):
        sigmf = require("sigmf", "io", "sigmf_source")
        self.meta_path, self.data_path = sigmf_paths(path)
        check_input(self.meta_path, "SigMF recording")
        check_input(self.data_path, "SigMF recording")
        where = str(self.meta_path)
        try:
            json.loads(self.meta_path.read_bytes())  # (sigmf leaks the file on bad JSON)
            self.handle = sigmf.sigmffile.fromfile(where, skip_checksum=True)
            info = self.handle.get_global_info()
            if "core:sample_rate" not in info:
                raise ValueError(f"{where!r} has no core:sample_rate: the replay rate is unknown")
            self.rate = _positive_rate(info["core:sample_rate"], where, "core:sample_rate")
            self.dtype, self.width = dtype_of(info["core:datatype"])
            size = self.data_path.stat().st_size
            per_sample = self.dtype.itemsize * self.width
            if size % per_sample:
                raise ValueError(f"{str(self.data_path)!r}: {size} bytes is not a whole number of "
                                 f"{info['core:datatype']} samples")
            self.samples = size // per_sample
            self.captures = _checked_captures(self.handle.get_captures(), self.samples, where)
            self.handle.validate()
        except Exception as exc:  # the boundary of a bad file: one line naming it
            if isinstance(exc, ValueError) and str(exc).startswith(
                    (repr(where), repr(str(self.data_path)))):
                raise  # already one line naming the file
            first = (str(exc).splitlines() or [""])[0]  # (a schema error runs to 30 lines)
            raise ValueError(f"{where!r} is not a SigMF recording daqflow can read: "
                             f"{type(exc).__name__}: {first}") from None
        self.annotations = self.handle.get_annotations()

    def gaps(self) -> dict[int, tuple[int, int]]:
        """(samples lost, samples skipped on purpose) before each file position with a gap,
        from the "overflow" and "skipped" annotations."""
        out: dict[int, tuple[int, int]] = {}
        for annotation in self.annotations:
            label = annotation.get("core:label")
            if label not in ("overflow", "skipped"):
                continue
            position = int(annotation["core:sample_start"])
            lost, skipped = out.get(position, (0, 0))
            if label == "overflow":
                lost += int(annotation.get("daqflow:lost_samples", 0))
            else:
                skipped += int(annotation.get("daqflow:skipped_samples", 0))
            out[position] = (lost, skipped)
        return out

    def segments(self) -> list[tuple[int, int, int, float, float | None, float | None]]:
        """(first position, end position, stream index, rate, centre frequency, gain) per
        capture."""
        out = []
        captures = self.captures or [{"core:sample_start": 0}]
        for k, capture in enumerate(captures):
            start = int(capture["core:sample_start"])
            end = int(captures[k + 1]["core:sample_start"]) if k + 1 < len(captures) else self.samples
            index = int(capture.get("core:global_index", start))
            rate = float(capture.get("daqflow:sample_rate", self.rate))
            out.append((start, end, index, rate, capture.get("core:frequency"),
                        capture.get("daqflow:gain")))
        return out

    def read(self, start: int, count: int) -> np.ndarray:
        shape = (self.samples, self.width) if self.width > 1 else (self.samples,)
        if not self.samples:
            return np.empty((0, *shape[1:]), self.dtype)
        data = np.memmap(self.data_path, self.dtype, mode="r", shape=shape)
        return np.array(data[start:start + count])


def _positive_rate(value: Any, where: str, field: str) -> float:
    """``value`` as a sample rate in Hz: a finite number > 0, else one line naming the file."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise ValueError(f"{where!r}: {field} must be a sample rate > 0 Hz, got {value!r}")
    return float(value)


def _checked_captures(captures: list[dict[str, Any]], samples: int, where: str) -> list[dict[str, Any]]:
    """The captures of a recording of ``samples`` samples, checked: each starts at a whole
    sample within the data, in order, with a stream index >= 0 and a rate > 0 Hz if given."""
    previous = -1
    for n, capture in enumerate(captures):
        start = capture.get("core:sample_start")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"{where!r}: capture {n} core:sample_start must be a sample number "
                             f">= 0, got {start!r}")
        if start < previous:
            raise ValueError(f"{where!r}: capture {n} starts at sample {start}, before capture "
                             f"{n - 1} ({previous}): captures must be in order")
        if start > samples:
            raise ValueError(f"{where!r}: capture {n} starts at sample {start}, beyond the data "
                             f"file's {samples} samples")
        index = capture.get("core:global_index", start)
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(f"{where!r}: capture {n} core:global_index must be an index >= 0, "
                             f"got {index!r}")
        if "daqflow:sample_rate" in capture:
            _positive_rate(capture["daqflow:sample_rate"], where, f"capture {n} daqflow:sample_rate")
        previous = start
    return list(captures)


@block(name="sigmf_source", produces="chunk")
async def _sigmf_source(recording: SigmfRecording, paced: bool, chunk: int) -> AsyncIterator[Chunk]:
    expected: int | None = None
    pacer: Pacer | None = None
    gaps = recording.gaps()
    for start, end, index, rate, center, gain in recording.segments():
        if paced and (pacer is None or pacer.period != chunk / rate):
            pacer = Pacer(chunk / rate)
        for position in range(start, end, chunk):
            data = recording.read(position, min(chunk, end - position))
            at = index + position - start
            meta: dict[str, Any] = {} if center is None else {"center_freq": float(center)}
            if gain is not None:
                meta["gain"] = float(gain)
            if expected is not None and at > expected:
                mark_gap(meta, at - expected, gaps.get(position, (0, 0))[1])
            expected = at + len(data)
            if pacer is not None:
                await pacer.wait()
            yield Chunk(data, rate, at, at / rate, meta)


def sigmf_source(path: str | os.PathLike[str], realtime: bool = False, chunk: int = 8192,
                 **options: Any) -> Stream:
    """Replay a SigMF recording: Chunks with the recorded rate, centre frequency and stream
    indices (gaps come back as index jumps marked ``meta["overflow"]`` for samples lost and
    ``meta["skipped"]`` for samples dropped on purpose).

    Args:
        path: the recording, with or without extension.
        realtime: pace at the recorded rate (else as fast as the graph takes it).
        chunk: samples per chunk.
        options: name=, buffer=, policy=, threaded=.

    Raises:
        FileNotFoundError / ValueError naming the path: missing files, not SigMF, a data file
            that is not a whole number of samples.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1 sample, got {chunk!r}")
    recording = SigmfRecording(path)
    return _sigmf_source(recording, bool(realtime), chunk, **options)
