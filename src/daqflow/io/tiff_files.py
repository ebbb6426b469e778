"""Image sequences (tifffile): `tiff_writer`, `tiff_source`, and the directory `Walker`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block
from ._deps import require
from .paths import check_output, commit, partial


def _frames(item: Any) -> tuple[list[np.ndarray], int]:
    """The 2-D frames in an item (a Chunk of one or several frames, or an array) and the
    index of the first."""
    if isinstance(item, Chunk):
        data, index = item.data, item.index
    else:
        data, index = np.asarray(item), None
    if data.ndim == 2:
        return [data], index if index is not None else -1
    if data.ndim == 3:
        return list(data), index if index is not None else -1
    raise ValueError(f"tiff_writer: frames must be 2-D (or a stack of them), got shape {data.shape}")


@block(name="tiff_writer")
async def _tiff_writer(stream: Stream, directory: Path, pattern: str) -> dict[str, Any]:
    tifffile = require("tifffile", "io", "tiff_writer")
    paths: list[str] = []
    count = 0
    async for item in stream:
        frames, index = _frames(item)
        for k, frame in enumerate(frames):
            number = index + k if index >= 0 else count
            path = directory / pattern.format(index=number)
            temporary = partial(path)
            tifffile.imwrite(temporary, frame)
            commit(temporary, path)  # a frame file appears only once complete
            paths.append(str(path))
            count += 1
    return {"directory": str(directory), "frames": count, "paths": paths}


def tiff_writer(stream: Stream, directory: str | os.PathLike[str],
                pattern: str = "frame-{index:06d}.tif", **options: Any) -> Stream:
    """Write each 2-D frame as a TIFF file named by ``pattern`` (``{index}``: the frame's
    stream index, or its count for plain arrays). A chunk of shape (n, h, w) is n frames.

    Args:
        stream: 2-D frames (Chunks or arrays).
        directory: an existing directory.
        pattern: file name with an ``{index}`` field.
        options: name=, buffer=, policy=, threaded= (threaded: encode off the event loop).

    The sink's result: ``{"directory": ..., "frames": count, "paths": [...]}``.
    """
    require("tifffile", "io", "tiff_writer")
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(f"tiff_writer: directory {str(directory)!r} does not exist")
    try:
        pattern.format(index=0)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"pattern {pattern!r} must have only an {{index}} field: {exc}") from None
    check_output(directory / pattern.format(index=0), "tiff_writer")
    return _tiff_writer(stream, directory, pattern, **options)


@block(name="tiff_source", produces=Chunk)
async def _tiff_source(paths: tuple[Path, ...], rate: float) -> AsyncIterator[Chunk]:
    tifffile = require("tifffile", "io", "tiff_source")
    for k, path in enumerate(paths):
        frame = tifffile.imread(path)
        yield Chunk(frame[None, ...], rate, k, k / rate, {"path": str(path)})


def tiff_source(directory: str | os.PathLike[str], pattern: str = "*.tif", rate: float = 1.0,
                **options: Any) -> Stream:
    """The TIFF files of a directory matching ``pattern``, in natural name order, as Chunks of
    shape (1, h, w) (one frame each; index = position in the sequence).

    Args:
        directory: where the files are.
        pattern: glob pattern.
        rate: frames per second to label the chunks with (no pacing).
        options: name=, buffer=, policy=, threaded=.
    """
    require("tifffile", "io", "tiff_source")
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(f"tiff_source: directory {str(directory)!r} does not exist")
    paths = tuple(sorted(directory.glob(pattern), key=_natural))
    return _tiff_source(paths, float(rate), **options)


def _natural(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


class Walker:
    """A place in a directory tree to write into (Concert's DirectoryWalker, safe under
    concurrency: every walker is its own immutable position, nothing is shared).

    >>> import tempfile
    >>> root = Walker(tempfile.mkdtemp())
    >>> with root.descend_sync("scan-1") as scan:
    ...     scan.path.name
    'scan-1'
    """

    def __init__(self, root: str | os.PathLike[str], *, _top: Path | None = None):
        self.path = Path(root).expanduser()
        self.path.mkdir(parents=True, exist_ok=True)
        self.root = _top if _top is not None else self.path.resolve()  # the tree it stays in
        self._locks: dict[str, asyncio.Lock] = {}

    def _inside(self, target: Path, what: str) -> Path:
        """``target`` if it resolves (symlinks followed) inside the tree, else ValueError."""
        if not target.resolve().is_relative_to(self.root):
            raise ValueError(f"walker: {what} {str(target)!r} leads outside the tree "
                             f"{str(self.root)!r} (through '..' or a symlink)")
        return target

    def child(self, name: str) -> Walker:
        """The walker of subdirectory ``name`` (created); refuses names that leave this tree,
        also through a symlink inside it."""
        if not name or Path(name).is_absolute() or ".." in Path(name).parts:
            raise ValueError(f"walker: {name!r} must be a relative path inside {str(self.path)!r}")
        target = self._inside(self.path / name, "directory")
        return Walker(target, _top=self.root)

    @contextlib.asynccontextmanager
    async def descend(self, name: str) -> AsyncIterator[Walker]:
        """``async with walker.descend("scan-1") as w:`` — w writes into root/scan-1; tasks
        descending into the same name take turns."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            yield self.child(name)

    @contextlib.contextmanager
    def descend_sync(self, name: str) -> Iterator[Walker]:
        """The same from blocking code."""
        yield self.child(name)

    def tiff_writer(self, stream: Stream, pattern: str = "frame-{index:06d}.tif", **options: Any) -> Stream:
        """`tiff_writer` into this walker's directory; ``pattern`` must name files in it."""
        try:
            first = pattern.format(index=0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"pattern {pattern!r} must have only an {{index}} field: {exc}") from None
        if Path(first).name != first or first in (".", ".."):
            raise ValueError(f"walker: pattern {pattern!r} must name files in {str(self.path)!r}, "
                             "not in another directory")
        self._inside(self.path, "directory")
        return tiff_writer(stream, self.path, pattern, **options)

    def __truediv__(self, name: str) -> Walker:
        return self.child(name)

    def __repr__(self) -> str:
        return f"Walker({str(self.path)!r})"


def walker(root: str | os.PathLike[str]) -> Walker:
    """A `Walker` at ``root`` (created if missing)."""
    return Walker(root)
