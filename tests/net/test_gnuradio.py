"""daqflow's zmq_source / zmq_sink against REAL GNU Radio gr-zeromq blocks, bit-exact.

GNU Radio lives in the system Python (/usr/bin/python3), not in the project's: each case runs
a flowgraph of tests/net/_gr_flowgraphs.py in a subprocess there. Without GNU Radio the tests
are skipped, saying so.

- GNU Radio vector_source (a complex64 ramp with stream tags of several PMT types) ->
  zeromq.push_sink / pub_sink, with and without pass_tags -> daqflow zmq_source.
- daqflow zmq_sink (push, pub) -> GNU Radio zeromq.pull_source / sub_source -> file_sink.
- daqflow's PMT serializer against GNU Radio's own ``pmt.serialize_str``.
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _same import same

import daqflow as df
from daqflow.net import pmt, zmq_sink, zmq_source

GNURADIO_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("_gr_flowgraphs.py")
SKIP_REASON = ("GNU Radio (Debian package gnuradio, /usr/bin/python3 -c 'from gnuradio import zeromq') "
               "is not installed")

#: the same data as _gr_flowgraphs.py (written twice on purpose: that file runs without daqflow)
TAG_OFFSETS = (0, 1, 17, 500, 999, 1234, 4095)
TAG_VALUES = (
    ("gain", 30, "usrp"),
    ("rx_freq", 433.92e6, False),
    ("name", "burst", "src"),
    ("iq", 1 - 2j, False),
    ("rx_time", (1700000000, 0.25), False),
    ("taps", np.array([0.5, -1.0, 2.0], np.float32), False),
    ("meta", {"a": 1, "b": 2.5}, None),
)
PMT_SAMPLES = {
    "int": -3, "int64": 2**40, "uint64": 2**63 + 5, "double": -1.25, "complex": 1 + 2j,
    "true": True, "false": False, "nil": None, "symbol": "héllo", "pair": pmt.Pair("a", 1),
    "tuple": (1, "x", True), "vector": [0.5, 0.5],
    "f32vector": np.array([1.0, -2.0], np.float32),
    "c32vector": np.array([1 + 1j, -0.5j], np.complex64),
    "s16vector": np.array([-1, 2, 32767], np.int16),
    "u8vector": np.array([1, 2, 255], np.uint8),
    "dict": {"b": 2.0, "a": 1},
}


def ramp(n: int) -> np.ndarray:
    k = np.arange(n)
    return (k - 1j * ((k % 1000) / 4)).astype(np.complex64)


@pytest.fixture(scope="module")
def gnuradio():
    """Skips (never silently) when GNU Radio's zeromq blocks are not there."""
    if not Path(GNURADIO_PYTHON).exists():
        pytest.skip(SKIP_REASON)
    probe = subprocess.run([GNURADIO_PYTHON, "-c", "from gnuradio import zeromq, blocks"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(SKIP_REASON)


def flowgraph(*args: object) -> subprocess.Popen:
    return subprocess.Popen([GNURADIO_PYTHON, str(SCRIPT), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 30.0) -> str:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"GNU Radio flowgraph did not end: {err[-2000:]}")
    assert proc.returncode == 0, f"GNU Radio flowgraph failed ({proc.returncode}): {err[-2000:]}"
    return out


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def free_tcp() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def address(kind: str, tmp_path: Path) -> str:
    return free_tcp() if kind == "tcp" else f"ipc://{tmp_path / 'gr.ipc'}"


def expected_tags(start: int, end: int, period: int) -> list[tuple[int, str, object, object]]:
    """The vector_source's tags in [start, end), repeated every ``period`` samples."""
    out = []
    for base in range(start - start % period, end, period):
        for offset, (key, value, srcid) in zip(TAG_OFFSETS, TAG_VALUES, strict=True):
            if start <= base + offset < end:
                out.append((base + offset, key, value, srcid))
    return out


def received_tags(chunks: list[df.Chunk]) -> list[tuple[int, str, object, object]]:
    out = []
    for c in chunks:
        for tag in c.meta.get("tags", ()):
            assert c.index <= tag["offset"] < c.end_index, (tag, c)
            out.append((tag["offset"], tag["key"], tag["value"], tag["srcid"]))
    return out


def assert_tags(got: list, want: list) -> None:
    assert [(o, k) for o, k, _, _ in got] == [(o, k) for o, k, _, _ in want]
    for g, w in zip(got, want, strict=True):
        assert same(g[2], w[2]) and same(g[3], w[3]), (g, w)


def test_pmt_serialization_matches_gnuradio(gnuradio):
    theirs = json.loads(finish(flowgraph("pmt")))
    assert theirs.keys() == PMT_SAMPLES.keys()
    for name, value in PMT_SAMPLES.items():
        wire = bytes.fromhex(theirs[name])
        assert pmt.dumps(value) == wire, name
        assert same(pmt.loads(wire), value), name


@pytest.mark.parametrize(("pass_tags", "kind"), [(False, "tcp"), (True, "ipc")])
def test_gnuradio_push_sink_to_zmq_source(gnuradio, tmp_path, pass_tags, kind):
    n = 20_000
    addr = address(kind, tmp_path)
    proc = flowgraph("push", addr, n, int(pass_tags))
    try:
        report = df.run(df.collect(zmq_source(addr, "complex64", pattern="pull", pass_tags=pass_tags,
                                              rate=1e6, samples=n, timeout=20), name="got"))
    finally:
        finish(proc)
    chunks = report.results["got"]
    data = np.concatenate([c.data for c in chunks])
    assert data.dtype == np.complex64 and data.tobytes() == ramp(n).tobytes()  # bit-exact
    assert [c.index for c in chunks] == list(np.cumsum([0] + [c.samples for c in chunks[:-1]]))
    assert all(c.time == c.index / 1e6 for c in chunks)
    assert not any("overflow" in c.meta for c in chunks)
    if pass_tags:
        assert_tags(received_tags(chunks), expected_tags(0, n, n))
    else:
        assert received_tags(chunks) == []


@pytest.mark.parametrize(("pass_tags", "kind"), [(False, "ipc"), (True, "tcp")])
def test_gnuradio_pub_sink_to_zmq_source(gnuradio, tmp_path, pass_tags, kind):
    """A publisher does not wait for subscribers (slow joiner): the flowgraph repeats its ramp
    (period 5000, throttled), daqflow connects first and checks what it gets against the
    position the tag header's offset (or the ramp's own value) gives."""
    period, want = 5000, 30_000
    addr = address(kind, tmp_path)
    running = df.start(df.collect(zmq_source(addr, "complex64", pattern="sub", pass_tags=pass_tags,
                                             samples=want, timeout=20), name="got"))
    proc = flowgraph("pub", addr, period, int(pass_tags), 200e3)
    try:
        report = running.wait()
    finally:
        stop(proc)
    chunks = report.results["got"]
    data = np.concatenate([c.data for c in chunks])
    assert len(data) == want
    reference = ramp(period)
    if pass_tags:
        start = chunks[0].index
        assert not any("overflow" in c.meta for c in chunks), "samples lost at 200 kS/s"
        for c in chunks:
            assert c.data.tobytes() == reference[np.arange(c.index, c.end_index) % period].tobytes()
        assert_tags(received_tags(chunks), expected_tags(start, start + want, period))
    else:
        start = int(data[0].real)  # the ramp says where it is
        assert data.tobytes() == reference[(start + np.arange(want)) % period].tobytes()
        assert received_tags(chunks) == []


@pytest.mark.parametrize(("pass_tags", "kind"), [(False, "tcp"), (True, "ipc")])
def test_zmq_sink_push_to_gnuradio_pull_source(gnuradio, tmp_path, pass_tags, kind):
    n = 12_345
    addr = address(kind, tmp_path)
    out = tmp_path / "gr.cf32"
    samples = ramp(n)
    cuts = [0, 1, 1000, 4096, 4097, 9000, n]
    chunks = []
    for a, b in itertools.pairwise(cuts):
        tags = [{"offset": o, "key": k, "value": v, "srcid": s}
                for o, (k, v, s) in zip(TAG_OFFSETS, TAG_VALUES, strict=True) if a <= o < b]
        chunks.append(df.Chunk(samples[a:b], 1e6, a, a / 1e6, {"tags": tags} if tags else {}))
    proc = flowgraph("pull", addr, n, out, int(pass_tags))
    try:
        report = df.run(zmq_sink(df.from_iterable(chunks), addr, pattern="push", pass_tags=pass_tags,
                                 name="tx"))
    finally:
        finish(proc)
    assert report.results["tx"] == {"sent_messages": len(chunks), "sent_samples": n,
                                    "dropped_messages": 0, "dropped_samples": 0, "unheard_messages": 0}
    assert out.read_bytes() == samples.tobytes()  # bit-exact
    if pass_tags:
        seen = json.loads((tmp_path / "gr.cf32.tags.json").read_text())
        want = [{"offset": o, "key": k, "value": pmt.dumps(v).hex(), "srcid": pmt.dumps(s).hex()}
                for o, (k, v, s) in zip(TAG_OFFSETS, TAG_VALUES, strict=True)]
        assert sorted(seen, key=lambda t: t["offset"]) == want


def test_zmq_sink_pub_to_gnuradio_sub_source(gnuradio, tmp_path):
    n = 50_000
    addr = f"ipc://{tmp_path / 'pub.ipc'}"
    out = tmp_path / "gr.cf32"
    samples = ramp(n)
    proc = flowgraph("sub", addr, n, out)
    try:
        # the sink waits for GNU Radio's subscription (slow joiner), then sends without waiting
        report = df.run(zmq_sink(df.from_iterable(np.array_split(samples, 25), rate=1e6), addr,
                                 pattern="pub", wait_for_subscriber=20, name="tx"))
    finally:
        finish(proc)
    assert report.results["tx"] == {"sent_messages": 25, "sent_samples": n, "dropped_messages": 0,
                                    "dropped_samples": 0, "unheard_messages": 0}
    assert out.read_bytes() == samples.tobytes()
