"""The one loop every file-writing sink runs: write each chunk, close whatever happens, and
say in the recording how it ended.

A recording ends normally at the end of its stream. It ends early when a block upstream fails
(the input ends with that failure: `daqflow.core.channel.upstream_failure`), when the writer
itself cannot write (a full disk), or when the run is cancelled at once (its parent process
died, a drain cut short): the recorder is closed with the reason (``ended``), which each
format keeps (SigMF ``daqflow:ended``, HDF5 attribute ``ended``, the WAV comment's ``ended``)
and the sink's result carries as ``"ended"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterable, Iterator
from typing import Any, Protocol

from ..core import Chunk
from ..core.authoring import DRAIN_CUT_BY, upstream_failure, was_cut

CANCELLED = ("cancelled: the run was stopped at once (its parent process died or its stop "
             "was cut short); samples still on their way were not written")


class Recorder(Protocol):
    """A writer with no asyncio in it (`SigmfRecorder`, `Hdf5Recorder`, `WavRecorder`)."""

    where: str  # names the writer and its file in errors, e.g. "sigmf_writer '/data/x.sigmf-meta'"

    def write(self, chunk: Chunk) -> None: ...

    def close(self, ended: str | None = None) -> dict[str, Any]: ...


class RecordingError(OSError):
    """A recording that could not be written to the end (a full disk): the message names the
    file and says how many samples it holds; ``result`` is the writer's result."""

    def __init__(self, message: str, result: dict[str, Any] | None = None):
        super().__init__(message)
        self.result = result


def describe(exc: BaseException) -> str:
    """One line for an exception: the system's words for an OS error ("No space left on
    device"), else "Type: first line of the message"."""
    number = getattr(exc, "errno", None)
    if isinstance(exc, OSError) and not isinstance(exc, RecordingError) and number:
        return os.strerror(number)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def saved(result: dict[str, Any]) -> str:
    """"N samples saved" from a writer's result."""
    return f"{int(result.get('samples') or 0)} samples saved (the recording ends there and says so)"


def write_failed(where: str, exc: BaseException, result: dict[str, Any]) -> RecordingError:
    """The error of a writer that could not write (a full disk), once its file is finished."""
    return RecordingError(f"{where}: {describe(exc)}: {saved(result)}", result)


@contextlib.contextmanager
def _closed_on_error(recorder: Recorder) -> Iterator[None]:
    """Close ``recorder`` when its writing stops on an exception, saying so in the recording;
    an OS error of the writer (a full disk) comes out as `write_failed`'s `RecordingError`."""
    try:
        yield
    except Exception as exc:
        result = recorder.close(f"writing failed: {describe(exc)}")
        if isinstance(exc, OSError) and not isinstance(exc, RecordingError):
            raise write_failed(recorder.where, exc, result) from None
        raise
    except BaseException as exc:  # cancelled: the run stops at once
        cancelled = isinstance(exc, asyncio.CancelledError)
        recorder.close(CANCELLED if cancelled else f"interrupted: {type(exc).__name__}")
        raise


def record_chunk(recorder: Recorder, chunk: Chunk) -> dict[str, Any]:
    """Write one chunk and close the recorder: a whole recording without a loop (`io.arrays`).
    Returns the recorder's result; errors as `record`."""
    with _closed_on_error(recorder):
        recorder.write(chunk)
    return recorder.close()


async def record(recorder: Recorder, stream: AsyncIterable[Chunk]) -> dict[str, Any]:
    """Write every chunk of ``stream``; the recorder is closed (flushed, renamed, marked
    complete) also when the stream ends on an error or a cancellation: nothing delivered is
    lost, and an early end is marked in the recording. Returns the recorder's result.

    Raises:
        RecordingError: the writer could not write (a full disk): its message names the file
            and says how many samples it holds. Other errors of the writer pass unchanged.
    """
    with _closed_on_error(recorder):
        async for chunk in stream:
            recorder.write(chunk)
    failure = upstream_failure(stream)
    ended = None
    if failure is not None:
        block, cause = failure
        ended = f"upstream block {block!r} failed: {describe(cause)}"
    elif (why := was_cut(stream)) is not None:
        ended = (f"the stop's drain was cut short by {DRAIN_CUT_BY.get(why, why)}: what was "
                 "still queued upstream was discarded")
    return recorder.close(ended)
