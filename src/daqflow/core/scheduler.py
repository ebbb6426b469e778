"""`Scheduler`: the blocks of one run stepped by one asyncio task, so a hop skips the loop.

With one asyncio task per block, every wake-up of a block waiting on its FIFO is a trip
through the event loop (a future's callback, a handle, a loop iteration: ~2 us). Here the
blocks' coroutines are *members* of one scheduler task: a FIFO wakes a waiting member by
putting it on the scheduler's ready queue (`Member.set_result`), and the scheduler steps it next, within
the same turn. Everything else a block awaits (a timer, a socket, a thread's result) goes
through the loop as for any task, and the member waits alone: the others go on.

Each member keeps an asyncio Task of its own, a *stand-in* that ends with the member's result
or exception. While a member runs, `asyncio.current_task()` is its stand-in, and
``stand_in.cancel()`` throws `CancelledError` into the member where it waits, as
``Task.cancel`` does; ``asyncio.timeout`` and ``uncancel`` behave as in a task of its own.
Each member runs in its own `contextvars.Context` (copied when it is added), and the time its
steps take is added to its clock (``clock.busy``, seconds).

The scheduler hands the loop a turn at least every `TURN` seconds of stepping, so timers,
I/O and other tasks (a GUI) are served while a chain of blocks runs flat out.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import sys
from asyncio.tasks import _enter_task, _leave_task
from collections import deque
from collections.abc import Coroutine
from time import perf_counter
from typing import Any

TURN = 0.001  # seconds of stepping members before the loop gets a turn

# From Python 3.12 a task made by a block may take its first step at once (an eager task),
# inside the block's own step: a FIFO then checks that the waiting task is the member's.
EAGER_TASKS = sys.version_info >= (3, 12)


def fifo_waiter(scheduler: Scheduler | NoScheduler) -> Any:
    """What a FIFO's waiting side awaits: the member ``scheduler`` is stepping now, if any
    and if it is the caller (a FIFO is used on its loop's thread only; see `EAGER_TASKS`);
    its wait ends with `Member.set_result`. Else a future of the running loop (a plain
    task's wait)."""
    member = scheduler.running
    if member is not None and (not EAGER_TASKS or asyncio.current_task() is member.stand_in):
        member._parked = True
        return member
    return asyncio.get_running_loop().create_future()


class NoScheduler:
    """A FIFO's scheduler when its blocks run as plain tasks: nothing is ever stepping."""

    __slots__ = ()
    running = None


NO_SCHEDULER = NoScheduler()


class Member:
    """One coroutine stepped by a `Scheduler`, with its stand-in task.

    A member is also what it awaits when it waits on a FIFO (no object made per wait): the
    FIFO holds it as its waiter and calls `done` and `set_result` as on a future; awaiting it
    yields it to the scheduler once."""

    __slots__ = (
        "_parked",
        "cancel_due",
        "clock",
        "context",
        "coro",
        "ended",
        "foreign",
        "outcome",
        "run",
        "scheduler",
        "send",
        "stand_in",
        "throw",
        "watch",
    )

    def __init__(self, scheduler: Scheduler, coro: Coroutine[Any, Any, Any], clock: Any):
        self.scheduler = scheduler
        self.coro = coro
        self.clock = clock
        self.context = contextvars.copy_context()
        self.run = self.context.run
        self.send = coro.send
        self.ended = False
        self.outcome: tuple[bool, Any] | None = None  # (raised, value or exception)
        self.throw: BaseException | None = None  # thrown in at its next step
        self.cancel_due: str | None = None  # a cancel (its message) came while it ran: applied
        # where it parks
        self._parked = False  # waiting on a FIFO
        self.foreign: asyncio.Future[Any] | None = None
        self.watch: asyncio.Future[None] | None = None
        self.stand_in: asyncio.Task[Any] | None = None

    def foreign_done(self, _: asyncio.Future[Any]) -> None:
        self.foreign = None
        self.scheduler.wake(self)

    # -- as a FIFO's waiter (`fifo_waiter` starts the wait) -------------------------------
    def done(self) -> bool:
        return not self._parked

    def set_result(self, _: Any = None) -> None:
        if self._parked:
            self._parked = False
            scheduler = self.scheduler
            scheduler.ready.append(self)  # (`Scheduler.wake` inlined: the hot path)
            if scheduler._idle is not None:
                scheduler.wake_up()

    def __await__(self) -> Any:
        yield self  # (a generator: a Python __next__ raising StopIteration costs 3x more)


class StandIn(asyncio.Task):  # type: ignore[type-arg]
    """A member's own asyncio task: ends as the member does; `cancel` reaches the member at
    once (thrown in where it waits, as `Task.cancel` does), and `cancelling`/`uncancel` count
    those cancels, so ``asyncio.timeout`` in a block works as in a task of its own."""

    def __init__(self, member: Member, name: str):
        self.member = member
        self.cancels = 0
        super().__init__(_stand_in(member), loop=member.scheduler.loop, name=name)

    def cancel(self, msg: Any = None) -> bool:
        member = self.member
        if self.done() or member.ended:
            return False
        self.cancels += 1
        member.scheduler.cancel(member, msg)
        return True

    def cancelling(self) -> int:
        return self.cancels

    def uncancel(self) -> int:
        if self.cancels > 0:
            self.cancels -= 1
        return self.cancels


async def _stand_in(member: Member) -> Any:
    """A stand-in's body: waits for its member to end, then ends as it did."""
    loop = asyncio.get_running_loop()
    while not member.ended:
        watch = member.watch = loop.create_future()
        try:
            await watch
        except asyncio.CancelledError:  # (a cancel that came past `StandIn.cancel`)
            if not member.ended:
                member.scheduler.cancel(member)
    assert member.outcome is not None
    raised, value = member.outcome
    if raised:
        raise value
    return value


class Scheduler:
    """Steps its members on one asyncio task (see the module's docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.ready: deque[Member] = deque()
        self.after_turn: list[Member] = []  # members that yielded to the loop (sleep(0))
        self.running: Member | None = None
        self.members: list[Member] = []
        self.alive = 0
        self.task: asyncio.Task[None] | None = None
        self._idle: asyncio.Future[None] | None = None

    def add(self, coro: Coroutine[Any, Any, Any], clock: Any, name: str) -> asyncio.Task[Any]:
        """Make ``coro`` a member (ready to take its first step); returns its stand-in."""
        member = Member(self, coro, clock)
        self.members.append(member)
        self.alive += 1
        member.stand_in = StandIn(member, name)  # (made directly: the loop's task factory
        self.wake(member)  # could start it eagerly)
        return member.stand_in

    def start(self, name: str = "daqflow:scheduler") -> asyncio.Task[None]:
        self.task = asyncio.Task(self._run(), loop=self.loop, name=name)
        self.task.add_done_callback(self._ended)
        return self.task

    def check(self) -> None:
        """Raise what ended the scheduler's own task, if it failed (a bug: no block's)."""
        task = self.task
        if task is not None and task.done() and not task.cancelled():
            failure = task.exception()
            if failure is not None:
                raise RuntimeError(f"daqflow's scheduler failed: {failure!r}") from failure

    # -- waking and cancelling -----------------------------------------------------------
    def wake(self, member: Member) -> None:
        """Put ``member`` on the ready queue."""
        self.ready.append(member)
        if self._idle is not None:
            self.wake_up()

    def wake_up(self) -> None:
        """End the scheduler's idle wait (a member is ready)."""
        idle = self._idle
        if idle is not None:
            self._idle = None
            if not idle.done():
                idle.set_result(None)

    def cancel(self, member: Member, msg: Any = None) -> None:
        """Throw `CancelledError` into ``member`` where it waits (or where it next parks)."""
        if member.ended:
            return
        if self.running is member:
            member.cancel_due = msg or ""
        elif member.foreign is not None:
            if not member.foreign.cancel(msg):  # done: its callback wakes the member
                member.throw = asyncio.CancelledError(msg)
        elif member._parked:
            member._parked = False
            member.throw = asyncio.CancelledError(msg)
            self.wake(member)
        else:  # on the ready queue, or waiting for the loop's turn (a bare yield)
            member.throw = asyncio.CancelledError(msg)

    # -- stepping ------------------------------------------------------------------------
    async def _run(self) -> None:
        ready, after_turn = self.ready, self.after_turn
        step = self._step
        loop, task = self.loop, self.task
        while self.alive:
            if ready:
                now = perf_counter()
                turn_end = now + TURN
                _leave_task(loop, task)  # each member's stand-in is current in its step
                try:
                    while ready:
                        now = step(ready.popleft(), now)
                        if now > turn_end:
                            break
                finally:
                    _enter_task(loop, task)
            if not self.alive:
                return
            if ready or after_turn:
                await self._pause(None)  # the loop's turn
                ready.extend(after_turn)  # (members that yielded to the loop: their turn came)
                after_turn.clear()
            else:
                idle = self._idle = self.loop.create_future()
                await self._pause(idle)

    async def _pause(self, idle: asyncio.Future[None] | None) -> None:
        """Wait for a member to wake (or one loop turn); a cancel of the scheduler's task is
        passed on to every member, whose ``finally`` clauses then run."""
        try:
            if idle is None:
                await asyncio.sleep(0)
            else:
                await idle
        except asyncio.CancelledError:
            for member in self.members:
                self.cancel(member)

    def _step(self, member: Member, t0: float) -> float:
        """Run ``member`` to its next wait (from ``t0``, perf_counter() at the end of the
        previous step); returns perf_counter() after."""
        if member.ended:  # (woken twice: a finished member's late wake-up)
            return t0
        loop, stand_in, thrown = self.loop, member.stand_in, member.throw
        self.running = member
        _enter_task(loop, stand_in)
        try:
            if thrown is None:
                signal = member.run(member.send, None)
            else:
                member.throw = None
                signal = member.run(member.coro.throw, thrown)
        except StopIteration as stop:
            self._finish(member, False, stop.value)
            signal = None
        except BaseException as exc:  # the member's outcome, as a Task's (its stand-in
            self._finish(member, True, exc)  # raises a KeyboardInterrupt or SystemExit once)
            signal = None
        finally:
            t1 = perf_counter()
            member.clock.busy += t1 - t0
            _leave_task(loop, stand_in)
            self.running = None
        if signal is member and member.cancel_due is None:
            return t1  # parked on a FIFO: the hot path
        if not member.ended:
            self._park(member, signal)
        return t1

    def _park(self, member: Member, signal: Any) -> None:
        """Where a stepped member waits: on a FIFO (itself), a future, or the loop's turn."""
        due, member.cancel_due = member.cancel_due, None
        if signal is member:  # parked on a FIFO
            if due is not None:
                member._parked = False
                member.throw = asyncio.CancelledError(due or None)
                self.wake(member)
        elif signal is None:  # a bare yield (asyncio.sleep(0)): after the loop's turn
            if due is not None:
                member.throw = asyncio.CancelledError(due or None)
            self.after_turn.append(member)
        elif getattr(signal, "_asyncio_future_blocking", None):
            if signal.get_loop() is not self.loop:
                member.throw = RuntimeError(
                    f"a block awaited {signal!r}, a future attached to a different loop")
                self.wake(member)
                return
            signal._asyncio_future_blocking = False
            member.foreign = signal
            signal.add_done_callback(member.foreign_done)
            if due is not None and not signal.cancel(due or None):
                member.throw = asyncio.CancelledError(due or None)
        else:
            member.throw = RuntimeError(f"a block's coroutine yielded {signal!r}, not a future")
            self.wake(member)

    def _finish(self, member: Member, raised: bool, value: Any) -> None:
        member.ended = True
        member.outcome = (raised, value)
        self.alive -= 1
        watch = member.watch
        if watch is not None and not watch.done():
            watch.set_result(None)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """The scheduler's task ended: any member still alive (the task failed or was
        destroyed) ends with that, so no stand-in waits for ever."""
        failure: BaseException = asyncio.CancelledError()  # (also for KeyboardInterrupt:
        if not task.cancelled() and isinstance(task.exception(), Exception):  # raised once)
            failure = task.exception()  # type: ignore[assignment]
        for member in self.members:
            if not member.ended:
                with contextlib.suppress(RuntimeError):  # (a finally that awaits)
                    member.coro.close()
                self._finish(member, True, failure)


def shared_scheduler() -> bool:
    """True unless ``DAQFLOW_SCHEDULER=tasks`` (one asyncio task per block, no `Scheduler`)."""
    choice = os.environ.get("DAQFLOW_SCHEDULER", "shared")
    if choice not in ("shared", "tasks"):
        raise ValueError(f"DAQFLOW_SCHEDULER must be 'shared' or 'tasks', got {choice!r}")
    return choice == "shared"
