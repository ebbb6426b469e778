"""cluster=: each Process on a worker of a real Dask LocalCluster (worker processes)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _partition_blocks import pid_of, ramp, scale

import daqflow as df

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


def _worker_pids(client):
    return client.run(os.getpid)  # address -> pid


def test_two_partition_graph_runs_on_dask_workers_and_reports(client):
    a, b = df.Process("a"), df.Process("b")
    src = ramp(40, 1024, proc=a)
    scaled = scale(src, 3.0, proc=b)
    report = df.run(df.collect(scaled), pid_of(src, name="where_a", proc=a),
                    pid_of(scaled, name="where_b", proc=b), cluster=client)
    data = np.concatenate([c.data for c in report.results["collect"]])
    assert np.array_equal(data, (np.arange(40 * 1024) % 65521) * 3.0)
    pids = set(_worker_pids(client).values())
    assert report.results["where_a"] in pids and report.results["where_b"] in pids
    assert report.results["where_a"] != report.results["where_b"]  # one worker each (1 thread)
    assert report.blocks["ramp"].process == "a" and report.blocks["scale"].process == "b"
    links = [e for e in report.edges if e.transport]
    assert links and all(e.items == 40 and e.dropped_items == 0 for e in links)


def test_a_process_asking_for_a_worker_runs_there(client):
    target = sorted(_worker_pids(client))[1]
    report = df.run(pid_of(ramp(3, 8), proc=df.Process("pinned", worker=target)), cluster=client)
    assert report.results["pid_of"] == _worker_pids(client)[target]


def test_blocks_from_main_cannot_go_to_workers(client, monkeypatch, tmp_path):
    import sys

    @df.block
    def shout(chunk):
        return chunk

    monkeypatch.setattr(shout.spec.fn, "__module__", "__main__")
    monkeypatch.setattr(shout.spec.fn, "__qualname__", "shout")
    monkeypatch.setattr(sys.modules["__main__"], "shout", shout, raising=False)
    script = tmp_path / "script.py"
    script.write_text("# the script that defined shout\n")
    monkeypatch.setattr(sys.modules["__main__"], "__file__", str(script), raising=False)
    with pytest.raises(df.GraphError, match="Dask worker, which cannot import the __main__"):
        df.run(df.collect(shout(ramp(1, 1), proc=df.Process("b"))), cluster=client)


def test_tcp_links_admit_only_peers_holding_the_runs_keys():
    """With cluster= links bind tcp on the workers' hosts: a stranger that connects can
    neither take items nor grant credit; the run's own consumer can."""
    import asyncio

    import zmq
    import zmq.asyncio

    from daqflow.net.links import make_ends, new_keys
    from daqflow.net.plan import Link

    link = Link(id="L0", producer="src", consumer="dst", port="x", producer_part="a",
                consumer_part="b", capacity=4, policy="block", transport="zmq")
    keys = new_keys()

    async def main():
        ctx = zmq.asyncio.Context()
        sender = make_ends(link, "send", ctx, keys=keys)
        address = await sender.bind("tcp://127.0.0.1")
        stranger = ctx.socket(zmq.DEALER)
        stranger.setsockopt(zmq.LINGER, 0)
        stranger.connect(address)
        await stranger.send(b"C1000")  # would open the window, and take items round-robin
        await asyncio.sleep(0.5)
        sender._take_queued()
        assert sender.credit == 0  # the handshake failed: nothing it sent arrived
        receiver = make_ends(link, "recv", ctx, keys=keys)
        await receiver.connect(address)

        async def produce():
            for k in range(10):
                await sender.send(k)
            await sender.finish()

        async def consume():
            return [item async for item in receiver.items()]

        got = (await asyncio.gather(produce(), consume()))[1]
        assert not await stranger.poll(200)  # the stranger got none of them
        for sock in (stranger,):
            sock.close(0)
        await sender.close()
        await receiver.close()
        ctx.term()
        return got

    assert asyncio.run(main()) == list(range(10))


def test_a_partition_whose_worker_dies_stops_the_run_with_an_error(client):
    """(Last in this module: the nanny brings the killed worker back, under a new address.)"""
    import signal
    import threading
    import time

    from _partition_blocks import counter

    victim = sorted(_worker_pids(client))[0]
    pid = _worker_pids(client)[victim]
    sink = df.collect(scale(counter(), 1.0, proc=df.Process("b", worker=victim)))

    def kill_soon():
        time.sleep(1.0)
        os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_soon)
    killer.start()
    t0 = time.monotonic()
    with pytest.raises(df.BlockError) as info:
        df.run(sink, cluster=client)
    killer.join()
    assert "lost its Dask worker" in str(info.value) or "failed on its Dask worker" in str(info.value)
    assert time.monotonic() - t0 < 30
    data = np.concatenate([c.data for c in info.value.report.results["collect"]])
    assert np.array_equal(data, np.arange(data.size))  # what arrived is whole and in order
    client.wait_for_workers(2, timeout=60)
