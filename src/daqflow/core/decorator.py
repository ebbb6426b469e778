"""The `@block` decorator: turns a function into a factory of `Stream`s.

Four forms, told apart by how the function is written:

- ``async def f(x: Stream, ...): ... yield`` — a transform (input streams) or, with no input
  streams, a source. Inside, each input is an async iterator of items.
- ``async def f(x: Stream, ...): ... return result`` — a sink; the return value is its result.
- ``def f(item, ...): return new_item`` — a map, run inline in the upstream task when it has
  no FIFO options of its own (a chain of maps costs no hop). Returning None emits nothing.
  With ``per_run=True`` a map keeps state: ``f(None, ...)`` (its input port None, its other
  arguments given) is called when each run starts and returns the function applied per item.

Input ports are the leading parameters annotated ``Stream``. Without annotations, the first
parameter of a sink or map is its input, and the leading arguments of a generator that
receive Streams are its inputs.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, overload

import numpy as np

from .channel import POLICIES
from .errors import GraphError
from .finding import declare
from .kinds import Kind, check_kind, compatible, describe
from .placement import Process
from .stream import BlockSpec, Stream

OPTIONS = frozenset({"name", "buffer", "policy", "threaded", "realtime", "proc"})
_STREAM_ANNOTATIONS = frozenset(
    {"Stream", "df.Stream", "daqflow.Stream", "Input", "AsyncIterator", "AsyncIterable"}
)


def _is_stream_annotation(annotation: Any) -> bool:
    if annotation is Stream:
        return True
    if isinstance(annotation, str):
        head = annotation.split("[", 1)[0].strip()
        return head in _STREAM_ANNOTATIONS or head.endswith(".Stream")
    origin = getattr(annotation, "__origin__", None)
    return getattr(origin, "__name__", None) in {"AsyncIterator", "AsyncIterable"}


class BlockFactory:
    """Calling it with streams and parameters returns a `Stream`.

    Options every factory takes (keyword-only):
        name: the block's name in reports and errors (default: the function's name).
        buffer: FIFO length in items of this block's input FIFOs (default 8).
        policy: "block" (backpressure, default), "drop_oldest" or "drop_newest".
        threaded: run the processing in a dedicated worker thread (default False).
        realtime: sources only: clock-driven, never waits on a full FIFO.
        proc: a `Process` to run the block in (default: the main process).
    """

    def __init__(self, spec: BlockSpec):
        self.spec = spec
        functools.update_wrapper(self, spec.fn)

    def __call__(
        self,
        *args: Any,
        name: str | None = None,
        buffer: int | None = None,
        policy: str | None = None,
        threaded: bool = False,
        realtime: bool | None = None,
        proc: Process | None = None,
        **kwargs: Any,
    ) -> Stream:
        spec = self.spec
        label = _check_options(spec.name, name, buffer, policy)
        try:
            bound = spec.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise GraphError(f"block {label or spec.name!r}: {exc}") from None
        arguments = dict(bound.arguments)
        ports = _input_ports(spec, arguments, label or spec.name)
        inputs = tuple(arguments.pop(port) for port in ports)
        for param, value in arguments.items():
            if isinstance(value, Stream):
                raise GraphError(
                    f"block {label or spec.name!r}: parameter {param!r} got stream "
                    f"{value.name!r}, but {param!r} is not an input port (annotate it "
                    f"`{param}: Stream` to make it one)"
                )
        for port, upstream in zip(ports, inputs, strict=True):
            _check_edge(upstream, label or spec.name, port, spec.accepts_on(port),
                        spec.needs_samples)
        if proc is not None and not isinstance(proc, Process):
            raise GraphError(
                f"block {label or spec.name!r}: proc must be a daqflow.Process, got {proc!r}"
            )
        if realtime is not None and (spec.form != "generator" or inputs):
            raise GraphError(f"block {label or spec.name!r}: realtime= applies to sources only")
        node = Stream(
            spec,
            inputs,
            ports,
            arguments,
            label=label,
            buffer=buffer if buffer is not None else spec.buffer,
            policy=policy if policy is not None else spec.policy,
            threaded=bool(threaded),
            realtime=spec.realtime if realtime is None else bool(realtime),
            proc=proc,
        )
        declare(node, arguments.values())  # the controls it was given (core/finding.py)
        return node

    def renamed(self, name: str) -> BlockFactory:
        """The same block under another name (its default name in reports and errors; two
        streams of it in one graph get ``name``, ``name_2``, ...)."""
        return BlockFactory(dataclasses.replace(self.spec, name=name))

    def __repr__(self) -> str:
        return f"<daqflow block {self.spec.name} ({self.spec.form})>"


def _check_options(block: str, name: str | None, buffer: int | None, policy: str | None) -> str | None:
    if name is not None and (not isinstance(name, str) or not name):
        raise GraphError(f"block {block!r}: name must be a non-empty string, got {name!r}")
    if buffer is not None and (isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 1):
        raise GraphError(f"block {name or block!r}: buffer must be an int >= 1 item, got {buffer!r}")
    if policy is not None and policy not in POLICIES:
        raise GraphError(f"block {name or block!r}: policy must be one of {POLICIES}, got {policy!r}")
    return name


def _input_ports(spec: BlockSpec, arguments: dict[str, Any], label: str) -> tuple[str, ...]:
    if spec.declared_inputs is not None:
        ports = spec.declared_inputs
    else:  # un-annotated generator: leading arguments that are Streams
        leading = []
        for param in spec.signature.parameters.values():
            if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                break
            if not isinstance(arguments.get(param.name), Stream):
                break
            leading.append(param.name)
        ports = tuple(leading)
    for port in ports:
        value = arguments.get(port)
        if not isinstance(value, Stream):
            got = "nothing" if port not in arguments else type(value).__name__
            hint = ""
            if isinstance(value, np.ndarray | list | tuple):  # samples, not a stream of them
                hint = ("; to feed an array, make it a source: df.from_iterable([array], "
                        "rate=RATE_HZ)")
            raise GraphError(
                f"block {label!r}: input port {port!r} expects a Stream, got {got} "
                f"({len(spec.declared_inputs or ports)} input stream(s) expected){hint}"
            )
    return ports


def _check_edge(upstream: Stream, consumer: str, port: str, accepted: Kind,
                needs_samples: bool = False) -> None:
    if upstream.kind == "sink":
        raise GraphError(
            f"{upstream.name!r} -> {consumer}.{port}: {upstream.name!r} is a sink, it has no "
            "output stream to read"
        )
    produced = upstream.produces
    if not compatible(produced, accepted):
        raise GraphError(
            f"{upstream.name!r} -> {consumer}.{port}: {upstream.name!r} produces "
            f"{describe(produced)}, {consumer!r} accepts {describe(accepted)} on port {port!r}"
        )
    if needs_samples and upstream.frames:
        raise GraphError(
            f"{upstream.name!r} -> {consumer}.{port}: {upstream.name!r} produces frames (a "
            f"spectrum or image per row), {consumer!r} works on samples along time: frames "
            "into a sample filter (filter or mix the samples before the spectrum; a block "
            "that turns frames into samples says so: @df.block(makes_frames=False))"
        )


def _make_spec(
    fn: Callable[..., Any],
    *,
    name: str | None,
    inputs: tuple[str, ...] | int | None,
    accepts: Kind | Mapping[str, Kind],
    produces: Kind | str,
    realtime: bool,
    buffer: int | None,
    policy: str | None,
    needs_samples: bool = False,
    makes_frames: bool | None = None,
    passive: bool = False,
    per_run: bool = False,
) -> BlockSpec:
    if inspect.isasyncgenfunction(fn):
        form = "generator"
    elif inspect.iscoroutinefunction(fn):
        form = "sink"
    elif callable(fn):
        form = "map"
    else:
        raise TypeError(f"@block needs a function, got {fn!r}")
    block_name = name or getattr(fn, "__name__", "block")
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    clash = OPTIONS.intersection(p.name for p in params)
    if clash:
        raise TypeError(
            f"@block {block_name}: parameter(s) {sorted(clash)} clash with the options every "
            "block takes; rename them"
        )
    if isinstance(inputs, int):
        inputs = tuple(p.name for p in params[:inputs])
    if inputs is None:
        annotated = []
        for p in params:
            if not _is_stream_annotation(p.annotation):
                break
            annotated.append(p.name)
        if annotated:
            inputs = tuple(annotated)
        elif form in ("sink", "map") and params:
            inputs = (params[0].name,)
    if form in ("sink", "map") and not inputs:
        raise TypeError(f"@block {block_name}: a {form} needs an input stream as first parameter")
    if form == "map" and inputs is not None and len(inputs) != 1:
        raise TypeError(f"@block {block_name}: a map takes exactly one input stream")
    if per_run and form != "map":
        raise TypeError(f"@block {block_name}: per_run=True is for a map (a plain function)")
    if isinstance(accepts, Mapping):
        accepts = {port: check_kind(k, f"@block {block_name} accepts[{port!r}]")
                   for port, k in accepts.items()}
    else:
        accepts = check_kind(accepts, f"@block {block_name} accepts")
    if produces != "same":
        produces = check_kind(produces, f"@block {block_name} produces")
    if form == "sink" and produces is not None:
        raise TypeError(f"@block {block_name}: a sink produces no stream")
    _check_options(block_name, None, buffer, policy)
    return BlockSpec(
        fn=fn,
        name=block_name,
        form=form,
        signature=signature,
        declared_inputs=inputs,
        accepts=accepts,
        produces=produces,
        realtime=realtime,
        buffer=buffer,
        policy=policy,
        needs_samples=bool(needs_samples),
        makes_frames=None if makes_frames is None else bool(makes_frames),
        passive=bool(passive),
        per_run=bool(per_run),
    )


@overload
def block(fn: Callable[..., Any], /) -> BlockFactory: ...


@overload
def block(
    *,
    name: str | None = None,
    inputs: tuple[str, ...] | int | None = None,
    accepts: Kind | Mapping[str, Kind] = None,
    produces: Kind | str = None,
    realtime: bool = False,
    buffer: int | None = None,
    policy: str | None = None,
    needs_samples: bool = False,
    makes_frames: bool | None = None,
    passive: bool = False,
    per_run: bool = False,
) -> Callable[[Callable[..., Any]], BlockFactory]: ...


def block(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    inputs: tuple[str, ...] | int | None = None,
    accepts: Kind | Mapping[str, Kind] = None,
    produces: Kind | str = None,
    realtime: bool = False,
    buffer: int | None = None,
    policy: str | None = None,
    needs_samples: bool = False,
    makes_frames: bool | None = None,
    passive: bool = False,
    per_run: bool = False,
) -> BlockFactory | Callable[[Callable[..., Any]], BlockFactory]:
    """Turn a function into a block factory (see the module docstring for the four forms).

    Args:
        name: the block's name (default: the function's name).
        inputs: input port names, or their count from the first parameter (default: the
            leading parameters annotated ``Stream``).
        accepts: what the inputs take: None, a type, "chunk", "complex", "real", "float",
            "integer", or a dict of those by port; checked when wiring and on the first item.
        produces: what the output carries (same vocabulary, or "same" as the first input).
        realtime: a clock-driven source (never waits on a full FIFO; counts and marks loss).
        buffer: default FIFO length in items for this block's inputs.
        policy: default FIFO policy for this block's inputs.
        needs_samples: its inputs must be samples along time (a filter, a mixer): wiring
            frames into it (a spectrum's rows) is refused when the graph is described.
        makes_frames: True: its output items are frames (spectra, images), not samples;
            False: samples, whatever its input (a peak frequency per spectrum); None (the
            default): as its first input's, unless ``needs_samples``.
        passive: a source fed from outside the graph (the receiving end of an edge from
            another process): a stop does not cancel it; it ends when its feed ends.
        per_run: a map with state, fused like any map: the function, called when each run
            starts with its input port None and its other arguments, returns the function
            applied to each item (state lives in a run, not in the described graph).

    >>> import daqflow as df
    >>> @df.block
    ... def double(chunk):
    ...     return chunk * 2
    >>> df.run(sink := df.collect(double(df.from_iterable([1, 2, 3])))).results["collect"]
    [2, 4, 6]
    """

    def decorate(f: Callable[..., Any]) -> BlockFactory:
        return BlockFactory(
            _make_spec(
                f,
                name=name,
                inputs=inputs,
                accepts=accepts,
                produces=produces,
                realtime=realtime,
                buffer=buffer,
                policy=policy,
                needs_samples=needs_samples,
                makes_frames=makes_frames,
                passive=passive,
                per_run=per_run,
            )
        )

    if fn is not None:
        return decorate(fn)
    return decorate
