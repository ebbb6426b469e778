"""What a port carries: checked when the graph is built, and on the first item at run time.

A kind is ``None`` (anything), a Python type (items must be instances), or one of the names
below for Chunks whose samples are of a dtype family:

========== ==========================================
"chunk"     any Chunk
"complex"   Chunk of complex samples
"real"      Chunk of real samples (float or integer)
"float"     Chunk of floating-point samples
"integer"   Chunk of integer samples
========== ==========================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .chunk import Chunk

Kind = type | str | None

# A name and the names it includes.
_FAMILY: dict[str, frozenset[str]] = {
    "chunk": frozenset({"chunk", "complex", "real", "float", "integer"}),
    "complex": frozenset({"complex"}),
    "real": frozenset({"real", "float", "integer"}),
    "float": frozenset({"float"}),
    "integer": frozenset({"integer"}),
}
_DTYPE_KIND = {"c": "complex", "f": "float", "i": "integer", "u": "integer", "b": "integer"}


def check_kind(kind: Kind, what: str) -> Kind:
    """Validate a declared kind (raises ValueError naming ``what``)."""
    if kind is None or isinstance(kind, type):
        return kind
    if isinstance(kind, str) and kind in _FAMILY:
        return kind
    raise ValueError(f"{what}: kind must be None, a type or one of {sorted(_FAMILY)}, got {kind!r}")


def describe(kind: Kind) -> str:
    if kind is None:
        return "anything"
    if isinstance(kind, str):
        return "chunks" if kind == "chunk" else f"{kind} chunks"
    return kind.__name__


def compatible(produced: Kind, accepted: Kind) -> bool:
    """Can a port that declares ``produced`` feed one that accepts ``accepted``?

    Unknown (None) on either side is compatible: only a certain mismatch is an error.
    """
    if produced is None or accepted is None:
        return True
    if isinstance(accepted, str):
        if isinstance(produced, str):
            return produced in _FAMILY[accepted] or accepted in _FAMILY[produced]
        return issubclass(Chunk, produced) or issubclass(produced, Chunk)
    if isinstance(produced, str):
        return issubclass(Chunk, accepted)
    return issubclass(produced, accepted) or issubclass(accepted, produced)


def kind_of_dtype(dtype: Any) -> str:
    """The kind name of chunks whose samples have numpy ``dtype`` ("chunk" if none fits).

    >>> kind_of_dtype("int16"), kind_of_dtype("complex64")
    ('integer', 'complex')
    """
    return _DTYPE_KIND.get(np.dtype(dtype).kind, "chunk")


def item_kind(item: Any) -> str:
    """The most precise kind name of an item (for error messages)."""
    if type(item) is Chunk:
        name = _DTYPE_KIND.get(item.data.dtype.kind)
        return f"{name} chunks ({item.data.dtype})" if name else f"chunks ({item.data.dtype})"
    return type(item).__name__


def matches(item: Any, accepted: Kind) -> bool:
    if accepted is None:
        return True
    if isinstance(accepted, str):
        if type(item) is not Chunk:
            return False
        name = _DTYPE_KIND.get(item.data.dtype.kind, "chunk")
        return name in _FAMILY[accepted] or accepted == "chunk"
    return isinstance(item, accepted)


def first_item_checker(accepted: Kind, where: str, clear: Callable[[], None]) -> Callable[[Any], None]:
    """A check run on the first item only; ``clear`` removes it afterwards.

    Raises TypeError naming ``where`` (block and port) and what was expected.
    """

    def check(item: Any) -> None:
        clear()
        if not matches(item, accepted):
            raise TypeError(f"{where} expects {describe(accepted)}, got {item_kind(item)}")

    return check


__all__ = ["Kind", "check_kind", "compatible", "describe", "first_item_checker", "kind_of_dtype",
           "matches"]
