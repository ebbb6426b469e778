"""Output paths: checked before anything runs, written under a temporary name, renamed when
complete, so an interrupted recording never looks finished."""

from __future__ import annotations

import os
from pathlib import Path


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
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no such file: {str(path)!r}")
    return path


def partial(path: Path) -> Path:
    """The temporary name a file is written under until it is complete."""
    return path.with_name(path.name + ".partial")


def commit(temporary: Path, final: Path) -> None:
    """Make a completed file visible under its final name (atomic on one filesystem)."""
    os.replace(temporary, final)
