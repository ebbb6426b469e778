"""Fused maps: a run of maps joined one to one, called in one loop by their producer's task.

A map fused into its producer has no FIFO and no task: `chain_step` calls the maps of a run
in turn, as plain calls in a single loop (no call or coroutine per stage), reads the clock
once per stage (each stage's end is the next one's start: its ``busy`` seconds), and counts
each stage's output samples as it hands them on. Items are counted once per run, not per
stage (`Tally`): a stage's items out are the items that entered the run less those a stage
up to it dropped. A map that returns None drops the item there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from .block_state import _State
from .chunk import Chunk
from .errors import ReceiverGone
from .kinds import Kind, first_item_checker


class Tally:
    """Items that entered a run of fused maps; each stage's items out derive from it."""

    __slots__ = ("entered", "states")

    def __init__(self) -> None:
        self.entered = 0
        self.states: list[FusedState] = []

    def out_of(self, state: FusedState) -> int:
        """Items that came out of ``state``'s stage."""
        out = self.entered
        for each in tuple(self.states):  # (a snapshot: read off-loop by live figures)
            out -= each.dropped
            if each is state:
                break
        return out


_ITEMS_OUT = _State.items_out  # the slot under `FusedState.items_out`


class FusedState(_State):
    """A fused map's counters: ``items_out`` is its run's `Tally` (`Tally.out_of`) plus what
    was added to it directly (``count``/``uncount``); ``dropped`` counts its Nones."""

    __slots__ = ("dropped", "tally")

    def __init__(self, name: str, tally: Tally):
        self.tally = tally
        self.dropped = 0
        tally.states.append(self)
        super().__init__(name)

    @property  # type: ignore[override]
    def items_out(self) -> int:
        return _ITEMS_OUT.__get__(self) + self.tally.out_of(self)

    @items_out.setter
    def items_out(self, value: int) -> None:
        _ITEMS_OUT.__set__(self, value - self.tally.out_of(self))


@dataclass(frozen=True)
class Stage:
    """One fused map: its graph node (named in a failure), the function applied to each
    item, its counters, the kind of item it accepts (checked on the first) and where."""

    node: Any
    call: Callable[[Any], Any]
    state: FusedState
    accepts: Kind | None
    where: str


def chain_step(stages: list[Stage], fail: Callable[[Any, BaseException], None]
               ) -> Callable[[Any, float], Any]:
    """``step(item, t0)``: ``item`` through every stage; returns what the last made, or None
    (a stage dropped it). ``t0``: `perf_counter` when the call began.

    A stage that raises is reported with ``fail(node, exc)``, the stages before it take back
    the output they counted (it was not carried through), and `ReceiverGone` is raised:
    nothing downstream takes items from this run any more."""
    calls = [(stage.call, stage.state) for stage in stages]
    tally = stages[0].state.tally

    def checking_first(n: int, stage: Stage) -> Callable[[Any], Any]:
        """``stage.call`` checking its first item, then putting the plain call in its place."""
        def plain() -> None:
            calls[n] = (stage.call, stage.state)

        check = first_item_checker(stage.accepts, stage.where, plain)

        def checked(item: Any) -> Any:
            check(item)
            return stage.call(item)
        return checked

    for n, stage in enumerate(stages):
        if stage.accepts is not None:
            calls[n] = (checking_first(n, stage), stage.state)

    def failed(state: _State | None, exc: Exception) -> ReceiverGone:
        tally.entered -= 1  # as if it never came: the stages before take their outputs back
        for stage in stages:
            if stage.state is state:
                fail(stage.node, exc)
                break
            stage.state.samples_out -= stage.state.last_out
        return ReceiverGone()

    def step(item: Any, t0: float) -> Any:
        tally.entered += 1
        state = None
        try:
            for call, state in calls:
                item = call(item)
                t1 = perf_counter()
                state.busy += t1 - t0
                t0 = t1
                if item is None:
                    state.dropped += 1
                    return None
                state.last_out = samples = item.samples if type(item) is Chunk else 1
                state.samples_out += samples
        except Exception as exc:
            raise failed(state, exc) from exc
        return item

    return step


def uncount_all(stages: list[Stage]) -> None:
    """The item a run's last stage made was refused downstream: every stage takes back the
    output it counted for it."""
    stages[0].state.tally.entered -= 1
    for stage in stages:
        stage.state.samples_out -= stage.state.last_out
