"""Reading SigMF recordings: `SigmfRecording` (checked metadata and samples) and `sigmf_source`.

Every layout the ``sigmf`` library opens is read as it reads it:

- ``core:num_channels`` > 1: samples are interleaved per sample, so chunks have shape
  (n, channels) (complex integers: (n, channels, 2)); counts and durations are per channel;
- ``core:header_bytes`` (per capture: bytes before that capture's samples) and the global
  ``core:trailing_bytes`` (after the last sample) are not samples;
- big-endian types (``cf32_be``, ``ri16_be``, ...) come back in native byte order;
- a ``.sigmf`` archive (a tar of NAME.sigmf-meta and NAME.sigmf-data) is read in place;
- a Non-Conforming Dataset's data file is the one its ``core:dataset`` names.

A file daqflow cannot read correctly is refused in one line naming it.
"""

from __future__ import annotations

import bisect
import json
import os
import tarfile
import warnings
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from ..core import Chunk, Pacer, Stream, block
from ..core.authoring import kind_of_dtype, mark_gap, require
from .paths import check_input
from .sigmf_files import dtype_of, sigmf_archive, sigmf_paths


class SigmfRecording:
    """A SigMF recording opened for reading: its metadata, checked, and its samples.

    Attributes:
        rate: Hz. samples: samples per channel. channels: ``core:num_channels``.
        dtype: native numpy dtype of a value. width: values per sample (2: complex integers).
    """

    def __init__(self, path: str | os.PathLike[str]):
        sigmf = require("sigmf", "io", "sigmf_source")
        self.archive = sigmf_archive(path)
        self.meta_path, self.data_path = sigmf_paths(path)
        if self.archive is not None:
            self.meta_path = self.data_path = self.archive
        else:
            check_input(self.meta_path, "SigMF recording")
        where = str(self.meta_path)
        try:
            text, self._data_offset, size = self._locate()
            doc = json.loads(text)  # (sigmf leaks the file on bad JSON)
            info, captures = (doc.get("global"), doc.get("captures", [])) if isinstance(
                doc, dict) else (None, None)
            if size is None:  # a data file of its own
                size = self._dataset(info, where)
            if isinstance(info, dict) and isinstance(captures, list) and all(
                    isinstance(c, dict) for c in captures):
                self._layout(info, captures, size, where)  # before sigmf, which may choke on it
            with warnings.catch_warnings():  # what it warns of, `_layout` refuses
                warnings.simplefilter("ignore", UserWarning)
                self.handle = sigmf.sigmffile.fromfile(where, skip_checksum=True)
            info = self.handle.get_global_info()
            if "core:sample_rate" not in info:
                raise ValueError(f"{where!r} has no core:sample_rate: the replay rate is unknown")
            self.rate = _positive_rate(info["core:sample_rate"], where, "core:sample_rate")
            captures = self.handle.get_captures()
            headers = self._layout(info, captures, size, where)
            self.captures = _checked_captures(captures, self.samples, where)
            self._starts, self._bytes = self._capture_bytes(headers)
            self.handle.validate()
        except (FileNotFoundError, IsADirectoryError):
            raise  # (the data file: check_input's one line)
        except Exception as exc:  # the boundary of a bad file: one line naming it
            if isinstance(exc, ValueError) and str(exc).startswith(
                    (repr(where), repr(str(self.data_path)))):
                raise  # already one line naming the file
            first = (str(exc).splitlines() or [""])[0]  # (a schema error runs to 30 lines)
            raise ValueError(f"{where!r} is not a SigMF recording daqflow can read: "
                             f"{type(exc).__name__}: {first}") from None
        self.annotations = self.handle.get_annotations()

    def _layout(self, info: dict[str, Any], captures: list[dict[str, Any]], size: int,
                where: str) -> list[int]:
        """Datatype, channels and sample count from the metadata and the data's ``size`` in
        bytes, checked; returns each capture's header bytes."""
        stored, self.width = dtype_of(info["core:datatype"])
        self._stored, self.dtype = stored, stored.newbyteorder("=")
        self.channels = _count(info.get("core:num_channels", 1), where, "core:num_channels", 1)
        headers = [_count(c.get("core:header_bytes", 0), where, f"capture {n} core:header_bytes", 0)
                   for n, c in enumerate(captures)]
        trailing = _count(info.get("core:trailing_bytes", 0), where, "core:trailing_bytes", 0)
        self._frame = stored.itemsize * self.width * self.channels  # bytes per sample
        payload = size - sum(headers) - trailing
        if payload < 0:
            raise ValueError(f"{str(self.data_path)!r}: {size} bytes, fewer than its "
                             f"{sum(headers)} header and {trailing} trailing bytes")
        if payload % self._frame:
            raise ValueError(f"{str(self.data_path)!r}: {payload} bytes of samples is not a whole "
                             f"number of {info['core:datatype']} samples"
                             + (f" x {self.channels} channels" if self.channels > 1 else ""))
        self.samples = payload // self._frame
        return headers

    def _locate(self) -> tuple[bytes, int, int | None]:
        """(metadata text, byte offset of the data in its file, data size in bytes; None for
        a data file of its own, which `_dataset` finds)."""
        if self.archive is None:
            return self.meta_path.read_bytes(), 0, None
        try:
            tar = tarfile.open(self.archive, "r:")  # noqa: SIM115 - closed below; a plain tar only
        except tarfile.ReadError:
            raise ValueError(f"{str(self.archive)!r} is not an uncompressed .sigmf archive (a plain "
                             "tar): unpack a compressed one first (gunzip, unxz, unzip)") from None
        with tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            metas = [m for m in members if m.name.endswith(".sigmf-meta")]
            datas = [m for m in members if m.name.endswith(".sigmf-data")]
            if len(metas) != 1 or len(datas) != 1:
                raise ValueError(f"{str(self.archive)!r}: a .sigmf archive daqflow reads holds one "
                                 f".sigmf-meta and one .sigmf-data, it has "
                                 f"{[m.name for m in members]}")
            if datas[0].issparse():  # (its bytes are not in one piece)
                raise ValueError(f"{str(self.archive)!r}: its data member {datas[0].name!r} is "
                                 "a sparse file, which daqflow does not read in place")
            stream = tar.extractfile(metas[0])
            assert stream is not None
            return stream.read(), datas[0].offset_data, datas[0].size

    def _dataset(self, info: Any, where: str) -> int:
        """Find the data file: NAME.sigmf-data, or for a Non-Conforming Dataset the file its
        ``core:dataset`` names beside the metadata (a WAV file, say, whose header is the
        first capture's ``core:header_bytes``), as the ``sigmf`` library does. Its size in
        bytes."""
        name = info.get("core:dataset") if isinstance(info, dict) else None
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"{where!r}: core:dataset must be a file name, got {name!r}")
            self.data_path = self.meta_path.parent / name
        check_input(self.data_path, "SigMF recording")
        return self.data_path.stat().st_size

    def _capture_bytes(self, headers: list[int]) -> tuple[list[int], list[int]]:
        """Each capture's first sample and the byte where it lies (header bytes skipped)."""
        starts, offsets = [], []
        byte, previous = self._data_offset, 0
        for capture, header in zip(self.captures or [{"core:sample_start": 0}], headers or [0],
                                   strict=True):
            start = int(capture["core:sample_start"])
            byte += header + (start - previous) * self._frame
            starts.append(start)
            offsets.append(byte)
            previous = start
        return starts, offsets

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

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample: () or (channels,), with a last axis of 2 for complex
        integers."""
        return (*((self.channels,) if self.channels > 1 else ()),
                *((self.width,) if self.width > 1 else ()))

    def read(self, start: int, count: int) -> np.ndarray:
        """``count`` samples from sample ``start`` (across captures: the header bytes between
        them skipped), native byte order."""
        count = max(0, min(count, self.samples - start))
        out = np.empty((count, *self.sample_shape), self.dtype)
        done = 0
        while done < count:
            k = bisect.bisect_right(self._starts, start + done) - 1
            end = self._starts[k + 1] if k + 1 < len(self._starts) else self.samples
            n = min(count - done, end - start - done)
            offset = self._bytes[k] + (start + done - self._starts[k]) * self._frame
            out[done:done + n] = np.memmap(self.data_path, self._stored, mode="r", offset=offset,
                                           shape=(n, *self.sample_shape))
            done += n
        return out


def _positive_rate(value: Any, where: str, field: str) -> float:
    """``value`` as a sample rate in Hz: a finite number > 0, else one line naming the file."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise ValueError(f"{where!r}: {field} must be a sample rate > 0 Hz, got {value!r}")
    return float(value)


def _count(value: Any, where: str, field: str, least: int) -> int:
    """``value`` as a whole number >= ``least``, else one line naming the file."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{where!r}: {field} must be a whole number >= {least}, got {value!r}")
    return value


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
    ``meta["skipped"]`` for samples dropped on purpose). Several channels give chunks of
    shape (n, channels); ``.sigmf`` archives, big-endian types and header/trailing bytes are
    read as the ``sigmf`` library reads them.

    Args:
        path: the recording, with or without extension, or a ``.sigmf`` archive.
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
    stream = _sigmf_source(recording, bool(realtime), chunk, **options)
    return stream.declare(kind_of_dtype(recording.dtype))


__all__ = ["SigmfRecording", "sigmf_source"]
