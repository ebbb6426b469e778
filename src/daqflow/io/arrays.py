"""Arrays to and from recording files in one call, as ``scipy.io.wavfile`` does:
`write_sigmf` / `read_sigmf`, `write_hdf5` / `read_hdf5`, `write_wav` / `read_wav`.

A writer hands the array, as one Chunk (stream index 0, time 0 s), to the recorder its graph
block uses (`SigmfRecorder`, `Hdf5Recorder`, `WavRecorder`): the file is the one
`sigmf_writer`, `hdf5_writer` and `wav_writer` write (``NAME.partial`` until complete), and
no event loop is involved, so the functions work alike in scripts and inside a running
asyncio loop (Jupyter). An existing file is overwritten, as ``scipy.io.wavfile.write`` does.

A reader gives ``(samples, meta)``: the samples as stored (dtype and shape as written:
(n,) or (n, channels)) and ``meta`` with ``rate`` (Hz), ``center_freq`` (Hz, None if
unknown), ``datetime`` (timezone-aware UTC time of the first sample, None if unknown), the
user's metadata given to the writer, and ``ended`` if the recording says it ended early.
Samples are given back to back: where the recording has gaps, ``meta["gaps"]`` lists them as
``(position, lost, skipped)``: samples lost (overflow) and skipped on purpose just before
sample ``position`` of the array (empty without gaps; a time axis from ``rate`` is right only
up to the first). Its ``_source`` block (`sigmf_source`, ...) replays them as index jumps.

The user's ``meta`` holds JSON values (str, int, float, bool, None, lists, dicts with str
keys); its ``datetime`` (an aware `datetime.datetime` or an ISO 8601 string with a zone) is
the time of the first sample, kept in the format's own field (SigMF ``core:datetime``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..core import Chunk
from .hdf5_files import Hdf5Recorder, Hdf5Recording
from .paths import check_output
from .recorder import Recorder, record_chunk
from .sigmf_files import SigmfRecorder, datatype_of
from .sigmf_reading import SigmfRecording
from .wav_files import SUBTYPES, WavRecorder, WavRecording

#: keys of a reader's meta that describe the file itself, not the user's metadata
RESERVED = ("rate", "center_freq", "ended", "gaps")

Meta = dict[str, Any]


def write_sigmf(path: str | os.PathLike[str], array: np.ndarray, *, rate: float,
                center_freq: float | None = None, meta: Mapping[str, Any] | None = None) -> Path:
    """Write ``array`` as a SigMF recording (``NAME.sigmf-meta`` + ``NAME.sigmf-data``).

    Args:
        path: the recording's name, with or without a ``.sigmf-meta``/``-data`` extension.
        array: (n,) samples of a SigMF datatype (complex64 -> cf32_le, float32 -> rf32_le,
            int16 -> ri16_le, ...), or (n, 2) integers: I/Q pairs (ci16_le, ...).
        rate: sample rate in Hz. center_freq: Hz (the capture's ``core:frequency``).
        meta: the user's metadata (see the module), kept as the global ``daqflow:meta``.

    Returns the ``.sigmf-meta`` path. Raises TypeError / ValueError in one line naming the path.
    """
    where = f"write_sigmf {str(path)!r}"
    array = _checked_array(array, where)
    if not len(array):
        raise ValueError(f"{where}: the array has no samples (SigMF readers cannot open an empty "
                         "recording)")
    try:
        datatype_of(array)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc} (1-D samples, or (n, 2) integer I/Q pairs; several "
                         "channels: one file each, or write_hdf5)") from None
    chunk, user, datetime = _chunk(array, rate, center_freq, meta, where)
    check_output(path, "write_sigmf")
    result = _write(SigmfRecorder(path, meta=user, datetime=datetime), chunk, where)
    return Path(result["meta"])


def write_hdf5(path: str | os.PathLike[str], array: np.ndarray, *, rate: float,
               center_freq: float | None = None, meta: Mapping[str, Any] | None = None,
               dataset: str = "signal") -> Path:
    """Write ``array`` as an HDF5 recording (dataset ``dataset`` with ``rate``,
    ``center_freq``, ``datetime`` and ``user_meta`` attributes, as `hdf5_writer` writes it).

    Args:
        path: the .h5 file.
        array: (n, ...) samples of a numeric dtype (bool, integers, floats, complex): (n,),
            (n, channels) or frames.
        rate: sample rate in Hz. center_freq: Hz.
        meta: the user's metadata (see the module), kept as attribute ``user_meta`` (JSON).

    Returns the path. Raises TypeError / ValueError in one line naming the path.
    """
    where = f"write_hdf5 {str(path)!r}"
    array = _checked_array(array, where)
    if array.dtype.kind not in "biufc":
        raise ValueError(f"{where}: HDF5 recordings hold numeric samples (bool, integers, floats, "
                         f"complex), got {array.dtype}")
    if not isinstance(dataset, str) or not dataset.strip("/"):
        raise ValueError(f"{where}: dataset must be a dataset name, got {dataset!r}")
    chunk, user, datetime = _chunk(array, rate, center_freq, meta, where)
    check_output(path, "write_hdf5")
    recorder = Hdf5Recorder(path, dataset, meta=user, datetime=datetime)
    return Path(_write(recorder, chunk, where)["path"])


def write_wav(path: str | os.PathLike[str], array: np.ndarray, *, rate: float,
              center_freq: float | None = None, meta: Mapping[str, Any] | None = None) -> Path:
    """Write ``array`` as a WAV file, samples as they are (no scaling).

    Args:
        path: the .wav file.
        array: (n,) mono or (n, channels) real samples: int16, int32 or float32 (WAV's
            ``PCM_16``, ``PCM_32``, ``FLOAT``; convert float64 with ``.astype(np.float32)``).
        rate: a whole number of Hz. center_freq: Hz, kept in the file's daqflow comment.
        meta: the user's metadata (see the module), kept in the file's daqflow comment.

    Returns the path. Raises TypeError / ValueError in one line naming the path.
    """
    where = f"write_wav {str(path)!r}"
    array = _checked_array(array, where)
    if array.dtype.name not in SUBTYPES:
        hint = " (take the real part, or demodulate first)" if array.dtype.kind == "c" else (
            " (convert first: array.astype(np.float32))" if array.dtype.kind == "f" else "")
        raise ValueError(f"{where}: WAV holds int16, int32 or float32 samples, got "
                         f"{array.dtype}{hint}")
    if array.ndim not in (1, 2) or (array.ndim == 2 and array.shape[1] < 1):
        raise ValueError(f"{where}: WAV samples are (n,) or (n, channels), got shape {array.shape}")
    chunk, user, datetime = _chunk(array, rate, center_freq, meta, where)
    check_output(path, "write_wav")
    return Path(_write(WavRecorder(path, meta=user, datetime=datetime), chunk, where)["path"])


def read_sigmf(path: str | os.PathLike[str]) -> tuple[np.ndarray, Meta]:
    """The samples and metadata of a SigMF recording (or ``.sigmf`` archive): (n,) samples,
    (n, channels) for several channels, a last axis of 2 for complex integers (I, Q)."""
    recording = SigmfRecording(path)
    info = recording.handle.get_global_info()
    first = recording.captures[0] if recording.captures else {}
    user = info.get("daqflow:meta")
    meta = _meta(recording.rate, first.get("core:frequency"), first.get("core:datetime"),
                 user if isinstance(user, dict) else {}, info.get("daqflow:ended"))
    meta["gaps"] = [(p, lost, skipped) for p, (lost, skipped) in sorted(recording.gaps().items())]
    return recording.read(0, recording.samples), meta


def read_hdf5(path: str | os.PathLike[str], dataset: str = "signal") -> tuple[np.ndarray, Meta]:
    """The samples and metadata of an HDF5 recording's ``dataset`` (any HDF5 dataset: its
    ``rate`` attribute, None if it has none)."""
    recording = Hdf5Recording(path, str(dataset))
    with recording.open() as f:
        data = f[recording.name][()]
    attrs = recording.attrs
    where = f"{str(recording.path)!r} dataset {recording.name!r}"
    user = _json_attr(attrs.get("user_meta"), where, "user_meta")
    meta = _meta(recording.rate if "rate" in attrs else None, _value(attrs.get("center_freq")),
                 _value(attrs.get("datetime")), user, _value(attrs.get("ended")) or None)
    meta["gaps"] = [(int(p), int(lost), int(skipped)) for p, lost, _, skipped in recording.gaps]
    return data, meta


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, Meta]:
    """The samples and metadata of a WAV file: (n,) mono (also when written from (n, 1)) or
    (n, channels), as stored (int16, int32, float32; 8- and 24-bit integers scaled up to
    int16 / int32, float64 kept)."""
    recording = WavRecording(path, "read_wav")
    comment = recording.daqflow
    user = comment.get("meta")
    meta = _meta(recording.rate, recording.center_freq(0), comment.get("datetime"),
                 user if isinstance(user, dict) else {}, comment.get("ended"))
    meta["gaps"] = [(int(p), int(lost), int(skipped)) for p, _, lost, skipped in recording.gaps]
    return recording.read(0, recording.samples), meta


def _write(recorder: Recorder, chunk: Chunk, where: str) -> dict[str, Any]:
    recorder.where = where  # the recorder's own errors name the function and the path
    return record_chunk(recorder, chunk)


def _checked_array(array: Any, where: str) -> np.ndarray:
    """``array`` in native byte order, else TypeError / ValueError naming ``where``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{where}: array must be a numpy array, got {type(array).__name__} "
                        "(np.asarray(...) with the dtype to store)")
    if array.ndim < 1:
        raise ValueError(f"{where}: array must have samples along its first axis, got a scalar")
    if 0 in array.shape[1:]:
        raise ValueError(f"{where}: array must have values in every sample, got shape {array.shape}")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def _chunk(array: np.ndarray, rate: Any, center_freq: Any, meta: Mapping[str, Any] | None,
           where: str) -> tuple[Chunk, Meta | None, str | None]:
    """The Chunk to write, the user's metadata to keep and the start time (ISO 8601 UTC),
    checked: one line naming ``where`` for a bad value."""
    if isinstance(rate, bool) or not isinstance(rate, int | float | np.integer | np.floating) or not (
            0 < float(rate) < math.inf):
        raise ValueError(f"{where}: rate must be a sample rate > 0 Hz, got {rate!r}")
    chunk_meta: Meta = {}
    if center_freq is not None:
        if isinstance(center_freq, bool) or not isinstance(
                center_freq, int | float | np.integer | np.floating) or not math.isfinite(center_freq):
            raise ValueError(f"{where}: center_freq must be a frequency in Hz or None, got "
                             f"{center_freq!r}")
        chunk_meta["center_freq"] = float(center_freq)
    if meta is not None and not isinstance(meta, Mapping):
        raise TypeError(f"{where}: meta must be a dict or None, got {type(meta).__name__}")
    user = dict(meta or {})
    for key in user:
        if not isinstance(key, str):
            raise TypeError(f"{where}: meta keys must be strings, got {key!r}")
        if key in RESERVED:
            raise ValueError(f"{where}: meta key {key!r} is the file's own"
                             + (f": give {key}= instead" if key != "ended" else ""))
    datetime = _iso(user.pop("datetime"), where) if "datetime" in user else None
    try:
        text = json.dumps(user, allow_nan=False, default=_plain)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: meta must hold JSON values (str, int, float, bool, None, "
                         f"lists, dicts): {exc}") from None
    return Chunk(array, float(rate), 0, 0.0, chunk_meta), json.loads(text) or None, datetime


def _plain(value: Any) -> Any:
    """A numpy scalar or array as a JSON value (json.dumps' ``default``)."""
    if isinstance(value, np.generic | np.ndarray) and value.dtype.kind in "biuf":
        return value.tolist()
    raise TypeError(f"{type(value).__name__} {value!r} is not a JSON value")


def _iso(value: Any, where: str) -> str:
    """meta["datetime"] as ISO 8601 UTC text ending in Z, microseconds kept."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError(f"{where}: meta['datetime'] must be a timezone-aware datetime or an ISO "
                         "8601 text with its zone (e.g. datetime.now(timezone.utc)), got "
                         f"{value!r}")
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _meta(rate: float | None, center_freq: Any, datetime: Any, user: Meta,
          ended: Any) -> Meta:
    """A reader's meta: the file's own keys, then the user's."""
    meta: Meta = {"rate": rate,
                  "center_freq": None if center_freq is None else float(center_freq),
                  "datetime": _parse_time(datetime)}
    meta.update((k, v) for k, v in user.items() if k not in meta and k not in RESERVED)
    if ended:
        meta["ended"] = str(ended)
    return meta


def _parse_time(value: Any) -> dt.datetime | str | None:
    """A stored start time as an aware datetime (text Python cannot parse is kept as is)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value  # (nanoseconds, say: other writers' SigMF core:datetime)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _value(value: Any) -> Any:
    """An HDF5 attribute as a Python value (text decoded)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _json_attr(value: Any, where: str, name: str) -> Meta:
    value = _value(value)
    if value is None:
        return {}
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: attribute {name} is not JSON text") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{where}: attribute {name} is not a JSON object")
    return parsed


__all__ = ["read_hdf5", "read_sigmf", "read_wav", "write_hdf5", "write_sigmf", "write_wav"]
