"""Running a graph split over processes: ``proc=df.Process(...)`` and ``cluster=``.

The coordinator (the process that calls `daqflow.run`) runs the blocks with no ``proc=``
itself and starts one child per `Process`: a spawned OS process, or a task on a Dask worker
when ``cluster=`` is a ``dask.distributed.Client``. Children receive their partition's
description (blocks by import path, parameters by value) as their start arguments, import
their blocks, bind the producer ends of their links and say "ready"; a child that cannot
import a block says so and nothing starts (`GraphError`). Then the coordinator sends each
child the addresses of its inbound links and everything runs.

Control messages travel over a ZeroMQ ROUTER bound by the coordinator, as JSON (reports,
with sinks' results as raw buffers): nothing is unpickled from a socket. A stop
(duration, ``stop()``, Ctrl-C) stops every process's sources and lets every FIFO, links
included, drain; a block failing anywhere stops the whole graph and `daqflow.run` raises
`BlockError` naming it, with the merged report.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import multiprocessing
import os
import secrets
import shutil
import socket
import tempfile
from time import perf_counter
from typing import Any
from urllib.parse import urlparse

from ..core.bootstrap import PARTITION_PREFIX, UNGUARDED_MAIN_EXIT, unguarded_main_advice
from ..core.driver import drive
from ..core.errors import BlockError, GraphError
from ..core.executor import DRAIN_TIMEOUT, Lifecycle, RunObserver
from ..core.graph import Graph
from ..core.placement import TRANSPORTS, Process
from ..core.report import Report
from ..core.runtime import Runtime
from .links import RemoteBlockError, new_keys, secure
from .partition_child import READY_TIMEOUT, child_main, dask_main, run_partition
from .parts import Part, send_json, zmq_module
from .plan import MAIN, Plan, make_plan
from .reports import merge_reports, unpack_report

EXIT_GRACE = 1.0  # seconds a child's last messages may take to arrive after it exited



class _Child:
    """A running partition as the coordinator sees it."""

    def __init__(self, name: str, handle: Any):
        self.name = name
        self.handle = handle  # a multiprocessing Process or a Dask future
        self.addresses: dict[str, str] | None = None
        self.worker: str | None = None  # the Dask worker it runs on
        self.snapshot: Report | None = None
        self.final: Report | None = None
        self.error: dict[str, Any] | None = None
        self.done = False
        self.exit_seen: float | None = None  # perf_counter time its exit was first seen

    def exit_problem(self) -> str | None:
        """Why the child ended without saying goodbye (None while it runs)."""
        handle = self.handle
        if isinstance(handle, multiprocessing.process.BaseProcess):
            if handle.exitcode is not None:
                return f"process {self.name!r} exited with code {handle.exitcode}"
            return None
        if handle.done():
            try:
                handle.result(timeout=0)
            except Exception as exc:
                return f"process {self.name!r} failed on its Dask worker: {type(exc).__name__}: {exc}"
            return f"process {self.name!r} ended on its Dask worker without a report"
        return None


class PartitionedRuntime:
    """Runs a graph whose blocks are spread over processes: the `Executor` that
    `daqflow.net` registers (``run``, ``request_stop``, ``abort``, ``report``, ``state``)."""

    def __init__(self, graph: Graph, *, cluster: Any = None, transport: str | None = None,
                 drain_timeout: float = DRAIN_TIMEOUT):
        if transport is not None and transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
        self.graph = graph
        self.cluster = cluster
        self.drain_timeout = drain_timeout
        self.plan: Plan = make_plan(graph, transport=transport,
                                    default="zmq" if cluster is not None else "shm")
        if cluster is not None and any(lk.transport == "shm" for lk in self.plan.links):
            raise GraphError(
                "transport 'shm' needs both ends on one machine; with cluster= use 'zmq' or 'http'"
            )
        if cluster is not None:
            for desc in self.plan.parts.values():
                for node in desc.nodes:
                    if desc.name != MAIN and node.module == "__main__":
                        raise GraphError(
                            f"block {node.name!r} runs on a Dask worker, which cannot import "
                            "the __main__ script: define it in a module the workers can import"
                        )
        self.stopped_by = "end"
        self._stopping = False
        self._children: dict[str, _Child] = {}
        self._main: Part | None = None
        self._main_runtime: Runtime | None = None
        self._ctl: Any = None
        self._token = secrets.token_hex(16)
        self._keys = new_keys() if cluster is not None else None  # tcp: CURVE on every socket
        self._errors: list[tuple[str, dict[str, Any]]] = []
        self._problem: tuple[str | None, str] | None = None  # (process, what went wrong)
        self._started = False
        self._ended = False
        self._told = False  # the observers heard of a failing block
        self.t_start = perf_counter()
        self.observers: list[RunObserver] = []

    @property
    def state(self) -> Lifecycle:
        if self._ended:
            return Lifecycle.STOPPED
        if not self._started:
            return Lifecycle.IDLE
        return Lifecycle.STOPPING if self._stopping else Lifecycle.RUNNING

    def abort(self) -> None:
        """Cancel every block in every process now (no drain)."""
        if not self._stopping:
            self._stopping = True
            if self.stopped_by == "end":
                self.stopped_by = "interrupt"
        if self._main_runtime is not None:
            self._main_runtime.abort()
        self._tell_children("interrupt", hard=True)

    def _note_problem(self, part: str | None, text: str) -> None:
        """The first thing that went wrong outside any block (``part``: the process, if one)."""
        if self._problem is None:
            self._problem = (part, text)

    # -- control --
    def request_stop(self, reason: str = "stop") -> None:
        hard = self._stopping and reason == "interrupt"  # (a Ctrl-C cuts any drain short)
        if not self._stopping:
            self._stopping = True
            if self.stopped_by == "end":
                self.stopped_by = reason
        elif not hard:
            return
        if self._main_runtime is not None:
            self._main_runtime.request_stop(reason)
        self._tell_children(reason, hard)

    def _tell_children(self, reason: str, hard: bool) -> None:
        """Send every running child a stop (``hard``: it cancels every block)."""
        if self._ctl is not None and self._started:
            for child in self._children.values():
                if not child.done:
                    send_json(self._ctl, {"type": "stop", "reason": reason, "hard": hard},
                               ident=child.name.encode())

    def report(self) -> Report:
        """The merged figures so far (children's last snapshots)."""
        parts: dict[str, Report] = {}
        if self._main_runtime is not None:
            parts[MAIN] = self._main_runtime.report()
        for child in self._children.values():
            report = child.final or child.snapshot
            if report is not None:
                parts[child.name] = report
        error = None
        if self._errors:
            info = self._errors[0][1]
            error = f"block {info['block']!r} failed: {info['type']}: {info['message']}"
        return merge_reports(self.plan, parts, stopped_by=self.stopped_by, error=error)

    # -- running --
    async def run(self, duration: float | None = None) -> Report:
        if duration is not None and not duration > 0:
            raise ValueError(f"duration must be > 0 seconds, got {duration!r}")
        zmq = zmq_module()
        context = zmq.asyncio.Context()
        host = self._host()
        ctl = self._ctl = context.socket(zmq.ROUTER)
        ctl.setsockopt(zmq.LINGER, 0)
        ctl.setsockopt(zmq.ROUTER_MANDATORY, 0)
        secure(ctl, self._keys, server=True)
        port = ctl.bind_to_random_port(f"tcp://{host}")
        control = f"tcp://{host}:{port}"
        ipc_dir = _private_dir() if self.cluster is None else None
        where = f"ipc://{ipc_dir}" if ipc_dir else f"tcp://{host}"
        main_desc = self.plan.parts[MAIN]
        listener = timer = None
        try:
            specs = {n: s.spec for n, s in self.plan.streams.items()}
            self._main = Part(main_desc, context, self._token, specs=specs, keys=self._keys)
            self._launch(control, where)
            main_addresses = await self._main.bind(where)
            await self._await_ready()
            addresses = dict(main_addresses)
            for child in self._children.values():
                addresses.update(child.addresses or {})
            for child in self._children.values():
                desc = self.plan.parts[child.name]
                inbound = {lk.id: addresses[lk.id] for lk in desc.inbound}
                await send_json(ctl, {"type": "start", "addresses": inbound,
                                       "drain_timeout": self.drain_timeout},
                                 ident=child.name.encode())
            self._started = True
            await self._main.connect({lk.id: addresses[lk.id] for lk in main_desc.inbound})
            self.t_start = perf_counter()
            loop = asyncio.get_running_loop()
            if self._stopping:
                self._stopping = False
                self.request_stop(self.stopped_by)
            if duration:
                timer = loop.call_later(duration, self.request_stop, "duration")
            listener = asyncio.ensure_future(self._listen())
            main_error = await self._run_main()
            await self._await_children(listener)
        finally:
            if not self._started:  # children waiting for "start" go home
                for child in self._children.values():
                    with contextlib.suppress(Exception):
                        await send_json(ctl, {"type": "abort"}, ident=child.name.encode())
            if timer is not None:
                timer.cancel()
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
            await self._shutdown(context)
            if ipc_dir:
                shutil.rmtree(ipc_dir, ignore_errors=True)
            self._ended = True
        report = self.report()
        if main_error is not None:
            if self._errors:
                main_error.cause.add_note(self._error_text(self._errors[0][1]))
            raise BlockError(main_error.block, main_error.cause, report)
        if self._errors:
            part, info = self._errors[0]
            cause = RemoteBlockError(f"{info['type']}: {info['message']} (in process {part!r})")
            cause.add_note(f"traceback in process {part!r}:\n{info.get('traceback', '')}")
            for other, more in self._errors[1:]:
                cause.add_note(self._error_text(more) + f" (in process {other!r})")
            raise BlockError(info["block"], cause, report)
        if self._problem is not None:
            part, problem = self._problem
            parts = [self.plan.parts[part]] if part in self.plan.parts else [
                d for name, d in self.plan.parts.items() if name != MAIN]
            blocks = ", ".join(n.name for d in parts for n in d.nodes)
            raise BlockError(blocks or str(part), RuntimeError(problem), report)
        return report

    @staticmethod
    def _error_text(info: dict[str, Any]) -> str:
        return f"block {info['block']!r} also failed: {info['type']}: {info['message']}"

    def _host(self) -> str:
        if self.cluster is None:
            return "127.0.0.1"
        address = urlparse(self.cluster.scheduler.address)
        target = address.hostname or "127.0.0.1"
        if target in ("127.0.0.1", "localhost", "::1"):
            return "127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # no packet is sent
            probe.connect((target, address.port or 9))
            return probe.getsockname()[0]

    def _launch(self, control: str, where: str) -> None:
        if self.cluster is not None:  # each partition holds a worker thread for the whole run
            threads = sum(self.cluster.nthreads().values())
            needed = len(self.plan.parts) - 1
            if threads < needed:
                raise GraphError(
                    f"{needed} processes need {needed} Dask worker threads at once; the cluster "
                    f"has {threads}"
                )
        for name, desc in self.plan.parts.items():
            if name == MAIN:
                continue
            if self.cluster is not None:
                assert desc.process is not None
                handle = self.cluster.submit(
                    dask_main, desc, control, self._token, self._keys, pure=False, retries=0,
                    key=f"daqflow-{name}-{self._token[:8]}", **dask_options(desc.process),
                )
            else:
                ctx = multiprocessing.get_context("spawn")
                handle = ctx.Process(target=child_main, args=(desc, control, where, self._token),
                                     name=f"{PARTITION_PREFIX}{name}")
                handle.start()
            self._children[name] = _Child(name, handle)

    async def _receive(self, timeout: float) -> tuple[str, dict[str, Any], list[Any]] | None:
        zmq = zmq_module()
        if not await self._ctl.poll(timeout * 1000, zmq.POLLIN):
            return None
        frames = await self._ctl.recv_multipart()
        name = frames[0].decode(errors="replace")
        try:
            message = json.loads(frames[1])
        except ValueError:
            return None
        if name not in self._children or message.get("token") != self._token:
            return None  # not one of ours
        return name, message, frames[2:]

    async def _await_ready(self) -> None:
        deadline = perf_counter() + READY_TIMEOUT
        waiting = set(self._children)
        while waiting:
            got = await self._receive(0.1)
            if got is not None:
                name, message, _ = got
                if message["type"] == "failed":
                    raise GraphError(message["message"])
                if message["type"] == "ready":
                    self._children[name].addresses = message["addresses"]
                    self._children[name].worker = message.get("worker")
                    waiting.discard(name)
                continue
            for name in waiting:
                problem = self._children[name].exit_problem()
                if getattr(self._children[name].handle, "exitcode", None) == UNGUARDED_MAIN_EXIT:
                    raise GraphError(f"process {name!r} did not start: {unguarded_main_advice()}")
                if problem is not None:
                    raise GraphError(
                        f"{problem} before it was ready (its error output says why; a script "
                        "that runs blocks in other processes needs `if __name__ == \"__main__\":`"
                        " around its top-level code)"
                    )
            if perf_counter() > deadline:
                raise GraphError(
                    f"process(es) {sorted(waiting)} not ready after {READY_TIMEOUT:g} s"
                )

    async def _run_main(self) -> BlockError | None:
        assert self._main is not None
        if self._main.graph is None:
            return None
        self._main_runtime = runtime = Runtime(self._main.graph, drain_timeout=self.drain_timeout)
        if self._stopping:
            runtime.request_stop(self.stopped_by)
        try:
            await drive(runtime, observers=[_OnFailure(self)])
        except BlockError as exc:
            self.stopped_by = "error"
            self.request_stop("error")
            return exc
        return None

    def _failed(self, block: str | None = None, error: BaseException | None = None) -> None:
        """Something failed (``block``: a block, anywhere): every process stops now (orderly:
        FIFOs drain); the observers hear of the first block that failed."""
        if block is not None and error is not None and not self._told:
            self._told = True
            for observer in self.observers:
                observer.block_failed(block, error)
        self.stopped_by = "error"
        self._stopping = False
        self.request_stop("error")
        self.stopped_by = "error"

    def _record_error(self, name: str, info: Any) -> None:
        if isinstance(info, dict) and not any(n == name and i == info for n, i in self._errors):
            info = {"block": "?", "type": "Error", "message": "", **info}
            self._errors.append((name, info))
            self._failed(info["block"], RemoteBlockError(
                f"{info['type']}: {info['message']} (in process {name!r})"))

    def _handle(self, name: str, message: dict[str, Any], buffers: list[Any]) -> None:
        child = self._children[name]
        kind = message.get("type")
        if kind == "snapshot":
            child.snapshot = unpack_report(message["report"], [])
        elif kind == "error":
            self._record_error(name, message.get("error"))
        elif kind == "ready" and not child.done:  # Dask ran it again: its worker died
            send_json(self._ctl, {"type": "abort"}, ident=name.encode())
            child.done = True
            self._note_problem(name, f"process {name!r} lost its Dask worker and was started "
                                     "again mid-run")
            self._abort_peer(name)
            self._failed()
        elif kind == "done":
            child.final = unpack_report(message["report"], buffers)
            child.done = True
            if message.get("error"):
                self._record_error(name, message["error"])
            # its links are complete (it waited for "bye"/the end's acknowledgement) unless it
            # failed: either way nobody should wait on it any more
            self._abort_peer(name)

    async def _listen(self) -> None:
        checked = perf_counter()
        while True:
            got = await self._receive(0.2)
            if got is not None:
                try:
                    self._handle(*got)
                except (KeyError, TypeError, ValueError) as exc:  # a malformed report
                    self._note_problem(got[0], f"process {got[0]!r} sent a bad message: {exc}")
                    self._failed()
            if perf_counter() - checked >= 0.2:
                checked = perf_counter()
                self._check_children()

    def _check_children(self) -> None:
        workers = set(self.cluster.scheduler_info().get("workers", {})) if self.cluster else set()
        for child in self._children.values():
            if child.done:
                continue
            problem = child.exit_problem()
            if problem is not None:  # its "done" may still be on the way: wait a little
                child.exit_seen = child.exit_seen or perf_counter()
                if perf_counter() - child.exit_seen < EXIT_GRACE:
                    continue
            if problem is None and child.worker is not None and child.worker not in workers:
                problem = f"process {child.name!r} lost its Dask worker {child.worker}"
            if problem is not None:
                child.done = True
                self._abort_peer(child.name)
                self._note_problem(child.name, problem)
                self.stopped_by = "error"
                self._stopping = False
                self.request_stop("error")
                self.stopped_by = "error"

    def _abort_peer(self, part: str) -> None:
        if self._main is not None:
            self._main.abort_peer(part)
        for other in self._children.values():
            if not other.done:
                send_json(self._ctl, {"type": "abort", "part": part}, ident=other.name.encode())

    async def _await_children(self, listener: asyncio.Future[None]) -> None:
        deadline = None
        while not all(c.done for c in self._children.values()):
            if listener.done():  # cannot hear the children any more
                self._note_problem(None, f"lost the control channel: {listener.exception()!r}")
                self._failed()
                for child in self._children.values():
                    child.done = True
                break
            if self._stopping and deadline is None:
                deadline = perf_counter() + self.drain_timeout + 5.0
            if deadline is not None and perf_counter() > deadline:
                for child in self._children.values():
                    if not child.done:
                        child.done = True
                        self._note_problem(child.name, f"process {child.name!r} did not stop in time")
                        self._abort_peer(child.name)
                break
            await asyncio.sleep(0.05)

    async def _shutdown(self, context: Any) -> None:
        for child in self._children.values():
            handle = child.handle
            if isinstance(handle, multiprocessing.process.BaseProcess):
                await asyncio.get_running_loop().run_in_executor(None, handle.join, 5.0)
                if handle.exitcode is None:
                    handle.kill()
                    handle.join(1.0)
            else:
                if not handle.done():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(asyncio.wrap_future(_as_concurrent(handle)), 5.0)
                if not handle.done():
                    with contextlib.suppress(Exception):
                        self.cluster.cancel(handle)
        if self._main is not None:
            await self._main.close()
        if self._ctl is not None:
            self._ctl.close(0)
        context.term()


def dask_options(process: Process) -> dict[str, Any]:
    """Keyword arguments for ``Client.submit`` that place ``process``'s partition."""
    options: dict[str, Any] = {}
    if process.worker is not None:
        options["workers"] = [process.worker]
        options["allow_other_workers"] = False
    if process.resources:
        options["resources"] = dict(process.resources)
    return options


class _OnFailure(RunObserver):
    """A block failing in the coordinator's own part stops every process at once."""

    def __init__(self, coordinator: PartitionedRuntime):
        self._coordinator = coordinator

    def block_failed(self, block: str, error: BaseException) -> None:
        self._coordinator._failed(block, error)


def _private_dir() -> str:
    """A directory only this user can enter, for ipc socket files and shared rings: in
    /dev/shm (memory) where there is one, named ``daqflow-<pid>-*``. Those of this user's
    processes that have died (a SIGKILL leaves them) are removed first."""
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None
    _remove_stale_dirs(base or tempfile.gettempdir())
    return tempfile.mkdtemp(prefix=f"daqflow-{os.getpid()}-", dir=base)


def _remove_stale_dirs(base: str) -> None:
    """Remove ``base/daqflow-<pid>-*`` directories of this user whose process is gone."""
    uid = os.getuid()
    for path in glob.glob(os.path.join(glob.escape(base), "daqflow-*-*")):
        pid = os.path.basename(path).split("-")[1]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if os.lstat(path).st_uid == uid and os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (as any user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _as_concurrent(future: Any) -> Any:
    """A concurrent.futures.Future resolved when a Dask future is."""
    import concurrent.futures

    out: concurrent.futures.Future[Any] = concurrent.futures.Future()
    future.add_done_callback(lambda f: out.set_result(None))
    return out


__all__ = ["PartitionedRuntime", "RemoteBlockError", "child_main", "dask_main", "run_partition"]
