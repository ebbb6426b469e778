"""What a recording holds: `inspect_recording` (format, dtype, rate, samples, duration, gaps),
`read_samples`; `daqflow.plot.plot_recording` draws them (io does not import plot)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .paths import check_input


class RecordingGap(NamedTuple):
    """Samples missing just before file position ``position``: ``lost`` ones (overflow) and
    ``skipped`` ones (dropped on purpose: squelch, retune)."""

    position: int
    lost: int
    skipped: int = 0

    def describe(self) -> str:
        """"N samples lost", "N samples skipped on purpose", or both."""
        parts = [f"{self.lost} samples lost"] if self.lost or not self.skipped else []
        if self.skipped:
            parts.append(f"{self.skipped} samples skipped on purpose")
        return ", ".join(parts)


@dataclasses.dataclass(frozen=True)
class RecordingInfo:
    """A recording's facts (rate in Hz, duration in seconds, gaps as `RecordingGap`s:
    (position, samples lost, samples skipped on purpose))."""

    path: str
    format: str
    dtype: str
    rate: float | None
    samples: int
    center_freq: float | None = None
    gaps: tuple[RecordingGap, ...] = ()
    segments: int = 1
    complete: bool | None = None
    ended: str | None = None  # why the recording ended early (None: it did not, or unknown)

    @property
    def duration(self) -> float | None:
        return self.samples / self.rate if self.rate else None

    @property
    def lost(self) -> int:
        """Samples lost (overflow) in all gaps."""
        return sum(gap.lost for gap in self.gaps)

    @property
    def skipped(self) -> int:
        """Samples dropped on purpose in all gaps."""
        return sum(gap.skipped for gap in self.gaps)

    def __str__(self) -> str:
        rows = [
            ("file", self.path), ("format", self.format), ("dtype", self.dtype),
            ("rate", f"{self.rate:g} Hz" if self.rate else "unknown"),
            ("samples", str(self.samples)),
            ("duration", f"{self.duration:.6g} s" if self.duration is not None else "unknown"),
        ]
        if self.center_freq is not None:
            rows.append(("center freq", f"{self.center_freq:g} Hz"))
        rows.append(("segments", str(self.segments)))
        skipped = f", {self.skipped} skipped on purpose" if self.skipped else ""
        rows.append(("gaps", f"{len(self.gaps)} ({self.lost} samples lost{skipped})"))
        if self.complete is not None:
            rows.append(("complete", "yes" if self.complete else "NO (interrupted while writing)"))
        if self.ended:
            rows.append(("ended", f"early: {self.ended}"))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def detect_format(path: Path) -> str:
    """"sigmf", "hdf5", "wav", "npy" or "raw", from the name and the first bytes."""
    name = path.name
    if name.endswith((".sigmf-meta", ".sigmf-data", ".sigmf")):
        return "sigmf"
    with open(path, "rb") as f:
        head = f.read(12)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if path.suffix.lower() == ".wav":
        raise ValueError(f"{str(path)!r} is named like WAV but is not a WAV file (no RIFF/WAVE header)")
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if path.suffix in (".h5", ".hdf5"):
        raise ValueError(f"{str(path)!r} is named like HDF5 but is not an HDF5 file")
    return "raw"


def _sigmf_target(path: Path) -> Path:
    from .sigmf_files import sigmf_paths

    meta, _ = sigmf_paths(path)
    return meta


def inspect_recording(path: str | os.PathLike[str], dtype: Any = None, rate: float | None = None,
                      dataset: str = "signal") -> RecordingInfo:
    """Open a recording and say what it holds.

    Args:
        path: a SigMF recording (either file, a ``.sigmf`` archive, or their name without
            extension), HDF5, WAV, .npy or raw file.
        dtype, rate: for raw files, which do not record them.
        dataset: the HDF5 dataset.

    Raises:
        FileNotFoundError / ValueError naming the path.
    """
    from .sigmf_files import sigmf_archive

    path = Path(path).expanduser()
    archive = sigmf_archive(path)
    if archive is None and (path.name.endswith((".sigmf-meta", ".sigmf-data", ".sigmf")) or (
            not path.exists() and _sigmf_target(path).is_file())):  # NAME for NAME.sigmf-meta
        path = _sigmf_target(path)
    check_input(archive or path, "inspect")
    kind = "sigmf" if archive is not None else detect_format(path)
    if kind == "sigmf":
        from .sigmf_reading import SigmfRecording

        rec = SigmfRecording(archive or path)
        gaps = tuple(RecordingGap(position, lost, skipped)
                     for position, (lost, skipped) in sorted(rec.gaps().items()))
        first = rec.segments()[0] if rec.segments() else None
        form = "SigMF" + (" archive" if archive is not None else "") + (
            f", {rec.channels} channels" if rec.channels > 1 else "")
        return RecordingInfo(str(rec.meta_path), form, rec.handle.get_global_info()["core:datatype"],
                             rec.rate, rec.samples, None if first is None else first[4], gaps,
                             len(rec.captures) or 1, True,
                             rec.handle.get_global_info().get("daqflow:ended"))
    if kind == "hdf5":
        from .hdf5_files import Hdf5Recording

        rec = Hdf5Recording(path, dataset)
        gaps = tuple(RecordingGap(int(p), int(n), int(s)) for p, n, _, s in rec.gaps)
        center = rec.attrs.get("center_freq")
        complete = rec.attrs.get("complete")
        return RecordingInfo(str(path), "HDF5", str(rec.dtype), rec.rate, rec.samples,
                             None if center is None else float(center), gaps,
                             len(rec.segment_list()), None if complete is None else bool(complete),
                             str(rec.attrs.get("ended") or "") or None)
    if kind == "wav":
        from .wav_files import WavRecording

        rec = WavRecording(path, "inspect")
        gaps = tuple(RecordingGap(position, overflow, skipped) for position, _, overflow, skipped in rec.gaps)
        return RecordingInfo(str(path), "WAV" if rec.channels == 1 else f"WAV, {rec.channels} channels",
                             rec.dtype.name, rec.rate, rec.samples, rec.center_freq(0), gaps,
                             max(1, len(rec.segments())), rec.complete, rec.daqflow.get("ended"))
    if kind == "npy":
        from .raw_files import read_npy_header

        npy_dtype, shape = read_npy_header(path)
        ended = path.with_name(path.name + ".ended")  # beside a recovered file (daqflow recover)
        return RecordingInfo(str(path), "NumPy .npy", str(npy_dtype), rate, shape[0] if shape else 1,
                             ended=ended.read_text().strip() if ended.is_file() else None)
    if dtype is None:
        raise ValueError(f"{str(path)!r} is a raw file: give its dtype (and rate)")
    raw_dtype = np.dtype(dtype)
    size = path.stat().st_size
    if size % raw_dtype.itemsize:
        raise ValueError(f"{str(path)!r}: {size} bytes is not a whole number of {raw_dtype} samples")
    return RecordingInfo(str(path), "raw", str(raw_dtype), rate, size // raw_dtype.itemsize)


def read_samples(info: RecordingInfo, count: int, dataset: str = "signal") -> np.ndarray:
    """Up to ``count`` samples from the start of a recording (1-D: its first channel)."""
    path = Path(info.path)
    if info.format.startswith("SigMF"):
        from .sigmf_reading import SigmfRecording

        rec = SigmfRecording(path)
        data = rec.read(0, min(count, rec.samples))
        if rec.width == 2:  # complex integers: I and Q on the last axis
            data = data[..., 0] + 1j * data[..., 1]
        return data[:, 0] if data.ndim == 2 else data  # the first channel
    if info.format == "HDF5":
        from .hdf5_files import Hdf5Recording

        with Hdf5Recording(path, dataset).open() as f:
            return np.asarray(f[dataset][:count]).reshape(-1)[:count]
    if info.format.startswith("WAV"):
        from .wav_files import WavRecording

        rec = WavRecording(path, "inspect")
        data = rec.read(0, min(count, rec.samples))
        return data[:, 0] if data.ndim == 2 else data  # the first channel
    if info.format == "NumPy .npy":
        return np.load(path, mmap_mode="r")[:count].reshape(-1)[:count].copy()
    return np.fromfile(path, np.dtype(info.dtype), count=count)

