"""Two hosts on one machine: a network namespace joined by veth. The consumer reads an HTTP
stream across the link; the link is cut mid-stream and restored: zero loss.

Needs root and iproute2 (skipped with the reason otherwise).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import daqflow as df
from daqflow import net

HERE = Path(__file__).parent


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def two_hosts():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("two-host test needs root and iproute2 (ip netns, veth)")
    tag = os.getpid() % 10000
    ns, here, there = f"dfh2-{tag}", f"dfa{tag}", f"dfb{tag}"
    subnet = f"10.{200 + tag % 50}.{tag % 250}"
    try:
        _ip("netns", "add", ns)
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"cannot create a network namespace here: {exc}")
    try:
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", ns)
        _ip("addr", "add", f"{subnet}.1/24", "dev", here)
        _ip("link", "set", here, "up")
        _ip("netns", "exec", ns, "ip", "addr", "add", f"{subnet}.2/24", "dev", there)
        _ip("netns", "exec", ns, "ip", "link", "set", there, "up")
        _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield ns, here, f"{subnet}.1"
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@df.block
async def paced_ramp(n: int, size: int, period: float):
    """n chunks of int32 sample counts, one every ``period`` seconds."""
    for i in range(n):
        yield df.Chunk(np.arange(i * size, (i + 1) * size, dtype=np.int32), rate=1e4, index=i * size)
        await asyncio.sleep(period)


def test_consumer_on_another_host_resumes_after_the_link_is_cut(two_hosts, tmp_path):
    ns, link, address = two_hosts
    token = "t0k3n-for-the-test"
    n, size = 150, 1000
    urls = []
    sink = net.serve(paced_ramp(n, size, 0.02), host=address, port=0, name="ramp", token=token,
                     retention=n + 10, on_ready=urls.append, linger=5.0)
    with df.start(sink) as running:
        deadline = time.monotonic() + 10
        while not urls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert urls, "server did not start"
        out = tmp_path / "got.txt"
        reader = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(HERE / "_netns_reader.py"), urls[0], token,
             str(out)],
        )
        time.sleep(0.8)  # mid-stream
        _ip("link", "set", link, "down")
        time.sleep(1.5)  # the producer keeps going; the server retains what it makes
        _ip("link", "set", link, "up")
        assert reader.wait(timeout=60) == 0
        running.stop()
    lines = out.read_text().split("\n")
    assert lines[-2] == "end"
    rows = np.array([[int(v) for v in line.split()] for line in lines[:-2]])
    assert rows[:, 0].tolist() == list(range(1, n + 1))  # every packet, in order
    assert rows[:, 1].tolist() == [i * size for i in range(n)]  # every sample
    assert rows[:, 3].sum() == 0  # none missed
