"""The kernel driver: runs any kernel (`kernels.base.Kernel`) over a stream of Chunks.

It keeps, once for every DSP block, the bookkeeping a block owes its output: the stream's
rate is checked (a rate that changes, or differs from the rate taps were designed for, is
refused with the block's and the port's names); the kernel is built at the first chunk, when
the rate is known (so state lives in a run, not in the described graph); a gap in the input
(an index jump) resets the kernel, and the output after it is marked ``overflow`` or, when
every input gap behind it was dropped on purpose, ``skipped`` (`daqflow.core.gaps`); each
output chunk gets the kernel's first output index, its time (that of the input sample it
sits at) and the output rate.

A DSP block is then a `kernel_block` plus a function that validates its arguments (plain
functions, no kernel built) and names a module-level kernel factory ``make(rate, *args)``
(a plain function: a block sent to another process takes its arguments by pickle).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core import Chunk, block
from ..core.authoring import BlockFactory, InputGaps, OutputMarks
from .kernels.base import Kernel


def rate_changed(label: str, port: str, rate: float, new: float) -> str:
    return f"{label}: stream rate changed from {rate:g} Hz to {new:g} Hz (input {port!r})"


def check_designed(label: str, port: str, designed: float | None, rate: float) -> None:
    """Refuse a stream whose rate differs from the rate taps were designed for."""
    if designed is not None and abs(rate - designed) > 1e-9 * designed:
        raise ValueError(f"{label}: taps were designed for rate={designed:g} Hz, the stream "
                         f"runs at {rate:g} Hz (input {port!r})")


def run_kernel(x: None, make: Callable[..., Kernel], args: tuple[Any, ...], label: str,
               designed: float | None = None) -> Callable[[Chunk], Chunk | None]:
    """The body of every `kernel_block`, a map made anew for each run (``per_run``): returns
    the per-chunk step, which makes ``make(rate, *args)`` at the first chunk, then runs its
    ``work`` per chunk (see the module docstring). ``x``: the input port (None here);
    ``label``: the block's name, for errors; ``designed``: the rate in Hz taps were designed
    for (None: any)."""
    gaps = InputGaps()
    marks = OutputMarks(gaps)
    is_gap, meta_for = gaps.is_gap, marks.meta
    kernel: Kernel | None = None
    work = reset = describe = None
    rate = out_rate = 0.0
    num = den = 1
    samplewise = False

    def step(chunk: Chunk) -> Chunk | None:
        nonlocal kernel, work, reset, describe, rate, out_rate, num, den, samplewise
        if kernel is None:
            rate = chunk.rate
            check_designed(label, "x", designed, rate)
            kernel = make(rate, *args)
            work, reset = kernel.work, kernel.reset
            describe = getattr(kernel, "describe", None)
            num, den = kernel.stride
            out_rate = kernel.output_rate(rate)
            samplewise = num == den == 1
        elif chunk.rate != rate:
            raise ValueError(rate_changed(label, "x", rate, chunk.rate))
        if is_gap(chunk):
            reset()
        y, first = work(chunk.data, chunk.index)
        count = len(y)
        if not count:
            return None
        if samplewise and first == chunk.index:
            time = chunk.time
        else:
            time = chunk.time + (first * num - chunk.index * den) / (rate * den)
        if describe is None:
            meta = meta_for(chunk.meta, first, count)
        else:
            meta = meta_for(chunk.meta, first, count, describe(chunk.meta, chunk.data.dtype))
        return Chunk(y, out_rate, first, time, meta)

    return step


def kernel_block(name: str, **flags: Any) -> BlockFactory:
    """A block named ``name`` (``flags``: `daqflow.block`'s accepts=, produces=, ...) whose
    body is `run_kernel`: called as ``factory(stream, make, args, label, designed)``. A map
    (fused into its upstream block's task unless given FIFO options), one step per chunk."""
    return block(name=name, per_run=True, **flags)(run_kernel)


def time_at(chunk: Chunk, index: int) -> float:
    """Time in seconds of absolute input sample ``index`` (on the chunk's clock)."""
    return chunk.time + (index - chunk.index) / chunk.rate
