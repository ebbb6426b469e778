"""The one loop every file-writing sink runs: write each chunk, close whatever happens."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any, Protocol

from ..core import Chunk


class Recorder(Protocol):
    """A writer with no asyncio in it (`SigmfRecorder`, `Hdf5Recorder`)."""

    def write(self, chunk: Chunk) -> None: ...

    def close(self) -> dict[str, Any]: ...


async def record(recorder: Recorder, stream: AsyncIterable[Chunk]) -> dict[str, Any]:
    """Write every chunk of ``stream``; the recorder is closed (flushed, renamed, marked
    complete) also when the stream ends on an error or a cancellation: nothing delivered is
    lost. Returns the recorder's result."""
    try:
        async for chunk in stream:
            recorder.write(chunk)
    finally:
        result = recorder.close()
    return result
