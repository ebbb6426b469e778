"""`Delay`: a retriggerable software timer; and the machinery the hardware helpers share.

`Switch`, `Pushbutton` and `Delay` run user callbacks the same way (see `Delay`):

- a callback is a plain function or a coroutine function, called with no argument. A plain
  function runs at once, in the helper's watcher; a coroutine (anything the call returns that
  can be awaited) runs as a task owned by the helper.
- on leaving ``async with``, the watcher stops, pending timers are dropped and callback tasks
  still running are cancelled and awaited.
- an exception in a callback (or in reading the pin) is not swallowed: the helper stops, the
  task that entered ``async with`` is cancelled (as `asyncio.TaskGroup` does), and the
  exception is raised from the ``async with`` statement, with a note naming the callback.
  If the body raised an exception of its own, that one propagates and the callback's error
  is added to it as a note; if the task is being cancelled from outside as well, the
  cancellation propagates and the error goes to the loop's exception handler (logged).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import numbers
from collections.abc import Awaitable, Callable
from typing import Any

Callback = Callable[[], Any]


def check_seconds(who: str, name: str, value: Any, *, zero: bool) -> float:
    """``value`` as float seconds (or ms: the caller names the unit); TypeError/ValueError
    naming ``name`` if it is not a finite number > 0 (>= 0 with ``zero``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: {name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        raise ValueError(f"{who}: {name} must be a finite number {bound}, got {value!r}")
    return value


def check_callback(who: str, name: str, value: Any, *, optional: bool = True) -> Callback | None:
    if value is None and optional:
        return None
    if not callable(value):
        allowed = "callable or None" if optional else "callable"
        raise TypeError(f"{who}: {name} must be {allowed}, got {value!r}")
    return value  # type: ignore[no-any-return]


async def _wait_for(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class Owner:
    """Runs one helper's callbacks and tasks; keeps their first error for the context exit."""

    def __init__(self, who: str):
        self.who = who
        self.loop: asyncio.AbstractEventLoop | None = None
        self.host: asyncio.Task[Any] | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.error: BaseException | None = None
        self.stop_hook: Callable[[], None] | None = None
        self._cancelled_host = False
        self._exiting = False

    @property
    def active(self) -> bool:
        return self.loop is not None and not self._exiting

    def enter(self) -> asyncio.AbstractEventLoop:
        if self.loop is not None:
            raise RuntimeError(f"{self.who} is already running (one `async with` at a time)")
        self.loop = asyncio.get_running_loop()
        self.host = asyncio.current_task()
        self.tasks = set()
        self.error = None
        self._cancelled_host = False
        self._exiting = False
        return self.loop

    def spawn(self, coro: Any, what: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task owned here; its exception (not a cancellation) is an error."""
        assert self.loop is not None
        if not asyncio.iscoroutine(coro):
            coro = _wait_for(coro)
        task = self.loop.create_task(coro, name=f"{self.who} {what}")
        self.tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, what))
        return task

    def call(self, fn: Callback | None, what: str) -> None:
        """Call a user callback: a plain one now, an awaitable result as a task."""
        if fn is None or self.error is not None or not self.active:
            return
        try:
            result = fn()
        except Exception as exc:
            self.fail(exc, f"callback {what}")
            return
        if inspect.isawaitable(result):
            self.spawn(result, f"callback {what}")

    def _done(self, task: asyncio.Task[Any], what: str) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.fail(task.exception(), what)  # type: ignore[arg-type]

    def fail(self, exc: BaseException, what: str) -> None:
        exc.add_note(f"raised in {self.who} {what}")
        if self.error is not None:
            if exc is not self.error:
                self.error.add_note(
                    f"{self.who} {what} also failed: {type(exc).__name__}: {exc}"
                )
            return
        self.error = exc
        if self.stop_hook is not None:
            self.stop_hook()
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        host = self.host
        if not self._exiting and host is not None and not host.done():
            host.cancel()
            self._cancelled_host = True

    async def exit(self, exc_type: type[BaseException] | None, exc: BaseException | None) -> bool:
        """Stop everything; raise the first callback error (see the module docstring)."""
        self._exiting = True
        if self.stop_hook is not None:
            self.stop_hook()
        cancelled_here = False
        try:
            while self.tasks:
                pending = set(self.tasks)
                for task in pending:
                    task.cancel()
                try:
                    await asyncio.wait(pending)
                except asyncio.CancelledError:  # cancelled from outside: finish, then re-raise
                    cancelled_here = True
                self.tasks = {task for task in self.tasks if not task.done()}
        finally:
            error, host = self.error, self.host
            self.loop = None
            self.host = None
            self.error = None
            self._exiting = False
        ours = False
        if self._cancelled_host and host is not None:
            self._cancelled_host = False
            ours = host.uncancel() == 0
        if cancelled_here:  # cancelled from outside while cleaning up: that must propagate
            if error is not None:
                self._report(error)
            raise asyncio.CancelledError
        if error is None:
            return False
        if exc_type is None or (issubclass(exc_type, asyncio.CancelledError) and ours):
            raise error from error.__cause__
        if issubclass(exc_type, asyncio.CancelledError):
            self._report(error)  # cancelled from outside too: the cancellation propagates
        elif exc is not None:
            exc.add_note(f"{self.who}: a callback also failed: {type(error).__name__}: {error}")
        return False

    def _report(self, error: BaseException) -> None:
        asyncio.get_running_loop().call_exception_handler({
            "message": f"{self.who}: callback error during cancellation",
            "exception": error,
        })


class Delay:
    """A retriggerable one-shot timer: ``callback`` runs ``seconds`` after the last trigger.

    Use it as an async context manager; inside, ``trigger()`` starts the countdown, or
    restarts it if it is running (so a stream of triggers closer together than ``seconds``
    postpones the callback until they stop: a watchdog, an auto-off light).

    Args:
        seconds: countdown length in seconds (>= 0).
        callback: called with no argument when the countdown ends; a plain function or a
            coroutine function (run as a task, cancelled on exit). Errors are raised from
            ``async with`` (see `daqflow.hw.delay`).

    Rules:
        - the callback runs at loop time ``t + seconds`` for the last ``trigger()`` at time t
          (an absolute deadline: a late trigger call does not move later triggers);
        - ``running()`` is True from ``trigger()`` until the callback is called or ``stop()``;
          it is False while the callback runs, so the callback may ``trigger()`` again;
        - ``stop()`` cancels the countdown (the callback is not called); leaving ``async
          with`` stops it too, and cancels callback tasks still running.

    >>> import asyncio
    >>> from daqflow.hw import Delay
    >>> async def main():
    ...     fired = []
    ...     async with Delay(0.02, lambda: fired.append("timeout")) as delay:
    ...         delay.trigger()
    ...         running = delay.running()
    ...         await asyncio.sleep(0.1)
    ...     return running, delay.running(), fired
    >>> asyncio.run(main())
    (True, False, ['timeout'])
    """

    def __init__(self, seconds: float, callback: Callback):
        self.seconds = check_seconds("Delay", "seconds", seconds, zero=True)
        self.callback = check_callback("Delay", "callback", callback, optional=False)
        self._owner = Owner("Delay")
        self._handle: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> Delay:
        self._owner.enter()
        self._owner.stop_hook = self.stop
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self.stop()
        return await self._owner.exit(exc_type, exc)

    def trigger(self, seconds: float | None = None) -> None:
        """Start (or restart) the countdown: ``seconds`` for this countdown, default the
        constructor's.

        Raises:
            RuntimeError: outside ``async with``.
        """
        duration = self.seconds if seconds is None else check_seconds(
            "Delay.trigger", "seconds", seconds, zero=True)
        loop = self._owner.loop
        if loop is None or not self._owner.active:
            raise RuntimeError("Delay.trigger: use it inside `async with Delay(...)`")
        if self._owner.error is not None:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_at(loop.time() + duration, self._expire)

    def stop(self) -> None:
        """Cancel the countdown, if running (the callback is not called)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def running(self) -> bool:
        """True while a countdown is in progress."""
        return self._handle is not None

    def _expire(self) -> None:
        self._handle = None
        self._owner.call(self.callback, "callback")

    def __repr__(self) -> str:
        return f"<Delay {self.seconds} s {'running' if self.running() else 'idle'}>"
