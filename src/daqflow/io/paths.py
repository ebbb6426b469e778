"""Output paths: checked before anything runs, written under a temporary name, renamed when
complete, so an interrupted recording never looks finished; unbuffered writes (`write_all`), a
lock that says a file is still being written (`hold`, `in_use`), and room made for finishing a
recording on a full disk (`give_back`)."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
from pathlib import Path
from typing import Any


def check_output(path: str | os.PathLike[str], what: str) -> Path:
    """The path as a Path; raises if its directory is missing or not writable (naming it)."""
    path = Path(path).expanduser()
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise FileNotFoundError(f"{what}: directory {str(parent)!r} does not exist (for {str(path)!r})")
    if not parent.is_dir():
        raise NotADirectoryError(f"{what}: {str(parent)!r} is not a directory (for {str(path)!r})")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"{what}: directory {str(parent)!r} is not writable (for {str(path)!r})")
    if path.is_dir():
        raise IsADirectoryError(f"{what}: {str(path)!r} is a directory")
    return path


def check_input(path: str | os.PathLike[str], what: str) -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"{what}: {str(path)!r} is a directory, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no such file: {str(path)!r}")
    return path


def partial(path: Path) -> Path:
    """The temporary name a file is written under until it is complete."""
    return path.with_name(path.name + ".partial")


def commit(temporary: Path, final: Path) -> None:
    """Make a completed file visible under its final name (atomic on one filesystem)."""
    os.replace(temporary, final)


def write_all(f: io.RawIOBase, data: Any) -> None:
    """Write every byte of ``data`` (a C-contiguous array or buffer) to the unbuffered file
    ``f`` (``open(path, "wb", buffering=0)``): nothing waits in a buffer, so what a failed
    write left on disk is the file's size, and a killed process leaves all it wrote."""
    view = memoryview(data).cast("B")
    while len(view):
        view = view[f.write(view) or 0:]


def hold(fd: int) -> None:
    """Mark the open file ``fd`` as being written (a shared lock, released when the file is
    closed or the process dies); see `in_use`."""
    with contextlib.suppress(OSError):  # a filesystem without locks: nothing to say
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)


def in_use(path: Path) -> bool:
    """True while a process holds ``path`` open for writing (`hold`) or reading as HDF5."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def give_back(path: Path, needed: int, unit: int, keep: int = 0) -> int:
    """Free disk space for finishing a recording on a full disk: cut whole ``unit``-byte
    samples off the end of ``path`` (never below ``keep`` bytes), at least ``needed`` bytes
    plus a filesystem block. Returns the file's new size."""
    info = os.stat(path)
    cut = needed + info.st_blksize
    size = max(keep, info.st_size - cut)
    size -= (size - keep) % unit
    os.truncate(path, size)
    return size
