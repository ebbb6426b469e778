"""Event loops on threads daqflow runs itself (the blocking facade's, a ``threaded=True``
block's worker): `loop_thread`.

Each loop is made in the thread that runs it, by the event-loop policy in force outside any
framework's context (asyncio's default, or uvloop's when it is installed), not by
``asyncio.new_event_loop``: trio-asyncio replaces that function, process-wide, with one that
makes its own loops, which are bound to the thread that made them and refused inside trio.
"""

from __future__ import annotations

import asyncio
import threading


def loop_thread(name: str) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    """A new event loop running forever on a new daemon thread called ``name``; returns once
    it runs. Stop it with ``loop.call_soon_threadsafe(loop.stop)``: the thread closes it."""
    made: list[asyncio.AbstractEventLoop | BaseException] = []
    ready = threading.Event()

    def serve() -> None:
        try:
            loop = asyncio.get_event_loop_policy().new_event_loop()
            asyncio.set_event_loop(loop)
        except BaseException as exc:  # handed to the caller
            made.append(exc)
            ready.set()
            return
        made.append(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            loop.close()

    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    ready.wait()
    if isinstance(made[0], BaseException):
        raise RuntimeError(f"daqflow could not make an event loop for thread {name!r}: "
                           f"{made[0]}") from made[0]
    return made[0], thread
