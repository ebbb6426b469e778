"""Objects a graph's blocks hold: the Params they read, the instruments they stream from.

A block may keep such an object inside a helper (``dsp.mix`` keeps its tuning state): the
block's arguments are searched a few levels deep (containers and object attributes), never
into streams, chunks, arrays or the types the caller names in ``skip``.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterable
from typing import Any, TypeVar

import numpy as np

from .chunk import Chunk
from .stream import Stream

T = TypeVar("T")
SCAN = 256  # items of a container argument searched (not a whole data list)


def upstream(streams: Iterable[Stream]) -> list[Stream]:
    """``streams`` and every block above them, each once (what a sink serving them can see:
    not the branches of the graph that do not feed them)."""
    seen: dict[int, Stream] = {}
    todo = list(streams)
    while todo:
        node = todo.pop()
        if id(node) not in seen:
            seen[id(node)] = node
            todo.extend(node.inputs)
    return list(seen.values())


def find_in_blocks(nodes: Iterable[Stream], wanted: type[T], *, depth: int = 4,
                   skip: tuple[type, ...] = ()) -> list[T]:
    """The ``wanted`` objects the blocks of ``nodes`` hold, in graph order, each once."""
    found: dict[int, T] = {}
    seen: set[int] = set()
    opaque = (str, bytes, numbers.Number, np.ndarray, np.generic, Stream, Chunk, type, *skip)

    def visit(value: Any, level: int) -> None:
        if isinstance(value, wanted):
            found.setdefault(id(value), value)
            return
        if level == 0 or id(value) in seen or value is None or isinstance(value, opaque):
            return
        seen.add(id(value))
        if isinstance(value, dict):
            children: list[Any] = list(itertools.islice(value.values(), SCAN))
        elif isinstance(value, list | tuple | set | frozenset):
            children = list(itertools.islice(value, SCAN))
        else:
            children = []
            for cls in type(value).__mro__:
                slots = cls.__dict__.get("__slots__", ())
                for slot in (slots,) if isinstance(slots, str) else slots:
                    if slot not in ("__weakref__", "__dict__"):
                        children.append(getattr(value, slot, None))
            children += list(getattr(value, "__dict__", {}).values())
            if callable(value) and not children:
                return
        for child in children:
            visit(child, level - 1)

    for node in nodes:
        for value in node.params.values():
            visit(value, depth)
    return list(found.values())
