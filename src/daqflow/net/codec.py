"""Items on the wire: a JSON-able header plus raw bytes, never pickle.

A `Chunk` crosses as its header (dtype, shape, rate, index, time, meta) and its samples'
bytes; a numpy array as dtype and shape plus bytes; bytes as they are; anything JSON can
say (numbers, strings, lists, dicts with string keys) as JSON text. Anything else cannot
cross a process or machine boundary and raises `TypeError` naming what it got.

>>> import numpy as np
>>> from daqflow import Chunk
>>> header, body = encode_item(Chunk(np.arange(3, dtype="<i2"), rate=8e3, index=5))
>>> header["kind"], header["dtype"], header["shape"], len(body)
('chunk', '<i2', [3], 6)
>>> decode_item(header, body)
Chunk(int16[3], rate=8000, index=5, time=0)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.chunk import Chunk

KINDS = ("chunk", "array", "bytes", "json")


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays, tuples and mappings as plain JSON values (for meta)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON: {value!r}")


def dumps(value: Any) -> str:
    """Compact JSON text (numpy scalars and arrays become numbers and lists; NaN allowed)."""
    return json.dumps(value, separators=(",", ":"), default=_jsonable)


def check_dtype(dtype: Any) -> np.dtype:
    """A plain numeric dtype (bool, int, float, complex; no objects, no records)."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad dtype {dtype!r}: {exc}") from None
    if dt.kind not in "biufc" or dt.fields is not None or dt.subdtype is not None:
        raise ValueError(f"dtype {dtype!r} is not a plain numeric dtype (bool/int/float/complex)")
    return dt


def encode_item(item: Any) -> tuple[dict[str, Any], bytes | memoryview]:
    """``item`` as (header, body). Raises TypeError for items that cannot cross."""
    if type(item) is Chunk:
        data = _contiguous(item.data)
        check_dtype(data.dtype)
        try:
            meta = json.loads(dumps(dict(item.meta))) if item.meta else {}
        except (TypeError, ValueError) as exc:
            raise TypeError(f"chunk meta cannot cross as JSON: {exc}") from None
        header = {
            "kind": "chunk",
            "dtype": data.dtype.str,
            "shape": list(data.shape),
            "rate": float(item.rate),
            "index": int(item.index),
            "time": float(item.time),
            "meta": meta,
        }
        return header, _bytes_of(data)
    if isinstance(item, np.ndarray):
        data = _contiguous(item)
        try:
            check_dtype(data.dtype)
        except ValueError as exc:
            raise TypeError(f"array cannot cross: {exc}") from None
        return {"kind": "array", "dtype": data.dtype.str, "shape": list(data.shape)}, _bytes_of(data)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return {"kind": "bytes"}, bytes(item)
    try:
        text = dumps(item)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"a {type(item).__name__} cannot cross a process boundary (items must be Chunks, "
            f"numeric arrays, bytes or JSON values; nothing is pickled): {exc}"
        ) from None
    return {"kind": "json"}, text.encode()


def _contiguous(data: np.ndarray) -> np.ndarray:
    """``data`` in C order, its shape kept (``np.ascontiguousarray`` makes a 0-d array 1-d)."""
    return data if data.flags.c_contiguous else data.copy(order="C")


def _bytes_of(data: np.ndarray) -> memoryview:
    """The bytes of a C-contiguous array, without a copy (any shape: 0-d, empty, n-d)."""
    return memoryview(data.reshape(-1)).cast("B")


def _array(header: Mapping[str, Any], body: bytes | memoryview) -> np.ndarray:
    dt = check_dtype(header.get("dtype"))
    shape = header.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise ValueError(f"bad shape {shape!r}: a list of ints >= 0 expected")
    expected = math.prod(shape) * dt.itemsize
    if len(body) != expected:
        raise ValueError(
            f"body is {len(body)} bytes, dtype {dt.str} shape {shape} needs {expected}"
        )
    return np.frombuffer(body, dtype=dt).reshape(shape)


def _number(header: Mapping[str, Any], key: str, default: float, kind: type) -> Any:
    value = header.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"bad {key} {value!r}: a number expected")
    if kind is int:
        if not float(value).is_integer():
            raise ValueError(f"bad {key} {value!r}: an integer expected")
        return int(value)
    return float(value)


def decode_item(header: Mapping[str, Any], body: bytes | memoryview) -> Any:
    """The item that `encode_item` turned into ``header`` and ``body``.

    Raises:
        ValueError: a malformed header or a body whose length does not match it.
    """
    kind = header.get("kind")
    if kind == "chunk":
        meta = header.get("meta") or {}
        if not isinstance(meta, dict):
            raise ValueError(f"bad meta {meta!r}: a JSON object expected")
        return Chunk(
            _array(header, body),
            rate=_number(header, "rate", 0.0, float),
            index=_number(header, "index", 0, int),
            time=_number(header, "time", 0.0, float),
            meta=meta,
        )
    if kind == "array":
        return _array(header, body)
    if kind == "bytes":
        return bytes(body)
    if kind == "json":
        return json.loads(bytes(body))
    raise ValueError(f"bad kind {kind!r}: one of {KINDS} expected")


# -- values of any shape (sink results, reports) ---------------------------------------------

def pack_value(value: Any) -> tuple[Any, list[bytes | memoryview]]:
    """A JSON tree and a list of buffers for ``value``: JSON values, tuples, complex numbers,
    arrays and Chunks anywhere inside. Anything else becomes ``{"__repr__": repr(value)}``
    (shown, not rebuilt)."""
    buffers: list[bytes | memoryview] = []

    def walk(v: Any) -> Any:
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, (int, float)):
            return v if not isinstance(v, float) or math.isfinite(v) else {"__float__": repr(v)}
        if isinstance(v, np.generic) and v.dtype.kind in "biufc":
            return walk(v.item())
        if isinstance(v, complex):
            return {"__complex__": [walk(v.real), walk(v.imag)]}
        if isinstance(v, (list, tuple)):
            items = [walk(x) for x in v]
            return items if isinstance(v, list) else {"__tuple__": items}
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {"__dict__": {k: walk(x) for k, x in v.items()}}
        if type(v) is Chunk or (isinstance(v, np.ndarray) and v.dtype.kind in "biufc"):
            try:
                header, body = encode_item(v)
            except TypeError:
                return {"__repr__": repr(v)}
            buffers.append(body)
            return {"__item__": header, "buffer": len(buffers) - 1}
        return {"__repr__": repr(v)}

    return walk(value), buffers


class Unsent:
    """A value that could not cross: its repr, shown instead of the value."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"<not sent: {self.text}>"


def unpack_value(tree: Any, buffers: list[bytes | memoryview]) -> Any:
    """The value `pack_value` turned into ``tree`` and ``buffers``."""

    def walk(v: Any) -> Any:
        if isinstance(v, list):
            return [walk(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "__dict__" in v:
            return {k: walk(x) for k, x in v["__dict__"].items()}
        if "__tuple__" in v:
            return tuple(walk(x) for x in v["__tuple__"])
        if "__complex__" in v:
            re, im = v["__complex__"]
            return complex(walk(re), walk(im))
        if "__float__" in v:
            return float(v["__float__"])
        if "__item__" in v:
            return decode_item(v["__item__"], buffers[v["buffer"]])
        if "__repr__" in v:
            return Unsent(v["__repr__"])
        raise ValueError(f"bad packed value {v!r}")

    return walk(tree)
