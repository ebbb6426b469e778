"""MS/s of daqflow graphs against the same GNU Radio 3.10 flowgraphs, run alternately.

Cases (complex64 input at a nominal 1 MHz, figures in MS/s at the input rate):

- ``copy10``: 10 copying stages. GNU Radio: 10 ``blocks.copy``; daqflow: 10 async-generator
  blocks yielding ``Chunk(np.copy(c.data), ...)``;
- ``pycopy10``: blocks written in Python on both sides: 10 GNU Radio ``gr.sync_block``s
  copying with numpy (``out[:] = in``; default buffers, its fastest here) against daqflow's
  ``copy10`` (target: >= 30x);
- ``fir64``: 64-tap low-pass. ``filter.fir_filter_ccf(1, taps)`` vs ``dsp.fir``;
- ``fir256``: 256 taps. ``filter.fft_filter_ccf(1, taps)`` vs ``dsp.fir`` (overlap-save);
- ``fir64_decim8``: 64 taps, keep 1 in 8. ``fir_filter_ccf(8, taps)`` vs ``dsp.fir_decimate``;
- ``fft1024``: ``stream_to_vector`` -> ``fft.fft_vcc(1024, True, [], False, 1)`` vs
  ``dsp.fft(s, 1024)`` (both rectangular, unshifted, one thread);
- ``receiver``: mix -> FIR 64 taps decimating by 8 -> FFT 1024 -> |x|^2 -> average of 16
  frames. GNU Radio: ``rotator_cc``, ``fir_filter_ccf(8)``, ``fft_vcc``,
  ``complex_to_mag_squared(1024)``, ``integrate_ff(16, 1024)``; daqflow: ``dsp.mix``,
  ``dsp.fir_decimate``, ``dsp.fft``, ``dsp.magnitude2``, ``dsp.average(..., 16)``.

daqflow reads a noise vector of ``--chunk`` (8192) samples over and over, through
``df.from_iterable`` over preallocated Chunks that share that vector, with increasing
``index``; every daqflow block keeps its defaults (FIFOs of 8 items). GNU Radio is timed at
its fastest: ``null_source`` + ``head(N)``, which fills as many items per call as the
scheduler asks for. The same flowgraphs fed by ``vector_source_c(data, repeat=True)`` +
``head(N)`` are timed too, as a reference column (``gnuradio_vector_*``): that source hands
the scheduler at most one vector per call, which costs GNU Radio 6-16% of its speed on one
2-core host and a third (10 copies) on another, so comparing against it alone would handicap
the peer. Only the run is timed: ``tb.run()``
inside the GNU Radio process (``_gnuradio_flowgraphs.py``, run by GNU Radio's own Python,
kept alive between runs) and ``df.run(...)`` here.

Each case is calibrated per configuration so one run lasts about ``--seconds``; then
``--rounds`` rounds each run daqflow and GNU Radio with each source, pinned to one CPU
(``taskset -c 0``) and unpinned, in alternating order. ``ratio`` is the median over rounds
of daqflow MS/s / the faster of GNU Radio ``null_source`` pinned and unpinned in the same
round (pinned only with ``--no-unpinned``); ``ratio_vs_<configuration>`` gives each one
alone. ``cpu_per_wall`` (CPU seconds / wall seconds of the run) shows how many cores a side
kept busy.

A null source's zeros check nothing, so the outputs are checked on the vector source: before
timing, each case runs once on both sides on the same noise (GNU Radio's
``vector_source_c`` into vector sinks, daqflow into ``collect``), and ``check`` compares the
outputs (daqflow's average divides by 16, ``integrate_ff`` sums). The flowgraphs timed on
the null source are the same ones, with only the source swapped. Without GNU Radio
(``import gnuradio`` fails) only daqflow's figures are given.

    python benchmarks/vs_gnuradio.py [--rounds 5] [--seconds 0.5] [--cases copy10,fir64,...]
                                     [--chunk 8192] [--no-unpinned] [--profile]
                                     [--gnuradio-python /usr/bin/python3]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import ctypes
import dataclasses
import io
import json
import math
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy

import daqflow as df
from _common import emit
from daqflow import dsp
from daqflow.dsp.kernels import compiled, transforms

RATE = 1e6
CHUNK = 8192  # default samples per daqflow chunk = length of the repeated noise vector
RECEIVER_GROUP = 8 * 1024 * 16  # input samples per receiver output (decimation * nfft * average)
PILOT_SECONDS = 0.05  # calibration runs at least this long
FLOWGRAPHS = Path(__file__).with_name("_gnuradio_flowgraphs.py")
TAPS64 = dsp.lowpass(64, RATE / 20, RATE)
TAPS256 = dsp.lowpass(256, RATE / 20, RATE)


@df.block
async def copying(x: df.Stream):
    async for c in x:
        yield df.Chunk(np.copy(c.data), c.rate, c.index, c.time, c.meta)


def copy10(s: df.Stream) -> df.Stream:
    for _ in range(10):
        s = copying(s)
    return s


def receiver(s: df.Stream) -> df.Stream:
    s = dsp.mix(s, -0.1 * RATE)
    s = dsp.fir_decimate(s, TAPS64, 8)
    s = dsp.fft(s, 1024)
    s = dsp.magnitude2(s)
    return dsp.average(s, 16)


@dataclasses.dataclass(frozen=True)
class Case:
    kind: str  # flowgraph builder in _gnuradio_flowgraphs.py
    params: dict[str, Any]  # its parameters (JSON)
    build: Callable[[df.Stream], df.Stream]  # the daqflow graph after the source
    target: float  # daqflow / the faster GNU Radio (null source) must be at least this
    scale: float = 1.0  # GNU Radio's output / daqflow's (integrate_ff sums, average divides)
    large_target: float | None = None  # the target at LARGE chunks and above (None: target)

    def target_at(self, chunk: int) -> float:
        """The target ratio at ``chunk`` samples per chunk (issue 14's targets)."""
        if chunk >= LARGE and self.large_target is not None:
            return self.large_target
        return self.target


def _taps(taps: np.ndarray) -> list[float]:
    return np.asarray(taps, dtype=np.float64).tolist()


LARGE = 65536  # issue 14: at 65536-sample chunks, >= 3x on each of its five flowgraphs
CASES: dict[str, Case] = {
    "copy10": Case("copy", {"stages": 10}, copy10, 2.0, large_target=3.0),
    "fir64": Case("fir", {"taps": _taps(TAPS64), "decim": 1}, lambda s: dsp.fir(s, TAPS64), 2.5,
                  large_target=3.0),
    # blocks written in Python on both sides: daqflow's copy10 against 10 GNU Radio sync_blocks
    "pycopy10": Case("pycopy", {"stages": 10}, copy10, 30.0),
    # (not one of the five: GNU Radio's FFT filter, kept as a reference, to stay ahead)
    "fir256": Case("fft_filter", {"taps": _taps(TAPS256)}, lambda s: dsp.fir(s, TAPS256), 1.0),
    "fir64_decim8": Case("fir", {"taps": _taps(TAPS64), "decim": 8},
                         lambda s: dsp.fir_decimate(s, TAPS64, 8), 2.0, large_target=3.0),
    "fft1024": Case("fft", {"nfft": 1024}, lambda s: dsp.fft(s, 1024), 2.0, large_target=3.0),
    "receiver": Case("receiver", {"freq": -0.1 * RATE, "rate": RATE, "taps": _taps(TAPS64),
                                  "decim": 8, "nfft": 1024, "average": 16}, receiver, 2.0, 16.0,
                     large_target=3.0),
}


# -- daqflow side ----------------------------------------------------------------------------
class Source:
    """Preallocated Chunks over one read-only noise vector, with increasing index and time."""

    def __init__(self, data: np.ndarray):
        self.data = data
        self.size = len(data)
        self.group = math.lcm(RECEIVER_GROUP, self.size)  # run lengths are multiples of this
        self.chunks: list[df.Chunk] = []

    def take(self, samples: int) -> list[df.Chunk]:
        size, count = self.size, samples // self.size
        for i in range(len(self.chunks), count):
            self.chunks.append(df.Chunk(self.data, RATE, i * size, i * size / RATE))
        return self.chunks[:count]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_daqflow(case: Case, source: Source, samples: int, limit: float | None = None
                ) -> dict[str, float]:
    """One timed ``df.run``; after ``limit`` seconds the graph is stopped (sources stop,
    FIFOs drain) and the figure counts the chunks the source had handed out."""
    chunks = source.take(samples)
    taken = 0

    def feed():
        nonlocal taken
        for chunk in chunks:
            taken += 1
            yield chunk

    sink = df.null_sink(case.build(df.from_iterable(feed())))
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    report = df.run(sink, duration=limit)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    if report.results["null_sink"] < 1:
        raise RuntimeError(f"daqflow {case.kind}: no output")
    n = taken * source.size
    return {"samples": n, "seconds": seconds, "msps": n / seconds / 1e6, "cpu_per_wall": cpu / seconds,
            "cut_short": taken < len(chunks), "us_per_chunk": us_per_chunk(report)}


def us_per_chunk(report: df.Report) -> dict[str, float]:
    """Microseconds of each block's own code per item it took in (a source: per item out),
    from the run's report (busy time, measured by the runtime)."""
    figures = {}
    for block in report.blocks.values():
        items = block.items_out if block.kind == "source" else block.items_in
        figures[block.name] = round(1e6 * block.busy / items, 2) if items else 0.0
    return figures


# -- GNU Radio side --------------------------------------------------------------------------
class GnuRadio:
    """A ``_gnuradio_flowgraphs.py --serve`` process (optionally under ``taskset -c 0``)."""

    def __init__(self, python: str, data: np.ndarray, pinned: bool):
        command = [python, str(FLOWGRAPHS), "--serve"]
        if pinned:
            command = ["taskset", "-c", "0", *command]
        self.command = command
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, bufsize=1)
        self.info = self._read()
        self._request({"op": "data", "data": base64.b64encode(data.tobytes()).decode("ascii")})

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{' '.join(self.command)} exited (code {self.process.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"GNU Radio: {reply['error']}")
        return reply

    def _request(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read()

    def run(self, case: Case, samples: int, source: str = "null", keep: bool = False
            ) -> dict[str, Any]:
        """One timed ``tb.run()`` of ``samples`` from ``source`` (``null`` or ``vector``)."""
        reply = self._request({"op": "run", "kind": case.kind, "samples": samples,
                               "source": source, "params": case.params, "keep": keep})
        if reply["samples"] != samples:
            raise RuntimeError(f"GNU Radio {case.kind}: read {reply['samples']} of {samples} samples")
        return reply

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def gnuradio_missing(python: str) -> str | None:
    """Why GNU Radio cannot be used (None if it can)."""
    if shutil.which(python) is None and not Path(python).exists():
        return f"{python} not found"
    probe = subprocess.run([python, "-c", "import gnuradio"], capture_output=True, text=True)
    if probe.returncode:
        last = probe.stderr.strip().splitlines()[-1:] or [f"exit code {probe.returncode}"]
        return f"{python} -c 'import gnuradio' failed: {last[0]}"
    return None


def check_outputs(case: Case, source: Source, server: GnuRadio) -> dict[str, Any]:
    """Both sides on the same noise (4 receiver outputs' worth; GNU Radio through its vector
    source, the only one with data to check): do they compute the same?"""
    samples = 4 * source.group
    items = df.run(df.collect(case.build(df.from_iterable(source.take(samples))))).results["collect"]
    ours = np.concatenate([c.data.reshape(-1) for c in items]) * case.scale
    reply = server.run(case, samples, "vector", keep=True)
    theirs = np.frombuffer(base64.b64decode(reply["output"]), reply["dtype"])
    n = min(len(ours), len(theirs))  # fft_filter_ccf leaves its last partial block unread
    error = float(np.max(np.abs(ours[:n] - theirs[:n])) / np.max(np.abs(theirs[:n]))) if n else math.inf
    return {"outputs": {"daqflow": len(ours), "gnuradio": len(theirs)},
            "max_relative_error": float(f"{error:.2g}"),
            "outputs_match": bool(n >= 0.99 * max(len(ours), len(theirs)) and error < 1e-3)}


# -- the comparison --------------------------------------------------------------------------
Runner = Callable[[int], dict[str, float]]
BEST_SIDES = ("gnuradio_null_pinned", "gnuradio_null_unpinned")  # THE ratio is against the faster


def calibrate(run: Runner, seconds: float, group: int) -> int:
    """Input samples (a multiple of ``group``) for one run of about ``seconds``, after a
    warm-up run (first runs pay for thread pools, FFT plans, filter matrices)."""
    n = 4 * group
    run(n)
    while True:
        t = run(n)["seconds"]
        if t >= PILOT_SECONDS or n >= 1 << 34:
            return max(group, group * math.ceil(n * seconds / t / group))
        n *= 4


def compare(case: Case, runners: dict[str, Runner], rounds: int, seconds: float, group: int,
            chunk: int) -> dict[str, Any]:
    samples = {side: calibrate(run, seconds, group) for side, run in runners.items()}
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in runners}
    order = list(runners)
    for r in range(rounds):
        for side in order if r % 2 == 0 else order[::-1]:
            runs[side].append(runners[side](samples[side]))
    target = case.target_at(chunk)
    row: dict[str, Any] = {"target": f">= {target}"}
    for side, results in runs.items():
        row[f"{side}_msps"] = round(statistics.median(x["msps"] for x in results), 1)
    daqflow = [x["msps"] for x in runs["daqflow"]]
    best_sides = [side for side in BEST_SIDES if side in runs]
    if best_sides:  # the faster null-source configuration, round by round
        best = [max(runs[side][r]["msps"] for side in best_sides) for r in range(rounds)]
        row["gnuradio_best_msps"] = round(statistics.median(best), 1)
        row["ratio"] = round(statistics.median(d / b for d, b in zip(daqflow, best, strict=True)), 2)
        row["ratio_against"] = f"max({', '.join(best_sides)}) per round"
        row["gnuradio_faster_rounds"] = {
            side: sum(runs[side][r]["msps"] == b for r, b in enumerate(best)) for side in best_sides}
    for side in runners:
        if side != "daqflow":
            ratios = [d / g["msps"] for d, g in zip(daqflow, runs[side], strict=True)]
            row[f"ratio_vs_{side}"] = round(statistics.median(ratios), 2)
    row["target_met"] = row["ratio"] >= target if "ratio" in row else None
    row["samples_per_run"] = samples
    row["cpu_per_wall"] = {side: round(statistics.median(x["cpu_per_wall"] for x in results), 2)
                           for side, results in runs.items() if "cpu_per_wall" in results[0]}
    row["daqflow_runs_cut_short"] = sum(bool(x.get("cut_short")) for x in runs["daqflow"])
    row["rounds_msps"] = {side: [round(x["msps"], 1) for x in results] for side, results in runs.items()}
    return row


def profile_daqflow(name: str, case: Case, source: Source, seconds: float) -> dict[str, float]:
    """Microseconds per chunk of each block in one plain run (returned, and printed on
    stderr), then a cProfile of another run, top functions by own time, on stderr."""
    samples = calibrate(lambda n: run_daqflow(case, source, n, 20 * seconds), seconds, source.group)
    per_block = run_daqflow(case, source, samples)["us_per_chunk"]
    rows = "\n".join(f"  {block:<24} {us:10.2f} us/chunk" for block, us in per_block.items())
    print(f"== daqflow {name}: own time per chunk of each block ({source.size} samples per "
          f"chunk) ==\n{rows}", file=sys.stderr)
    profiler = cProfile.Profile()
    profiler.enable()
    run_daqflow(case, source, samples)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    print(f"== profile of daqflow {name} ({samples} samples) ==\n{text.getvalue()}", file=sys.stderr)
    return per_block


def blas_facts() -> dict[str, Any]:
    """OpenBLAS as loaded by numpy, without threadpoolctl: name, version, threads."""
    facts: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        facts.update(name=blas.get("name"), version=blas.get("version"))
    with contextlib.suppress(OSError):
        libs = {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
                if "openblas" in line.lower() and line.split()[-1].startswith("/")}
        for path in sorted(libs):
            lib = ctypes.CDLL(path)
            for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                           "openblas_get_num_threads"):
                if hasattr(lib, symbol):
                    facts["threads"] = getattr(lib, symbol)()
                    break
    return facts


def git_state() -> dict[str, Any]:
    """The daqflow commit measured, and whether src/ differs from it."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--", "src")
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "src_modified": None if status is None else bool(status)}


def environment() -> dict[str, Any]:
    names = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "PYTHONDONTWRITEBYTECODE",
             "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "VOLK_GENERIC", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
    return {
        "env": {name: os.environ.get(name) for name in names},
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "blas": blas_facts(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "fft_backend": transforms.chosen_backend(),
        "jit_backend": compiled.chosen_backend(),
        "daqflow_malloc": os.environ.get("DAQFLOW_MALLOC") or "streaming",
        "volk_config": (Path.home() / ".volk" / "volk_config").exists(),
        "daqflow": git_state(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (median is reported)")
    parser.add_argument("--seconds", type=float, default=0.5, help="target length of one run")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    parser.add_argument("--no-unpinned", action="store_true",
                        help="skip unpinned GNU Radio runs (the ratio is then against pinned only)")
    parser.add_argument("--chunk", type=int, default=CHUNK,
                        help="samples per daqflow chunk and of the repeated input vector")
    parser.add_argument("--gnuradio-python", default="/usr/bin/python3")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of each daqflow case on stderr")
    args = parser.parse_args()
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(names) - set(CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; choose from {', '.join(CASES)}")
    if args.chunk < 1 or args.rounds < 1 or not args.seconds > 0:
        parser.error("--chunk and --rounds must be >= 1, --seconds > 0")

    rng = np.random.default_rng(1)
    data = rng.standard_normal(2 * args.chunk).astype(np.float32).view(np.complex64)
    data.flags.writeable = False
    source = Source(data)
    missing = gnuradio_missing(args.gnuradio_python)
    if missing is None and shutil.which("taskset") is None:
        missing = "taskset not found"
    servers: dict[str, GnuRadio] = {}
    gnuradio: dict[str, Any] = {"available": missing is None}
    if missing is not None:
        gnuradio["reason"] = missing
    facts = environment()  # before the runs: the commit measured
    if facts["jit_backend"] == "numba":
        compiled.fir_decimator()  # steady state: a graph runs on numpy until it is loaded
    load_before = os.getloadavg()
    started = time.perf_counter()
    try:
        if missing is None:
            servers["pinned"] = GnuRadio(args.gnuradio_python, data, pinned=True)
            if not args.no_unpinned:
                servers["unpinned"] = GnuRadio(args.gnuradio_python, data, pinned=False)
            gnuradio.update({f"{side}_process": s.info for side, s in servers.items()})
            gnuradio["commands"] = {side: " ".join(s.command) for side, s in servers.items()}
        results = {}
        for name in names:
            case = CASES[name]
            limit = 20 * args.seconds  # a run that calibrated at --seconds but then stalls
            runners: dict[str, Runner] = {
                "daqflow": lambda n, case=case, limit=limit: run_daqflow(case, source, n, limit)}
            for origin in ("null", "vector"):
                for pinning, server in servers.items():
                    runners[f"gnuradio_{origin}_{pinning}"] = (
                        lambda n, case=case, server=server, origin=origin: server.run(case, n, origin))
            check = check_outputs(case, source, servers["pinned"]) if servers else None
            results[name] = compare(case, runners, args.rounds, args.seconds, source.group,
                                    source.size)
            if check is not None:
                results[name]["check"] = check
            if args.profile:
                results[name]["us_per_chunk"] = profile_daqflow(name, case, source, args.seconds)
    finally:
        for server in servers.values():
            server.close()
    met = [r["target_met"] for r in results.values()]
    emit(
        "vs_gnuradio",
        results,
        gnuradio=gnuradio,
        environment=facts,
        chunk=args.chunk,
        dtype="complex64",
        rounds=args.rounds,
        seconds_per_run=args.seconds,
        load_average={"before": [round(x, 2) for x in load_before],
                      "after": [round(x, 2) for x in os.getloadavg()]},
        wall_seconds=round(time.perf_counter() - started, 1),
        targets_met=None if None in met else all(met),
    )


if __name__ == "__main__":
    main()
