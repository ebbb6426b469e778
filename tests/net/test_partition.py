"""proc=df.Process partitions: real spawned processes joined by ZeroMQ links on loopback."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
from _partition_blocks import (
    counter,
    explode,
    fft_mag,
    pid_file_sink,
    pid_of,
    pid_then_ramp,
    ramp,
    scale,
    sized_chunk,
    sized_chunks,
    slow_sink,
    tag_pid,
    to_object,
    touch_then_ramp,
    why_ended,
)

import daqflow as df

pytest.importorskip("zmq")


def _private_dirs():
    """The runs' private directories (ipc sockets, shared rings) that exist now."""
    import glob
    import tempfile

    return set(glob.glob("/dev/shm/daqflow-*")) | set(glob.glob(f"{tempfile.gettempdir()}/daqflow-*"))


def _samples(chunks):
    return np.concatenate([c.data for c in chunks])


def _graph(procs):
    """ramp -> scale -> fft_mag -> collect, blocks placed by ``procs`` (4 entries)."""
    src = ramp(30, 512, proc=procs[0])
    scaled = scale(src, 3.0, proc=procs[1])
    spec = fft_mag(scaled, proc=procs[2])
    return df.collect(spec, proc=procs[3])


@pytest.mark.parametrize("transport", ["shm", "zmq", "http"])
@pytest.mark.parametrize("split", ["two", "three"])
def test_split_graph_gives_the_same_output_bit_exact(split, transport):
    a, b = df.Process("a"), df.Process("b")
    placements = {"two": [None, a, a, None], "three": [a, b, None, a]}[split]
    alone = df.run(_graph([None] * 4)).results["collect"]
    split_report = df.run(_graph(placements), transport=transport)
    parted = split_report.results["collect"]
    assert len(parted) == len(alone) == 30
    for x, y in zip(alone, parted, strict=True):
        assert x.data.dtype == y.data.dtype
        assert np.array_equal(x.data, y.data)
        assert (x.rate, x.index, dict(x.meta)) == (y.rate, y.index, dict(y.meta))
    # the report merges every process's figures and marks where each block ran
    blocks = split_report.blocks
    assert {b.name: b.process for b in blocks.values()} == {
        "ramp": placements[0] and placements[0].name,
        "scale": placements[1] and placements[1].name,
        "fft_mag": placements[2] and placements[2].name,
        "collect": placements[3] and placements[3].name,
    }
    assert blocks["ramp"].items_out == 30 and blocks["collect"].items_in == 30
    crossing = [e for e in split_report.edges if e.transport]
    assert crossing and all(e.transport == transport and e.items == 30 for e in crossing)


@pytest.mark.parametrize("sizes", [[8192] * 40, [8192, 1000, 65536, 8192, 300000, 8192] * 5])
def test_shared_ring_carries_big_and_changing_chunks_bit_exact(sizes):
    """Bodies from 16 KiB go through the ring (slot sized by the first), bigger ones than a
    slot and small ones in the message; 40 chunks reuse each of the 8 slots five times."""
    src = sized_chunks(sizes)
    before = _private_dirs()
    report = df.run(df.collect(scale(src, 1.0, proc=df.Process("b"))), transport="shm")
    assert _private_dirs() == before  # ring files and sockets are gone
    got = report.results["collect"]
    assert [c.samples for c in got] == sizes
    for k, c in enumerate(got):
        assert np.array_equal(c.data, sized_chunk(k, sizes[k]).data)
    assert next(e for e in report.edges if e.transport).transport == "shm"


def test_blocks_really_run_in_other_processes():
    a, b = df.Process("a"), df.Process("b")
    src = ramp(5, 16)
    report = df.run(pid_of(src, name="in_a", proc=a), pid_of(src, name="in_b", proc=b),
                    pid_of(src, name="here"))
    pids = report.results
    assert pids["here"] == os.getpid()
    assert len({pids["in_a"], pids["in_b"], pids["here"]}) == 3


@pytest.mark.parametrize("transport", ["shm", "zmq", "http"])
def test_backpressure_crosses_the_boundary_and_memory_stays_bounded(transport):
    b = df.Process("b", transport=transport)
    delay, n, capacity = 0.01, 100, 8
    sink = slow_sink(ramp(n, 4096), delay, proc=b)
    in_flight = []
    with df.start(sink) as running:
        deadline = time.monotonic() + 30
        while not running.done() and time.monotonic() < deadline:
            snap = running.report()
            if "slow_sink" in snap.blocks:
                in_flight.append(snap.blocks["ramp"].items_out - snap.blocks["slow_sink"].items_in)
            time.sleep(0.05)
        report = running.wait()
    assert report.results["slow_sink"][0] == n
    # the fast source waited for the slow sink in the other process (all but the last three
    # FIFOs' worth: send side, wire credit, receive side)...
    paced = (n - 3 * capacity) * delay
    assert report.blocks["ramp"].blocked > 0.5 * paced
    assert report.blocks["ramp"].wall > 0.7 * paced
    # ...and no more than those three FIFOs' worth was ever between them (snapshots lag by
    # up to half a second: allow that many items)
    assert in_flight and max(in_flight) <= 3 * capacity + int(0.5 / delay) + 2
    link = next(e for e in report.edges if e.transport)
    assert link.high_water <= capacity and link.dropped_items == 0


def test_a_block_failing_in_a_child_raises_blockerror_naming_it():
    b = df.Process("b")
    out = explode(scale(ramp(50, 64), proc=b), at=10, proc=b)
    with pytest.raises(df.BlockError) as info:
        df.run(df.collect(out))
    err = info.value
    assert err.block == "explode"
    assert "bad chunk 10" in str(err) and "process 'b'" in str(err)
    assert any("Traceback" in note for note in err.cause.__notes__)
    got = err.report.results["collect"]  # what arrived before the failure is kept
    assert [c.meta["n"] for c in got] == list(range(10))
    assert err.report.stopped_by == "error"


def test_killed_child_process_stops_the_graph_with_an_error(tmp_path):
    b = df.Process("b")
    pid_path = tmp_path / "pid"
    sink = pid_file_sink(ramp(100000, 64), str(pid_path), 0.001, proc=b)

    before = _private_dirs()
    killer = threading.Thread(target=_kill_when_written, args=(pid_path,))
    killer.start()
    t0 = time.monotonic()
    with pytest.raises(df.BlockError) as info:
        df.run(sink)
    killer.join()
    assert "process 'b' exited with code -9" in str(info.value)
    assert info.value.block == "pid_file_sink"
    assert time.monotonic() - t0 < 15  # nobody waited for the dead process's drain timeout
    assert _private_dirs() == before  # the dead child's ring and sockets are removed too


def test_duration_stops_every_process_and_drains_without_gaps():
    a = df.Process("a")
    src = counter(proc=a)
    report = df.run(df.collect(scale(src, 1.0, name="copy", proc=a)), duration=1.0)
    chunks = report.results["collect"]
    assert report.stopped_by == "duration"
    assert len(chunks) > 10
    data = _samples(chunks)
    assert np.array_equal(data, np.arange(data.size))  # in order, nothing lost at the stop
    assert report.blocks["counter"].items_out == len(chunks)


@pytest.mark.parametrize("transport", ["shm", "zmq", "http"])
def test_items_that_cannot_cross_give_an_error_naming_the_edge(transport):
    b = df.Process("b", transport=transport)
    with pytest.raises(df.BlockError) as info:
        df.run(df.collect(to_object(ramp(3, 4), proc=b)))
    message = str(info.value)
    assert "'to_object' -> collect.stream crosses from process 'b' to 'main'" in message
    assert "nothing is pickled" in message


def test_blocks_a_child_cannot_import_are_refused_before_anything_runs():
    started = []

    @df.block
    def local_map(chunk):
        started.append(1)
        return chunk

    with pytest.raises(df.GraphError, match="defined inside a function"):
        df.run(df.collect(local_map(ramp(3, 4), proc=df.Process("b"))))
    assert not started


def test_parameters_that_cannot_be_sent_are_refused_by_name():
    with pytest.raises(df.GraphError, match=r"block 'scale' runs in process 'b' but its parameter 'factor'"):
        df.run(df.collect(scale(ramp(3, 4), threading.Lock(), proc=df.Process("b"))))


def test_two_different_processes_with_one_name_are_refused():
    src = ramp(3, 4, proc=df.Process("b"))
    with pytest.raises(df.GraphError, match="two different processes are named 'b'"):
        df.run(df.collect(scale(src, proc=df.Process("b", transport="http"))))


def test_drawing_shows_each_process_as_a_cluster():
    dot = df.to_dot(_graph([None, df.Process("a"), df.Process("a"), None]))
    assert 'subgraph "cluster_a"' in dot
    assert "between processes" in dot


def test_process_options_are_checked():
    with pytest.raises(ValueError, match="transport"):
        df.Process("x", transport="carrier pigeon")
    with pytest.raises(ValueError, match="name"):
        df.Process("")
    with pytest.raises(df.GraphError, match=r"proc must be a daqflow\.Process"):
        scale(ramp(1, 1), proc="b")
    from daqflow.net.partition import dask_options

    assert dask_options(df.Process("g", worker="w1", resources={"GPU": 1})) == {
        "workers": ["w1"], "allow_other_workers": False, "resources": {"GPU": 1}}


def test_a_block_from_an_interactive_main_is_refused_before_anything_starts():
    import subprocess
    import sys

    session = (
        "import daqflow as df\n"
        "@df.block\n"
        "def typed_in(chunk):\n"
        "    return chunk\n"
        "try:\n"
        "    df.run(df.collect(typed_in(df.from_iterable([1]), proc=df.Process('b'))))\n"
        "except df.GraphError as exc:\n"
        "    print('refused:', exc)\n"
    )
    out = subprocess.run([sys.executable, "-"], input=session, capture_output=True, text=True,
                         timeout=60, check=True)
    assert "refused: block 'typed_in' runs in another process" in out.stdout
    assert "__main__ of an interactive session or notebook" in out.stdout
    assert out.stderr == ""  # no child was started


def test_iterate_honours_proc_placement():
    b = df.Process("b")
    pids = {c.meta["pid"] for c in df.iterate(tag_pid(ramp(4, 8), proc=b))}
    assert len(pids) == 1 and os.getpid() not in pids


def test_a_block_the_child_cannot_import_stops_everything_before_it_starts(tmp_path):
    """The parent can import the module (it made it on the fly), the child cannot: the child
    says so while setting up, and nothing runs anywhere."""
    import sys
    import types

    module = types.ModuleType("made_on_the_fly")
    exec(  # a module that exists only in this process
        "import daqflow as df\n"
        "@df.block\n"
        "def ephemeral(chunk):\n"
        "    return chunk\n",
        module.__dict__,
    )
    sys.modules["made_on_the_fly"] = module
    marker = tmp_path / "source-ran"
    try:
        src = touch_then_ramp(str(marker), 3, 4)
        t0 = time.monotonic()
        with pytest.raises(df.GraphError) as info:
            df.run(df.collect(module.ephemeral(src, proc=df.Process("b"))))
        assert "process 'b' could not set up its blocks ('ephemeral')" in str(info.value)
        assert "made_on_the_fly" in str(info.value)
        assert not marker.exists()  # the source in this process never started
        assert time.monotonic() - t0 < 10
    finally:
        del sys.modules["made_on_the_fly"]


@pytest.mark.parametrize("where", ["main", "child"])
def test_a_failure_stops_every_process_at_once(where):
    """An endless branch elsewhere must not keep running until a drain timeout."""
    b = df.Process("b")
    place = b if where == "child" else None
    failing = explode(scale(ramp(50, 64), proc=place), at=5, proc=place)
    endless = df.collect(scale(counter(), 1.0, proc=df.Process("c")), name="endless")
    t0 = time.monotonic()
    with pytest.raises(df.BlockError) as info:
        df.run(df.collect(failing), endless)
    assert info.value.block == "explode"
    assert time.monotonic() - t0 < 5  # the drain timeout is 10 s
    chunks = info.value.report.results["endless"]  # (maybe none: the failure can come first)
    data = _samples(chunks) if chunks else np.arange(0)
    assert np.array_equal(data, np.arange(data.size))  # what the other branch made, drained whole


def test_a_stop_before_anything_started_ends_at_once():
    with df.start(df.collect(scale(counter(), proc=df.Process("b")))) as running:
        running.stop()
        t0 = time.monotonic()
        report = running.wait(timeout=30)
    assert report.stopped_by == "stop"
    assert time.monotonic() - t0 < 5
    in_process = df.start(df.collect(counter()))
    in_process.stop()
    assert in_process.wait(timeout=5).stopped_by == "stop"


@pytest.mark.parametrize("transport", ["shm", "zmq", "http"])
def test_a_failure_upstream_in_another_process_reaches_readers_downstream(transport):
    """A sink that relays a stream (a server, a file another program reads) learns the
    stream broke, and where, not that it ended."""
    b = df.Process("b", transport=transport)
    broken = explode(scale(ramp(20, 64), proc=b), at=7, proc=b)
    with pytest.raises(df.BlockError) as info:
        df.run(why_ended(broken))
    items, block, message = info.value.report.results["why_ended"]
    assert items == 7
    assert block == "explode"
    assert "bad chunk 7" in message and "in process 'b'" in message


@pytest.mark.parametrize("transport", ["shm", "zmq", "http"])
def test_a_stream_whose_producer_process_is_killed_ends_as_a_failure_not_a_clean_end(
        tmp_path, transport):
    # a writer downstream must not take a dead producer for the end of its data
    pid_path = tmp_path / "pid"
    src = pid_then_ramp(str(pid_path), 64, 0.01, proc=df.Process("a"))
    killer = threading.Thread(target=_kill_when_written, args=(pid_path,))
    killer.start()
    with pytest.raises(df.BlockError) as info:
        df.run(why_ended(src), transport=transport)
    killer.join()
    n, block, message = info.value.report.results["why_ended"]
    assert n > 0 and block == "pid_then_ramp"
    assert "process 'a' ended without closing the link 'pid_then_ramp' -> why_ended.x" in message


def _kill_when_written(pid_path):
    """SIGKILL the process whose id a block writes to ``pid_path``, 0.3 s after it does."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if pid_path.exists() and pid_path.read_text():
            time.sleep(0.3)
            os.kill(int(pid_path.read_text()), signal.SIGKILL)
            return
        time.sleep(0.02)
