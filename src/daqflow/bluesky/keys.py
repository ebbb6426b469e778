"""Bluesky data keys (event-model ``DataKey``) for daqflow values: shape, dtype, units, dims."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from event_model import DataKey

# chunk meta that marks one chunk (not a property of the stream): never configuration
_MARKS = frozenset({"overflow", "overflow_estimated", "skipped", "changed", "params", "trace"})


def check_name(name: Any) -> str:
    """``name`` if it can name bluesky data keys (a non-empty str without "." or "/")."""
    if not isinstance(name, str) or not name or "." in name or "/" in name:
        raise ValueError(f"daqflow.bluesky.detector: name must be a non-empty string without "
                         f"'.' or '/' (event-model data keys), got {name!r}")
    return name


def json_dtype(value: Any) -> str:
    """Event-model's broad type of ``value``: "array", "integer", "number", "boolean", "string"."""
    array = np.asarray(value)
    if array.ndim:
        return "array"
    kind = array.dtype.kind
    if kind == "b":
        return "boolean"
    if kind in "iu":
        return "integer"
    if kind in "fc":
        return "number"
    return "string"


def data_key(value: Any, source: str, *, units: str | None = None, dims: list[str] | None = None,
             shape: list[int | None] | None = None) -> DataKey:
    """The data key describing ``value`` (an array or a scalar): shape, dtype, numpy dtype,
    units and dimension names when given."""
    array = np.asarray(value)
    key: dict[str, Any] = {
        "source": source,
        "dtype": json_dtype(array),
        "shape": list(array.shape) if shape is None else shape,
    }
    if array.dtype.kind in "biufc":
        key["dtype_numpy"] = array.dtype.str
    if units:
        key["units"] = units
    if dims:
        key["dims"] = dims
    return DataKey(**key)  # type: ignore[typeddict-item]


def reading(value: Any, timestamp: float) -> dict[str, Any]:
    """A bluesky ``Reading``: the value and its time stamp (Unix seconds)."""
    return {"value": value, "timestamp": timestamp}


def meta_configuration(prefix: str, meta: dict[str, Any], source: str,
                       extra: dict[str, tuple[Any, str]]) -> tuple[dict[str, Any], dict[str, DataKey]]:
    """Readings and data keys of a chunk's scalar metadata (plain numbers, strings, booleans;
    not the per-chunk marks) and of ``extra`` ({key: (value, units)}), keys ``prefix-key``."""
    now = time.time()
    values: dict[str, Any] = {}
    keys: dict[str, DataKey] = {}
    items = {k: (v, "") for k, v in meta.items() if k not in _MARKS}
    items.update(extra)
    for key, (value, units) in items.items():
        if not isinstance(value, bool | int | float | str | np.generic) or np.ndim(value):
            continue
        if isinstance(value, np.generic):
            value = value.item()
        values[f"{prefix}-{key}"] = reading(value, now)
        keys[f"{prefix}-{key}"] = data_key(value, source, units=units or None)
    return values, keys
