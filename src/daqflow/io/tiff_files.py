"""Image sequences (tifffile): `tiff_writer`, `tiff_source`, and the directory `Walker`.

Each file holds one frame and, as JSON in its ImageDescription tag (where tifffile keeps its
own metadata), what the stream said of it: ``{"daqflow": 1, "index": frame index, "rate": Hz,
"time": s, "meta": {...}}`` (``meta``: its JSON-able entries, loss marks included). The
source reads them back, so a sequence replays with its indices, gaps, times and marks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block
from ..core.authoring import require
from .paths import check_output, commit, partial

FORMAT = 1  # the "daqflow" key of a frame's description
MARKS = ("overflow", "skipped")  # meta entries that belong to the first frame of a chunk


def _frames(item: Any) -> tuple[list[np.ndarray], Chunk | None]:
    """The 2-D frames in an item (a Chunk of one or several frames, or an array) and the
    Chunk they came in (None for a plain array)."""
    chunk = item if isinstance(item, Chunk) else None
    data = item.data if chunk is not None else np.asarray(item)
    if data.ndim == 2:
        return [data], chunk
    if data.ndim == 3:
        return list(data), chunk
    raise ValueError(f"tiff_writer: frames must be 2-D (or a stack of them), got shape {data.shape}")


def json_safe(value: Any) -> Any:
    """``value`` with what JSON cannot hold left out (arrays, objects) and numpy scalars as
    Python numbers; None if nothing is left of it."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict) or hasattr(value, "items"):
        out = {str(k): json_safe(v) for k, v in dict(value).items()}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return None


def _description(chunk: Chunk | None, k: int, number: int) -> str:
    """The JSON kept with frame ``k`` of ``chunk`` (``number``: its stream index)."""
    about: dict[str, Any] = {"daqflow": FORMAT, "index": number}
    if chunk is not None:
        rate = json_safe(float(chunk.rate)) or None  # Hz; non-finite or 0: not kept
        about["rate"] = rate
        time = json_safe(float(chunk.time)) if chunk.time is not None else None
        if time is not None:  # s; a non-finite time is not kept (JSON has no NaN)
            about["time"] = time + (k / rate if rate else 0.0)
        meta = dict(chunk.meta) if k == 0 else {
            key: v for key, v in chunk.meta.items() if key not in MARKS}
        about["meta"] = json_safe(meta) or {}
    return json.dumps(about, allow_nan=False)


@block(name="tiff_writer")
async def _tiff_writer(stream: Stream, directory: Path, pattern: str) -> dict[str, Any]:
    tifffile = require("tifffile", "io", "tiff_writer")
    paths: list[str] = []
    count = 0
    async for item in stream:
        frames, chunk = _frames(item)
        for k, frame in enumerate(frames):
            number = chunk.index + k if chunk is not None else count
            path = directory / pattern.format(index=number)
            temporary = partial(path)
            tifffile.imwrite(temporary, frame, description=_description(chunk, k, number),
                             metadata=None)
            commit(temporary, path)  # a frame file appears only once complete
            paths.append(str(path))
            count += 1
    return {"directory": str(directory), "frames": count, "paths": paths}


def tiff_writer(stream: Stream, directory: str | os.PathLike[str],
                pattern: str = "frame-{index:06d}.tif", **options: Any) -> Stream:
    """Write each 2-D frame as a TIFF file named by ``pattern`` (``{index}``: the frame's
    stream index, or its count for plain arrays). A chunk of shape (n, h, w) is n frames.
    Each file keeps the frame's index, rate, time and meta (see the module).

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


def _stored(path: Path, tiff: Any) -> dict[str, Any] | None:
    """What `tiff_writer` kept in the file (None for a file daqflow did not write); ValueError
    naming the file if its description is daqflow's but malformed."""
    text = tiff.pages[0].description if len(tiff.pages) else ""
    if not text.lstrip().startswith("{") or '"daqflow"' not in text:  # not a JSON object of ours
        return None
    try:
        about = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"tiff_source: {str(path)!r}: its description is not valid JSON "
                         f"({exc})") from None
    if not isinstance(about, dict) or "daqflow" not in about:
        return None
    if about["daqflow"] != FORMAT:
        raise ValueError(f"tiff_source: {str(path)!r}: daqflow format {about['daqflow']!r}, "
                         f"this version reads format {FORMAT}")
    index, rate, meta = about.get("index"), about.get("rate"), about.get("meta", {})
    time = about.get("time")
    if (not _count(index) or (rate is not None and not (_number(rate) and rate > 0))
            or (time is not None and not _number(time)) or not isinstance(meta, dict)
            or not all(_count(meta.get(mark, 0)) for mark in MARKS)):
        raise ValueError(f"tiff_source: {str(path)!r}: its daqflow description needs an index "
                         f">= 0, a rate > 0, a finite time and a meta object (overflow, skipped: "
                         f"counts >= 0), got {text[:300]!r}")
    return about


def _count(value: Any) -> bool:
    """Whether ``value`` is an int >= 0 (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@block(name="tiff_source", produces=Chunk)
async def _tiff_source(paths: tuple[Path, ...], rate: float | None) -> AsyncIterator[Chunk]:
    tifffile = require("tifffile", "io", "tiff_source")
    end = 0  # the index after the last frame read
    for path in paths:
        with tifffile.TiffFile(path) as tiff:
            frame = tiff.asarray()
            about = _stored(path, tiff)
        if about is None:  # a file from elsewhere: numbered by its place in the sequence
            about = {"index": end}
        index = about["index"]
        if index < end:
            raise ValueError(f"tiff_source: {str(path)!r} holds frame {index}, but frames up to "
                             f"{end - 1} came before it (two sequences in one directory?)")
        fps = rate or about.get("rate") or 1.0
        time = about.get("time") if rate is None and about.get("time") is not None else index / fps
        meta = {**about.get("meta", {}), "path": str(path)}
        unmarked = index - end - int(meta.get("overflow", 0)) - int(meta.get("skipped", 0))
        if unmarked > 0:  # frames missing from the directory: lost, and said so
            meta["overflow"] = int(meta.get("overflow", 0)) + unmarked
        yield Chunk(frame[None, ...], fps, index, time, meta)
        end = index + 1


def tiff_source(directory: str | os.PathLike[str], pattern: str = "*.tif",
                rate: float | None = None, **options: Any) -> Stream:
    """The TIFF files of a directory matching ``pattern``, in natural name order, as Chunks of
    shape (1, h, w), one frame each.

    Files written by `tiff_writer` come back with their index, rate, time and meta: gaps
    stay gaps, marked as they were (frames missing from the directory are marked lost,
    ``meta["overflow"]``). Other TIFF files are numbered by their place in the sequence.

    Args:
        directory: where the files are.
        pattern: glob pattern.
        rate: frames per second to label the chunks with (no pacing; times become index /
            rate). Default: the rate kept in the files, else 1.
        options: name=, buffer=, policy=, threaded=.
    """
    require("tifffile", "io", "tiff_source")
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(f"tiff_source: directory {str(directory)!r} does not exist")
    if rate is not None and not (isinstance(rate, int | float) and not isinstance(rate, bool)
                                 and rate > 0):
        raise ValueError(f"tiff_source: rate must be a number > 0 (frames per second), got {rate!r}")
    paths = tuple(sorted(directory.glob(pattern), key=_natural))
    return _tiff_source(paths, None if rate is None else float(rate), **options)


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
