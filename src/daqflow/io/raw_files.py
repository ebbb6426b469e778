"""Raw sample files: `npy_writer` (NumPy .npy) and `file_source` (GNU Radio file_sink output)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from ..core import Chunk, Pacer, Stream, block
from .paths import check_input, check_output, commit, partial

_HEADER = 128  # bytes: magic, version, length and a dict padded with spaces (npy format 1.0)


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                 "shape": shape})
    room = _HEADER - 10 - 1
    if len(text) > room:
        raise ValueError(f"npy_writer: header for shape {shape} does not fit")
    body = text.ljust(room) + "\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body.encode("latin1")


@block(name="npy_writer", accepts="chunk")
async def _npy_writer(stream: Stream, path: Path) -> dict[str, Any]:
    temporary = partial(path)
    count, dtype, shape = 0, None, ()
    try:
        with open(temporary, "wb") as f:
            f.write(b"\0" * _HEADER)
            try:
                async for chunk in stream:
                    if dtype is None:
                        dtype, shape = chunk.data.dtype, chunk.data.shape[1:]
                    elif chunk.data.dtype != dtype or chunk.data.shape[1:] != shape:
                        raise ValueError(f"npy_writer: {str(path)!r} holds {dtype}{list(shape)}, "
                                         f"got {chunk.data.dtype}{list(chunk.data.shape[1:])}")
                    f.write(np.ascontiguousarray(chunk.data).data)
                    count += chunk.samples
            finally:  # what was written stays readable, also when the graph stops on an error
                f.seek(0)
                f.write(_npy_header(dtype or np.dtype(np.complex64), (count, *shape)))
    finally:
        commit(temporary, path)
    return {"path": str(path), "samples": count}


def npy_writer(stream: Stream, path: str | os.PathLike[str], **options: Any) -> Stream:
    """Record a stream's samples into one .npy file (``numpy.load`` reads it), written under
    ``NAME.partial`` and renamed when complete.

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
    """dtype and shape of a .npy file without reading its data."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    return dtype, shape


__all__ = ["file_source", "npy_writer", "read_npy_header"]
