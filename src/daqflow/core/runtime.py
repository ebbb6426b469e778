"""Running a graph: its blocks stepped by one `Scheduler` (each with a stand-in task), a
Channel per edge, orderly stop, the report.

Stop rules (structured: nothing outlives ``arun``):

- end: every source finished; end of stream flows down; each block ends after its inputs.
- duration / stop() / Ctrl-C: sources are cancelled, data already in FIFOs drains to sinks.
  ``duration`` counts from when every source has started (not from window start-up). A
  source on a `SampleClock` is not cancelled: it delivers what its clock produced until the
  stop took effect and ends by itself (cancelled `CUT_GRACE` later if it does not).
- a block raises: it stops, its outputs end (downstream drains), its inputs are released (an
  upstream block with no reader left stops), sources stop; ``arun`` raises `BlockError`
  carrying the partial report.
- if draining takes longer than ``drain_timeout`` seconds, or on a second Ctrl-C, the drain is
  cut short: queued items are discarded (counted per edge), every block but the sinks is
  cancelled and the sinks see their inputs end, so they return their results; a sink still
  running ``CUT_GRACE`` later is cancelled (its ``finally`` still runs). A block that ignores
  cancellation (a thread that never returns) is named in ``Report.stuck`` and left behind:
  the run returns.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from .allocator import tune_for_streaming
from .block_state import _RUNNING, _State
from .channel import Channel
from .chunk import Chunk
from .errors import BlockError, ReceiverGone, UpstreamFailed
from .executor import DRAIN_TIMEOUT, Lifecycle, RunObserver
from .fan_out import delivered, discard, fan_out, sent, without_waiting
from .figures import RunFigures
from .fused import FusedState, Stage, Tally, chain_step, uncount_all
from .graph import Edge, Graph, is_fused
from .kinds import first_item_checker
from .ports import ReceivePort, ThreadPort
from .report import Report
from .scheduler import Scheduler, shared_scheduler
from .stream import Stream
from .threads import CallThread, Worker, in_worker, timed
from .virtual_time import held, is_virtual

CUT_GRACE = 2.0  # seconds a sink gets to return once a drain is cut short (and cancelled ones to end)


class Runtime(RunFigures):
    """Runs one graph once in this process: the in-process `Executor`. Use
    `arun`/`run`/`start` rather than this class."""

    def __init__(self, graph: Graph, *, drain_timeout: float = DRAIN_TIMEOUT):
        self.graph = graph
        self.drain_timeout = drain_timeout
        self.observers: list[RunObserver] = []
        self.states = {node: _State(graph.names[node]) for node in graph.nodes}
        self.channels: dict[Edge, Channel] = {
            edge: Channel(edge.capacity, edge.policy)
            for edge in graph.edges
            if not edge.fused
        }
        self.in_edges: dict[Stream, list[Edge]] = {node: [] for node in graph.nodes}
        for edge in graph.edges:
            self.in_edges[edge.consumer].append(edge)
        self.realtime_host = {node: self._realtime_host(node) for node in graph.nodes}
        self.stopped_by = "end"
        self.error: tuple[Stream, BaseException] | None = None
        self.t_start = perf_counter()
        self.t_end: float | None = None
        self._stopping = False
        self._hard = False
        self._stop_at: float | None = None
        self._duration: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._waiting_sources = {n for n in graph.nodes if self._stops_on_request(n)}
        self._tasks: dict[Stream, asyncio.Task[Any]] = {}
        self._orphaned: set[Stream] = set()  # stopped because nobody reads them any more
        self._failures: dict[Stream, BaseException] = {}
        self._relayed: dict[Stream, tuple[str, BaseException]] = {}  # UpstreamFailed, by relay
        self._workers: list[Worker] = []
        self._call_threads: list[CallThread] = []
        self._cut_at: float | None = None  # when the drain was cut short
        self._hard_at: float | None = None  # when every task was cancelled
        self.drain_cut: str | None = None  # why the drain was cut short ("timeout", "interrupt")
        self.cut_short: tuple[str, ...] = ()  # blocks still running when it was
        self.stuck: tuple[str, ...] = ()  # blocks that did not end even when cancelled
        self._wake: asyncio.Future[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.virtual = False  # on a virtual-time loop: stop escalations count loop time
        self._moved: dict[Stream, int] = {}  # items each block had moved at the last note
        self._moved_at: dict[Stream, float] = {}  # perf_counter time of its last move noted
        self._noted_at = self.t_start  # ... of the last note (`_note_moves`)
        self._watch: asyncio.TimerHandle | None = None

    @property
    def state(self) -> Lifecycle:
        if self.t_end is not None:
            return Lifecycle.STOPPED
        if self.loop is None:
            return Lifecycle.IDLE
        return Lifecycle.STOPPING if self._stopping else Lifecycle.RUNNING

    def _realtime_host(self, node: Stream) -> bool:
        while node.kind == "map" and is_fused(node):
            node = node.inputs[0]
        return node.realtime

    # -- control -------------------------------------------------------------------------
    def request_stop(self, reason: str = "stop", at: float | None = None) -> None:
        """Orderly stop: sources are cancelled, FIFOs drain. An ``"interrupt"`` (Ctrl-C,
        SIGTERM) while a stop drains cuts the drain short (see `cut_drain`); a third cancels
        every block. ``at``: the loop time the stop takes effect for sources on a clock
        (default now; a ``duration`` stop is due at its deadline even if the loop is late)."""
        if self._stopping:
            if reason == "interrupt":
                self.cut_drain("interrupt")
            return
        self._stopping = True
        if self.stopped_by == "end":
            self.stopped_by = reason
        self._stop_at = self._now()
        if self.loop is not None:
            self._set_stop_time(self.loop.time() if at is None else at)
        self._cancel_sources()
        self._wake_up()

    def cut_drain(self, why: str) -> None:
        """Stop draining (``why``: "timeout" when the drain took longer than
        ``drain_timeout``, "interrupt" on a second Ctrl-C, "parent died" in a partition
        whose coordinator died; see `DRAIN_CUT_BY`): what is queued in the FIFOs is
        discarded (counted per edge), every block but the sinks is cancelled, and the sinks
        see their inputs end, so they return their results (files close). A block still
        running after `CUT_GRACE` is cancelled; called again, every block is cancelled."""
        if self._cut_at is not None:
            self.abort()
            return
        if not self._stopping:
            self.request_stop(why)
        self._cut_at = self._now()
        self.drain_cut = why
        names = self.graph.names
        self.cut_short = tuple(names[n] for n, t in self._tasks.items() if not t.done())
        for channel in self.channels.values():
            channel.cut(why)
        self._hard = True  # a cancelled block ends now, not at its leisure
        for node, task in self._tasks.items():
            if node.kind != "sink" and not task.done():
                task.cancel()
        self._wake_up()

    def _stops_on_request(self, node: Stream) -> bool:
        return node.kind == "source" and not node.spec.passive and not is_fused(node)

    def _cancel_sources(self, clocked: bool = False) -> None:
        """Cancel the started sources; those on a clock end by themselves at their stop time
        (``clocked``: cancel them too, they had `CUT_GRACE` to do so)."""
        late = False
        for node, task in self._tasks.items():
            if not self._stops_on_request(node) or task.done():
                continue
            state = self.states[node]
            if state.clocked and not clocked:
                late = True
            elif state.started:  # (one not started yet ends when it starts)
                task.cancel()
        if late and self.loop is not None:
            self.loop.call_later(CUT_GRACE, self._cancel_sources, True)

    def _set_stop_time(self, stop_time: float) -> None:
        """Tell the sources when the stop takes effect (the earliest said counts)."""
        for node in self.graph.nodes:
            if self._stops_on_request(node):
                state = self.states[node]
                if state.stop_time is None or stop_time < state.stop_time:
                    state.stop_time = stop_time

    def _source_started(self, node: Stream | None) -> None:
        """``duration`` counts from when the last source has taken its first step. Sources
        on a clock learn the deadline at once: they end there even if the loop is late."""
        self._waiting_sources.discard(node)
        if not self._waiting_sources and self._duration and self._timer is None:
            assert self.loop is not None
            deadline = (self.loop.time() if node is None else self.states[node].started_at) + \
                self._duration
            self._set_stop_time(deadline)
            self._timer = self.loop.call_at(deadline, self.request_stop, "duration", deadline)

    def abort(self) -> None:
        """Cancel every block now (no drain); their ``finally`` clauses still run."""
        self._hard = True
        if self._hard_at is None:
            self._hard_at = self._now()
        for task in self._tasks.values():
            if not task.done():
                task.cancel()
        self._wake_up()

    def _now(self) -> float:
        """The clock that bounds a stop's drain: the loop's in virtual time (a drain of
        virtual seconds is cut as a wall-clock run's would be), else perf_counter."""
        return self.loop.time() if self.virtual and self.loop is not None else perf_counter()

    def _wake_up(self) -> None:
        """Let `_wait` look at the stop state again."""
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def fail(self, node: Stream, exc: BaseException) -> None:
        name = self.graph.names[node]
        self._failures.setdefault(node, exc)
        self.states[node].error = f"{type(exc).__name__}: {exc}"
        if self.error is None:
            self.error = (node, exc)
            self.stopped_by = "error"
            for observer in self.observers:
                observer.block_failed(name, exc)
        elif exc is not self.error[1]:
            self.error[1].add_note(f"block {name!r} also failed: {type(exc).__name__}: {exc}")
        self.request_stop("error")

    # -- wiring --------------------------------------------------------------------------
    def _sender(self, node: Stream, nowait: bool) -> Callable[[Any], Awaitable[None]] | None:
        targets: list[tuple[Callable[[Any], Awaitable[None]], Channel | None]] = []
        for edge in self.graph.out_edges[node]:
            if edge.fused:
                targets.append((self._inline_map(edge.consumer, nowait), None))
            else:
                channel = self.channels[edge]
                targets.append((without_waiting(channel.put_nowait) if nowait else channel.put, channel))
        if not targets:
            return None
        if len(targets) == 1:
            return targets[0][0]
        return fan_out(targets)

    def _inline_map(self, node: Stream, nowait: bool) -> Callable[[Any], Awaitable[None]]:
        stages = self._fused_run(node)
        step = chain_step(stages, self.fail)
        downstream = self._sender(stages[-1].node, nowait)

        async def send(item: Any) -> None:
            out = step(item, perf_counter())
            if out is None or downstream is None:
                return
            try:
                await downstream(out)
            except BaseException as exc:
                if not delivered(exc):  # (a stop during a fan-out that delivered it counts)
                    uncount_all(stages)  # refused: the maps did not make it after all
                raise

        return send

    def _fused_run(self, node: Stream) -> list[Stage]:
        """The fused map ``node`` and the maps fused one to one after it (see `fused`); their
        states become `FusedState`s counting items on one `Tally`."""
        stages = []
        tally = Tally()
        while True:
            where = f"block {self.graph.names[node]!r} port {node.ports[0]!r}"
            state = self.states[node] = FusedState(self.graph.names[node], tally)
            stages.append(Stage(node, self._map_call(node), state,
                                node.spec.accepts_on(node.ports[0]), where))
            edges = self.graph.out_edges[node]
            if len(edges) != 1 or not edges[0].fused:
                return stages
            node = edges[0].consumer

    def _map_call(self, node: Stream) -> Callable[[Any], Any]:
        fn, params = node.spec.fn, node.params
        if node.spec.per_run:  # made anew for each run: its state lives in the run
            try:
                made = fn(None, **params)
                if not callable(made):
                    raise TypeError("per_run=True: the block's function must return the "
                                    f"function applied to each item, got {made!r}")
            except Exception as exc:  # (made in its producer's task when fused: named here)
                self.fail(node, exc)
                raise ReceiverGone from exc
            return made
        if not params:
            return fn
        return lambda item: fn(item, **params)

    def _inputs(self, node: Stream) -> list[Channel]:
        inputs = []
        for edge in self.in_edges[node]:
            channel = self.channels[edge]
            accepted = node.spec.accepts_on(edge.port)
            if accepted is not None:
                where = f"block {self.graph.names[node]!r} port {edge.port!r}"
                channel._check = first_item_checker(accepted, where, _clearer(channel))
            inputs.append(channel)
        return inputs

    def _call_args(self, node: Stream, inputs: list[Any]) -> inspect.BoundArguments:
        arguments = dict(node.params)
        arguments.update(zip(node.ports, inputs, strict=True))
        ordered = {
            name: arguments[name] for name in node.spec.signature.parameters if name in arguments
        }
        return inspect.BoundArguments(node.spec.signature, ordered)  # type: ignore[arg-type]

    def _output_channels(self, node: Stream) -> list[Channel]:
        out = []
        for edge in self.graph.out_edges[node]:
            if edge.fused:
                out += self._output_channels(edge.consumer)
            else:
                out.append(self.channels[edge])
        return out

    def _single_channel(self, node: Stream) -> Channel | None:
        """The output FIFO if ``node`` feeds exactly one and no inline map."""
        edges = self.graph.out_edges[node]
        if len(edges) == 1 and not edges[0].fused:
            return self.channels[edges[0]]
        return None

    def _release_producers(self, node: Stream) -> None:
        """Stop the blocks that fed ``node`` and now have no reader left: one waiting on a
        device (a socket, a pin) would otherwise never notice."""
        for edge in self.in_edges[node]:
            host = edge.producer
            while is_fused(host):
                host = host.inputs[0]
            task = self._tasks.get(host)
            if task is None or task.done() or host in self._orphaned:
                continue
            if all(ch.receiver_closed for ch in self._output_channels(host)):
                self._orphaned.add(host)
                task.cancel()

    def _failure_of(self, node: Stream, inputs: list[Channel]) -> tuple[str, BaseException] | None:
        """(block, exception) that ended ``node``'s output: its own failure, an inline map's,
        or the one its inputs ended with."""
        for host in (node, *self._inline_children(node)):
            if host in self._failures:
                return self.graph.names[host], self._failures[host]
        if node in self._relayed:
            return self._relayed[node]
        for channel in inputs:
            if channel.upstream_error is not None:
                return channel.upstream_error
        return None

    def _lossy_outputs(self, node: Stream) -> bool:
        return any(ch.policy != "block" for ch in self._output_channels(node))

    def _worker(self, node: Stream) -> Worker:
        worker = Worker(self.graph.names[node])
        self._workers.append(worker)
        return worker

    # -- drivers -------------------------------------------------------------------------
    async def _drive(self, node: Stream) -> None:
        state = self.states[node]
        state.started = True
        state.started_at = asyncio.get_running_loop().time()
        if node in self._waiting_sources:
            self._source_started(node)
        _RUNNING.set(state)  # this task's own context: `note_lost` finds its block
        inputs = self._inputs(node)
        try:
            if self._stopping and node.kind == "source" and not node.spec.passive:
                return  # stopped before it began: end its outputs at once
            if node.kind == "sink":
                await self._drive_sink(node, state, inputs)
            elif node.kind == "map":
                await self._drive_map(node, state, inputs[0])
            else:
                await self._drive_generator(node, state, inputs)
                if state.clocked and state.stop_time is not None and not self._stopping:
                    self.request_stop("duration", state.stop_time)  # it reached the deadline
        except ReceiverGone:
            pass  # no reader left downstream
        except UpstreamFailed as relayed:
            self._relayed[node] = (relayed.block, relayed.cause)
        except asyncio.CancelledError:
            if self._hard or not (self._stopping or node in self._orphaned):
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        except Exception as exc:
            self.fail(node, exc)
        finally:
            for channel in inputs:
                channel.close_receiver()
            self._release_producers(node)
            failure = self._failure_of(node, inputs)
            for channel in self._output_channels(node):
                channel.close(failure)
            state.t_end = perf_counter()
            for edge in self.graph.out_edges[node]:
                if edge.fused:
                    self.states[edge.consumer].t_end = state.t_end

    async def _drive_generator(self, node: Stream, state: _State, inputs: list[Channel]) -> None:
        nowait = node.realtime
        send = self._sender(node, nowait) or discard
        # a source that never waits on a FIFO must still let the other tasks run
        pause = node.kind == "source" and (nowait or self._lossy_outputs(node))
        if node.threaded and not self.virtual:  # (virtual time: on the loop, see virtual_time)
            worker = self._worker(node)
            remote = [ThreadPort(ch, asyncio.get_running_loop()) for ch in inputs]
            bound = self._call_args(node, remote)
            agen = in_worker(worker, node.spec.fn(*bound.args, **bound.kwargs), state.worker)
        else:
            bound = self._call_args(node, [ReceivePort(ch) for ch in inputs])
            agen = node.spec.fn(*bound.args, **bound.kwargs)
        single = self._single_channel(node)
        try:
            if single is not None and not nowait and not pause and single.policy == "block":
                try_put, put = single.try_put, single.put
                async for item in agen:  # the hot path: one FIFO, no coroutine per put
                    if not try_put(item):
                        await put(item)
                    state.items_out += 1
                    state.samples_out += item.samples if type(item) is Chunk else 1
                return
            marks = node.kind == "source" and node.realtime
            async for item in agen:
                if marks:
                    state.count_marks(item)
                await sent(send, item, state)
                if pause:
                    await asyncio.sleep(0)
        finally:
            await agen.aclose()

    async def _drive_sink(self, node: Stream, state: _State, inputs: list[Channel]) -> None:
        if node.threaded and not self.virtual:
            worker = self._worker(node)
            remote = [ThreadPort(ch, asyncio.get_running_loop()) for ch in inputs]
            bound = self._call_args(node, remote)
            coro = node.spec.fn(*bound.args, **bound.kwargs)
            result = await worker.run(timed(coro, state.worker))
        else:
            bound = self._call_args(node, [ReceivePort(ch) for ch in inputs])
            result = await node.spec.fn(*bound.args, **bound.kwargs)
        state.result = result
        state.has_result = True

    async def _drive_map(self, node: Stream, state: _State, inp: Channel) -> None:
        send = self._sender(node, False) or discard
        call = self._map_call(node)
        if node.threaded:
            caller = CallThread(self.graph.names[node], state.worker)
            self._call_threads.append(caller)
            async for item in inp:
                out = await (held(caller.call(call, item)) if self.virtual else caller.call(call, item))
                if out is not None:
                    await sent(send, out, state)
            return
        async for item in inp:
            out = call(item)
            if out is not None:
                await sent(send, out, state)

    # -- running -------------------------------------------------------------------------
    async def run(self, duration: float | None = None) -> Report:
        """Run to the end (or ``duration`` seconds); returns the report or raises BlockError."""
        if duration is not None and not duration > 0:
            raise ValueError(f"duration must be > 0 seconds, got {duration!r}")
        tune_for_streaming()  # (once per process: freed chunks reused, not faulted in again)
        loop = self.loop = asyncio.get_running_loop()
        self.virtual = is_virtual(loop)
        if self.virtual and self._stop_at is not None:  # stop() came before: from loop time
            self._stop_at = loop.time()
        self._wake = loop.create_future()
        self.t_start = perf_counter()
        scheduler = Scheduler(loop) if shared_scheduler() else None
        if scheduler is not None:
            for channel in self.channels.values():
                channel.scheduler = scheduler
        for node in self.graph.nodes:
            if is_fused(node):
                continue
            name = f"daqflow:{self.graph.names[node]}"
            if scheduler is not None:
                self._tasks[node] = scheduler.add(self._drive(node), self.states[node], name)
            else:
                coro = timed(self._drive(node), self.states[node])
                self._tasks[node] = loop.create_task(coro, name=name)
        if scheduler is not None:
            scheduler.start()
        if self._stopping:  # stop() came before the tasks existed
            self._cancel_sources()
        self._duration = duration
        if not self._waiting_sources:  # nothing to wait for (a process fed only by others)
            self._source_started(None)
        if not self.virtual:
            self._note_moves()
        try:
            await self._wait()
        except asyncio.CancelledError:
            self.abort()
            await asyncio.wait(self._tasks.values(), timeout=CUT_GRACE)
            raise
        finally:
            self.t_end = perf_counter()
            if self._timer is not None:
                self._timer.cancel()
            if self._watch is not None:
                self._watch.cancel()
            join = self.drain_timeout if self._cut_at is None and self._hard_at is None else 0.1
            hung = [t for t in (*self._workers, *self._call_threads) if not t.close(join)]
            if hung and not self.stuck:
                self.stuck = tuple(t.name for t in hung)
        if scheduler is not None:
            scheduler.check()
        report = self.report()
        if self.error is not None:
            node, exc = self.error
            raise BlockError(self.graph.names[node], exc, report)
        return report

    async def _wait(self) -> None:
        """Wait for every block's task; bounds the drain (`drain_timeout`, then `CUT_GRACE`
        for sinks to return, then `CUT_GRACE` for cancelled blocks) and gives up on blocks
        that never end (`stuck`: code that ignores cancellation, a hung thread)."""
        pending = set(self._tasks.values())
        assert self.loop is not None
        while pending:
            deadline = self._deadline()
            timeout = None if deadline is None else max(0.0, deadline - self._now())
            wake = self._wake
            assert wake is not None
            waiting = pending | ({wake} if not wake.done() else set())
            done, _ = await asyncio.wait(
                waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            pending -= done
            if wake.done():
                self._wake = self.loop.create_future()
            if not pending or deadline is None or self._now() < deadline:
                continue
            if self._cut_at is None:
                self.cut_drain("timeout")
            elif self._hard_at is None:
                self.abort()
            else:
                self.stuck = tuple(
                    self.graph.names[n] for n, t in self._tasks.items() if t in pending
                )
                break
        for task in self._tasks.values():
            if task.done() and not task.cancelled():
                task.exception()  # drivers handle their errors; retrieve to silence asyncio

    def _deadline(self) -> float | None:
        """`_now` time at which `_wait` escalates the stop (None: no limit)."""
        if self._hard_at is not None:
            return self._hard_at + CUT_GRACE
        if self._cut_at is not None:
            return self._cut_at + CUT_GRACE
        if self._stop_at is not None:
            return self._stop_at + self.drain_timeout
        return None

def _clearer(channel: Channel) -> Callable[[], None]:
    def clear() -> None:
        channel._check = None

    return clear

