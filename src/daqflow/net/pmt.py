"""A minimal PMT (GNU Radio "polymorphic type") serializer, enough for stream tags on the wire.

The byte layout is GNU Radio's ``pmt::serialize`` (checked against GNU Radio 3.10's own
``pmt.serialize_str``): a one-byte type code, then the value, every number big-endian.

==========  ====  =================================================================
type        code  after the code
==========  ====  =================================================================
#t / #f     0/1   nothing
symbol      2     uint16 length, UTF-8 bytes
int32       3     int32 (GNU Radio writes a ``long`` that fits in 32 bits this way)
double      4     float64
complex     5     float64 real, float64 imaginary
null (nil)  6     nothing (also an empty dict)
pair        7     car, cdr (two PMTs)
vector      8     uint32 count, the PMTs
dict        9     (key . value) pair, then the rest of the dict (another dict or null)
uniform     10    uint8 element type, uint32 count, uint8 pad count (1), pad byte(s),
                  the elements (u8 s8 u16 s16 u32 s32 u64 s64 f32 f64 c32 c64 = 0..11)
uint64      11    uint64
tuple       12    uint32 count, the PMTs
int64       13    int64
==========  ====  =================================================================

In Python: symbols are ``str``, integers ``int``, doubles ``float``, ``complex``, #t/#f
``bool``, null ``None``, pairs `Pair` (a 2-tuple), tuples ``tuple``, vectors ``list``,
uniform vectors numpy arrays (native byte order), dicts ``dict``.

>>> dumps("rx_freq").hex()
'02000772785f66726571'
>>> loads(dumps({"gain": 30, "iq": (1.5, 2j, None)}))
{'gain': 30, 'iq': (1.5, 2j, None)}
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

TRUE, FALSE, SYMBOL, INT32, DOUBLE, COMPLEX, NULL, PAIR = range(8)
VECTOR, DICT, UNIFORM, UINT64, TUPLE, INT64 = range(8, 14)

#: uniform vector element types by code (big-endian on the wire)
UNIFORM_TYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(t) for t in (">u1", ">i1", ">u2", ">i2", ">u4", ">i4", ">u8", ">i8",
                          ">f4", ">f8", ">c8", ">c16")
)
_UNIFORM_CODES = {dt.newbyteorder("="): code for code, dt in enumerate(UNIFORM_TYPES)}

_U16, _U32, _I32, _I64, _U64, _F64 = (struct.Struct(f) for f in (">H", ">I", ">i", ">q", ">Q", ">d"))


class Pair(tuple):  # type: ignore[type-arg]
    """A PMT pair ``(car . cdr)``: a 2-tuple that serializes back as a pair, not a tuple."""

    __slots__ = ()

    def __new__(cls, car: Any, cdr: Any) -> Pair:
        return super().__new__(cls, (car, cdr))

    def __repr__(self) -> str:
        return f"Pair({self[0]!r}, {self[1]!r})"


class PMTError(ValueError):
    """Bytes that are not a PMT this module reads, or a value it cannot write."""


# -- reading -----------------------------------------------------------------------------------
def loads(data: bytes | bytearray | memoryview) -> Any:
    """The Python value of one serialized PMT (all of ``data``)."""
    value, end = load(data, 0)
    if end != len(data):
        raise PMTError(f"{len(data) - end} byte(s) left after the PMT")
    return value


def load(data: bytes | bytearray | memoryview, pos: int = 0) -> tuple[Any, int]:
    """The Python value of the PMT at ``data[pos:]`` and the position just after it."""
    buf = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    try:
        return _load(buf, pos)
    except (struct.error, IndexError):
        raise PMTError(f"truncated PMT (started at byte {pos} of {len(buf)})") from None


def _need(buf: Any, pos: int, n: int) -> None:
    if pos + n > len(buf):
        raise PMTError(f"truncated PMT: need {n} byte(s) at {pos}, have {len(buf) - pos}")


def _load(buf: Any, pos: int) -> tuple[Any, int]:
    _need(buf, pos, 1)
    code = buf[pos]
    pos += 1
    if code == TRUE:
        return True, pos
    if code == FALSE:
        return False, pos
    if code == NULL:
        return None, pos
    if code == SYMBOL:
        (n,) = _U16.unpack_from(buf, pos)
        _need(buf, pos + 2, n)
        return bytes(buf[pos + 2:pos + 2 + n]).decode("utf-8", "replace"), pos + 2 + n
    if code == INT32:
        return _I32.unpack_from(buf, pos)[0], pos + 4
    if code == INT64:
        return _I64.unpack_from(buf, pos)[0], pos + 8
    if code == UINT64:
        return _U64.unpack_from(buf, pos)[0], pos + 8
    if code == DOUBLE:
        return _F64.unpack_from(buf, pos)[0], pos + 8
    if code == COMPLEX:
        re, im = struct.unpack_from(">dd", buf, pos)
        return complex(re, im), pos + 16
    if code == PAIR:
        car, pos = _load(buf, pos)
        cdr, pos = _load(buf, pos)
        return Pair(car, cdr), pos
    if code in (VECTOR, TUPLE):
        (n,) = _U32.unpack_from(buf, pos)
        pos += 4
        items = []
        for _ in range(n):
            item, pos = _load(buf, pos)
            items.append(item)
        return (items if code == VECTOR else tuple(items)), pos
    if code == DICT:
        out: dict[Any, Any] = {}
        while True:
            entry, pos = _load(buf, pos)
            if not isinstance(entry, Pair):
                raise PMTError(f"dict entry is not a (key . value) pair: {entry!r}")
            out[_hashable(entry[0])] = entry[1]
            _need(buf, pos, 1)
            if buf[pos] == NULL:
                return out, pos + 1
            if buf[pos] != DICT:
                raise PMTError(f"dict continues with type code {buf[pos]}, not dict or null")
            pos += 1
    if code == UNIFORM:
        _need(buf, pos, 6)
        kind = buf[pos]
        if kind >= len(UNIFORM_TYPES):
            raise PMTError(f"unknown uniform vector element type {kind}")
        (n,) = _U32.unpack_from(buf, pos + 1)
        npad = buf[pos + 5]
        pos += 6 + npad
        dtype = UNIFORM_TYPES[kind]
        size = n * dtype.itemsize
        _need(buf, pos, size)
        arr = np.frombuffer(bytes(buf[pos:pos + size]), dtype).astype(dtype.newbyteorder("="))
        return arr, pos + size
    raise PMTError(f"unsupported PMT type code {code} at byte {pos - 1}")


def _hashable(key: Any) -> Any:
    if isinstance(key, np.ndarray):
        return tuple(key.tolist())
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, dict):
        return tuple((k, _hashable(v)) for k, v in key.items())
    return key


# -- writing -----------------------------------------------------------------------------------
def dumps(value: Any) -> bytes:
    """``value`` serialized as GNU Radio's ``pmt::serialize`` writes the matching PMT.

    Raises:
        PMTError: a value with no PMT counterpart (e.g. an arbitrary object).
    """
    out = bytearray()
    _dump(value, out)
    return bytes(out)


def _dump(value: Any, out: bytearray) -> None:
    if isinstance(value, np.generic) and not isinstance(value, np.ndarray):
        value = value.item()
    if value is True:
        out.append(TRUE)
    elif value is False:
        out.append(FALSE)
    elif value is None:
        out.append(NULL)
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        if len(raw) > 0xFFFF:
            raise PMTError(f"symbol of {len(raw)} bytes is too long for a PMT (max 65535)")
        out.append(SYMBOL)
        out += _U16.pack(len(raw)) + raw
    elif isinstance(value, int):
        if -(2**31) <= value < 2**31:
            out.append(INT32)
            out += _I32.pack(value)
        elif -(2**63) <= value < 2**63:
            out.append(INT64)
            out += _I64.pack(value)
        elif 0 <= value < 2**64:
            out.append(UINT64)
            out += _U64.pack(value)
        else:
            raise PMTError(f"integer {value} does not fit in 64 bits")
    elif isinstance(value, float):
        out.append(DOUBLE)
        out += _F64.pack(value)
    elif isinstance(value, complex):
        out.append(COMPLEX)
        out += struct.pack(">dd", value.real, value.imag)
    elif isinstance(value, Pair):
        out.append(PAIR)
        _dump(value[0], out)
        _dump(value[1], out)
    elif isinstance(value, tuple | list):
        out.append(TUPLE if isinstance(value, tuple) else VECTOR)
        out += _U32.pack(len(value))
        for item in value:
            _dump(item, out)
    elif isinstance(value, Mapping):
        if not value:
            out.append(NULL)  # GNU Radio's empty dict is the null PMT
            return
        # GNU Radio writes the newest entry first; reading it back gives this same order
        for key, item in value.items():
            out.append(DICT)
            out.append(PAIR)
            _dump(key, out)
            _dump(item, out)
        out.append(NULL)
    elif isinstance(value, bytes | bytearray):
        _dump_uniform(np.frombuffer(bytes(value), np.uint8), out)
    elif isinstance(value, np.ndarray):
        _dump_uniform(value, out)
    else:
        raise PMTError(f"{type(value).__name__} has no PMT form: {value!r}")


def _dump_uniform(arr: np.ndarray, out: bytearray) -> None:
    native = arr.dtype.newbyteorder("=")
    code = _UNIFORM_CODES.get(native)
    if code is None or arr.ndim != 1:
        raise PMTError(f"array of {arr.dtype}{list(arr.shape)} has no uniform vector PMT form "
                       "(1-D u/int8..64, float32/64, complex64/128)")
    out.append(UNIFORM)
    out.append(code)
    out += _U32.pack(len(arr))
    out += b"\x01\x00"  # one pad byte, as GNU Radio writes
    out += arr.astype(UNIFORM_TYPES[code], copy=False).tobytes()


__all__ = ["PMTError", "Pair", "dumps", "load", "loads"]
