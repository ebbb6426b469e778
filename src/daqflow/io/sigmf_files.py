"""SigMF recordings (the ``sigmf`` library): `sigmf_writer`; datatypes and paths. The reader,
`sigmf_source`, is in `sigmf_reading`.

The data file is written as ``NAME.sigmf-data.partial`` and renamed when the recording
ends, and the metadata file, written last, is the mark of a complete recording. Captures
follow the stream's segments (start, gaps, rate or centre-frequency changes; the capture's
``core:global_index`` is the stream index, so replay restores the gaps), and each gap gets
an annotation per kind: label "overflow" with ``daqflow:lost_samples`` for samples lost, label
"skipped" with ``daqflow:skipped_samples`` for samples dropped on purpose (squelch, retune).

`io.write_sigmf` adds the user's metadata as the global ``daqflow:meta`` and the time of
the first sample as the first capture's ``core:datetime``, if given.

A recording that ended early says why in the global ``daqflow:ended`` (a block failed
upstream, the disk filled up, the run was cancelled, `daqflow recover` finished it). While it
is written, ``NAME.sigmf-meta.partial`` holds the metadata so far, for `daqflow recover`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block
from ..core.authoring import require
from .paths import check_output, commit, give_back, hold, partial, write_all
from .recorder import RecordingError, describe, record
from .segments import SegmentTracker

DATATYPES = {
    "complex64": "cf32_le", "complex128": "cf64_le", "float32": "rf32_le", "float64": "rf64_le",
    "int8": "ri8", "uint8": "ru8", "int16": "ri16_le", "uint16": "ru16_le", "int32": "ri32_le",
    "uint32": "ru32_le",
}
COMPLEX_INTEGERS = {"int8": "ci8", "uint8": "cu8", "int16": "ci16_le", "uint16": "cu16_le",
                    "int32": "ci32_le", "uint32": "cu32_le"}


def datatype_of(data: np.ndarray) -> str:
    """SigMF datatype of samples: an (N,) array, or an (N, 2) integer array of I/Q pairs."""
    name = data.dtype.name
    if data.ndim == 2 and data.shape[1] == 2 and name in COMPLEX_INTEGERS:
        return COMPLEX_INTEGERS[name]
    if data.ndim != 1 or name not in DATATYPES:
        raise ValueError(f"SigMF cannot hold {name} samples of shape {data.shape[1:]} per sample")
    return DATATYPES[name]


_DATATYPE = re.compile(r"([cr])(f32|f64|i32|i16|u32|u16|i8|u8)(_le|_be)?")  # the spec's


def dtype_of(datatype: str) -> tuple[np.dtype, int]:
    """numpy dtype of a value in the file (``_be`` types big-endian, ``_le`` little-endian) and
    values per sample (2 for complex integers: I and Q) of a SigMF datatype."""
    match = _DATATYPE.fullmatch(datatype) if isinstance(datatype, str) else None
    if match is None:
        raise ValueError(f"unsupported SigMF datatype {datatype!r}")
    kind, code, order = match.groups()
    size = int(code[1:]) // 8  # bytes per value
    if code[0] == "f":
        dtype, width = np.dtype(f"c{2 * size}" if kind == "c" else f"f{size}"), 1
    else:
        dtype, width = np.dtype(f"{code[0]}{size}"), 2 if kind == "c" else 1
    return dtype.newbyteorder({"_be": ">", "_le": "<"}.get(order, "=")), width


COMPRESSED_ARCHIVES = (".sigmf.gz", ".sigmf.xz", ".sigmf.zip")  # refused by the reader: unpack them


def sigmf_archive(path: str | os.PathLike[str]) -> Path | None:
    """The ``.sigmf`` archive (a tar of NAME.sigmf-meta and NAME.sigmf-data) a path names:
    the archive itself (or a compressed one), or a name with no extension where only the
    archive exists."""
    path = Path(path).expanduser()
    if path.name.endswith((".sigmf", *COMPRESSED_ARCHIVES)):
        return path if path.is_file() else None
    if path.name.endswith((".sigmf-meta", ".sigmf-data")):
        return None
    archive = path.with_name(path.name + ".sigmf")
    meta, _ = sigmf_paths(path)
    return archive if archive.is_file() and not meta.exists() else None


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
                 author: str | None = None, checksum: bool = False,
                 meta: dict[str, Any] | None = None, datetime: str | None = None):
        """``meta``: the user's metadata (JSON values), kept as the global ``daqflow:meta``;
        ``datetime``: ISO 8601 UTC time of the first sample, the first capture's
        ``core:datetime``."""
        self.sigmf = require("sigmf", "io", "sigmf_writer")
        self.meta, self.datetime = meta, datetime
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
        if self.meta:
            info["daqflow:meta"] = self.meta
        if ended:
            info["daqflow:ended"] = ended
        return info

    def _metadata(self, info: dict[str, Any]) -> Any:
        """The SigMF metadata: ``info`` as global, a capture per segment, gap annotations."""
        meta = self.sigmf.SigMFFile(global_info=info)
        first = self.tracker.segments[0]
        for segment in self.tracker.segments:
            capture: dict[str, Any] = {"core:global_index": int(segment.index)}
            if self.datetime and segment is first:
                capture["core:datetime"] = self.datetime
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
