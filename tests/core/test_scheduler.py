"""The blocks of a run are stepped by one scheduler task (`daqflow.core.scheduler`), yet each
behaves as if it had an asyncio task of its own: its own current task, context, cancels and
timeouts; a block waiting on something else than a FIFO holds up nobody; the loop keeps
getting turns while the blocks run flat out; and busy time is each block's own."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import signal
import time

import numpy as np
import pytest

import daqflow as df
from daqflow.core import EndOfStream
from daqflow.core.scheduler import Scheduler
from daqflow.core.threads import Busy

TAG: contextvars.ContextVar[str] = contextvars.ContextVar("tag", default="unset")


@df.block
async def passthrough(x: df.Stream):
    async for item in x:
        yield item


@df.block
async def tagged_names(x: df.Stream, tag: str):
    """Each item becomes (tag seen, own task's name) after setting its own context's tag."""
    TAG.set(tag)
    async for _ in x:
        await asyncio.sleep(0)  # another block sets its tag in between
        yield (TAG.get(), asyncio.current_task().get_name())


def test_each_block_has_its_own_current_task_and_context():
    a = tagged_names(df.from_iterable(range(5)), "a", name="first")
    b = tagged_names(a, "b", name="second")
    report = df.run(df.collect(b))
    assert report.results["collect"] == [("b", "daqflow:second")] * 5


@df.block
async def slow_source(period: float, n: int):
    for i in range(n):
        await asyncio.sleep(period)
        yield i


@df.block
async def impatient(x: df.Stream, patience: float):
    """Waits at most ``patience`` s for each item (asyncio.timeout cancels this block only)."""
    while True:
        try:
            async with asyncio.timeout(patience):
                item = await x.receive()
        except TimeoutError:
            yield "late"
            continue
        except EndOfStream:
            return
        yield item


def test_a_timeout_inside_a_block_cancels_that_block_only():
    slow = impatient(slow_source(0.12, 3), 0.05)
    fast = passthrough(passthrough(df.from_iterable(range(1000))))
    report = df.run(df.collect(slow, name="slow_out"), df.collect(fast, name="fast_out"))
    got = report.results["slow_out"]
    assert [x for x in got if x != "late"] == [0, 1, 2]
    assert got.count("late") >= 3  # each item comes after at least one timeout
    assert report.results["fast_out"] == list(range(1000))


def test_a_block_waiting_on_a_timer_holds_up_no_other_block():
    slow = df.collect(slow_source(0.2, 2), name="slow_out")
    finished: dict[str, float] = {}

    @df.block
    async def note_end(x: df.Stream, key: str) -> int:
        n = 0
        async for _ in x:
            n += 1
        finished[key] = time.perf_counter()
        return n

    fast = note_end(passthrough(df.from_iterable(range(20_000))), "fast")
    t0 = time.perf_counter()
    report = df.run(slow, fast)
    assert report.results["note_end"] == 20_000
    assert report.results["slow_out"] == [0, 1]
    assert finished["fast"] - t0 < time.perf_counter() - t0 - 0.1


def test_the_loop_keeps_its_turns_while_blocks_run_flat_out():
    chunks = [df.Chunk(np.zeros(64, np.complex64), 1e6)] * 200_000
    sink = df.null_sink(passthrough(passthrough(passthrough(df.from_iterable(chunks)))))
    gaps: list[float] = []

    async def main() -> df.Report:
        loop = asyncio.get_running_loop()
        last = [loop.time()]

        def tick() -> None:
            gaps.append(loop.time() - last[0])
            last[0] = loop.time()
            handle[0] = loop.call_later(0.002, tick)

        handle = [loop.call_later(0.002, tick)]
        try:
            return await df.arun(sink)
        finally:
            handle[0].cancel()

    report = asyncio.run(main())
    assert report.results["null_sink"] == 200_000
    assert len(gaps) > 20  # the run took a while, and the timer kept firing through it
    assert max(gaps) < 0.05, f"the loop waited {max(gaps) * 1e3:.1f} ms for a turn"


def spin(seconds: float) -> None:
    """Keep the CPU busy for ``seconds`` (no sleep: this is a block's own work)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@df.block
def burn(item, seconds: float):
    spin(seconds)
    return item


@df.block
async def burn_gen(x: df.Stream, seconds: float):
    async for item in x:
        spin(seconds)
        yield item


@df.block
async def sleepy(x: df.Stream, seconds: float):
    async for item in x:
        await asyncio.sleep(seconds)
        yield item


def test_busy_time_is_each_blocks_own():
    chunks = [df.Chunk(np.zeros(8, np.float32), 1e3, index=8 * i) for i in range(20)]
    out = sleepy(burn_gen(df.from_iterable(chunks), 0.004), 0.004, name="sleeper")
    report = df.run(df.null_sink(out))
    assert 0.07 < report.blocks["burn_gen"].busy < 0.2  # 20 x 4 ms of its own work
    assert report.blocks["sleeper"].busy < 0.02  # its sleeps are not work


def test_choosing_a_task_per_block_gives_the_same_run(monkeypatch):
    def run_once() -> df.Report:
        tail = passthrough(burn(passthrough(df.from_iterable(range(300))), 0.0))
        return df.run(df.collect(tail))

    shared = run_once()
    monkeypatch.setenv("DAQFLOW_SCHEDULER", "tasks")
    own_tasks = run_once()
    assert shared.results["collect"] == own_tasks.results["collect"] == list(range(300))
    assert {n: b.items_out for n, b in shared.blocks.items()} == \
        {n: b.items_out for n, b in own_tasks.blocks.items()}
    monkeypatch.setenv("DAQFLOW_SCHEDULER", "fibres")
    with pytest.raises(ValueError, match="DAQFLOW_SCHEDULER must be 'shared' or 'tasks'"):
        run_once()


# -- the scheduler on its own ----------------------------------------------------------------


def test_a_stand_in_ends_as_its_member_does():
    async def returns() -> int:
        await asyncio.sleep(0)
        return 7

    async def raises() -> None:
        await asyncio.sleep(0.01)
        raise KeyError("gone")

    async def main() -> None:
        scheduler = Scheduler(asyncio.get_running_loop())
        ok = scheduler.add(returns(), Busy(), "ok")
        bad = scheduler.add(raises(), Busy(), "bad")
        scheduler.start()
        assert await ok == 7
        with pytest.raises(KeyError, match="gone"):
            await bad
        assert ok.get_name() == "ok"
        await scheduler.task

    asyncio.run(main())


def test_cancelling_a_stand_in_cancels_its_member_where_it_waits():
    from daqflow.core.channel import Channel

    async def main() -> None:
        loop = asyncio.get_running_loop()
        scheduler = Scheduler(loop)
        fifo = Channel(1)
        for channel in (fifo,):
            channel.scheduler = scheduler
        cleaned: list[str] = []

        async def on_fifo() -> None:
            try:
                await fifo.get()  # parked on a FIFO: woken by the cancel, not an item
            finally:
                cleaned.append("fifo")

        async def on_timer() -> None:
            try:
                await asyncio.sleep(60)
            finally:
                cleaned.append("timer")

        async def ready_then_cancelled() -> str:
            try:
                while True:
                    await asyncio.sleep(0)
            except asyncio.CancelledError:
                asyncio.current_task().uncancel()
                return "caught"

        waits = [scheduler.add(on_fifo(), Busy(), "f"), scheduler.add(on_timer(), Busy(), "t")]
        spins = scheduler.add(ready_then_cancelled(), Busy(), "s")
        scheduler.start()
        await asyncio.sleep(0.05)
        for task in (*waits, spins):
            task.cancel()
        for task in waits:
            with pytest.raises(asyncio.CancelledError):
                await task
        assert await spins == "caught"
        assert sorted(cleaned) == ["fifo", "timer"]
        assert fifo._getter is None
        await scheduler.task

    asyncio.run(main())


def test_cancelling_the_scheduler_task_cancels_every_member_and_runs_its_finally():
    async def main() -> None:
        scheduler = Scheduler(asyncio.get_running_loop())
        cleaned: list[int] = []

        async def waits(n: int) -> None:
            try:
                await asyncio.sleep(60)
            finally:
                cleaned.append(n)

        members = [scheduler.add(waits(n), Busy(), f"m{n}") for n in range(3)]
        task = scheduler.start()
        await asyncio.sleep(0.02)
        task.cancel()
        results = await asyncio.gather(*members, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        assert sorted(cleaned) == [0, 1, 2]

    asyncio.run(main())


# -- what a review found (each failed before its fix) ------------------------------------------


def test_an_abort_before_the_blocks_first_step_leaves_nothing_running():
    from daqflow.core.runtime import Runtime
    from daqflow.core.stream import build_graph

    made = [0]

    @df.block
    async def forever():
        while True:
            made[0] += 1
            yield made[0]
            await asyncio.sleep(0.001)

    async def main() -> int:
        runtime = Runtime(build_graph([df.null_sink(forever())]))
        loop = asyncio.get_running_loop()
        run = loop.create_task(runtime.run())
        loop.call_soon(runtime.abort)  # in the same loop iteration as run()'s first step
        with contextlib.suppress(BaseException):
            await run
        before = made[0]
        await asyncio.sleep(0.1)
        return made[0] - before

    assert asyncio.run(main()) == 0


@df.block
async def endless():
    i = 0
    while True:
        yield i
        i += 1


@df.block
async def fails_at(x: df.Stream, n: int):
    async for item in x:
        if item == n:
            raise RuntimeError("boom")
    return None


def test_a_failure_stops_the_sources_at_once_not_a_loop_turn_later():
    source = endless()
    with pytest.raises(df.BlockError) as failed:
        df.run(fails_at(source, 100), df.collect(source))
    # the source stops where a cancel stops it: within its FIFOs' reach of item 100
    assert failed.value.report.blocks["endless"].items_out <= 100 + 2 * 8


def test_a_timeout_that_expires_as_the_item_comes_raises_inside_the_timeout():
    from daqflow.core.channel import Channel

    async def main() -> str:
        scheduler = Scheduler(asyncio.get_running_loop())
        fifo, later = Channel(4), Channel(4)
        fifo.scheduler = later.scheduler = scheduler
        box: dict[str, asyncio.Timeout] = {}

        async def waits() -> str:
            try:
                async with asyncio.timeout(0.01) as timeout:
                    box["timeout"] = timeout
                    await fifo.get()
            except TimeoutError:
                return "timed out"
            try:
                await later.get()
            except asyncio.CancelledError:
                return "a stray cancel at its next wait"
            return "got its item"

        async def feeds() -> None:
            while "timeout" not in box or not box["timeout"].expired():
                await asyncio.sleep(0)
            fifo.try_put("item")  # just as the timeout expired
            await asyncio.sleep(0.05)
            later.close()

        waiting = scheduler.add(waits(), Busy(), "waits")
        scheduler.add(feeds(), Busy(), "feeds")
        scheduler.start()
        return await waiting

    assert asyncio.run(main()) == "timed out"


def test_a_block_raising_systemexit_leaves_the_others_to_clean_up():
    cleaned: list[str] = []

    @df.block
    async def quits(x: df.Stream):
        try:
            async for item in x:
                if item == 5:
                    raise SystemExit(3)
                yield item
        finally:
            cleaned.append("quits")

    @df.block
    async def source():
        try:
            for i in range(1000):
                yield i
                await asyncio.sleep(0)
        finally:
            cleaned.append("source")

    with pytest.raises(SystemExit):
        df.run(df.null_sink(quits(source())))
    assert sorted(cleaned) == ["quits", "source"]
    # and Ctrl-C's handler is as it was (asyncio's runner put it back before the blocks ended)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_future_of_another_loop_is_refused_as_a_task_refuses_it():
    other = asyncio.new_event_loop()

    @df.block
    async def waits_elsewhere(x: df.Stream):
        async for item in x:
            await other.create_future()
            yield item

    try:
        with pytest.raises(df.BlockError, match="attached to a different loop"):
            df.run(df.null_sink(waits_elsewhere(df.from_iterable([1]))))
    finally:
        other.close()
