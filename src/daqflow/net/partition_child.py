"""The child side of a partitioned run: a spawned process (`child_main`) or a Dask task
(`dask_main`) runs one partition (`run_partition`) under its coordinator
(`daqflow.net.partition`): it imports its blocks, binds its links, says "ready", runs on
"start", relays snapshots and failures, and sends its final report."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import multiprocessing
import signal
import traceback
from typing import Any
from urllib.parse import urlparse

from ..core.driver import drive
from ..core.errors import BlockError
from ..core.executor import DRAIN_TIMEOUT, RunObserver
from ..core.report import Report
from ..core.runtime import Runtime
from .links import secure
from .parts import Part, send_json, zmq_module
from .plan import PartitionDesc
from .reports import pack_report

READY_TIMEOUT = 120.0  # seconds for every child to import its blocks and bind its links
SNAPSHOT_INTERVAL = 0.5  # seconds between children's report snapshots


def keep_large_buffers() -> None:
    """glibc only: keep freed sample buffers in the heap (mmap threshold 32 MiB, trim
    threshold 256 MiB) rather than handing each back to the OS and page-faulting it in again
    for the next chunk (a process receiving 512 KiB packets otherwise takes ~1700 page
    faults per chunk: benchmarks/scaleout.py)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 * 2**20)
    mallopt(m_trim_threshold, 256 * 2**20)


def child_main(desc: PartitionDesc, control: str, where: str, token: str) -> None:
    """Entry point of a spawned partition process."""
    keep_large_buffers()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator decides when to stop
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(run_partition(desc, control, where, token, watch_parent=True))


def dask_main(desc: PartitionDesc, control: str, token: str, keys: dict[str, bytes]) -> str:
    """Entry point of a partition on a Dask worker: binds on the worker's host; every
    socket uses CURVE with ``keys``."""
    from distributed import get_worker

    worker = get_worker().address
    host = urlparse(worker).hostname or "127.0.0.1"
    asyncio.run(run_partition(desc, control, f"tcp://{host}", token, watch_parent=False, keys=keys,
                              worker=worker))
    return desc.name


async def run_partition(
    desc: PartitionDesc, control: str, where: str, token: str, *, watch_parent: bool,
    keys: dict[str, bytes] | None = None, worker: str | None = None,
) -> None:
    """Run one partition under the coordinator at ``control`` (see the module docstring)."""
    zmq = zmq_module()
    context = zmq.asyncio.Context()
    ctl = context.socket(zmq.DEALER)
    ctl.setsockopt(zmq.IDENTITY, desc.name.encode())
    ctl.setsockopt(zmq.LINGER, 5000)
    secure(ctl, keys, server=False)
    ctl.connect(control)
    orphaned = _parent_watch() if watch_parent else asyncio.Event()
    part: Part | None = None
    try:
        try:
            part = Part(desc, context, token, keys=keys)
        except Exception as exc:
            await send_json(ctl, {"type": "failed", "token": token, "message": _failure(desc, exc)})
            return
        addresses = await part.bind(where)
        await send_json(ctl, {"type": "ready", "token": token, "addresses": addresses,
                               "worker": worker})
        if not await _poll_unless(ctl, READY_TIMEOUT * 2, orphaned):
            return  # the coordinator is gone
        message = json.loads(await ctl.recv())
        if message.get("type") != "start":
            return
        await part.connect(message["addresses"])
        await _serve_partition(part, ctl, token, orphaned,
                               float(message.get("drain_timeout", DRAIN_TIMEOUT)))
    finally:
        if orphaned.is_set():  # nobody is left to read what is unsent: do not linger
            context.destroy(linger=0)
        else:
            if part is not None:
                await part.close()
            ctl.close()
            context.term()


def _parent_watch() -> asyncio.Event:
    """An event set as soon as this spawned process's parent dies (its sentinel pipe
    becomes readable), without polling."""
    gone = asyncio.Event()
    parent = multiprocessing.parent_process()
    if parent is None:
        return gone
    loop = asyncio.get_running_loop()

    def parent_died() -> None:
        loop.remove_reader(parent.sentinel)
        gone.set()

    loop.add_reader(parent.sentinel, parent_died)
    return gone


async def _poll_unless(socket: Any, timeout: float, gone: asyncio.Event) -> bool:
    """True once ``socket`` has a message; False after ``timeout`` seconds or once ``gone``."""
    if gone.is_set():
        return False
    polling = asyncio.ensure_future(socket.poll(timeout * 1000))
    waiting = asyncio.ensure_future(gone.wait())
    try:
        await asyncio.wait([polling, waiting], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (polling, waiting):
            task.cancel()
        await asyncio.gather(polling, waiting, return_exceptions=True)
    return not gone.is_set() and polling.done() and not polling.cancelled() and bool(
        polling.result())


def _failure(desc: PartitionDesc, exc: BaseException) -> str:
    names = ", ".join(repr(n.name) for n in desc.nodes)
    return (
        f"process {desc.name!r} could not set up its blocks ({names}): "
        f"{type(exc).__name__}: {exc}"
    )


def _error_info(block: str, exc: BaseException) -> dict[str, Any]:
    return {
        "block": block,
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


class _Relay(RunObserver):
    """Tells the coordinator of a partition's run: a snapshot every `SNAPSHOT_INTERVAL`
    seconds, and a failing block at once (so the other processes stop now)."""

    interval = SNAPSHOT_INTERVAL

    def __init__(self, ctl: Any, token: str):
        self._ctl, self._token = ctl, token
        self._sent: list[Any] = []  # the sends' futures (pyzmq's asyncio sockets queue them)

    def tick(self, report: Report) -> None:
        tree, _ = pack_report(report, results=False)
        self._sent = [f for f in self._sent if not f.done()]
        self._sent.append(send_json(self._ctl, {"type": "snapshot", "token": self._token,
                                                 "report": tree}))

    def block_failed(self, block: str, error: BaseException) -> None:
        self._sent.append(send_json(self._ctl, {"type": "error", "token": self._token,
                                                 "error": _error_info(block, error)}))


async def _serve_partition(
    part: Part, ctl: Any, token: str, orphaned: asyncio.Event, drain_timeout: float
) -> None:
    assert part.graph is not None
    runtime = Runtime(part.graph, drain_timeout=drain_timeout)
    task = asyncio.ensure_future(drive(runtime, observers=[_Relay(ctl, token)]))

    async def listen() -> None:
        while True:
            message = json.loads(await ctl.recv())
            if message.get("type") == "stop":
                runtime.request_stop(message.get("reason", "stop"))
                if message.get("hard"):
                    runtime.abort()
            elif message.get("type") == "abort":
                part.abort_peer(message["part"])


    async def stop_when_orphaned() -> None:
        """The parent is gone, and with it the graph's other ends: stop without draining
        (sinks still see their inputs end, so writers close their files)."""
        await orphaned.wait()
        part.abort_peer(None)
        runtime.cut_drain("parent died")

    helpers = [asyncio.ensure_future(listen()), asyncio.ensure_future(stop_when_orphaned())]
    error = None
    try:
        report = await task
    except BlockError as exc:
        report = exc.report or runtime.report()
        error = _error_info(exc.block, exc.cause)
    finally:
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
    if orphaned.is_set():
        return
    tree, buffers = pack_report(report)
    await send_json(ctl, {"type": "done", "token": token, "report": tree, "error": error}, buffers)
