"""WAV files (libsndfile through ``soundfile``): `wav_writer` and `wav_source`.

Samples are int16, int32 or float32 (``PCM_16``, ``PCM_32``, ``FLOAT``), one column per
channel. The file is written as ``NAME.partial`` and renamed when the writer closes (end of
stream, ``duration=``, Ctrl-C or a failing block). A WAV file cannot hold gaps and none is
filled: the samples are written one after another and the gaps are listed in the file's
``LIST/INFO`` ``ICMT`` comment, a JSON object (key ``"daqflow"``) that `wav_source` reads back:

- ``index``, ``time``: stream index and time (s) of the first sample;
- ``gaps``: rows ``[position, index, overflow, skipped]``: before file position ``position``
  the stream index jumps to ``index``; ``overflow`` samples were lost, ``skipped`` dropped on
  purpose (index jump = overflow + skipped);
- ``center_freq``: rows ``[position, Hz]`` where ``meta["center_freq"]`` changed (if any);
- ``meta``, ``datetime``: from `io.write_wav`, the user's metadata and the ISO 8601 UTC time
  of the first sample, if given;
- ``ended``: why the recording ended early (a block failed upstream, a full disk, a
  cancelled run, `daqflow recover`), if it did.

libsndfile writes the header; the samples are appended to it unbuffered (a killed writer
leaves all it wrote, which `daqflow recover` finishes), and when the writer closes the sizes
are set, the comment is appended (libsndfile keeps only short strings) and libsndfile's
``PEAK`` chunk of float files, which scipy.io.wavfile warns about, is turned into a ``JUNK``
(filler) chunk.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..core import Chunk, GraphError, Pacer, Stream, block
from ..core.authoring import require
from .paths import check_input, check_output, commit, give_back, hold, partial, write_all
from .recorder import RecordingError, describe, record
from .segments import mark_gap

#: sample formats written: name -> libsndfile subtype
SUBTYPES = {"int16": "PCM_16", "int32": "PCM_32", "float32": "FLOAT"}
_ALIASES = {subtype.lower(): name for name, subtype in SUBTYPES.items()} | {"float": "float32"}
#: dtype a file is read as, by libsndfile subtype (narrower integers are scaled up by libsndfile)
READ_DTYPES = {"PCM_S8": "int16", "PCM_U8": "int16", "PCM_16": "int16", "PCM_24": "int32",
               "PCM_32": "int32", "FLOAT": "float32", "DOUBLE": "float64"}
_MAX_RATE = 2**31 - 1  # Hz: libsndfile's samplerate is a C int
_MAX_RIFF = 2**32 - 1  # bytes: a RIFF file's size field
GAP_COLUMNS = ["position", "index", "overflow", "skipped"]  # of the comment's "gaps" rows
_WAV_MAGIC = (b"RIFF", b"RF64")


def _sample_format(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    name = str(value).lower()
    name = _ALIASES.get(name, name)
    if name not in SUBTYPES:
        raise ValueError(f"{what}: sample_format must be one of {sorted(SUBTYPES)}, got {value!r}")
    return name


class WavRecorder:
    """Writes Chunks into a WAV file (no asyncio: used by `wav_writer`)."""

    def __init__(self, path: str | os.PathLike[str], sample_format: str | None = None,
                 meta: dict[str, Any] | None = None, datetime: str | None = None):
        """``meta``: the user's metadata (JSON values), the comment's ``meta``; ``datetime``:
        ISO 8601 UTC time of the first sample, the comment's ``datetime``."""
        self.path = check_output(path, "wav_writer")
        self.meta, self.datetime = meta, datetime
        self.where = f"wav_writer {str(self.path)!r}"
        self.format = _sample_format(sample_format, self.where)
        self.temporary = partial(self.path)
        self.samples = 0
        self.rate: float | None = None
        self.channels = 0
        self.dtype: np.dtype | None = None
        self.index: int | None = None
        self.time = 0.0
        self.gaps: list[list[int]] = []
        self.center: list[list[Any]] = []
        self.clipped = 0
        self._frame_bytes = 0
        self._expected = 0
        self._file: Any = None  # the .partial, unbuffered, after the header libsndfile wrote

    def write(self, chunk: Chunk) -> None:
        data = chunk.data
        if data.dtype.kind == "c":
            raise TypeError(f"{self.where}: WAV holds real samples, got complex ({data.dtype}): "
                            "write the real part (chunk.data.real) or demodulate first "
                            "(dsp.demod_fm, dsp.demod_am)")
        if self._file is None:
            self._open(chunk)
        self._check(chunk)
        self._track(chunk)
        if not chunk.samples:
            return
        samples = self._convert(data)
        if 4096 + (self.samples + chunk.samples) * self._frame_bytes + 100 * len(self.gaps) > _MAX_RIFF:
            raise ValueError(f"{self.where}: a WAV file holds at most 4 GiB; it is full after "
                             f"{self.samples} samples (record long captures with sigmf_writer "
                             "or hdf5_writer)")
        write_all(self._file, samples.astype(samples.dtype.newbyteorder("<"), copy=False))
        self.samples += chunk.samples

    def _open(self, chunk: Chunk) -> None:
        rate, data = float(chunk.rate), chunk.data
        if not (rate.is_integer() and 1 <= rate <= _MAX_RATE):
            raise ValueError(f"{self.where}: WAV needs a whole number of Hz (1 to {_MAX_RATE}) as "
                             f"sample rate, got {chunk.rate!r} Hz: resample first (dsp.resample) "
                             "or record as SigMF or HDF5")
        if data.ndim not in (1, 2) or (data.ndim == 2 and data.shape[1] < 1):
            raise ValueError(f"{self.where}: samples must be (n,) or (n, channels), got shape "
                             f"{data.shape}")
        self.format = self.format or _default_format(data.dtype, self.where)
        _check_conversion(data.dtype, self.format, self.where)
        self.rate, self.dtype = rate, data.dtype
        self.channels = 1 if data.ndim == 1 else data.shape[1]
        self._frame_bytes = np.dtype(self.format).itemsize * self.channels
        self.index, self.time, self._expected = chunk.index, float(chunk.time), chunk.index
        sf = require("soundfile", "io", "wav_writer")
        try:  # libsndfile writes the header; the samples are appended to it here
            sf.SoundFile(self.temporary, "w", samplerate=int(rate), channels=self.channels,
                         subtype=SUBTYPES[self.format], format="WAV").close()
        except (sf.SoundFileError, OverflowError) as exc:
            self.temporary.unlink(missing_ok=True)
            raise ValueError(f"{self.where}: libsndfile cannot write {self.channels} channel(s) of "
                             f"{self.format} at {rate:g} Hz: {exc}") from None
        self._file = open(self.temporary, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        hold(self._file.fileno())

    def _check(self, chunk: Chunk) -> None:
        data = chunk.data
        if chunk.rate != self.rate:
            raise ValueError(f"{self.where}: the sample rate changed from {self.rate:g} to "
                             f"{chunk.rate:g} Hz at stream index {chunk.index}; a WAV file has one "
                             "rate (start another file)")
        channels = 1 if data.ndim == 1 else data.shape[1] if data.ndim == 2 else None
        if channels != self.channels:
            raise ValueError(f"{self.where}: the channels changed from {self.channels} to shape "
                             f"{data.shape[1:]} per sample at stream index {chunk.index}")
        if data.dtype != self.dtype:
            raise ValueError(f"{self.where}: the samples changed from {self.dtype} to {data.dtype} "
                             f"at stream index {chunk.index}")

    def _track(self, chunk: Chunk) -> None:
        """Gaps (index jumps, meta overflow / skipped) and centre-frequency changes."""
        jump = chunk.index - self._expected
        overflow = int(chunk.meta.get("overflow", 0))
        skipped = int(chunk.meta.get("skipped", 0))
        if jump > 0:  # a jump nobody explained was lost
            overflow = max(overflow, jump - skipped)
        if jump or overflow or skipped:
            last = self.gaps[-1] if self.gaps else None
            if last is not None and last[0] == self.samples:  # empty chunks in between
                last[1], last[2], last[3] = chunk.index, last[2] + overflow, last[3] + skipped
            else:
                self.gaps.append([self.samples, chunk.index, overflow, skipped])
        self._expected = chunk.end_index
        center = chunk.meta.get("center_freq")
        if center is not None and (not self.center or self.center[-1][1] != float(center)):
            if self.center and self.center[-1][0] == self.samples:
                self.center[-1][1] = float(center)
            else:
                self.center.append([self.samples, float(center)])

    def _convert(self, data: np.ndarray) -> np.ndarray:
        target = np.dtype(self.format)
        if data.dtype == target:
            return np.ascontiguousarray(data)
        if target.kind == "f":
            return data.astype(target)
        # float -> integer: full scale is 1.0 (x * 2**(bits-1), rounded), out of range clipped
        if np.isnan(data).any():
            raise ValueError(f"{self.where}: NaN samples cannot be written as {target}")
        info = np.iinfo(target)
        scaled = np.rint(data.astype(np.float64) * -float(info.min))
        outside = (scaled > info.max) | (scaled < info.min)
        self.clipped += int(np.count_nonzero(outside))
        return np.clip(scaled, info.min, info.max).astype(target)

    def close(self, ended: str | None = None) -> dict[str, Any]:
        """Finish: the header gets the sizes of the whole frames on disk (all of them, also
        after a failed write), the daqflow comment (with ``ended`` if the recording ended
        early) is appended, then the file is renamed."""
        extra = {"ended": ended} if ended else {}
        if self._file is None:
            return {"path": None, "samples": 0, "rate": None, "gaps": 0, "overflow": 0, "skipped": 0,
                    **extra}
        self._file.close()
        try:
            self.samples = finish_wav(self.temporary, self._comment(ended))
        except OSError as exc:
            raise RecordingError(f"{self.where}: {describe(exc)} while finishing: its samples are in "
                                 f"{str(self.temporary)!r} (daqflow recover finishes it)") from None
        commit(self.temporary, self.path)
        return {"path": str(self.path), "samples": self.samples, "rate": self.rate,
                "channels": self.channels, "format": self.format, "gaps": len(self.gaps),
                "overflow": sum(g[2] for g in self.gaps), "skipped": sum(g[3] for g in self.gaps),
                "clipped": self.clipped, **extra}

    def _comment(self, ended: str | None) -> Callable[[int], str]:
        """The daqflow comment of the first ``frames`` samples (`finish_wav` says how many)."""
        def text(frames: int) -> str:
            self.samples = frames
            self.gaps = [g for g in self.gaps if g[0] < frames]
            self.center = [c for c in self.center if c[0] < frames or c[0] == 0]
            return json.dumps(self.metadata(ended), separators=(",", ":"))
        return text

    def metadata(self, ended: str | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"daqflow": 1, "index": self.index, "time": self.time,
                                "gap_columns": GAP_COLUMNS, "gaps": self.gaps}
        if self.center:
            meta["center_freq"] = self.center
        if self.datetime:
            meta["datetime"] = self.datetime
        if self.meta:
            meta["meta"] = self.meta
        if ended:
            meta["ended"] = ended
        return meta


def _default_format(dtype: np.dtype, where: str) -> str:
    if dtype.name in SUBTYPES:
        return dtype.name
    if dtype.kind == "f":
        return "float32"
    raise ValueError(f"{where}: WAV holds int16, int32 or float32 samples, got {dtype}: convert "
                     "the stream first, or give sample_format= for float samples")


def _check_conversion(dtype: np.dtype, target: str, where: str) -> None:
    if dtype.kind == "f" or dtype == np.dtype(target):
        return
    raise ValueError(f"{where}: {dtype} samples cannot be written as {target} (only float "
                     "samples are converted: scaled so that 1.0 is full scale); convert the "
                     "stream first or leave sample_format unset")


def _chunks(f: Any, start: int, stop: int) -> Iterator[tuple[int, bytes, int]]:
    """(offset, id, length) of the RIFF chunks of open file ``f`` between two offsets."""
    offset = start
    while offset + 8 <= stop:
        f.seek(offset)
        ident, length = struct.unpack("<4sI", f.read(8))
        yield offset, ident, length
        offset += 8 + length + length % 2  # chunks start on even offsets


def _layout(f: Any, path: Path) -> tuple[int, int, list[tuple[int, bytes, int]]]:
    """(frame size in bytes, offset of the data chunk, chunks before it) of an open WAV file
    whose data chunk is its last (as `wav_writer` writes it)."""
    head = f.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise ValueError(f"{str(path)!r} is not a RIFF/WAVE file")
    end = f.seek(0, os.SEEK_END)
    before: list[tuple[int, bytes, int]] = []
    frame = 0
    for offset, ident, length in _chunks(f, 12, end):
        if ident == b"data":
            if not frame:
                raise ValueError(f"{str(path)!r}: no fmt chunk before the samples")
            return frame, offset, before
        if ident == b"fmt ":
            f.seek(offset + 8 + 12)
            frame = struct.unpack("<H", f.read(2))[0]  # nBlockAlign
        before.append((offset, ident, length))
    raise ValueError(f"{str(path)!r}: no data chunk")


def finish_wav(path: Path, comment: Callable[[int], str]) -> int:
    """Finish a WAV file being written (header, then samples appended; a killed writer's
    too): cut to whole frames, then `_finish_riff` with ``comment(frames)``. On a full disk
    the last frames are given back to make room for the comment. Returns the frames kept."""
    with open(path, "rb") as f:
        frame, data, _ = _layout(f, path)
        size = f.seek(0, os.SEEK_END)
    start = data + 8
    for attempt in range(4):
        frames = (size - start) // frame
        os.truncate(path, start + frames * frame)
        text = comment(frames)
        try:
            _finish_riff(path, text, frames)
            return frames
        except OSError as exc:
            if exc.errno != errno.ENOSPC or attempt == 3:
                raise
            os.truncate(path, start + frames * frame)
            size = give_back(path, (len(text) + 64) << attempt, frame, keep=start)
    raise AssertionError("unreachable")


def _finish_riff(path: Path, text: str, frames: int) -> None:
    """Finish a WAV file whose last chunk is ``data`` with ``frames`` frames: the sizes (data,
    RIFF, float files' ``fact``), libsndfile's ``PEAK`` chunk of float files (a chunk
    scipy.io.wavfile warns about, and written before the samples were) turned into ``JUNK``
    (filler every reader skips), and a ``LIST/INFO`` chunk appended holding ``text`` as its
    ``ICMT`` comment."""
    body = text.encode("utf-8") + b"\0"
    icmt = b"ICMT" + struct.pack("<I", len(body)) + body + b"\0" * (len(body) % 2)
    chunk = b"LIST" + struct.pack("<I", 4 + len(icmt)) + b"INFO" + icmt
    with open(path, "r+b") as f:
        frame, data, before = _layout(f, path)
        size = frames * frame
        end = data + 8 + size
        for offset, ident, _ in before:
            if ident == b"PEAK":
                f.seek(offset)
                f.write(b"JUNK")
            if ident == b"fact":
                f.seek(offset + 8)
                f.write(struct.pack("<I", frames))
        f.seek(data + 4)
        f.write(struct.pack("<I", size))
        if end % 2:
            f.seek(end)
            f.write(b"\0")
            end += 1
        if end + len(chunk) - 8 > _MAX_RIFF:
            raise ValueError(f"wav_writer {str(path)!r}: no room left for the daqflow comment "
                             "(4 GiB WAV limit)")
        f.seek(end)
        f.write(chunk)
        f.truncate()
        f.seek(4)
        f.write(struct.pack("<I", end + len(chunk) - 8))


def _read_comments(path: Path) -> list[str]:
    """The ``ICMT`` texts of a RIFF/WAVE file's ``LIST/INFO`` chunks (RF64 files: none)."""
    comments = []
    with open(path, "rb") as f:
        if f.read(4) != b"RIFF":
            return comments
        size = f.seek(0, os.SEEK_END)
        for offset, ident, length in _chunks(f, 12, size):
            if ident == b"LIST" and length >= 4 and f.read(4) == b"INFO":
                for _, sub, sub_length in _chunks(f, offset + 12, min(offset + 8 + length, size)):
                    if sub == b"ICMT":
                        text = f.read(sub_length).split(b"\0", 1)[0]
                        comments.append(text.decode("utf-8", "replace"))
    return comments


class WavRecording:
    """A WAV file opened for reading: rate, channels, samples, dtype and daqflow's gap list.

    Raises:
        FileNotFoundError / ValueError naming the path: missing, not a WAV file, unreadable
            daqflow metadata.
    """

    def __init__(self, path: str | os.PathLike[str], what: str = "wav_source"):
        sf = require("soundfile", "io", what)
        self.path = check_input(path, what)
        where = str(self.path)
        with open(self.path, "rb") as f:
            head = f.read(12)
        if head[:4] not in _WAV_MAGIC or head[8:12] != b"WAVE":
            raise ValueError(f"{what}: {where!r} is not a WAV file (no RIFF/WAVE header)")
        try:
            info = sf.info(where)
        except sf.SoundFileError as exc:
            raise ValueError(f"{what}: {where!r} is not a WAV file libsndfile can read: {exc}") from None
        self.rate = float(info.samplerate)
        self.channels = int(info.channels)
        self.samples = int(info.frames)
        self.subtype = str(info.subtype)
        self.dtype = np.dtype(READ_DTYPES.get(self.subtype, "float32"))
        self.daqflow = self._metadata(where)
        self.index = int(self.daqflow.get("index", 0))
        self.time = float(self.daqflow.get("time", 0.0))
        self.gaps = [tuple(int(v) for v in row) for row in self.daqflow.get("gaps", [])]
        self.center = [(int(p), float(hz)) for p, hz in self.daqflow.get("center_freq", [])]

    def _metadata(self, where: str) -> dict[str, Any]:
        for text in _read_comments(self.path):
            try:
                meta = json.loads(text)
            except ValueError:
                continue
            if isinstance(meta, dict) and "daqflow" in meta:
                break
        else:
            return {}
        try:
            gaps = [[int(v) for v in row] for row in meta.get("gaps", [])]
            centers = [(int(p), float(hz)) for p, hz in meta.get("center_freq", [])]
            positions = [row[0] for row in gaps]
            int(meta.get("index", 0)), float(meta.get("time", 0.0))
            ok = (all(len(row) == 4 for row in gaps) and positions == sorted(positions)
                  and all(0 <= p <= self.samples for p in positions + [p for p, _ in centers]))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{where!r}: its daqflow comment is not a gap list daqflow can read")
        return meta

    @property
    def complete(self) -> bool | None:
        """True for a file daqflow finished writing; None for a WAV file from elsewhere."""
        return True if self.daqflow else None

    def center_freq(self, position: int = 0) -> float | None:
        """``meta["center_freq"]`` in Hz at file ``position`` (None if never given)."""
        value = None
        for at, hz in self.center:
            if at > position:
                break
            value = hz
        return value

    def segments(self) -> list[tuple[int, int, int, dict[str, Any]]]:
        """(first position, end position, stream index, meta) of each run of samples that
        has no gap nor centre-frequency change inside; meta holds the marks of the index jump
        before it (`segments.mark_gap`: the part recorded as skipped, the rest lost)."""
        cuts = sorted({0, self.samples, *(g[0] for g in self.gaps), *(p for p, _ in self.center)})
        gaps = {g[0]: g for g in self.gaps}
        out = []
        index = self.index
        for start, end in itertools.pairwise(cuts):
            meta: dict[str, Any] = {}
            gap = gaps.get(start)
            if gap is not None:
                if start > 0 and gap[1] > index:  # marks from the jump, as SigMF and HDF5 replay
                    mark_gap(meta, gap[1] - index, gap[3])
                index = gap[1]
            center = self.center_freq(start)
            if center is not None:
                meta["center_freq"] = center
            out.append((start, end, index, meta))
            index += end - start
        return out

    def open(self) -> Any:
        """A ``soundfile.SoundFile`` for reading the samples."""
        sf = require("soundfile", "io", "wav_source")
        return sf.SoundFile(str(self.path))

    def read(self, start: int, count: int) -> np.ndarray:
        """``count`` samples from file position ``start``: (n,) mono, (n, channels) otherwise."""
        with self.open() as f:
            f.seek(start)
            return f.read(count, dtype=self.dtype.name)


@block(name="wav_writer", accepts="chunk")
async def _wav_writer(stream: Stream, path: Path, sample_format: str | None) -> dict[str, Any]:
    return await record(WavRecorder(path, sample_format), stream)


def wav_writer(stream: Stream, path: str | os.PathLike[str], sample_format: str | None = None,
               **options: Any) -> Stream:
    """Record a stream of real samples as a WAV file (``NAME.partial`` until it closes).

    Args:
        stream: chunks of real samples, (n,) mono or (n, channels); one integer rate in Hz.
        path: the .wav file.
        sample_format: "int16", "int32" or "float32" (libsndfile's "PCM_16", "PCM_32",
            "FLOAT" too). Default: the stream's dtype (float64 is written as float32). Float
            samples written as integers are scaled so that 1.0 is full scale, rounded, and
            clipped (counted in the result's ``clipped``).
        options: name=, buffer=, policy=, threaded= (threaded moves the disk writes off the loop).

    Gaps are not filled: samples are written one after another and each gap (file position,
    stream index after it, samples lost = ``meta["overflow"]``, dropped on purpose =
    ``meta["skipped"]``) is listed in the file's comment, which `wav_source` reads back.

    The sink's result: ``{"path", "samples", "rate" (Hz), "channels", "format", "gaps",
    "overflow", "skipped", "clipped"}`` (no file and path None if no chunk arrived), and
    ``"ended"``: why, if the recording ended early.

    Raises:
        GraphError: complex input. FileNotFoundError / PermissionError: the directory.
        While running (naming the path): a rate that is not a whole number of Hz, a rate,
        channel-count or dtype change, complex samples, a file over 4 GiB; `RecordingError`
        on a full disk (the message says how many samples the file keeps).
    """
    path = check_output(path, "wav_writer")
    sample_format = _sample_format(sample_format, f"wav_writer {str(path)!r}")
    require("soundfile", "io", "wav_writer")
    if isinstance(stream, Stream) and stream.produces == "complex":
        raise GraphError(f"{stream.name!r} -> wav_writer {str(path)!r}: WAV holds real samples and "
                         f"{stream.name!r} produces complex chunks: take the real part "
                         "(chunk.data.real) or demodulate first (dsp.demod_fm, dsp.demod_am)")
    return _wav_writer(stream, path, sample_format, **options)


@block(name="wav_source", produces="chunk")
async def _wav_source(recording: WavRecording, chunk: int, paced: bool) -> AsyncIterator[Chunk]:
    rate = recording.rate
    pacer = Pacer(1 / rate) if paced else None  # a tick per sample: a chunk leaves when its last is due
    dtype = recording.dtype.name
    with recording.open() as f:
        for start, end, index, meta in recording.segments():
            f.seek(start)
            first = True
            for position in range(start, end, chunk):
                data = f.read(min(chunk, end - position), dtype=dtype)
                if not len(data):  # a file shorter than its header says
                    return
                at = index + position - start
                marks = meta if first else {k: v for k, v in meta.items() if k == "center_freq"}
                first = False
                if pacer is not None:
                    await pacer.wait(len(data))
                yield Chunk(data, rate, at, recording.time + (at - recording.index) / rate, marks)


def wav_source(path: str | os.PathLike[str], chunk: int = 8192, realtime: bool = False,
               **options: Any) -> Stream:
    """Replay a WAV file: Chunks of its samples as stored (int16, int32 or float32; 8- and
    24-bit integers scaled up to int16 / int32, float64 kept), (n,) mono or (n, channels).

    Args:
        path: the .wav file.
        chunk: samples per chunk (a chunk also ends at every gap).
        realtime: pace at the file's rate (else as fast as the graph takes it).
        options: name=, buffer=, policy=, threaded=.

    A file written by `wav_writer` gives back its stream indices and times, and the chunk
    after each gap carries ``meta["overflow"]`` (lost) / ``meta["skipped"]`` (dropped on
    purpose) and an index jump of their sum; other WAV files start at index 0, time 0 s.

    Raises:
        FileNotFoundError / ValueError naming the path: missing, not a WAV file.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"wav_source: chunk must be an int >= 1 sample, got {chunk!r}")
    recording = WavRecording(path)
    return _wav_source(recording, chunk, bool(realtime), **options)


__all__ = ["WavRecorder", "WavRecording", "wav_source", "wav_writer"]
