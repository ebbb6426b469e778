"""The executor seam: one driver runs every graph, observers watch a run, one lifecycle."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import daqflow as df
from daqflow.core import executor as seam
from daqflow.core.driver import drive, make_executor
from daqflow.core.executor import Lifecycle, RunObserver
from daqflow.core.graph import build_graph
from daqflow.core.runtime import Runtime


class Journal(RunObserver):
    """Writes down what it was told, in order."""

    interval = 0.05

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.states: list[Lifecycle] = []
        self.executor: object = None

    def started(self, executor: object) -> None:
        self.executor = executor
        self.events.append(("started", executor.state))

    def tick(self, report: df.Report) -> None:
        self.events.append(("tick", report.blocks["paced"].items_out))
        self.states.append(self.executor.state)

    def block_failed(self, block: str, error: BaseException) -> None:
        self.events.append(("failed", (block, str(error), self.executor.state)))

    def ended(self, report: df.Report) -> None:
        self.events.append(("ended", (report.stopped_by, report.error)))


@df.block(name="paced")
async def paced(n: int, fail_at: int | None = None):
    for k in range(n):
        if k == fail_at:
            raise ValueError(f"bad sample {k}")
        await asyncio.sleep(0.01)
        yield df.Chunk(np.full(4, k, np.float32), 400.0, 4 * k)


def test_observers_see_a_run_start_tick_and_end_and_the_lifecycle_moves_once():
    journal = Journal()
    executor = make_executor(build_graph([df.collect(paced(30), name="got")]))
    assert isinstance(executor, Runtime) and executor.state is Lifecycle.IDLE
    report = asyncio.run(drive(executor, observers=[journal]))
    assert executor.state is Lifecycle.STOPPED
    kinds = [kind for kind, _ in journal.events]
    assert kinds[0] == "started" and kinds[-1] == "ended" and "failed" not in kinds
    assert journal.events[0][1] is Lifecycle.IDLE  # told before the blocks start
    ticks = [count for kind, count in journal.events if kind == "tick"]
    assert len(ticks) >= 3 and ticks == sorted(ticks)  # fresh snapshots while it runs
    assert set(journal.states) == {Lifecycle.RUNNING}
    assert journal.events[-1][1] == ("end", None)
    assert len(report.results["got"]) == 30


def test_a_failing_block_is_told_at_once_then_the_run_ends_with_its_report():
    journal = Journal()
    executor = make_executor(build_graph([df.collect(paced(30, fail_at=10), name="got")]))
    with pytest.raises(df.BlockError) as caught:
        asyncio.run(drive(executor, observers=[journal]))
    failed = [data for kind, data in journal.events if kind == "failed"]
    # told before the stop began: the partition relay stops the other processes at once
    assert failed == [("paced", "bad sample 10", Lifecycle.RUNNING)]
    assert journal.events[-1] == ("ended", ("error", "block 'paced' failed: ValueError: bad "
                                                     "sample 10"))
    assert caught.value.report is not None and len(caught.value.report.results["got"]) == 10


def test_a_stop_moves_the_lifecycle_to_stopping_then_stopped():
    seen: list[Lifecycle] = []

    class StopAtTheThirdTick(RunObserver):
        interval = 0.05

        def started(self, executor: object) -> None:
            self.executor, self.ticks = executor, 0

        def tick(self, report: df.Report) -> None:
            self.ticks += 1
            if self.ticks == 3:
                self.executor.request_stop("stop")
                seen.append(self.executor.state)

    executor = make_executor(build_graph([df.collect(paced(1000), name="got")]))
    report = asyncio.run(drive(executor, observers=[StopAtTheThirdTick()]))
    assert seen == [Lifecycle.STOPPING] and executor.state is Lifecycle.STOPPED
    assert report.stopped_by == "stop" and 0 < len(report.results["got"]) < 1000


def test_graphs_over_processes_run_on_the_executor_daqflow_net_registered(monkeypatch):
    from daqflow.net.partition import PartitionedRuntime

    graph = build_graph([df.collect(paced(3, proc=df.Process("p")), name="got")])
    assert isinstance(make_executor(graph), PartitionedRuntime)
    monkeypatch.setattr(seam, "_partitioned", None)  # as if daqflow.net had not registered
    with pytest.raises(ImportError, match=r"daqflow\[net\]"):
        make_executor(graph)
