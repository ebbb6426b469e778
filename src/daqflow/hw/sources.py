"""Sources that talk to devices: `poll` (clock-driven), `fd_source` and `serial_source`
(woken by IO readiness).

`poll` calls a read function on a grid of absolute deadlines (`core.clock.ticks`, the clock
`instruments.visa_poll` shares) and is a real-time source (it
never waits on a full FIFO; a reading that finds its FIFO full is dropped and counted in the
run report). `fd_source` and `serial_source` yield ``bytes`` as the device delivers them and
wait on a full FIFO (lossless: the kernel buffers, then flow control, hold the rest);
pass ``realtime=True`` to drop and count instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import inspect
import operator
import os
import stat
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..core import Stream, block
from ..core.authoring import require, ticks
from .delay import check_seconds


class Reading(tuple):  # type: ignore[type-arg]
    """One reading of `poll`: the pair ``(time, value)``, with ``missed`` and ``late``.

    It unpacks and compares as ``(time, value)``: ``t, v = reading``.

    Attributes:
        time: seconds since the source started, on its grid: ``k * interval`` exactly for
            the k-th deadline (the first reading is at 0.0).
        value: what ``read()`` returned.
        missed: deadlines skipped just before this one because the previous read or the
            event loop ran late (0 when on time); the sum over a run is the total missed.
        late: seconds between this deadline and the call of ``read()`` (< ``interval``).
    """

    missed: int
    late: float

    def __new__(cls, time: float, value: Any, missed: int = 0, late: float = 0.0) -> Reading:
        self = super().__new__(cls, (time, value))
        self.__dict__["missed"] = missed  # in the instance dict: __setattr__ refuses
        self.__dict__["late"] = late
        return self

    time = property(operator.itemgetter(0), doc="seconds since the start, on the grid")
    value = property(operator.itemgetter(1), doc="what read() returned")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Reading is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Reading, (self[0], self[1], self.missed, self.late))

    def __repr__(self) -> str:
        return (f"Reading(time={self[0]!r}, value={self[1]!r}, missed={self.missed}, "
                f"late={self.late:.6f})")


# -- poll ------------------------------------------------------------------------------------
@block(name="poll", realtime=True)
async def _poll(read: Callable[[], Any], interval: float) -> AsyncIterator[Reading]:
    async for tick in ticks(interval):
        value = read()
        if inspect.isawaitable(value):
            value = await value
        yield Reading(tick.time(interval), value, tick.missed, tick.late)


def poll(
    read: Callable[[], Any],
    interval: float,
    *,
    name: str | None = None,
    threaded: bool = False,
) -> Stream:
    """A real-time source of `Reading` items ``(time, value)``: ``read()`` every ``interval``.

    Pacing uses absolute deadlines ``start + k * interval``, so timing does not drift. When
    a read (or the event loop) runs late past the next deadlines, those deadlines are
    skipped, not caught up in a burst: the next reading is taken at once for the latest
    deadline already due, and carries the number skipped in ``missed``. A reading always
    has ``time == k * interval`` for its deadline k.

    Args:
        read: a plain function or a coroutine function, called with no argument; what it
            returns is the reading's value. An exception in it fails the source.
        interval: seconds between deadlines (> 0).
        name: the block's name in reports.
        threaded: run the loop (and so ``read``) in a worker thread with its own event
            loop, for a blocking ``read`` that would stall the graph's loop.

    The source is real-time: when its FIFO is full a reading is dropped and counted in the
    run report (``dropped_items``), while ``missed`` counts deadlines at which ``read`` was
    not called at all.

    Timing (``benchmarks/timing.py``, Linux): asyncio's timers wait in whole milliseconds
    (epoll), so a reading is typically 0-1 ms late (``Reading.late``) and at 1 kHz about
    one deadline in ten is missed even on an idle loop; a graph computing on the same loop
    delays it further. Keep per-step work of other blocks short, or move heavy blocks to
    threads (``threaded=True``).

    >>> import itertools
    >>> import daqflow as df
    >>> from daqflow import hw
    >>> counter = itertools.count()
    >>> readings = df.run(df.collect(hw.poll(lambda: next(counter), 0.001)), duration=0.1)
    >>> [r.value for r in readings.results["collect"][:3]]
    [0, 1, 2]
    """
    if not callable(read):
        raise TypeError(f"poll: read must be callable (a function or coroutine function), got {read!r}")
    interval = check_seconds("poll", "interval", interval, zero=False)
    return _poll(read, interval, name=name, threaded=threaded, realtime=True)


# -- readiness -------------------------------------------------------------------------------
def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _readable(fd: int) -> None:
    """Wait until ``fd`` is readable (the event loop's selector: ``loop.add_reader``)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    loop.add_reader(fd, _set_done, future)
    try:
        await future
    finally:
        loop.remove_reader(fd)


@block(name="fd_source")
async def _fd_reader(fd: int, read_size: int, handle: Any) -> AsyncIterator[bytes]:
    was_blocking = os.get_blocking(fd)
    os.set_blocking(fd, False)
    try:
        while True:
            try:
                data = os.read(fd, read_size)
            except BlockingIOError:
                await _readable(fd)
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:  # a pty (or tty) whose other side has closed
                    return
                raise
            if not data:
                return
            yield data
    finally:
        with contextlib.suppress(OSError):  # closed by its owner meanwhile
            os.set_blocking(fd, was_blocking)


def _descriptor(fd_or_file: Any) -> int:
    fileno = getattr(fd_or_file, "fileno", None)
    if isinstance(fd_or_file, int) and not isinstance(fd_or_file, bool):
        return fd_or_file
    if callable(fileno):
        fd = fileno()
        if isinstance(fd, int):
            return fd
    raise TypeError(
        f"fd_source: fd_or_file must be a file descriptor or have fileno(), got {fd_or_file!r}"
    )


def fd_source(
    fd_or_file: Any,
    read_size: int = 65536,
    *,
    name: str | None = None,
    realtime: bool = False,
) -> Stream:
    """A source of ``bytes`` read from a file descriptor when it is readable, to its end.

    The event loop wakes the source when the descriptor has data (``loop.add_reader``: no
    polling, no thread); each item is what one ``os.read`` returned (at most ``read_size``
    bytes), in order. The stream ends at end of file (a closed pipe or socket), or when
    the other side of a pty has closed (EIO).

    Args:
        fd_or_file: a file descriptor, or an object with ``fileno()`` (a pipe, socket,
            tty/pty, character device). Regular files are always "readable": use
            `daqflow.io.file_source` for them. The descriptor is put in non-blocking mode
            while the source runs (restored after) and is not closed by the source. Data
            already buffered inside a Python file object is not seen: pass raw descriptors.
        read_size: most bytes per item (>= 1).
        name: the block's name in reports.
        realtime: drop (and count) items when the FIFO is full instead of waiting.

    >>> import os
    >>> import daqflow as df
    >>> from daqflow import hw
    >>> r, w = os.pipe()
    >>> _ = os.write(w, b"hello"); os.close(w)
    >>> df.run(df.collect(hw.fd_source(r))).results["collect"]
    [b'hello']
    >>> os.close(r)
    """
    fd = _descriptor(fd_or_file)
    try:
        mode = os.fstat(fd).st_mode
    except (OSError, OverflowError, ValueError) as exc:
        raise ValueError(
            f"fd_source: fd_or_file {fd_or_file!r} is not an open file descriptor ({exc})"
        ) from None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        raise ValueError(
            "fd_source: fd_or_file is a regular file or directory, which is always readable; "
            "use daqflow.io.file_source for files"
        )
    if isinstance(read_size, bool) or not isinstance(read_size, int) or read_size < 1:
        raise ValueError(f"fd_source: read_size must be an int >= 1 byte, got {read_size!r}")
    return _fd_reader(fd, read_size, fd_or_file, name=name, realtime=bool(realtime))


# -- serial ----------------------------------------------------------------------------------
_THREAD_TIMEOUT = 0.05  # s: a reader thread's longest wait, so that a stop is prompt


def _fileno(port: Any) -> int | None:
    try:
        fd = port.fileno()
    except (OSError, AttributeError, ValueError):  # io.UnsupportedOperation: loop://, ...
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


@block(name="serial_source")
async def _serial_reader(
    url: Any, baudrate: int, read_size: int, settings: dict[str, Any]
) -> AsyncIterator[bytes]:
    serial = require("serial", "instruments", "serial_source")
    own = isinstance(url, str)
    if own:
        port = await asyncio.to_thread(
            serial.serial_for_url, url, baudrate=baudrate, timeout=0, **settings
        )
    else:
        port = url
    timeout = port.timeout
    try:
        fd = _fileno(port)
        if fd is not None:
            port.timeout = 0  # non-blocking reads, woken by readiness
            while port.is_open:
                data = port.read(read_size)
                if data:
                    yield data
                else:
                    await _readable(fd)
        else:
            async for data in _threaded_reads(serial, port, read_size):
                yield data
    finally:
        with contextlib.suppress(Exception):
            if own:
                port.close()
            else:
                port.timeout = timeout


async def _threaded_reads(serial: Any, port: Any, read_size: int) -> AsyncIterator[bytes]:
    """Reads in a helper thread, for ports with no file descriptor (``loop://``, ``spy://``)."""
    port.timeout = _THREAD_TIMEOUT
    closed = (serial.PortNotOpenError,)

    def read_some() -> bytes | None:
        try:
            if not port.is_open:
                return None
            data = port.read(1)  # waits at most _THREAD_TIMEOUT
            if data:
                more = port.in_waiting
                if more:
                    data += port.read(min(more, read_size - 1))
            return bytes(data)
        except closed:
            return None

    executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="daqflow-serial")
    job: concurrent.futures.Future[bytes | None] | None = None
    try:
        while True:
            job = executor.submit(read_some)
            data = await asyncio.wrap_future(job)
            job = None
            if data is None:
                return
            if data:
                yield data
    finally:
        if job is not None and not job.done():  # stopped mid-read: its bytes are dropped
            with contextlib.suppress(BaseException):
                await asyncio.wrap_future(job)
        executor.shutdown(wait=False)


def serial_source(
    url: Any,
    baudrate: int = 9600,
    *,
    read_size: int = 4096,
    name: str | None = None,
    realtime: bool = False,
    **settings: Any,
) -> Stream:
    """A source of ``bytes`` received on a serial port (pyserial: extra ``instruments``).

    Args:
        url: a port name or pyserial URL (``"/dev/ttyUSB0"``, ``"COM3"``,
            ``"socket://host:port"``, ``"loop://"``), opened with ``serial.serial_for_url``
            when the graph starts and closed when it ends; or an open pyserial port object,
            used as is (so you can also write to it) and left open (its ``timeout`` is
            restored).
        baudrate: bits per second.
        read_size: most bytes per item.
        name: the block's name in reports.
        realtime: drop (and count) items when the FIFO is full instead of waiting.
        settings: more ``serial_for_url`` arguments (``bytesize``, ``parity``,
            ``stopbits``, ``rtscts``, ...); not ``timeout``, which the source manages.

    Ports with a file descriptor (local serial ports, ``socket://``) are read when the
    event loop reports them readable; others (``loop://``) by a helper thread blocking at
    most 50 ms per read (bytes that thread reads after the source is stopped are dropped).
    The stream ends when the port is closed; a port error fails the source.

    Raises:
        ImportError: pyserial is missing (``pip install 'daqflow[instruments]'``).
    """
    require("serial", "instruments", "serial_source")
    if isinstance(url, str):
        if not url:
            raise ValueError("serial_source: url must be a non-empty port name or URL")
    elif not (callable(getattr(url, "read", None)) and hasattr(url, "in_waiting")):
        raise TypeError(f"serial_source: url must be a port name/URL or an open pyserial port, got {url!r}")
    if isinstance(baudrate, bool) or not isinstance(baudrate, int) or baudrate < 1:
        raise ValueError(f"serial_source: baudrate must be an int >= 1 bit/s, got {baudrate!r}")
    if isinstance(read_size, bool) or not isinstance(read_size, int) or read_size < 1:
        raise ValueError(f"serial_source: read_size must be an int >= 1 byte, got {read_size!r}")
    if "timeout" in settings:
        raise ValueError("serial_source: timeout is managed by the source; do not pass it")
    return _serial_reader(url, baudrate, read_size, dict(settings), name=name, realtime=bool(realtime))
