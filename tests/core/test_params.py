"""df.param: live controls, validated and thread-safe, read by running blocks once per chunk."""

import asyncio
import dataclasses
import itertools
import pickle
import threading
import time

import numpy as np
import pytest

import daqflow as df
from daqflow import dsp, io

RATE = 1e6


def tune_param(value=-250e3):
    return df.param(value, name="tune", low=-400e3, high=400e3, unit="Hz", doc="mixer frequency")


def frequency(chunk):
    """Mean frequency of a complex chunk in Hz, from the phase step between samples."""
    y = chunk.data.astype(np.complex128)
    return np.angle(y[1:] * np.conj(y[:-1])).mean() * chunk.rate / (2 * np.pi)


# -- the value ---------------------------------------------------------------------------
def test_value_version_float_int_and_repr():
    p = tune_param()
    assert p.value == -250e3 and isinstance(p.value, float)
    assert p.version == 0 and p.default == -250e3
    assert (p.name, p.unit, p.doc, p.kind) == ("tune", "Hz", "mixer frequency", float)
    p.set(-200e3)
    p.set(-200e3)  # the same value again is not a change
    assert (p.value, p.version) == (-200e3, 1)
    assert p.snapshot() == (-200e3, 1)
    p.set(100)  # an int is a float for a float param
    assert p.value == 100.0 and isinstance(p.value, float) and p.version == 2
    assert float(p) == 100.0 and int(p) == 100
    assert "tune" in repr(p) and "Hz" in repr(p)


def test_int_params():
    n = df.param(16, name="navg", kind=int, low=1, high=1024)
    assert n.value == 16 and isinstance(n.value, int)
    n.set(np.int64(32))
    n.set(8.0)  # an integral float (e.g. from a spin box) is accepted
    assert n.value == 8 and isinstance(n.value, int) and n.version == 2
    assert int(n) == 8 and float(n) == 8.0
    with pytest.raises(ValueError, match=r"'navg'.*integer"):
        n.set(2.5)


@pytest.mark.parametrize("bad, match", [
    (2e6, r"'tune'.*out of range \[-400000, 400000\] Hz"),
    (-1e9, r"'tune'.*out of range"),
    (float("nan"), "'tune'.*finite"),
    (float("inf"), "'tune'.*finite"),
    (True, "'tune'.*real number"),
    ("100", "'tune'.*real number"),
    (None, "'tune'.*real number"),
])
def test_set_validates_and_names_param_and_range(bad, match):
    p = tune_param()
    with pytest.raises(ValueError, match=match):
        p.set(bad)
    assert (p.value, p.version) == (-250e3, 0)  # unchanged


def test_choices_and_construction_errors():
    p = df.param(1024, name="nfft", kind=int, choices=[256, 512, 1024])
    p.set(256)
    with pytest.raises(ValueError, match=r"'nfft'.*not one of \[256, 512, 1024\]"):
        p.set(300)
    with pytest.raises(ValueError, match="out of range"):
        df.param(5, name="x", low=0, high=1, kind=float)
    with pytest.raises(ValueError, match=r"low=.* above high"):
        df.param(0, name="x", low=1, high=0)
    with pytest.raises(ValueError, match="kind"):
        df.param(0, name="x", kind=str)
    with pytest.raises(ValueError, match="choices is empty"):
        df.param(0, name="x", choices=[])
    with pytest.raises(ValueError, match="name"):
        df.param(0, name="")
    a, b = df.param(0.0), df.param(0.0)
    assert a.name != b.name and a.name.startswith("param")
    assert isinstance(a, df.Param) and df.core.Param is df.Param and df.core.param is df.param


def test_watch_calls_back_in_the_setters_thread_and_unsubscribes():
    p = tune_param()
    seen = []
    unwatch = p.watch(lambda v: seen.append((v, threading.current_thread().name, p.version)))
    worker = threading.Thread(target=p.set, args=(-100e3,), name="setter")
    worker.start()
    worker.join()
    p.set(-100e3)  # no change, no call
    assert seen == [(-100e3, "setter", 1)]
    unwatch()
    unwatch()  # twice is harmless
    p.set(0.0)
    assert len(seen) == 1
    with pytest.raises(TypeError):
        p.watch(42)


def test_a_failing_watcher_does_not_stop_the_others():
    p = tune_param()
    seen = []

    def bad(v):
        raise RuntimeError("widget gone")

    p.watch(bad)
    p.watch(seen.append)
    with pytest.raises(RuntimeError, match="widget gone"):
        p.set(1.0)
    assert seen == [1.0] and p.value == 1.0


def test_concurrent_sets_lose_no_change():
    p = df.param(0, name="k", kind=int)
    calls = []
    p.watch(calls.append)

    def setter(base):
        for i in range(500):
            p.set(base + i + 1)  # every value distinct: each set is a change

    threads = [threading.Thread(target=setter, args=(k * 10_000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert p.version == 2000 and len(calls) == 2000


def test_a_pickled_param_is_a_dead_copy():
    p = tune_param()
    p.watch(print)
    q = pickle.loads(pickle.dumps(p))
    assert (q.name, q.value, q.low, q.high, q.unit) == ("tune", -250e3, -400e3, 400e3, "Hz")
    q.set(0.0)
    assert p.value == -250e3


# -- blocks that take a Param ------------------------------------------------------------
def check_retune(chunks, new):
    """Chunks before the marked one are at 0 Hz, from it on at 50 kHz, phase from the index."""
    marked = [k for k, c in enumerate(chunks) if "params" in c.meta]
    assert len(marked) == 1, [c.meta for c in chunks]
    k = marked[0]
    assert chunks[k].meta["params"] == {"tune": new}
    assert 0 < k < len(chunks) - 1
    for c in chunks[:k]:
        assert abs(frequency(c)) < 1.0
    for c in chunks[k:]:
        assert abs(frequency(c) - 50e3) < 1.0
        n = np.arange(c.index, c.end_index)
        expected = np.exp(2j * np.pi * 50e3 * n / RATE)  # absolute index: phase-correct
        np.testing.assert_allclose(c.data, expected, atol=2e-3)
        assert "params" not in c.meta or c is chunks[k]


def test_mix_follows_a_param_set_from_another_thread():
    tune = tune_param()
    adc = io.simulated_adc(RATE, chunk=1000, tones=[(250e3, 1.0)])  # real time: 1000 chunks/s
    sink = df.collect(dsp.mix(adc, freq=tune), name="got")
    running = df.start(sink)
    try:
        deadline = time.monotonic() + 10
        while running.report().blocks["got"].items_in < 20:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        tune.set(-200e3)  # this thread is not the graph's
        target = running.report().blocks["got"].items_in + 20
        while running.report().blocks["got"].items_in < target:
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        running.stop()
    chunks = running.wait(timeout=10).results["got"]
    check_retune(chunks, -200e3)


def test_iterate_with_a_param():
    tune = tune_param()
    adc = io.simulated_adc(RATE, chunk=1000, tones=[(250e3, 1.0)], realtime=False)
    chunks = []
    for chunk in df.iterate(dsp.mix(adc, freq=tune), buffer=2):
        chunks.append(chunk)
        if len(chunks) == 10:
            tune.set(-200e3)
        if len(chunks) == 40:
            break
    check_retune(chunks, -200e3)


def test_mix_with_a_param_keeps_center_freq_true():
    tune = tune_param(-250e3)
    adc = io.simulated_adc(RATE, chunk=500, tones=[(250e3, 1.0)], realtime=False,
                           center_freq=100e6)
    out = []
    for chunk in df.iterate(dsp.mix(adc, freq=tune)):
        out.append(chunk)
        if len(out) == 3:
            tune.set(-150e3)
        if len(out) == 20:
            break
    marked = next(k for k, c in enumerate(out) if "params" in c.meta)
    assert all(c.meta["center_freq"] == 100e6 + 250e3 for c in out[:marked])
    assert all(c.meta["center_freq"] == 100e6 + 150e3 for c in out[marked:])


def test_a_plain_number_adds_no_meta():
    adc = io.simulated_adc(RATE, chunk=1000, tones=[(250e3, 1.0)], realtime=False)
    chunks = df.run(df.collect(dsp.mix(dsp.head(adc, 20_000), freq=-250e3))).results["collect"]
    assert len(chunks) == 20 and all("params" not in c.meta for c in chunks)


@df.block
async def traces(count: int, period: float = 0.0005, rows: int = 0):
    """Trace k is an array full of k (or ``rows`` rows numbered from k*rows, each full of its number)."""
    for k in range(count):
        await asyncio.sleep(period)
        if rows:
            numbers = np.arange(k * rows, (k + 1) * rows, dtype=np.float64)
            yield df.Chunk(np.repeat(numbers[:, None], 4, axis=1), 100.0, k * rows, k * rows / 100.0)
        else:
            yield df.Chunk(np.full(8, float(k)), 1000.0, k, k / 1000.0)


def test_average_n_param_changes_mid_run_dropping_the_partial_average():
    navg = df.param(4, name="navg", kind=int, low=1, high=64)
    running = df.start(df.collect(dsp.average(traces(400), n=navg), name="avg"))
    try:
        deadline = time.monotonic() + 10
        while running.report().blocks["avg"].items_in < 5:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        navg.set(3)
    finally:
        report = running.wait(timeout=30)
    out = report.results["avg"]
    ns = [c.meta["average"] for c in out]
    k = ns.index(3)
    assert set(ns[:k]) == {4} and set(ns[k:]) == {3} and k >= 5
    assert out[k].meta["params"] == {"navg": 3}
    assert all("params" not in c.meta for j, c in enumerate(out) if j != k)
    for c, n in zip(out, ns, strict=True):  # each mean is of n consecutive traces from c.index
        np.testing.assert_allclose(c.data, c.index + (n - 1) / 2)
    # the groups follow each other, except the partial one dropped at the change
    for a, b in itertools.pairwise(out):
        if b is out[k]:
            assert b.index >= a.index + 4
        else:
            assert b.index == a.index + a.meta["average"]


def test_average_rows_follow_the_new_grid_and_rate():
    navg = df.param(2, name="navg", kind=int, low=1)
    running = df.start(df.collect(dsp.average(traces(300, rows=3), n=navg), name="avg"))
    try:
        deadline = time.monotonic() + 10
        while running.report().blocks["avg"].items_in < 5:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        navg.set(5)
    finally:
        report = running.wait(timeout=30)
    out = report.results["avg"]
    marked = [k for k, c in enumerate(out) if "params" in c.meta]
    assert len(marked) == 1 and out[marked[0]].meta["params"] == {"navg": 5}
    for j, c in enumerate(out):
        n = 2 if j < marked[0] else 5
        assert c.meta["average"] == n and c.rate == 100.0 / n
        groups = np.arange(c.index, c.index + len(c.data))
        np.testing.assert_allclose(c.data, (groups * n + (n - 1) / 2)[:, None] * np.ones(4))


def test_average_refuses_a_param_that_could_be_zero_or_fractional():
    with pytest.raises(ValueError, match="int Param with low >= 1"):
        dsp.average(traces(3), n=df.param(4, name="n", kind=int))
    with pytest.raises(ValueError, match="int Param with low >= 1"):
        dsp.average(traces(3), n=df.param(4.0, name="n", low=1))


def test_an_integer_beyond_any_float_is_refused_as_not_finite():
    tune = df.param(0.0, name="tune", low=-1e6, high=1e6)
    with pytest.raises(ValueError, match=r"tune.*finite"):
        tune.set(10**400)  # it used to escape as an OverflowError
    assert tune.value == 0.0


# -- declared controls (core/finding.py) ---------------------------------------------------
@df.block
async def _uses(x: df.Stream, gain, config=None, helper=None):
    async for item in x:
        yield item


class _Holder:
    """A user's object holding a Param two levels down, declaring nothing."""

    def __init__(self, p):
        self.inner = {"deep": [p]}


class _TooDeep:
    """A Param further down than an argument is read (five levels)."""

    def __init__(self, p):
        self.inner = {"a": {"b": {"c": [p]}}}


@dataclasses.dataclass
class _Config:
    gain: object
    name: str = "cfg"


class _Declares:
    """A user's object that says which Params it holds."""

    def __init__(self, p):
        self.inner = {"deep": [p]}

    def __daqflow_params__(self):
        return [self.inner["deep"][0]]


def test_a_block_call_declares_the_params_it_is_given():
    from daqflow.core.finding import controls, params_of

    names = ("gain", "level", "held", "said", "kept", "lost")
    gain, level, held, said, kept, lost = (df.param(1.0, name=n) for n in names)
    src = df.from_iterable([1, 2])
    first = _uses(src, gain, config={"level": level, "rate": 2.0})
    second = _uses(first, 3.0, helper=_Holder(held))
    third = _uses(second, gain, helper=_Declares(said))
    fourth = _uses(third, 1.0, config=_Config(kept), helper=_TooDeep(lost))
    graph = df.build_graph([df.collect(fourth)])
    assert controls(src) == ()
    # each once, in graph order: a user's config object or dict holding a Param declares it
    # (these had no control when declarations looked one level into containers only)
    assert [p.name for p in params_of(graph.nodes)] == ["gain", "level", "held", "said", "kept"]
    assert lost not in params_of(graph.nodes)  # read to a bounded depth, never searched
    assert controls(second) == (held,)


def test_settings_false_leaves_out_params_an_instrument_owns():
    from daqflow.core.finding import params_of
    from daqflow.instruments import SimScope

    free = df.param(1.0, name="free")
    scope = SimScope(name="scope")
    node = _uses(scope.stream(), free)
    names = [p.name for p in params_of([node.inputs[0], node])]
    assert names[-1] == "free" and "scope.timebase" in names
    assert [p.name for p in params_of([node.inputs[0], node], settings=False)] == ["free"]


def test_a_follow_declares_its_param_and_a_number_nothing():
    from daqflow.core.params import Follow, exposed_params

    p = df.param(2.0, name="p")
    assert exposed_params(Follow(p)) == (p,) and exposed_params(Follow(2.0)) == ()
    assert exposed_params(p) == (p,) and exposed_params(3.0) == ()
