"""Property tests of whole graphs: nothing lost, nothing reordered, every loss accounted for.

Hypothesis draws a `Plan`: a `from_iterable` source (ints, or Chunks of random lengths), 1-4
stages that each read the source or an earlier stage (chains and fan-out), and sinks on every
unread stream plus a few extra readers. Stages are async-generator transforms (optionally
sleeping up to 1 ms per item), plain-function maps fused inline, or maps with their own FIFO.
Every stage adds its own increment, so a sink can check that each stage above it ran once.

The last section feeds chains of lossy FIFOs with chunks already marked upstream.
"""

import asyncio
import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import daqflow as df

graph_settings = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# -- blocks ---------------------------------------------------------------------------------
def shifted(item, inc):
    """``item + inc``; for a Chunk, its samples (index, time and meta kept)."""
    if isinstance(item, df.Chunk):
        return item.replace(data=item.data + inc)
    return item + inc


@df.block
async def relay(x: df.Stream, inc: int, delay: float | None):
    """Async-generator transform; sleeps ``delay`` seconds per item (None: never awaits)."""
    async for item in x:
        if delay is not None:
            await asyncio.sleep(delay)
        yield shifted(item, inc)


@df.block
def shift(item, inc):
    return shifted(item, inc)


@df.block
async def record(x: df.Stream, delay: float):
    """``collect`` that sleeps ``delay`` seconds after each item: a slow consumer."""
    items = []
    async for item in x:
        items.append(item)
        await asyncio.sleep(delay)
    return items


# -- plans ----------------------------------------------------------------------------------
def marked_chunks(sizes, gaps=None):
    """Chunks of the given lengths whose sample values are their index; with ``gaps``, each
    comes after that many samples lost upstream and is marked so (as a real-time source's)."""
    chunks, index = [], 0
    for size, gap in zip(sizes, gaps or [0] * len(sizes), strict=True):
        index += gap
        data = np.arange(index, index + size, dtype=float)
        chunks.append(df.Chunk(data, 1.0, index, float(index), {"overflow": gap} if gap else {}))
        index += size
    return chunks


@dataclasses.dataclass(frozen=True)
class Stage:
    parent: int  # stream it reads: 0 is the source, k is stage k
    form: str  # "generator", "map" (fused inline) or "map+fifo" (own task)
    buffer: int | None
    delay: float | None
    inc: int


@dataclasses.dataclass(frozen=True)
class Sink:
    parent: int
    buffer: int | None
    delay: float | None  # None: df.collect itself
    lossy: bool  # reads with the drop policy under test (else the default, "block")


@dataclasses.dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]  # one item per entry: a Chunk of that many samples, or an int
    chunked: bool
    stages: tuple[Stage, ...]
    sinks: tuple[Sink, ...]

    def items(self):
        return marked_chunks(self.sizes) if self.chunked else list(range(len(self.sizes)))

    @property
    def total_samples(self):
        return sum(self.sizes) if self.chunked else len(self.sizes)


DELAYS = st.sampled_from([None, None, 0.0, 0.0002, 0.001])  # seconds
BUFFERS = st.one_of(st.none(), st.integers(1, 8))


@st.composite
def stages(draw, k):
    parent = draw(st.one_of(st.just(k - 1), st.integers(0, k - 1)))  # mostly chains
    form = draw(st.sampled_from(["generator", "map", "map+fifo"]))
    if form == "generator":
        buffer, delay = draw(BUFFERS), draw(DELAYS)
    elif form == "map":
        buffer, delay = None, None
    else:
        buffer, delay = draw(st.integers(1, 8)), None
    return Stage(parent, form, buffer, delay, draw(st.integers(0, 3)))


@st.composite
def plans(draw, chunked=None):
    n_items = draw(st.integers(0, 40))
    sizes = tuple(draw(st.lists(st.integers(1, 4), min_size=n_items, max_size=n_items)))
    chunked = draw(st.booleans()) if chunked is None else chunked
    n_stages = draw(st.integers(1, 4))
    stage_list = tuple(draw(stages(k)) for k in range(1, n_stages + 1))
    read = {stage.parent for stage in stage_list}
    unread = [i for i in range(n_stages + 1) if i not in read]
    parents = unread + draw(st.lists(st.integers(0, n_stages), max_size=2))
    sinks = [Sink(p, draw(BUFFERS), draw(DELAYS), draw(st.booleans())) for p in parents]
    if not any(sink.lossy for sink in sinks):
        i = draw(st.integers(0, len(sinks) - 1))
        sinks[i] = dataclasses.replace(sinks[i], lossy=True)
    return Plan(sizes, chunked, stage_list, tuple(sinks))


def burst_plan(n_chunks=40):
    """A generator that drains its 8-item FIFO in one go into a 1-item FIFO of a slow sink."""
    return Plan(
        sizes=(2,) * n_chunks,
        chunked=True,
        stages=(Stage(0, "generator", None, None, 0),),
        sinks=(Sink(1, 1, 0.001, True),),
    )


# -- running and checking -------------------------------------------------------------------
def run_plan(plan, lossy_policy=None):
    """Build and run the plan; returns the report and, per sink name, (sink plan, increment)."""
    streams, incs = [df.from_iterable(plan.items())], [0]
    for stage in plan.stages:
        upstream = streams[stage.parent]
        if stage.form == "generator":
            stream = relay(upstream, stage.inc, stage.delay, buffer=stage.buffer)
        else:
            stream = shift(upstream, stage.inc, buffer=stage.buffer)
        streams.append(stream)
        incs.append(incs[stage.parent] + stage.inc)
    sinks, expected = [], {}
    for j, sink in enumerate(plan.sinks):
        options = {"name": f"sink{j}", "buffer": sink.buffer}
        if sink.lossy:
            options["policy"] = lossy_policy
        upstream = streams[sink.parent]
        if sink.delay is None:
            sinks.append(df.collect(upstream, **options))
        else:
            sinks.append(record(upstream, sink.delay, **options))
        expected[f"sink{j}"] = (sink, incs[sink.parent])
    return df.run(*sinks), expected


def key(item):
    """What identifies an item regardless of its meta: an int, or a Chunk's index and samples."""
    if isinstance(item, df.Chunk):
        return item.index, tuple(item.data.tolist())
    return item


def edge_into(report, consumer):
    (edge,) = [e for e in report.edges if e.consumer == consumer]
    return edge


def assert_everything_in_order(plan, got, inc):
    assert [key(x) for x in got] == [key(shifted(x, inc)) for x in plan.items()]
    assert not any(isinstance(x, df.Chunk) and x.meta for x in got)


def assert_ordered_subsequence(plan, got, inc):
    position = {key(shifted(x, inc)): n for n, x in enumerate(plan.items())}
    seen = [position[key(x)] for x in got]  # KeyError: an item that was never produced
    assert seen == sorted(set(seen)), "items repeated or out of order"


def overflow_runs(chunks, stream_end):
    """(mark, gap) for each delivered chunk, and the samples lost after the last one up to
    ``stream_end`` (the end index of the stream)."""
    end, runs = 0, []
    for chunk in chunks:
        runs.append((chunk.meta.get("overflow", 0) + chunk.meta.get("skipped", 0), chunk.index - end))
        end = chunk.end_index
    return runs, stream_end - end


# -- properties -----------------------------------------------------------------------------
@graph_settings
@given(plans())
def test_with_backpressure_every_sink_gets_every_item_once_in_order(plan):
    report, expected = run_plan(plan)
    for name, (_, inc) in expected.items():
        assert_everything_in_order(plan, report.results[name], inc)
    assert all(edge.items == len(plan.sizes) for edge in report.edges)
    assert report.dropped_items == 0
    assert report.stopped_by == "end"


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
@graph_settings
@given(plans())
@example(burst_plan())
def test_lossy_edges_count_every_item_they_lose(policy, plan):
    report, expected = run_plan(plan, policy)
    for name, (sink, inc) in expected.items():
        got = report.results[name]
        if not sink.lossy:
            assert_everything_in_order(plan, got, inc)
            continue
        edge = edge_into(report, name)
        event("lossy edge dropped items" if edge.dropped_items else "lossy edge dropped nothing")
        assert edge.policy == policy
        assert len(got) + edge.dropped_items == len(plan.sizes)
        delivered = sum(x.samples for x in got) if plan.chunked else len(got)
        assert delivered + edge.dropped_samples == plan.total_samples
        assert_ordered_subsequence(plan, got, inc)


def check_overflow_marks(policy, plan):
    report, expected = run_plan(plan, policy)
    for name, (sink, _) in expected.items():
        if not sink.lossy:
            continue
        dropped = edge_into(report, name).dropped_samples
        runs, trailing = overflow_runs(report.results[name], plan.total_samples)
        assert [mark for mark, _ in runs] == [gap for _, gap in runs]
        assert sum(mark for mark, _ in runs) + trailing == dropped
        # a lossy policy the consumer chose skips by design: no drop of it is marked a loss
        assert not any("overflow" in c.meta for c in report.results[name])
        if policy == "drop_oldest":  # the newest item always gets in: nothing lost at the end
            assert trailing == 0


@graph_settings
@given(plans(chunked=True))
@example(burst_plan())
def test_drop_newest_marks_each_lost_run_on_the_next_chunk(plan):
    """Every run of dropped chunks is marked on the next chunk delivered; only a run at the
    very end of the stream, with no chunk after it, stays unmarked."""
    check_overflow_marks("drop_newest", plan)


@graph_settings
@given(plans(chunked=True))
@example(burst_plan())
def test_drop_oldest_marks_each_evicted_run_on_the_next_chunk(plan):
    """The chunk after an evicted run carries the run's length; nothing is lost at the end."""
    check_overflow_marks("drop_oldest", plan)


# -- chunks already marked upstream, lost again downstream ----------------------------------
@dataclasses.dataclass(frozen=True)
class Hop:
    """How one block reads the stream above it."""

    policy: str
    buffer: int
    delay: float | None


@st.composite
def lossy_chains(draw):
    """Marked chunks, then 1-3 relays and a sink, each reading with a random policy."""
    n_items = draw(st.integers(0, 40))
    sizes = draw(st.lists(st.integers(1, 4), min_size=n_items, max_size=n_items))
    gaps = draw(st.lists(st.sampled_from([0, 0, 1, 3]), min_size=n_items, max_size=n_items))
    hop = st.builds(Hop, st.sampled_from(["block", "drop_oldest", "drop_newest"]),
                    st.integers(1, 4), DELAYS)
    return marked_chunks(sizes, gaps), tuple(draw(st.lists(hop, min_size=2, max_size=4)))


def run_chain(chunks, hops):
    """Run the chain; returns the report and the chunks the sink got."""
    stream = df.from_iterable(chunks)
    for hop in hops[:-1]:
        stream = relay(stream, 0, hop.delay, buffer=hop.buffer, policy=hop.policy)
    last = hops[-1]
    sink = record(stream, last.delay or 0.0, buffer=last.buffer, policy=last.policy, name="sink")
    report = df.run(sink)
    return report, report.results["sink"]


def burst_chain(policy):
    """A relay drains its 8-item FIFO in one go into the 1-item FIFO of a slow sink: most
    chunks, every one of them marked, are lost there."""
    return marked_chunks([2] * 40, [1] * 40), (Hop("block", 8, None), Hop(policy, 1, 0.001))


@graph_settings
@given(lossy_chains())
@example(burst_chain("drop_newest"))
@example(burst_chain("drop_oldest"))
def test_losses_along_a_chain_add_up(chain):
    chunks, hops = chain
    report, got = run_chain(chunks, hops)
    assert sum(c.samples for c in got) + report.dropped_samples == sum(c.samples for c in chunks)
    indices = [c.index for c in got]
    assert indices == sorted(set(indices))
    assert all(c.data[0] == c.index for c in got)


@graph_settings
@given(lossy_chains())
@example(burst_chain("drop_newest"))
@example(burst_chain("drop_oldest"))
def test_marks_of_chunks_lost_downstream_are_passed_on(chain):
    """A chunk marked upstream (a real-time source's overflow) and lost on a lossy edge hands
    its mark to the next chunk that gets through: at the end, every mark is the gap before it."""
    chunks, hops = chain
    report, got = run_chain(chunks, hops)
    end = chunks[-1].end_index if chunks else 0
    runs, trailing = overflow_runs(got, end)
    assert [mark for mark, _ in runs] == [gap for _, gap in runs]
    upstream = sum(c.meta.get("overflow", 0) for c in chunks)
    assert sum(mark for mark, _ in runs) + trailing == upstream + report.dropped_samples
