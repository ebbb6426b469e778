"""`GuardedServer`: aiohttp's low-level server with the limits that keep a reader served.

- a connection that has not sent a whole request head within ``header_timeout`` seconds of
  opening, or of the first bytes of a later request, is closed: half-open connections are
  not held for ever (the server reads a request's small body within the same time);
- one idle between requests longer than ``idle_timeout`` is closed, and so is one whose
  reader takes none of an answer being written for ``idle_timeout``;
- beyond ``max_connections`` the connection idle the longest is closed to make room; when
  every one is busy (long polls waiting for data), the new one is answered 503 and closed;
- every error answer aiohttp makes itself (the parser's: a request line or header too long,
  bad bytes; a handler's failure: 500) has the JSON error body; the parser's are logged in
  one line at debug level, not with a traceback.

A connection is *busy* while a request is being handled (`busy`) or an answer is still being
written; only connections that are not busy count as idle. Imported only with aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web, web_protocol

log = logging.getLogger("daqflow.net.http")


class _Connection:
    __slots__ = ("busy", "heard", "requests", "since", "transport", "unsent")

    def __init__(self, transport: Any, now: float):
        self.transport = transport
        self.busy = 0  # requests being handled
        self.requests = 0  # requests handled so far
        self.since = now  # loop time it last became idle (or opened, or its reader took bytes)
        self.heard: float | None = None  # loop time a later request's first bytes came
        self.unsent = 0  # bytes of an answer not yet taken by the reader, at the last sweep

    def writing(self) -> int:
        """Bytes of an answer still waiting in the transport."""
        return 0 if self.transport.is_closing() else self.transport.get_write_buffer_size()

    def idle(self) -> bool:
        return not self.busy and not self.writing()


class _JsonErrors(web_protocol.RequestHandler):
    """aiohttp's connection handler, answering its own errors (the parser's, a failed or timed
    out handler's) with daqflow's JSON error body, and telling the server when bytes come."""

    def data_received(self, data: bytes) -> None:
        self._manager.heard(self)  # type: ignore[union-attr]
        super().data_received(data)

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        manager: GuardedServer = self._manager  # type: ignore[assignment]
        remote = getattr(request, "remote", "?")
        if status == 500:  # a handler failed: a bug, its traceback is logged
            self.log_exception("Error handling request from %s", remote, exc_info=exc)
            text = "internal server error" + (f" ({type(exc).__name__})" if exc is not None else "")
        elif status == 504:
            text = "the request handler timed out"
            log.debug("answered 504 to %s: %s", remote, text)
        else:
            text = (message or getattr(exc, "message", None) or str(exc or "bad request")).strip()
            text = text.splitlines()[0] if text else "bad request"
            log.debug("answered %d to %s: %s", status, remote, text)
        if request.writer.output_size > 0:  # as aiohttp: part of an answer is out already
            raise ConnectionError("Response is sent already, cannot send another response "
                                  "with the error message")
        response = web.Response(status=status, text=manager.error_body(status, text),
                                content_type="application/json")
        response.force_close()
        return response


class GuardedServer(web.Server):
    """`aiohttp.web.Server` with connection limits (see the module).

    Args:
        handler: the request handler (a coroutine function of a request).
        header_timeout, idle_timeout: seconds (see the module).
        max_connections: connections held at once.
        error_body: ``(status, message) -> JSON text`` of an error answer.
        kwargs: for aiohttp's request handler (max_line_size, keepalive_timeout, ...).
    """

    def __init__(self, handler: Any, *, header_timeout: float, idle_timeout: float,
                 max_connections: int, error_body: Callable[[int, str], str], **kwargs: Any):
        super().__init__(handler, **kwargs)
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.error_body = error_body
        self.closed_idle = 0  # connections closed for a timeout or to make room
        self.refused = 0  # connections answered 503: every one was busy
        self._handler_args = {k: v for k, v in kwargs.items()  # what Server keeps for itself
                              if k not in ("handler_cancellation", "request_factory", "loop")}
        self._held: dict[Any, _Connection] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def __call__(self) -> web_protocol.RequestHandler:
        return _JsonErrors(self, loop=asyncio.get_running_loop(), **self._handler_args)

    # -- connections -------------------------------------------------------------------
    def connection_made(self, handler: Any, transport: Any) -> None:
        super().connection_made(handler, transport)
        now = asyncio.get_running_loop().time()
        if len(self._held) >= self.max_connections and not self._make_room():
            self.refused += 1
            body = self.error_body(503, "too many connections; try again").encode()
            transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json"
                            b"\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: "
                            + str(len(body)).encode() + b"\r\n\r\n" + body)
            transport.close()
            return
        self._held[handler] = _Connection(transport, now)

    def connection_lost(self, handler: Any, exc: BaseException | None = None) -> None:
        self._held.pop(handler, None)
        super().connection_lost(handler, exc)

    def _make_room(self) -> bool:
        """Close the connection idle the longest; False if none is idle."""
        idle = [(c.since, h) for h, c in self._held.items() if c.idle()]
        if not idle:
            return False
        _, handler = min(idle, key=lambda pair: pair[0])
        self._drop(handler)
        return True

    def _drop(self, handler: Any) -> None:
        connection = self._held.pop(handler, None)
        if connection is not None:
            self.closed_idle += 1
            connection.transport.abort()

    def heard(self, handler: Any) -> None:
        """Bytes came on ``handler``'s connection: between requests, a request head is begun
        and must be whole within ``header_timeout``."""
        connection = self._held.get(handler)
        if connection is not None and connection.requests and connection.heard is None and (
                not connection.busy):
            connection.heard = asyncio.get_running_loop().time()

    @contextlib.contextmanager
    def busy(self, handler: Any) -> Iterator[None]:
        """Mark ``handler``'s connection busy while a request is handled."""
        connection = self._held.get(handler)
        if connection is None:
            yield
            return
        connection.busy += 1
        connection.requests += 1
        connection.heard = None
        try:
            yield
        finally:
            connection.busy -= 1
            connection.since = asyncio.get_running_loop().time()

    # -- the sweep ---------------------------------------------------------------------
    def watch(self) -> None:
        """Start closing connections past their timeouts (on the running loop)."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep(),
                                                                   name="daqflow-http-guard")

    def unwatch(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def _sweep(self) -> None:
        period = min(self.header_timeout, self.idle_timeout) / 4
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            late = []
            for handler, connection in self._held.items():
                if connection.busy:
                    continue
                unsent = connection.writing()
                if unsent:  # an answer is being written: late if its reader takes none of it
                    if unsent != connection.unsent:
                        connection.since, connection.unsent = now, unsent
                    if now - connection.since > self.idle_timeout:
                        late.append(handler)
                    continue
                connection.unsent = 0
                if not connection.requests:
                    late_after, start = self.header_timeout, connection.since
                elif connection.heard is not None:
                    late_after, start = self.header_timeout, connection.heard
                else:
                    late_after, start = self.idle_timeout, connection.since
                if now - start > late_after:
                    late.append(handler)
            for handler in late:
                self._drop(handler)
            if late:
                log.debug("closed %d connection(s) past their header or idle timeout", len(late))
