"""poll (clock-driven), fd_source (pty, pipe) and serial_source (loop://, socket://)."""

import asyncio
import itertools
import os
import pickle
import random
import socket
import subprocess
import sys
import threading
import time
import tty

import pytest

import daqflow as df
from daqflow import hw

INTERVAL = 0.01  # s


def on_grid(reading, interval=INTERVAL):
    k = reading.time / interval
    return abs(k - round(k)) < 1e-9


def check_accounting(readings, interval=INTERVAL):
    """Every deadline from 0 to the last is either read or counted missed; times on the grid."""
    ks = [round(r.time / interval) for r in readings]
    assert ks[0] == 0 and readings[0].missed == 0
    assert all(b > a for a, b in itertools.pairwise(ks))
    for (a, b), r in zip(itertools.pairwise(ks), readings[1:], strict=True):
        assert r.missed == b - a - 1
    assert len(readings) + sum(r.missed for r in readings) == ks[-1] + 1
    assert all(on_grid(r, interval) for r in readings)
    assert all(0 <= r.late < interval for r in readings)


def test_reading_is_a_time_value_pair_with_missed_and_late():
    r = hw.Reading(0.5, 3.0, missed=2, late=0.001)
    t, v = r
    assert (t, v) == (0.5, 3.0) == r
    assert (r.time, r.value, r.missed, r.late) == (0.5, 3.0, 2, 0.001)
    copy = pickle.loads(pickle.dumps(r))
    assert (copy, copy.missed, copy.late) == (r, 2, 0.001)
    with pytest.raises(AttributeError):
        r.missed = 0
    assert "missed=2" in repr(r)


def test_poll_paces_readings_on_the_absolute_grid():
    counter = itertools.count()
    report = df.run(df.collect(hw.poll(lambda: next(counter), INTERVAL)), duration=0.5)
    readings = report.results["collect"]
    assert 25 <= len(readings) <= 52  # ~50 deadlines in 0.5 s, loose for a busy machine
    assert [r.value for r in readings] == list(range(len(readings)))  # one call per reading
    check_accounting(readings)
    assert report.blocks["poll"].realtime
    # no drift: the last deadline read is close to the time the source ran
    assert readings[-1].time <= report.duration + INTERVAL
    assert readings[-1].time >= 0.35


def test_a_slow_read_makes_missed_deadlines_counted_not_drift():
    calls = itertools.count()

    async def read():
        n = next(calls)
        if n % 5 == 4:
            await asyncio.sleep(2.5 * INTERVAL)  # overruns two deadlines: one skipped, one late
        return n

    t0 = time.monotonic()
    readings = df.run(df.collect(hw.poll(read, INTERVAL)), duration=0.6).results["collect"]
    elapsed = time.monotonic() - t0
    check_accounting(readings)
    slow = [r for r in readings if r.value % 5 == 4][:-1]  # the last may have been cut short
    after = {r.value + 1 for r in slow}
    assert slow and all(r.missed >= 1 for r in readings if r.value in after)
    assert sum(r.missed for r in readings) >= len(slow)
    # the grid kept its pace: deadlines advanced with the clock, they did not fall behind
    assert readings[-1].time >= 0.6 - 0.15
    assert readings[-1].time <= elapsed


def test_a_blocking_read_in_a_thread_and_a_plain_function():
    def read():
        time.sleep(0.001)  # a blocking driver call
        return threading.current_thread().name

    readings = df.run(df.collect(hw.poll(read, INTERVAL, threaded=True, name="sensor")),
                      duration=0.3).results["collect"]
    check_accounting(readings)
    assert len(readings) >= 10
    assert all(r.value.startswith("daqflow-sensor") for r in readings)


@df.block
async def slow_collect(x: df.Stream, delay: float):
    out = []
    async for item in x:
        out.append(item)
        await asyncio.sleep(delay)
    return out


def test_a_slow_consumer_loses_readings_but_not_the_clock():
    source = hw.poll(lambda: 1, 0.005)
    report = df.run(slow_collect(source, 0.05, buffer=1), duration=0.5)
    readings = report.results["slow_collect"]
    assert report.dropped_items > 0  # real-time: dropped at the full FIFO, counted
    assert sum(r.missed for r in readings) < 20  # but the read kept its deadlines
    assert all(on_grid(r, 0.005) for r in readings)


def test_a_failing_read_fails_the_source():
    def read():
        raise OSError("sensor unplugged")

    with pytest.raises(df.BlockError, match="sensor unplugged"):
        df.run(df.collect(hw.poll(read, INTERVAL)), duration=1)


@pytest.mark.parametrize(
    ("call", "error", "word"),
    [
        (lambda: hw.poll(lambda: 0, -0.1), ValueError, "interval"),
        (lambda: hw.poll(lambda: 0, 0), ValueError, "interval"),
        (lambda: hw.poll(lambda: 0, "1 ms"), TypeError, "interval"),
        (lambda: hw.poll(42, 0.1), TypeError, "read"),
        (lambda: hw.fd_source(0, read_size=0), ValueError, "read_size"),
        (lambda: hw.fd_source("stdin"), TypeError, "fd_or_file"),
        (lambda: hw.fd_source(10**6), ValueError, "fd_or_file"),
    ],
)
def test_bad_input_names_the_parameter(call, error, word):
    with pytest.raises(error, match=word):
        call()


def test_fd_source_refuses_regular_files(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"x")
    with path.open("rb") as f, pytest.raises(ValueError, match="file_source"):
        hw.fd_source(f)


# -- fd_source --------------------------------------------------------------------------------
def write_in_pieces(fd, data, seed, close=True):
    """Write ``data`` to ``fd`` from a thread in random-size pieces with small pauses."""
    rng = random.Random(seed)

    def run():
        i = 0
        while i < len(data):
            n = rng.randint(1, 3000)
            i += os.write(fd, data[i:i + n])
            if rng.random() < 0.1:
                time.sleep(0.001)
        if close:
            os.close(fd)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_fd_source_on_a_pty_gets_every_byte_in_order_and_ends_at_eof():
    main_fd, other_fd = os.openpty()
    tty.setraw(other_fd)  # no line discipline: bytes pass unchanged
    data = random.Random(1).randbytes(300_000)
    try:
        writer = write_in_pieces(other_fd, data, seed=2)  # closes its end when done
        report = df.run(df.collect(hw.fd_source(main_fd, read_size=4096)))
        writer.join()
        got = report.results["collect"]
        assert all(isinstance(b, bytes) and 0 < len(b) <= 4096 for b in got)
        assert b"".join(got) == data
        assert report.stopped_by == "end"  # ended by the pty hang-up, not by a timer
        assert os.get_blocking(main_fd)  # restored
    finally:
        os.close(main_fd)


def test_fd_source_on_a_pipe_file_object_ends_at_eof():
    r, w = os.pipe()
    data = random.Random(3).randbytes(200_000)
    with os.fdopen(r, "rb", buffering=0) as reader:
        writer = write_in_pieces(w, data, seed=4)
        got = df.run(df.collect(hw.fd_source(reader, read_size=1000))).results["collect"]
        writer.join()
    assert b"".join(got) == data
    assert max(len(b) for b in got) <= 1000


def test_fd_source_waits_for_data_without_spinning():
    r, w = os.pipe()
    try:
        async def main():
            loop = asyncio.get_running_loop()
            for i, delay in enumerate((0.05, 0.1, 0.15)):
                loop.call_later(delay, os.write, w, bytes([i]) * 3)
            loop.call_later(0.2, os.close, w)
            cpu0 = time.process_time()
            report = await df.arun(df.collect(hw.fd_source(r)))
            return report.results["collect"], time.process_time() - cpu0

        got, cpu = asyncio.run(asyncio.wait_for(main(), 10))
        assert got == [b"\x00" * 3, b"\x01" * 3, b"\x02" * 3]
        assert cpu < 0.1  # ~0.2 s of waiting costs almost no CPU: woken by readiness
    finally:
        os.close(r)


# -- serial_source ----------------------------------------------------------------------------
def test_serial_source_reads_back_what_is_written_on_loop():
    serial = pytest.importorskip("serial")
    port = serial.serial_for_url("loop://", timeout=1)
    data = random.Random(5).randbytes(20_000)

    def writer():
        for i in range(0, len(data), 500):  # loop:// holds 4096 bytes: write as it drains
            port.write(data[i:i + 500])
        while port.in_waiting:  # closing a port discards its input buffer: let it drain
            time.sleep(0.005)
        port.close()  # the stream ends

    thread = threading.Thread(target=writer)
    thread.start()
    report = df.run(df.collect(hw.serial_source(port)), duration=20)
    thread.join()
    assert b"".join(report.results["collect"]) == data
    assert report.stopped_by == "end"
    assert port.timeout == 1  # restored on a port we passed in


def test_serial_source_leaves_a_port_it_was_given_open():
    serial = pytest.importorskip("serial")
    port = serial.serial_for_url("loop://", timeout=None)
    port.write(b"hello")
    report = df.run(df.collect(hw.serial_source(port)), duration=0.2)
    assert report.results["collect"] == [b"hello"]
    assert port.is_open and port.timeout is None
    port.write(b"again")
    assert port.read(5) == b"again"
    port.close()


def test_serial_source_opens_and_closes_a_url():
    pytest.importorskip("serial")
    report = df.run(df.collect(hw.serial_source("loop://", 115200)), duration=0.2)
    assert report.results["collect"] == []
    assert report.stopped_by == "duration"


def test_serial_source_ends_when_its_port_is_closed():
    serial = pytest.importorskip("serial")
    port = serial.serial_for_url("loop://")

    async def main():
        asyncio.get_running_loop().call_later(0.1, port.write, b"abc")
        asyncio.get_running_loop().call_later(0.3, port.close)
        return await df.arun(df.collect(hw.serial_source(port)))

    report = asyncio.run(asyncio.wait_for(main(), 10))
    assert b"".join(report.results["collect"]) == b"abc"
    assert report.stopped_by == "end"


def test_serial_source_on_a_socket_url_is_woken_by_readiness():
    pytest.importorskip("serial")
    data = random.Random(6).randbytes(100_000)
    server = socket.create_server(("127.0.0.1", 0))
    host, port = server.getsockname()
    done = threading.Event()

    def serve():
        conn, _ = server.accept()
        with conn:
            time.sleep(0.3)  # pyserial's open() discards input that arrives while it connects
            for i in range(0, len(data), 7000):
                conn.sendall(data[i:i + 7000])
                time.sleep(0.001)
            done.wait(10)  # a peer hanging up is a port error: stay connected

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        report = df.run(df.collect(hw.serial_source(f"socket://{host}:{port}")), duration=1.5)
    finally:
        done.set()
        thread.join()
        server.close()
    assert b"".join(report.results["collect"]) == data


@pytest.mark.parametrize(
    ("kwargs", "error", "word"),
    [
        ({"url": ""}, ValueError, "url"),
        ({"url": 5}, TypeError, "url"),
        ({"url": "loop://", "baudrate": 0}, ValueError, "baudrate"),
        ({"url": "loop://", "read_size": 0}, ValueError, "read_size"),
        ({"url": "loop://", "timeout": 1}, ValueError, "timeout"),
    ],
)
def test_serial_source_bad_input(kwargs, error, word):
    pytest.importorskip("serial")
    with pytest.raises(error, match=word):
        hw.serial_source(**kwargs)


def test_serial_source_without_pyserial_names_the_extra():
    code = (
        "import sys; sys.modules['serial'] = None\n"
        "from daqflow import hw\n"
        "try:\n    hw.serial_source('loop://')\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "daqflow[instruments]" in out.stdout
