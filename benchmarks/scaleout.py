"""Scale-out: daqflow's links between processes against the raw libraries, and an FFT graph
split over 2 processes against 1.

1. Transport throughput (MB/s = 10**6 bytes/s) of 64 KiB (float32) and 1 MiB (complex64)
   packets, each daqflow figure against its raw reference, alternated in the same run:

   - ``shm_graph``: the same graph with ``transport="shm"`` (bodies through a shared ring);
   - ``zmq_ipc_graph``: a graph ``timed_chunks -> meter`` with the sink in
     ``proc=df.Process("b")`` (what users get: ZeroMQ over ipc, credit flow control);
     ``zmq_ipc_link``: daqflow's ZmqSendEnd/ZmqRecvEnd alone (no graph), over ipc;
     ``raw_zmq_ipc``: pyzmq PUSH/PULL over ipc (HWM 8 each side, ``copy=False``);
   - ``zmq_tcp_link`` vs ``raw_zmq_tcp``: the same over tcp on loopback;
   - ``http_graph`` (``df.Process("b", transport="http")``) and ``http_link`` (HttpSendEnd /
     HttpRecvEnd: PacketServer + http_packets) vs ``raw_aiohttp`` (a server answering the
     same bytes per GET, a client GETting in a loop);
   - ``shm_ring``: a raw single-producer/single-consumer ring in
     ``multiprocessing.shared_memory`` (8 slots, two POSIX semaphores), the consumer copying
     each packet out (an owned array, as a transport must hand downstream); and
     ``shm_ring_inplace``, the consumer only looking at the slot (the upper bound).

   Each run sends for ``--seconds``; the receiver measures from its first packet to its last
   (process start-up is not counted). Figures are medians over ``--rounds`` rounds (the
   order reversed every other round); ratios are medians of the per-round ratios.

2. FFT-bound graph: ``noise_chunks`` (65536 complex64 samples) -> ``stage1`` -> ``stage2``
   -> ``checksum``, each stage ``--ffts`` numpy FFTs per chunk (pocketfft, one thread), in
   one process, and with ``stage2`` and the sink in ``proc=df.Process("b")``. Wall times
   (including the child's start-up), speed-up, and the sha256 of the outputs of both.

    python benchmarks/scaleout.py [--quick] [--seconds 1.5] [--rounds 3] [--fft-seconds 10]
"""

from __future__ import annotations

import os

# numpy's FFT is single-threaded; keep BLAS/OpenMP pools from competing for the 2 cores (set
# before numpy is imported; spawned children inherit the environment)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from multiprocessing import shared_memory  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import zmq  # noqa: E402

import _scaleout_blocks as blocks  # noqa: E402
import daqflow as df  # noqa: E402
from _common import emit  # noqa: E402
from daqflow.net.links import make_ends  # noqa: E402
from daqflow.net.plan import Link  # noqa: E402

SPAWN = multiprocessing.get_context("spawn")
CAPACITY = 8  # daqflow's default FIFO length = link credit; raw ZeroMQ HWM and ring slots
SIZES = {"64KiB": (64 * 1024, "float32"), "1MiB": (1024 * 1024, "complex64")}
PAIRS = (  # (daqflow figure, its reference)
    ("shm_graph", "raw_zmq_ipc"),
    ("shm_graph", "zmq_ipc_graph"),
    ("zmq_ipc_graph", "raw_zmq_ipc"),
    ("zmq_ipc_link", "raw_zmq_ipc"),
    ("zmq_tcp_link", "raw_zmq_tcp"),
    ("http_graph", "raw_aiohttp"),
    ("http_link", "raw_aiohttp"),
    ("shm_ring", "raw_zmq_ipc"),
    ("shm_ring_inplace", "raw_zmq_ipc"),
    ("raw_zmq_tcp", "raw_zmq_ipc"),
)
ORDER = ("raw_zmq_ipc", "zmq_ipc_graph", "shm_graph", "zmq_ipc_link", "shm_ring", "shm_ring_inplace",
         "raw_zmq_tcp", "zmq_tcp_link", "raw_aiohttp", "http_graph", "http_link")


def _result(measured: list) -> dict[str, Any]:
    items, size, t_first, t_last = measured
    return {"items": items, "mbs": blocks.rate_mbs(items, size, t_first, t_last)}


def _join(proc: Any) -> None:
    proc.join(10)
    if proc.exitcode is None:
        proc.kill()
        proc.join(2)


# -- daqflow ------------------------------------------------------------------------------------

def daqflow_graph(size: int, dtype: str, seconds: float, transport: str) -> dict[str, Any]:
    """source (here) -> meter (in process "b"): what ``proc=`` gives a user."""
    sink = blocks.meter(blocks.timed_chunks(size, dtype, seconds),
                        proc=df.Process("b", transport=transport))
    return _result(df.run(sink).results["meter"])


def daqflow_link(size: int, dtype: str, seconds: float, transport: str, where: str) -> dict[str, Any]:
    """daqflow's SendEnd here, its RecvEnd in a spawned process, no graph around them."""
    link = Link(id="bench", producer="src", consumer="meter", port="x", producer_part="main",
                consumer_part="b", capacity=CAPACITY, policy="block", transport=transport)
    data = blocks.payload(size, dtype)

    async def main() -> list:
        import zmq.asyncio

        ctx = zmq.asyncio.Context()
        end = make_ends(link, "send", ctx)
        address = await end.bind(where)
        ready, results = SPAWN.Queue(), SPAWN.Queue()
        proc = SPAWN.Process(target=blocks.link_receiver, args=(link, address, ready, results))
        proc.start()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, ready.get, True, 60)
            i, n = 0, data.size
            t_end = time.perf_counter() + seconds
            while time.perf_counter() < t_end:
                await end.send(df.Chunk(data, rate=blocks.RATE, index=i * n))
                i += 1
            await end.finish()
            measured = await loop.run_in_executor(None, results.get, True, 60)
        finally:
            await end.close()
            await loop.run_in_executor(None, _join, proc)
            ctx.term()
        return measured

    return _result(asyncio.run(main()))


# -- raw references -------------------------------------------------------------------------------

def raw_zmq(size: int, dtype: str, seconds: float, where: str) -> dict[str, Any]:
    """pyzmq PUSH here (bound), PULL in a spawned process; HWM = CAPACITY on both sides."""
    data = blocks.payload(size, dtype)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, CAPACITY)
    sock.setsockopt(zmq.LINGER, 5000)
    if where.startswith("ipc://"):
        address = f"{where}/raw.sock"
        sock.bind(address)
    else:
        address = f"{where}:{sock.bind_to_random_port(where)}"
    ready, results = SPAWN.Queue(), SPAWN.Queue()
    proc = SPAWN.Process(target=blocks.raw_zmq_pull, args=(address, CAPACITY, ready, results))
    proc.start()
    try:
        ready.get(True, 60)
        copy = size < 65536
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            sock.send(data, copy=copy)
        sock.send(blocks.END)
        measured = results.get(True, 60)
    finally:
        sock.close()
        _join(proc)
        ctx.term()
    return _result(measured)


def raw_aiohttp(size: int, dtype: str, seconds: float) -> dict[str, Any]:
    """A minimal aiohttp server (spawned) answering the same bytes per GET; a client here."""
    import aiohttp

    ready, stop = SPAWN.Queue(), SPAWN.Event()
    proc = SPAWN.Process(target=blocks.raw_http_server, args=(size, dtype, ready, stop))
    proc.start()

    async def client(url: str) -> list:
        items = got = 0
        t_first = t_last = 0.0
        async with aiohttp.ClientSession() as session:
            t_end = time.perf_counter() + seconds
            while time.perf_counter() < t_end:
                async with session.get(url) as resp:
                    body = await resp.read()
                t_last = time.perf_counter()
                if items == 0:
                    t_first, got = t_last, len(body)
                items += 1
        return [items, got, t_first, t_last]

    try:
        port = ready.get(True, 60)
        measured = asyncio.run(client(f"http://127.0.0.1:{port}/data"))
    finally:
        stop.set()
        _join(proc)
    assert measured[1] == size, measured
    return _result(measured)


def shm_ring(size: int, dtype: str, seconds: float, copy_out: bool) -> dict[str, Any]:
    """Single-producer/single-consumer ring of CAPACITY slots in shared memory: the producer
    (here) waits on ``free``, copies the packet into the next slot, posts ``filled``; the
    consumer (spawned) mirrors it. A slot length of 0 is the end."""
    data = blocks.payload(size, dtype)
    src = data.view(np.uint8)
    slots = CAPACITY
    shm = shared_memory.SharedMemory(create=True, size=8 * slots + slots * size)
    lengths = np.ndarray((slots,), dtype=np.int64, buffer=shm.buf)
    ring = np.ndarray((slots, size), dtype=np.uint8, buffer=shm.buf, offset=8 * slots)
    filled, free = SPAWN.Semaphore(0), SPAWN.Semaphore(slots)
    results = SPAWN.Queue()
    proc = SPAWN.Process(target=blocks.shm_consumer,
                         args=(shm.name, slots, size, filled, free, copy_out, results))
    proc.start()
    try:
        k = 0
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            free.acquire()
            ring[k] = src
            lengths[k] = size
            filled.release()
            k = (k + 1) % slots
        free.acquire()
        lengths[k] = 0
        filled.release()
        measured = results.get(True, 60)
    finally:
        _join(proc)
        del lengths, ring
        shm.close()
        shm.unlink()
    crc = measured.pop()
    assert crc == zlib.crc32(src), "the ring delivered other bytes"
    return _result(measured)


def run_variant(name: str, size: int, dtype: str, seconds: float, ipc_dir: str) -> dict[str, Any]:
    ipc, tcp = f"ipc://{ipc_dir}", "tcp://127.0.0.1"
    if name == "zmq_ipc_graph":
        return daqflow_graph(size, dtype, seconds, "zmq")
    if name == "shm_graph":
        return daqflow_graph(size, dtype, seconds, "shm")
    if name == "http_graph":
        return daqflow_graph(size, dtype, seconds, "http")
    if name == "zmq_ipc_link":
        return daqflow_link(size, dtype, seconds, "zmq", ipc)
    if name == "zmq_tcp_link":
        return daqflow_link(size, dtype, seconds, "zmq", tcp)
    if name == "http_link":
        return daqflow_link(size, dtype, seconds, "http", tcp)
    if name == "raw_zmq_ipc":
        return raw_zmq(size, dtype, seconds, ipc)
    if name == "raw_zmq_tcp":
        return raw_zmq(size, dtype, seconds, tcp)
    if name == "raw_aiohttp":
        return raw_aiohttp(size, dtype, seconds)
    if name == "shm_ring":
        return shm_ring(size, dtype, seconds, copy_out=True)
    if name == "shm_ring_inplace":
        return shm_ring(size, dtype, seconds, copy_out=False)
    raise ValueError(name)


def transports(seconds: float, rounds: int, variants: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, (size, dtype) in SIZES.items():
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        errors: dict[str, str] = {}
        for r in range(rounds):
            order = variants if r % 2 == 0 else tuple(reversed(variants))
            for name in order:
                if name in errors:
                    continue
                ipc_dir = tempfile.mkdtemp(prefix="daqflow-bench-")
                try:
                    runs[name].append(run_variant(name, size, dtype, seconds, ipc_dir))
                except Exception as exc:  # reported, the others go on
                    errors[name] = f"{type(exc).__name__}: {exc}"
                finally:
                    shutil.rmtree(ipc_dir, ignore_errors=True)
        figures: dict[str, Any] = {}
        for name, got in runs.items():
            if got:
                mbs = [g["mbs"] for g in got]
                figures[name] = {"mbs": round(statistics.median(mbs), 1),
                                 "rounds_mbs": [round(x, 1) for x in mbs],
                                 "packets_per_s": round(statistics.median(mbs) * 1e6 / size, 1)}
        ratios = {}
        for name, ref in PAIRS:
            if runs.get(name) and runs.get(ref) and len(runs[name]) == len(runs[ref]):
                per_round = [a["mbs"] / b["mbs"] for a, b in zip(runs[name], runs[ref], strict=True)]
                ratios[f"{name}/{ref}"] = round(statistics.median(per_round), 3)
        out[label] = {"bytes": size, "dtype": dtype, "mbs": figures, "ratios": ratios}
        if errors:
            out[label]["errors"] = errors
    return out


# -- FFT split ------------------------------------------------------------------------------------

def fft_graph(n_chunks: int, samples: int, ffts: int, split: bool) -> Any:
    b = df.Process("b") if split else None
    src = blocks.noise_chunks(n_chunks, samples)
    s1 = blocks.fft_stage(src, ffts, name="stage1")
    s2 = blocks.fft_stage(s1, ffts, name="stage2", proc=b)
    return blocks.checksum(s2, proc=b)


def time_fft(n_chunks: int, samples: int, ffts: int, split: bool) -> dict[str, Any]:
    faults = blocks.minor_faults()
    t0 = time.perf_counter()
    report = df.run(fft_graph(n_chunks, samples, ffts, split))
    wall = time.perf_counter() - t0
    faults = blocks.minor_faults() - faults
    items, digest, sink_faults = report.results["checksum"]
    assert items == n_chunks, (items, n_chunks)
    return {
        "wall_s": wall,
        "sha256": digest,
        "busy_fraction": {s: round(report.blocks[s].busy_fraction, 3) for s in ("stage1", "stage2")},
        "busy_ms_per_chunk": {s: round(report.blocks[s].busy / n_chunks * 1e3, 3)
                              for s in ("stage1", "stage2")},
        # minor page faults per chunk: of this process (source, stage1, and stage2 unless
        # split) and of the sink's process (this one unless split)
        "faults_per_chunk": {"main": round(faults / n_chunks, 1),
                             "sink_process": round(sink_faults / n_chunks, 1)},
    }


def startup_cost() -> float:
    """Wall seconds of a split graph moving one small chunk: spawn, imports, set-up, stop."""
    t0 = time.perf_counter()
    df.run(blocks.checksum(blocks.noise_chunks(1, 16), proc=df.Process("b")))
    return time.perf_counter() - t0


def fft_split(samples: int, ffts: int, target_s: float, rounds: int) -> dict[str, Any]:
    data = np.random.default_rng(0).standard_normal(2 * samples).astype(np.float32).view(np.complex64)
    blocks.fft_work(data, ffts)  # warm-up
    per_stage = statistics.median(
        _timed(lambda: blocks.fft_work(data, ffts)) for _ in range(7)
    )
    n_chunks = max(8, round(target_s / (2 * per_stage)))
    startup = [startup_cost() for _ in range(2)]
    one, two = [], []
    for r in range(rounds):
        for split in ((False, True) if r % 2 == 0 else (True, False)):
            (two if split else one).append(time_fft(n_chunks, samples, ffts, split))
    digests = {run["sha256"] for run in one + two}
    wall_one = statistics.median(run["wall_s"] for run in one)
    wall_two = statistics.median(run["wall_s"] for run in two)
    start = statistics.median(startup)
    speedups = [a["wall_s"] / b["wall_s"] for a, b in zip(one, two, strict=True)]
    return {
        "samples": samples,
        "ffts_per_stage": ffts,
        "chunks": n_chunks,
        "stage_ms_per_chunk_calibrated": round(per_stage * 1e3, 3),
        "one_process_wall_s": round(wall_one, 3),
        "two_process_wall_s": round(wall_two, 3),
        "rounds_one_s": [round(run["wall_s"], 3) for run in one],
        "rounds_two_s": [round(run["wall_s"], 3) for run in two],
        "speedup": round(statistics.median(speedups), 3),
        "rounds_speedup": [round(s, 3) for s in speedups],
        "startup_s": round(start, 3),
        "speedup_without_startup": round(wall_one / max(1e-9, wall_two - start), 3),
        "ideal_speedup_with_startup": round(wall_one / (wall_one / 2 + start), 3),
        "busy_fraction_one": one[len(one) // 2]["busy_fraction"],
        "busy_fraction_two": two[len(two) // 2]["busy_fraction"],
        "busy_ms_per_chunk_one": one[len(one) // 2]["busy_ms_per_chunk"],
        "busy_ms_per_chunk_two": two[len(two) // 2]["busy_ms_per_chunk"],
        "faults_per_chunk_one": one[len(one) // 2]["faults_per_chunk"],
        "faults_per_chunk_two": two[len(two) // 2]["faults_per_chunk"],
        "outputs_equal": len(digests) == 1,
        "sha256": sorted(digests),
    }


MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def fft_split_tuned(args: argparse.Namespace, fft_seconds: float, rounds: int) -> dict[str, Any]:
    """The FFT split again in a fresh interpreter (and its children) with glibc's mmap/trim
    thresholds fixed by environment (freed 512 KiB buffers stay in the heap)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--no-transports", "--no-tuned-fft",
           "--fft-seconds", str(fft_seconds), "--rounds", str(rounds), "--ffts", str(args.ffts),
           "--samples", str(args.samples)]
    done = subprocess.run(cmd, env={**os.environ, **MALLOC_ENV}, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]}
    return {"malloc_env": MALLOC_ENV, **json.loads(done.stdout)["results"]["fft_split"]}


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run (~1 min)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds each transport run sends (default 1.5; 0.3 with --quick)")
    parser.add_argument("--rounds", type=int, default=None, help="alternated rounds (default 3; 1 quick)")
    parser.add_argument("--fft-seconds", type=float, default=None,
                        help="target wall time of the one-process FFT run (default 10; 1.5 quick)")
    parser.add_argument("--ffts", type=int, default=8, help="FFTs per stage and chunk (default 8)")
    parser.add_argument("--samples", type=int, default=65536, help="complex64 samples per FFT chunk")
    parser.add_argument("--only", default="", help="comma-separated transport variants (default all)")
    parser.add_argument("--no-fft", action="store_true", help="skip the FFT split")
    parser.add_argument("--no-transports", action="store_true", help="skip the transport figures")
    parser.add_argument("--no-tuned-fft", action="store_true",
                        help="skip the FFT split's second run with glibc malloc thresholds fixed")
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else (0.3 if args.quick else 1.5)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    fft_seconds = args.fft_seconds if args.fft_seconds is not None else (1.5 if args.quick else 10.0)
    variants = tuple(v for v in args.only.split(",") if v) or ORDER
    unknown = set(variants) - set(ORDER)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {', '.join(ORDER)}")

    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    if not args.no_transports:
        results["transport"] = transports(seconds, rounds, variants)
    if not args.no_fft:
        results["fft_split"] = fft_split(args.samples, args.ffts, fft_seconds, rounds)
        if not args.no_tuned_fft:
            results["fft_split_tuned_malloc"] = fft_split_tuned(args, fft_seconds, rounds)
    malloc = {k: os.environ[k] for k in MALLOC_ENV if k in os.environ}
    emit("scaleout", results, quick=args.quick, malloc_env=malloc or None, seconds=seconds,
         rounds=rounds, capacity=CAPACITY,
         elapsed_s=round(time.perf_counter() - t0, 1),
         targets={"fft_split.speedup": ">= 1.7 on 2 cores"})


if __name__ == "__main__":
    main()
