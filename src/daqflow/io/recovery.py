"""`recover`: finish a recording whose writer was killed (SIGKILL, out of memory, a crash),
from what it left on disk; behind ``daqflow recover PATH``.

What a killed writer leaves, and what becomes of it:

- SigMF: ``NAME.sigmf-data.partial`` (every sample written) and ``NAME.sigmf-meta.partial``
  (datatype, rate, captures and gaps as of at most a second earlier) become ``NAME.sigmf-data``
  and ``NAME.sigmf-meta``; samples after the last note get an annotation "recovered" (gaps
  among them, if any, were not noted).
- NumPy: ``NAME.npy.partial`` (a header with a placeholder row count, then the rows) becomes
  ``NAME.npy`` with the count of whole rows on disk, and ``NAME.npy.ended`` beside it.
- WAV: ``NAME.wav.partial`` (libsndfile's header, then the samples) becomes ``NAME.wav`` with
  the sizes of the whole frames on disk (stream index, time and gaps are not known).
- HDF5: ``NAME.h5`` itself, still marked open by the dead writer (HDF5's tools refuse it;
  only an SWMR reader opens it): copied into a file holding what its last flush saw (at most
  ``flush_interval`` old), which replaces it.

The recording is marked as recovered (SigMF ``daqflow:ended``, HDF5 ``ended`` with
``complete=False``, the WAV comment's ``ended``, the ``.ended`` file of a .npy), so
``daqflow inspect`` says it ended early. Nothing is recovered over a finished recording, nor
from a file a running process still writes.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from ..core.authoring import require
from .paths import commit, in_use, partial

RECOVERED = "recovered by daqflow recover: its writer stopped without finishing (killed?)"


@dataclasses.dataclass(frozen=True)
class Recovered:
    """A recovered recording: its final path (SigMF: the metadata), format, samples kept."""

    path: str
    format: str
    samples: int

    def __str__(self) -> str:
        return f"recovered {self.format} recording {self.path}: {self.samples} samples"


def recover(path: str | os.PathLike[str]) -> Recovered:
    """Finish what a killed writer left under the recording ``path`` (its final name, or the
    ``.partial`` file), marked as recovered.

    Raises:
        FileExistsError: the recording is finished already (its final name exists; HDF5:
            it was closed in order).
        FileNotFoundError: nothing to recover there.
        ValueError: a file still being written by a running process, or one that cannot be
            recovered (no samples, no metadata saying what they are); the message names it.
    """
    path = Path(path).expanduser()
    target = path.with_name(path.name.removesuffix(".partial"))
    name = target.name
    if name.endswith((".sigmf-meta", ".sigmf-data", ".sigmf")) or partial(
            target.with_name(name + ".sigmf-data")).exists():
        return _recover_sigmf(target)
    if name.endswith(".npy"):
        return _recover_npy(target)
    if name.endswith(".wav"):
        return _recover_wav(target)
    if name.endswith((".h5", ".hdf5")):
        return _recover_hdf5(target)
    raise ValueError(f"{str(path)!r}: not a recording daqflow can recover (.sigmf-meta, .npy, "
                     ".wav, .h5)")


def _source(final: Path, temporary: Path) -> Path:
    """The ``.partial`` to finish as ``final``; refuses if ``final`` exists or it is in use."""
    if final.exists():
        raise FileExistsError(f"{str(final)!r} exists: that recording is finished (nothing to "
                              "recover; move it away to recover its .partial)")
    if not temporary.is_file():
        raise FileNotFoundError(f"no {str(temporary)!r} to recover")
    _not_in_use(temporary)
    return temporary


def _not_in_use(path: Path) -> None:
    if in_use(path):
        raise ValueError(f"{str(path)!r} is still open in a running process (its writer?): stop "
                         "it first")


def _recover_sigmf(target: Path) -> Recovered:
    from .sigmf_files import dtype_of, sigmf_paths

    sigmf = require("sigmf", "io", "daqflow recover")
    meta_path, data_path = sigmf_paths(target)
    note_path = partial(meta_path)
    source = _source(meta_path, partial(data_path))
    if data_path.exists():
        raise FileExistsError(f"{str(data_path)!r} exists: move it away to recover "
                              f"{str(source)!r}")
    if not note_path.is_file():
        raise ValueError(f"{str(source)!r}: no {note_path.name} beside it says what its samples "
                         "are (its writer stopped before the first chunk?): not recoverable")
    try:
        note = json.loads(note_path.read_text())
        info = dict(note["global"])
        dtype, width = dtype_of(info["core:datatype"])
        captures = list(note.get("captures", []))
        annotations = list(note.get("annotations", []))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{str(note_path)!r} is not the metadata sigmf_writer notes: "
                         f"{type(exc).__name__}: {exc}") from None
    per_sample = dtype.itemsize * width
    samples = source.stat().st_size // per_sample
    if not samples:
        raise ValueError(f"{str(source)!r} holds no whole sample: nothing to recover")
    os.truncate(source, samples * per_sample)
    known = int(info.pop("daqflow:known_samples", samples))
    info["daqflow:ended"] = f"{RECOVERED}; {samples} samples were on disk"
    meta = sigmf.SigMFFile(global_info=info)
    for capture in captures:
        if capture["core:sample_start"] < samples:
            meta.add_capture(int(capture["core:sample_start"]), metadata=capture)
    for annotation in annotations:
        if annotation["core:sample_start"] < samples:
            meta.add_annotation(int(annotation["core:sample_start"]),
                                int(annotation.get("core:sample_count", 0)), metadata=annotation)
    if samples > known:
        meta.add_annotation(known, samples - known, metadata={
            "core:label": "recovered",
            "core:comment": f"samples {known} on were written after the writer's last note: gaps "
                            "among them, if any, were not noted",
        })
    meta.validate()
    written = partial(note_path)
    written.write_text(meta.dumps(pretty=True))
    commit(written, note_path)
    commit(source, data_path)
    commit(note_path, meta_path)  # last: the metadata marks a finished recording
    return Recovered(str(meta_path), "SigMF", samples)


def _recover_npy(target: Path) -> Recovered:
    from .raw_files import finish_npy

    source = _source(target, partial(target))
    rows = finish_npy(source)
    commit(source, target)
    target.with_name(target.name + ".ended").write_text(
        f"{RECOVERED}; {rows} samples were on disk\n")
    return Recovered(str(target), "NumPy .npy", rows)


def _recover_wav(target: Path) -> Recovered:
    from .wav_files import GAP_COLUMNS, finish_wav

    source = _source(target, partial(target))

    def comment(frames: int) -> str:
        ended = (f"{RECOVERED}; {frames} samples were on disk (its stream index, time and gaps "
                 "are not known)")
        return json.dumps({"daqflow": 1, "gap_columns": GAP_COLUMNS, "gaps": [], "ended": ended},
                          separators=(",", ":"))

    frames = finish_wav(source, comment)
    commit(source, target)
    return Recovered(str(target), "WAV", frames)


def _recover_hdf5(path: Path) -> Recovered:
    from .hdf5_files import LIBVER

    h5py = require("h5py", "io", "daqflow recover")
    if not path.is_file():
        raise FileNotFoundError(f"no {str(path)!r} to recover")
    _not_in_use(path)
    try:
        with h5py.File(path, "r") as f:
            unfinished = [name for name, obj in f.items()
                          if isinstance(obj, h5py.Dataset) and obj.attrs.get("complete") is not None
                          and not obj.attrs["complete"]]
        if not unfinished:
            raise FileExistsError(f"{str(path)!r} was closed in order (complete=True): nothing to "
                                  "recover")
    except OSError as exc:  # still marked open by its dead writer: an SWMR reader opens it
        if isinstance(exc, FileExistsError):
            raise
    temporary = partial(path)
    samples = 0
    try:
        with h5py.File(path, "r", libver="latest", swmr=True) as old, \
                h5py.File(temporary, "w", libver=LIBVER) as new:
            new.attrs.update(old.attrs)
            for name in old:
                old.copy(old[name], new, name=name)
            for obj in new.values():
                if isinstance(obj, h5py.Dataset) and "complete" in obj.attrs:
                    obj.attrs["complete"] = False
                    obj.attrs["ended"] = f"{RECOVERED}; {obj.shape[0]} samples were flushed"
                    samples += obj.shape[0]
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ValueError(f"{str(path)!r} cannot be read even as HDF5's live (SWMR) reader opens "
                         f"it: {_first_line(exc)}") from None
    commit(temporary, path)
    return Recovered(str(path), "HDF5", samples)


def _first_line(exc: BaseException) -> str:
    lines: list[Any] = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


__all__ = ["Recovered", "recover"]
