"""Errors raised by the graph builder and the runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import Report


class GraphError(ValueError):
    """Bad wiring, found before anything runs (names both ends of the faulty connection)."""


class BlockError(RuntimeError):
    """A block failed while the graph ran.

    Attributes:
        block: name of the block that failed.
        cause: the exception it raised (also ``__cause__``).
        report: the partial report of the run: sinks hold what they received before the stop.
    """

    def __init__(self, block: str, cause: BaseException, report: Report | None = None):
        super().__init__(f"block {block!r} failed: {type(cause).__name__}: {cause}")
        self.block = block
        self.cause = cause
        self.report = report
        self.__cause__ = cause


class UpstreamFailed(Exception):
    """Raised by a block that relays a stream from elsewhere (another process, a server) when
    that stream ended because a block there failed: the runtime ends this block's output with
    that failure (see `daqflow.core.channel.upstream_failure`) without counting it as this
    block's own error.

    Attributes:
        block: name of the block that failed upstream. cause: its error.
    """

    def __init__(self, block: str, cause: BaseException):
        super().__init__(f"block {block!r} upstream failed: {cause}")
        self.block = block
        self.cause = cause


class EndOfStream(Exception):
    """Raised by ``Channel.get`` once the channel is closed and empty."""


class ReceiverGone(Exception):
    """Raised by ``Channel.put`` when the consumer has stopped reading."""
