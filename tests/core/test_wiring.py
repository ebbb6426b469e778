"""Wiring: bad graphs fail with a GraphError naming both ends before anything runs; the first
item is type-checked at run time; sinks get unique names; DOT output shows the graph."""

import numpy as np
import pytest

import daqflow as df


@df.block
async def numbers(started: list):
    """0, 1, 2; appends to ``started`` when it begins, to show whether the graph ran."""
    started.append(True)
    for k in range(3):
        yield k


@df.block
async def relay(x: df.Stream):
    async for item in x:
        yield item


@df.block
async def combine(x: df.Stream, y: df.Stream):
    async for item in x:
        yield item
    async for item in y:
        yield item


@df.block
def scale(item, factor=2):
    return item * factor


@df.block(produces="real")
async def real_source():
    yield df.Chunk(np.zeros(4), rate=1.0)


@df.block(produces="same")
async def same(x: df.Stream):
    async for item in x:
        yield item


@df.block(accepts="complex")
async def needs_complex(x: df.Stream):
    async for item in x:
        yield item


@df.block(accepts="complex")
def map_needs_complex(chunk):
    return chunk


@df.block(accepts="real")
def needs_real(chunk):
    return chunk


def float_chunks():
    """A source that declares nothing but sends float chunks."""
    return df.from_iterable([np.zeros(4), np.ones(4)], rate=1e3)


def graph_error(fn, *args, **kwargs):
    with pytest.raises(df.GraphError) as info:
        fn(*args, **kwargs)
    return str(info.value)


# -- GraphError before anything runs --------------------------------------------------------
def test_running_a_stream_that_is_not_a_sink_is_refused():
    started = []
    message = graph_error(df.run, relay(numbers(started), name="middle"))
    assert "'middle'" in message
    assert "df.collect(middle)" in message
    assert started == []


def test_running_something_that_is_not_a_stream_is_refused():
    assert "int" in graph_error(df.run, 42)
    assert "at least one sink" in graph_error(df.run)


def test_a_sink_cannot_feed_another_block():
    sink = df.collect(numbers([]), name="keeper")
    message = graph_error(relay, sink, name="reader")
    assert "'keeper'" in message and "reader" in message
    assert "is a sink" in message


@pytest.mark.parametrize("through_same", [False, True], ids=["direct", "through produces='same'"])
def test_a_declared_type_mismatch_names_both_ends(through_same):
    upstream = same(real_source()) if through_same else real_source()
    message = graph_error(needs_complex, upstream)
    assert repr(upstream.name) in message and "'needs_complex'" in message
    assert "produces real chunks" in message and "accepts complex chunks" in message


def test_compatible_declarations_wire_up():
    df.validate(df.collect(needs_real(same(real_source()))))


def test_a_missing_input_stream_names_the_block_and_the_port():
    message = graph_error(combine, numbers([]))
    assert "'combine'" in message and "'y'" in message


def test_a_non_stream_on_an_input_port_names_the_block_and_the_port():
    message = graph_error(combine, numbers([]), [1, 2])
    assert "'combine'" in message and "'y'" in message and "list" in message


def test_a_stream_on_a_parameter_that_is_not_an_input_names_both():
    started = []
    message = graph_error(scale, numbers(started), factor=relay(numbers(started), name="other"))
    assert "'scale'" in message and "'factor'" in message and "'other'" in message
    assert started == []


def test_two_blocks_with_the_same_name_are_refused_when_run():
    started = []
    source = numbers(started)
    first, second = relay(source, name="twin"), relay(source, name="twin")
    message = graph_error(df.run, df.collect(first), df.collect(second))
    assert message.count("twin") >= 2
    assert started == []


@pytest.mark.parametrize("buffer", [0, -1, 1.5, True, "8"])
def test_a_bad_buffer_is_refused(buffer):
    message = graph_error(relay, numbers([]), buffer=buffer, name="r")
    assert "'r'" in message and "buffer" in message and repr(buffer) in message


@pytest.mark.parametrize("policy", ["drop", "", "DROP_OLDEST", 0])
def test_a_bad_policy_is_refused(policy):
    message = graph_error(relay, numbers([]), policy=policy)
    assert "'relay'" in message and "policy" in message and repr(policy) in message


def test_bad_defaults_in_the_decorator_are_refused():
    def double(item):
        return 2 * item

    with pytest.raises(ValueError, match="buffer"):
        df.block(buffer=0)(double)
    with pytest.raises(ValueError, match="policy"):
        df.block(policy="newest")(double)


def test_a_cycle_is_refused():
    """There is no public way to make a cycle; this guards graphs built programmatically
    (here by rewiring ``Stream.inputs``)."""
    started = []
    source = numbers(started)
    a = combine(source, source, name="a")
    b = relay(a, name="b")
    a.inputs = (source, b)  # a reads b, which reads a
    message = graph_error(df.run, df.collect(b))
    assert "cycle" in message
    assert "a -> b" in message or "b -> a" in message
    assert "cycle" in graph_error(df.validate, df.collect(b))
    assert "cycle" in graph_error(b.to_dot)
    assert started == []


def test_realtime_applies_to_sources_only():
    assert "realtime" in graph_error(relay, numbers([]), realtime=True)


# -- first item checked at run time ---------------------------------------------------------
@pytest.mark.parametrize(
    "consumer, inline",
    [(needs_complex, False), (map_needs_complex, True)],
    ids=["transform", "inline map"],
)
def test_the_first_item_is_checked_against_what_a_block_accepts(consumer, inline):
    sink = df.collect(consumer(float_chunks()))
    name = consumer.spec.name
    with pytest.raises(df.BlockError) as info:
        df.run(sink)
    err = info.value
    assert err.block == name
    assert err.report.blocks[name].inline is inline
    cause = str(err.__cause__)
    assert isinstance(err.__cause__, TypeError)
    assert f"'{name}'" in cause and "port" in cause
    assert "expects complex chunks" in cause and "float" in cause
    assert err.report.results["collect"] == []


def test_items_of_the_accepted_kind_pass_the_check():
    source = df.from_iterable([np.zeros(4, complex)], rate=1e3)
    got = df.run(df.collect(needs_complex(source))).results["collect"]
    assert [c.data.dtype.kind for c in got] == ["c"]


# -- names of results -----------------------------------------------------------------------
def test_unnamed_sinks_get_distinct_names_and_name_wins():
    source = df.from_iterable([1, 2])
    report = df.run(df.collect(source), df.collect(scale(source)), df.collect(source, name="mine"))
    assert report.results == {"collect": [1, 2], "collect_2": [2, 4], "mine": [1, 2]}


# -- DOT ------------------------------------------------------------------------------------
def test_dot_shows_every_block_and_each_edge_policy_and_buffer():
    source = df.from_iterable(range(3))
    lossy = relay(source, buffer=3, policy="drop_oldest", name="lossy")
    joined = combine(lossy, scale(source), name="joined")
    sink = df.collect(joined, buffer=5, name="out")
    dot = df.to_dot(sink)
    assert dot.startswith("digraph")
    for name in ("from_iterable", "lossy", "scale", "joined", "out"):
        assert f'"{name}"' in dot
    assert '"from_iterable" -> "lossy" [label="drop_oldest, 3"]' in dot
    assert '"from_iterable" -> "scale" [label="inline"]' in dot
    assert '"lossy" -> "joined" [label="x: block, 8"]' in dot
    assert '"scale" -> "joined" [label="y: block, 8"]' in dot
    assert '"joined" -> "out" [label="block, 5"]' in dot
    assert joined.to_dot() == df.to_dot(joined)
    assert '"out"' not in joined.to_dot()


def test_two_streams_of_one_library_block_get_distinct_names():
    """Library blocks carry default names, not labels: two of them coexist (name, name_2)."""
    from daqflow import dsp

    source = df.from_iterable([df.Chunk(np.zeros(256, np.complex64), 1e3)])
    a = df.collect(dsp.spectrum(source, 64))
    b = df.collect(dsp.spectrum(source, 128))
    c = df.collect(dsp.fir_decimate(source, [1.0, 1.0], 2))
    d = df.collect(dsp.decimate(source, 2))
    report = df.run(a, b, c, d)
    assert {"spectrum", "spectrum_2", "fir_decimate", "decimate"} <= set(report.blocks)
