"""The controls a graph's blocks declare: the Params they read, the objects exposing Params.

When a block is called (`core.decorator`), its arguments are looked at once and what they
declare is recorded for the node (`declare`): a `Param`; an object that declares Params with
``__daqflow_params__()`` (an instrument, whose settings are Params; a `Follow`); the items
held by an argument (a list, a dict, a user's config object; read once, a few levels deep).
Nothing is searched afterwards: the GUI, the control API and the EPICS and Tango servers
read the records (`params_of`, `find_in_blocks`).
"""

from __future__ import annotations

import itertools
import numbers
import types
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

import numpy as np

from .chunk import Chunk
from .params import Param, exposed_params
from .stream import Stream

T = TypeVar("T")
SCAN = 256  # items of a container argument looked at (not a whole data list)
DEPTH = 4  # levels an argument is read to: the argument, its items or fields, and theirs
_OPAQUE = (str, bytes, numbers.Number, np.ndarray, np.generic, Stream, Chunk, type,
           types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)

_records: weakref.WeakKeyDictionary[Stream, tuple[Any, ...]] = weakref.WeakKeyDictionary()


def declared(arguments: Iterable[Any]) -> tuple[Any, ...]:
    """What ``arguments`` declare: Params and objects exposing Params, in order, each once.

    Each argument is read once, to a bounded depth (`DEPTH` levels, `SCAN` items of a
    container): a Param kept in a list, a dict or a user's config object is declared too.
    An object that says what it holds (``__daqflow_params__``) is taken as it is."""
    found: dict[int, Any] = {}
    seen: set[int] = set()

    def visit(value: Any, level: int) -> None:
        if _declares(value):
            found.setdefault(id(value), value)
            return
        if level == 0 or id(value) in seen or value is None or isinstance(value, _OPAQUE):
            return
        seen.add(id(value))
        for child in _members(value):
            visit(child, level - 1)

    for value in arguments:
        visit(value, DEPTH)
    return tuple(found.values())


def declare(node: Stream, arguments: Iterable[Any]) -> None:
    """Record what the arguments of the block call that made ``node`` declare."""
    _records[node] = declared(arguments)


def controls(node: Stream) -> tuple[Any, ...]:
    """The Params and objects exposing Params that ``node``'s block was given (a node not
    made by a block call, such as a partition's copy, is read from its parameters)."""
    record = _records.get(node)
    return record if record is not None else declared(node.params.values())


def params_of(nodes: Iterable[Stream], *, settings: bool = True) -> list[Param[Any]]:
    """The Params the blocks of ``nodes`` declare, in graph order, each once; with
    ``settings=False``, only free Params (not an instrument's settings: ``owner`` None)."""
    found: dict[int, Param[Any]] = {}
    for node in nodes:
        for control in controls(node):
            for p in exposed_params(control):
                if settings or p.owner is None:
                    found.setdefault(id(p), p)
    return list(found.values())


def find_in_blocks(nodes: Iterable[Stream], wanted: type[T]) -> list[T]:
    """The declared controls of ``nodes`` that are ``wanted`` (Params: also those exposed by
    instruments and helpers), in graph order, each once."""
    nodes = list(nodes)
    found: dict[int, Any] = {}
    for node in nodes:
        for control in controls(node):
            if isinstance(control, wanted):
                found.setdefault(id(control), control)
            elif issubclass(Param, wanted):
                for p in exposed_params(control):
                    found.setdefault(id(p), p)
    return list(found.values())


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


def _declares(value: Any) -> bool:
    return isinstance(value, Param) or hasattr(type(value), "__daqflow_params__")


def _members(value: Any) -> Iterator[Any]:
    """What a value holds: a container's items, an object's attributes (slots and dict)."""
    if isinstance(value, Mapping):
        return itertools.islice(value.values(), SCAN)
    if isinstance(value, list | tuple | set | frozenset):
        return itertools.islice(value, SCAN)
    fields: list[Any] = []
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__weakref__", "__dict__"):
                fields.append(getattr(value, slot, None))
    fields += list(getattr(value, "__dict__", {}).values())
    return itertools.islice(fields, SCAN)
