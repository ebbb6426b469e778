"""Raw sample files: `npy_writer` (NumPy .npy) and `file_source` (GNU Radio file_sink output)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from ..core import Chunk, Pacer, Stream, block
from .paths import check_input, check_output, commit, hold, partial, write_all
from .recorder import RecordingError, describe, record

_HEADER = 128  # bytes: magic, version, length and a dict padded with spaces (npy format 1.0)


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                 "shape": shape})
    room = _HEADER - 10 - 1
    if len(text) > room:
        raise ValueError(f"npy_writer: header for shape {shape} does not fit")
    body = text.ljust(room) + "\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body.encode("latin1")


class NpyRecorder:
    """Writes Chunks into one .npy file (no asyncio: used by `npy_writer`).

    The file is ``NAME.partial`` until it closes: a 128-byte header (zeros until the first
    chunk says the dtype, then a header with 0 rows), then the rows, written unbuffered (a
    killed process leaves every row it wrote; `daqflow recover` finishes such a file)."""

    def __init__(self, path: Path):
        self.path = path
        self.where = f"npy_writer {str(path)!r}"
        self.temporary = partial(path)
        self.samples = 0
        self.dtype: np.dtype | None = None
        self.shape: tuple[int, ...] = ()
        self._file = open(self.temporary, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        hold(self._file.fileno())
        try:
            write_all(self._file, bytes(_HEADER))
        except OSError as exc:
            self._file.close()
            self.temporary.unlink()
            raise RecordingError(f"{self.where}: {describe(exc)}: no samples saved") from None

    def write(self, chunk: Chunk) -> None:
        data = chunk.data
        if self.dtype is None:
            self.dtype, self.shape = data.dtype, data.shape[1:]
            os.pwrite(self._file.fileno(), _npy_header(self.dtype, (0, *self.shape)), 0)
        elif data.dtype != self.dtype or data.shape[1:] != self.shape:
            raise ValueError(f"npy_writer: {str(self.path)!r} holds {self.dtype}{list(self.shape)}, "
                             f"got {data.dtype}{list(data.shape[1:])}")
        write_all(self._file, np.ascontiguousarray(data))
        self.samples += chunk.samples

    def close(self, ended: str | None = None) -> dict[str, Any]:
        """Finish: the header says how many rows the file holds (all whole rows on disk, also
        after a failed write), then the file is renamed to its final name."""
        try:
            if self.dtype is None:  # nothing arrived: an empty recording
                os.pwrite(self._file.fileno(), _npy_header(np.dtype(np.complex64), (0,)), 0)
            self._file.close()
            self.samples = finish_npy(self.temporary)
        except OSError as exc:
            self._file.close()
            raise RecordingError(f"{self.where}: {describe(exc)} while finishing: its rows are in "
                                 f"{str(self.temporary)!r} (daqflow recover finishes it)") from None
        commit(self.temporary, self.path)
        self.path.with_name(self.path.name + ".ended").unlink(missing_ok=True)  # (an older one's)
        result: dict[str, Any] = {"path": str(self.path), "samples": self.samples}
        if ended:
            result["ended"] = ended
        return result


def finish_npy(path: Path) -> int:
    """Finish a .npy file as `NpyRecorder` writes it (a killed writer's too): cut to whole
    rows, and the header says how many. Returns the rows.

    Raises:
        ValueError naming the path: its writer stopped before the first rows (no dtype yet),
            or it is not such a file.
    """
    with open(path, "r+b") as f:
        if not f.read(_HEADER).strip(b"\0"):
            raise ValueError(f"{str(path)!r}: its writer stopped before the first samples (no header)")
        f.seek(0)
        try:
            np.lib.format.read_magic(f)
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        except ValueError as exc:
            raise ValueError(f"{str(path)!r} is not a .npy file npy_writer began: {exc}") from None
        row = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
        size = f.seek(0, os.SEEK_END)
        rows = (size - _HEADER) // row if row and f.tell() >= _HEADER else 0
        f.truncate(_HEADER + rows * row)
        f.seek(0)
        f.write(_npy_header(dtype, (rows, *shape[1:])))
    return rows


@block(name="npy_writer", accepts="chunk")
async def _npy_writer(stream: Stream, path: Path) -> dict[str, Any]:
    return await record(NpyRecorder(path), stream)


def npy_writer(stream: Stream, path: str | os.PathLike[str], **options: Any) -> Stream:
    """Record a stream's samples into one .npy file (``numpy.load`` reads it), written under
    ``NAME.partial`` and renamed when complete. The result: ``{"path", "samples"}``, and
    ``"ended"``: why, if the recording ended early (a block failed upstream, a full disk: then
    `RecordingError` says how many samples the file keeps).

    Args:
        stream: chunks of samples (rows of equal shape).
        path: the .npy file.
        options: name=, buffer=, policy=, threaded=.
    """
    path = check_output(path, "npy_writer")
    return _npy_writer(stream, path, **options)


@block(name="file_source", produces="chunk")
async def _file_source(path: Path, dtype: np.dtype, rate: float, chunk: int, paced: bool,
                       center_freq: float | None) -> AsyncIterator[Chunk]:
    meta = {} if center_freq is None else {"center_freq": center_freq}
    pacer = Pacer(chunk / rate) if paced else None
    index = 0
    with open(path, "rb") as f:
        while True:
            data = np.fromfile(f, dtype, count=chunk)
            if not len(data):
                return
            if pacer is not None:
                await pacer.wait()
            yield Chunk(data, rate, index, index / rate, meta)
            index += len(data)


def file_source(path: str | os.PathLike[str], dtype: Any, rate: float, chunk: int = 8192,
                paced: bool = False, center_freq: float | None = None, **options: Any) -> Stream:
    """Replay a raw file of samples: GNU Radio ``blocks.file_sink`` output, ``ndarray.tofile``.

    Args:
        path: the file.
        dtype: sample type ("complex64" for gr_complex, "float32", "int16", ...).
        rate: sample rate in Hz (raw files do not record it).
        chunk: samples per chunk.
        paced: replay at ``rate`` (else as fast as the graph takes it).
        center_freq: Hz, put in ``meta["center_freq"]``.
        options: name=, buffer=, policy=, threaded=.

    Raises:
        ValueError naming the path if its size is not a whole number of ``dtype`` samples.
    """
    path = check_input(path, "file_source")
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"file_source: dtype {dtype!r}: {exc}") from None
    size = path.stat().st_size
    if size % dtype.itemsize:
        raise ValueError(f"file_source: {str(path)!r} has {size} bytes, not a whole number of "
                         f"{dtype} samples ({dtype.itemsize} bytes): wrong dtype?")
    if not rate > 0:
        raise ValueError(f"rate must be > 0 Hz, got {rate!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1 sample, got {chunk!r}")
    return _file_source(path, dtype, float(rate), chunk, bool(paced),
                        None if center_freq is None else float(center_freq),
                        **options)


def read_npy_header(path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """dtype and shape of a .npy file without reading its data; ValueError naming the file
    if it is not a .npy file or holds fewer bytes than its header says (truncated)."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            start = f.tell()
    except (ValueError, EOFError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable .npy file: {exc}") from None
    need = start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = path.stat().st_size
    if have < need:
        per_row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize if shape else dtype.itemsize
        whole = (have - start) // per_row if per_row else 0
        raise ValueError(f"{str(path)!r} is truncated: its header says shape {shape} ({need} bytes) "
                         f"but the file has {have} bytes ({whole} whole rows)")
    return dtype, shape


__all__ = ["file_source", "npy_writer", "read_npy_header"]
