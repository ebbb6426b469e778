"""`blocking(obj)`: call an async object's coroutine methods from plain code.

The coroutines run on one shared background event-loop thread, so objects that hold loop
resources (connections, tasks) stay on one loop for their whole life. This works in a
plain script, in Jupyter (where the main thread already runs a loop) and in Qt apps.
Calling from the background loop's own thread raises instead of deadlocking, and so does a
blocking call of an object whose ``home_loop`` (the loop it lives on, e.g. an instrument's)
is the loop running in the calling thread: that loop would have to answer while it waits.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from .loops import loop_thread

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The shared event loop of the blocking facade, started on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop, _thread = loop_thread("daqflow-blocking")
        return _loop


@atexit.register
def _shutdown() -> None:
    global _loop
    with _lock:
        loop, _loop = _loop, None
    if loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)
        if _thread is not None:
            _thread.join(timeout=5)
        if not loop.is_running():
            loop.close()


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule ``coro`` on the background loop; returns a `concurrent.futures.Future`."""
    loop = background_loop()
    _refuse_own_loop(loop, coro)
    return asyncio.run_coroutine_threadsafe(coro, loop)


def call(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the background loop and wait for its result (Ctrl-C cancels it)."""
    future = submit(coro)
    try:
        return future.result()
    except KeyboardInterrupt:
        future.cancel()
        raise


def _refuse_own_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> None:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return
    if running is loop:
        name = getattr(coro, "__qualname__", "the coroutine")
        coro.close()
        raise RuntimeError(
            f"blocking call of {name} from the blocking facade's own event loop would deadlock; "
            "in async code, await the object's method directly instead"
        )


def _refuse_home_loop(obj: Any, name: str, coro: Coroutine[Any, Any, Any] | None = None) -> None:
    """RuntimeError if ``obj`` lives on the loop running in this thread (see the module)."""
    home = getattr(obj, "home_loop", None)
    if home is None or not isinstance(home, asyncio.AbstractEventLoop):
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return
    if running is home:
        if coro is not None:
            coro.close()
        who = getattr(obj, "name", None) or type(obj).__name__
        raise RuntimeError(
            f"{who!r}: blocking call of {name} from the event loop it lives on would deadlock "
            "(that loop must answer while it waits); await it there instead"
        )


def _is_async(attr: Any) -> bool:
    return inspect.iscoroutinefunction(attr) or inspect.iscoroutinefunction(
        getattr(attr, "__func__", None)
    )


class Blocking(Generic[T]):
    """Proxy returned by `blocking`: coroutine methods become plain calls.

    ``proxy.method(...)`` waits for the result; ``proxy.submit.method(...)`` returns a
    `concurrent.futures.Future`; other attributes read and write through to the object;
    ``with proxy:`` runs the object's ``__aenter__``/``__aexit__``.
    """

    __slots__ = ("_obj",)

    def __init__(self, obj: T):
        object.__setattr__(self, "_obj", obj)

    @property
    def wrapped(self) -> T:
        """The async object behind the proxy (use it from async code)."""
        return self._obj

    @property
    def submit(self) -> _Submitter:
        """``proxy.submit.method(...)`` -> `concurrent.futures.Future` of the result."""
        return _Submitter(self._obj)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._obj, name)
        if _is_async(attr):

            @functools.wraps(attr)
            def method(*args: Any, **kwargs: Any) -> Any:
                _refuse_home_loop(self._obj, name)
                return call(attr(*args, **kwargs))

            return method
        if callable(attr) and not isinstance(attr, type):

            @functools.wraps(attr)
            def plain(*args: Any, **kwargs: Any) -> Any:
                result = attr(*args, **kwargs)
                if inspect.iscoroutine(result):
                    _refuse_home_loop(self._obj, name, result)
                    return call(result)
                return result

            return plain
        return attr

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._obj, name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self._obj)) | {"submit", "wrapped"})

    def __enter__(self) -> Blocking[T]:
        enter = getattr(self._obj, "__aenter__", None)
        if enter is not None:
            _refuse_home_loop(self._obj, "__aenter__")
            call(enter())
        return self

    def __exit__(self, *exc_info: Any) -> bool | None:
        leave = getattr(self._obj, "__aexit__", None)
        if leave is not None:
            _refuse_home_loop(self._obj, "__aexit__")
            return call(leave(*exc_info))
        return None

    def __repr__(self) -> str:
        return f"blocking({self._obj!r})"


class _Submitter:
    __slots__ = ("_obj",)

    def __init__(self, obj: Any):
        self._obj = obj

    def __getattr__(self, name: str) -> Callable[..., concurrent.futures.Future[Any]]:
        attr = getattr(self._obj, name)
        if not _is_async(attr):
            raise AttributeError(f"{type(self._obj).__name__}.{name} is not a coroutine method")

        @functools.wraps(attr)
        def method(*args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
            return submit(attr(*args, **kwargs))

        return method


def blocking(obj: T) -> Blocking[T]:
    """Wrap an async object so its coroutine methods can be called from blocking code.

    >>> import asyncio, daqflow as df
    >>> class Meter:
    ...     async def read(self, n: int) -> int:
    ...         await asyncio.sleep(0)
    ...         return 2 * n
    >>> meter = df.blocking(Meter())
    >>> meter.read(21)
    42
    >>> meter.submit.read(1).result()
    2
    """
    if isinstance(obj, Blocking):
        return obj
    return Blocking(obj)
