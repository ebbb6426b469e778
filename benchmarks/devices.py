"""Real devices through the sound stack: sustained capture, and CPU per second of signal vs GNU Radio.

Sustained capture without loss, and the CPU cost of recording a SoapySDR stream, daqflow
against GNU Radio 3.10 on the same device.

The script starts its own PulseAudio daemon (`tests/sound_server.py`: a null sink ``daq``
whose monitor is the default capture device) and plays a tone into the sink with PulseAudio's
``module-sine`` (inside the daemon, so no measured process pays for it). What the sink plays
comes back through PortAudio (``io.audio_source``) and SoapySDR's audio driver
(``driver=audio``, CF32).

1. ``sustained``: ``--seconds`` (30) of ``io.audio_source(48000)`` and
   ``io.soapy_source("driver=audio", rate=--rate)`` (192000) in one graph, each into its own
   ``io.sigmf_writer``. Figures per source: samples delivered (read back from the recording
   with the ``sigmf`` library), samples lost (the report's ``overflow``, the source's
   ``lost`` and its FIFO's drops), index gaps in the recording (captures whose
   ``core:global_index`` jumps), seconds to the first samples, the tone found in the last
   second, and a clock check: the stream index advanced from the first chunk to the last
   against the host clock between their arrivals (an unmarked loss would make it fall
   behind). Target: 0 overflow, 0 gaps, clock within 0.5%.
2. ``cpu``: CPU seconds per second of signal recorded, ``io.soapy_source -> io.sigmf_writer``
   (daqflow, its defaults, in a child process of daqflow's Python) against
   ``soapy.source -> blocks.file_sink`` (GNU Radio's defaults, in ``/usr/bin/python3``,
   `_gnuradio_soapy.py`), same device and rate. Each run starts its graph, waits for its
   first samples (the audio driver takes ~2 s) and the rest of ``--warmup`` (3 s), then
   measures the CPU time of its whole process (``getrusage``: every thread, the driver's
   included) over ``--window`` (10 s) of wall time and the samples its sink took in that
   window; CPU / (samples / rate) is the figure. Each round runs daqflow unpinned (as users
   run it), daqflow pinned to CPU 0 (``taskset -c 0``), GNU Radio pinned and GNU Radio
   unpinned, alternating the order. ``ratio`` is the median over ``--rounds`` (3) of daqflow's
   figure over the better (lower) GNU Radio figure of the same round; ``ratio_daqflow_pinned``
   the same for daqflow pinned. ``--bare`` adds the driver alone, pinned: a ``readStream``
   loop writing each read to a file, in daqflow's Python without daqflow (the floor both
   frameworks stand on). Every run's file is checked: the window's samples against
   rate x window (within 1%), the whole file against rate x (stop request - start) (short by
   the start-up, at most ``STARTUP_SLACK``; over by at most ``FILE_SLACK``), and the tone in
   its last second. Without GNU Radio only daqflow's figures are given.

    python benchmarks/devices.py [--seconds 30] [--window 10] [--rounds 3] [--rate 192000]
                                 [--warmup 3] [--bare] [--gnuradio-python /usr/bin/python3]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

import daqflow as df
from _common import emit
from _gnuradio_soapy import cpu_by_thread, cpu_seconds, first_samples, thread_cpu
from daqflow import io
from vs_gnuradio import git_state, gnuradio_missing

# the private PulseAudio daemon of the device tests (tests/sound_server.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import sound_server

DEVICE = "driver=audio"
FREQ = 100e6  # centre frequency given to both SoapySDR sources (the audio driver ignores it)
TONE_HZ = 1000.0  # module-sine into the null sink
AUDIO_RATE = 48000
STARTUP_SLACK = 3.0  # seconds a source may take to deliver its first samples
FILE_SLACK = 0.5  # seconds a file may hold beyond rate x (stop request - start): read while stopping
GNURADIO_SIDE = Path(__file__).with_name("_gnuradio_soapy.py")


# -- shared -------------------------------------------------------------------------------
@contextlib.contextmanager
def tone(server: sound_server.SoundServer, freq: float) -> Iterator[None]:
    """A sine of ``freq`` Hz played into the null sink by PulseAudio's own module-sine."""
    module = server.pactl("load-module", "module-sine", f"sink={server.sink}",
                          f"frequency={freq:g}").strip()
    try:
        yield
    finally:
        with contextlib.suppress(RuntimeError):
            server.pactl("unload-module", module)


def signal_check(x: np.ndarray, rate: float) -> dict[str, Any]:
    """RMS and strongest line (Hz, 1 Hz bins) of the real part of ``x`` (its last second)."""
    x = np.real(np.asarray(x[-int(rate):], np.complex128 if np.iscomplexobj(x) else np.float64))
    if len(x) < 2:
        return {"rms": 0.0, "peak_hz": None, "tone_found": False}
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    peak = float(np.argmax(spectrum[1:]) + 1) * rate / len(x)
    rms = float(np.sqrt(np.mean(x ** 2)))
    return {"rms": round(rms, 4), "peak_hz": round(peak, 1),
            "tone_found": bool(rms > 1e-3 and abs(peak - TONE_HZ) <= 2 * rate / len(x))}


def read_sigmf(meta: str) -> tuple[np.ndarray, list[dict[str, Any]], list[dict[str, Any]]]:
    """Samples, captures and annotations of a recording, through the sigmf library."""
    from sigmf import sigmffile

    handle = sigmffile.fromfile(meta, skip_checksum=True)
    return handle.read_samples(), handle.get_captures(), handle.get_annotations()


def index_gaps(captures: list[dict[str, Any]], samples: int) -> list[dict[str, int]]:
    """Where the stream index jumps between captures: position in the file and jump."""
    starts = sorted((int(c["core:sample_start"]), int(c.get("core:global_index", c["core:sample_start"])))
                    for c in captures)
    gaps = []
    for (start, index), (nxt, nxt_index) in itertools.pairwise([*starts, (samples, None)]):
        if nxt_index is not None and nxt_index != index + (nxt - start):
            gaps.append({"position": nxt, "jump": nxt_index - index - (nxt - start)})
    return gaps


# -- 1. sustained capture -----------------------------------------------------------------
@df.block(name="clock")
async def clock(x: df.Stream) -> dict[str, Any]:
    """Arrival (host clock) and stream position of the first and last chunk, and seconds from
    the sink's start to the first chunk."""
    started = time.monotonic()
    first = last = None
    async for chunk in x:
        last = (time.monotonic(), chunk.end_index)
        first = first or last
    if first is None or last is None:
        return {"chunks": 0}
    return {"first_after": first[0] - started, "seconds": last[0] - first[0],
            "index_advance": last[1] - first[1]}


def sustained(seconds: float, rate: float, folder: Path) -> dict[str, Any]:
    sources = {
        "audio_source": (io.audio_source(AUDIO_RATE, name="audio_source"), AUDIO_RATE),
        "soapy_source": (io.soapy_source(DEVICE, rate=rate, freq=FREQ, name="soapy_source"), rate),
    }
    sinks = []
    for name, (stream, _) in sources.items():
        sinks.append(io.sigmf_writer(stream, folder / name, name=f"{name}_writer"))
        sinks.append(clock(stream, name=f"{name}_clock"))
    report = df.run(*sinks, duration=seconds)
    out: dict[str, Any] = {"seconds": round(report.duration, 2), "overflow": report.overflow}
    for name, (_, source_rate) in sources.items():
        written = report.results[f"{name}_writer"]
        samples, captures, annotations = read_sigmf(written["meta"]) if written["meta"] else (
            np.empty(0), [], [])
        gaps = index_gaps(captures, len(samples))
        ticks = report.results[f"{name}_clock"]
        fifo = sum(e.dropped_samples for e in report.edges if e.producer == name)
        out[name] = {
            "rate": source_rate,
            "delivered": len(samples),
            "delivered_seconds": round(len(samples) / source_rate, 2),
            "lost_at_source": report.blocks[name].lost,
            "fifo_dropped": fifo,
            "index_gaps": len(gaps),
            "gap_samples": sum(g["jump"] for g in gaps),
            "annotated_lost": sum(int(a.get("daqflow:lost_samples", 0)) for a in annotations),
            "first_samples_after": round(ticks["first_after"], 2) if ticks.get("seconds") else None,
            "clock_ratio": round(ticks["index_advance"] / (ticks["seconds"] * source_rate), 5)
            if ticks.get("seconds") else None,
            "signal": signal_check(samples, source_rate),
        }
    out["target_met"] = bool(report.overflow == 0 and all(
        out[n]["index_gaps"] == 0 and out[n]["lost_at_source"] == 0 and out[n]["signal"]["tone_found"]
        and out[n]["first_samples_after"] is not None and out[n]["first_samples_after"] < STARTUP_SLACK
        and abs(out[n]["clock_ratio"] - 1) < 0.005 for n in sources))
    return out


# -- 2. CPU per second of signal ----------------------------------------------------------
def daqflow_capture(rate: float, warmup: float, window: float, out: str) -> dict[str, Any]:
    """The daqflow side, run in a child process: soapy_source -> sigmf_writer."""
    writer = io.sigmf_writer(io.soapy_source(DEVICE, rate=rate, freq=FREQ, name="soapy_source"), out,
                             name="writer")
    started = time.perf_counter()
    running = df.start(writer)

    def written() -> int:
        return running.report().blocks["writer"].samples_in

    first = first_samples(written, started, warmup)
    threads0, cpu0, t0, n0 = thread_cpu(), cpu_seconds(), time.perf_counter(), written()
    time.sleep(window)
    cpu1, t1, n1, threads1 = cpu_seconds(), time.perf_counter(), written(), thread_cpu()
    running.stop()
    report = running.wait()
    return {
        "side": "daqflow",
        "window_seconds": t1 - t0,
        "window_cpu": cpu1 - cpu0,
        "window_samples": n1 - n0,
        "window_cpu_by_thread": cpu_by_thread(threads0, threads1),
        "first_samples_after": first - started,
        "stopped_after": t1 - started,
        "file_samples": report.results["writer"]["samples"],
        "overflow": report.overflow,
        "affinity": sorted(os.sched_getaffinity(0)),
    }


def bare_capture(rate: float, warmup: float, window: float, out: str) -> dict[str, Any]:
    """The driver alone, run in a child process: SoapySDR's ``readStream`` in a loop (MTU-sized
    reads, like GNU Radio's source), each read written to a raw complex64 file."""
    from daqflow.io._system import soapysdr

    soapy = soapysdr()
    rx = soapy.SOAPY_SDR_RX
    dev = soapy.Device(DEVICE)
    dev.setSampleRate(rx, 0, rate)
    dev.setFrequency(rx, 0, FREQ)
    if dev.hasGainMode(rx, 0):
        dev.setGainMode(rx, 0, True)
    stream = dev.setupStream(rx, soapy.SOAPY_SDR_CF32, [0])
    buffer = np.empty(dev.getStreamMTU(stream), np.complex64)
    samples, first, start, marks = 0, None, None, {}
    started = time.perf_counter()
    dev.activateStream(stream)
    with open(out, "wb") as file:
        while True:
            ret = dev.readStream(stream, [buffer], len(buffer), timeoutUs=100_000).ret
            if ret > 0:
                file.write(buffer[:ret])
                samples += ret
            now = time.perf_counter()
            if first is None and samples:
                first = now
            if start is None and first is not None and now - started >= warmup:
                start = now
                marks["window"] = (cpu_seconds(), samples, thread_cpu())
            elif start is not None and now - start >= window:
                break
            if first is None and now - started > warmup + 10:
                raise TimeoutError(f"bare {DEVICE}: no samples for {now - started:.0f} s")
    cpu1, threads1 = cpu_seconds(), thread_cpu()
    dev.deactivateStream(stream)
    dev.closeStream(stream)
    dev.close()
    cpu0, n0, threads0 = marks["window"]
    return {
        "side": "bare",
        "window_seconds": now - start,
        "window_cpu": cpu1 - cpu0,
        "window_samples": samples - n0,
        "window_cpu_by_thread": cpu_by_thread(threads0, threads1),
        "first_samples_after": first - started,
        "stopped_after": now - started,
        "file_samples": samples,
        "affinity": sorted(os.sched_getaffinity(0)),
    }


def run_side(side: str, rate: float, warmup: float, window: float, folder: Path,
             gnuradio_python: str) -> dict[str, Any]:
    """One measured run in its own process; its figures and the check of its file."""
    common = ["--rate", f"{rate:g}", "--warmup", f"{warmup:g}", "--seconds", f"{window:g}"]
    pin = ["taskset", "-c", "0"] if side.endswith("_pinned") else []
    here = str(Path(__file__).resolve())
    if side.startswith("daqflow"):
        out = folder / "daqflow.sigmf-meta"
        command = [*pin, sys.executable, here, "--child", "daqflow", "--out", str(out), *common]
    elif side.startswith("bare"):
        out = folder / "bare.cf32"
        command = [*pin, sys.executable, here, "--child", "bare", "--out", str(out), *common]
    else:
        out = folder / "gnuradio.cf32"
        command = [*pin, gnuradio_python, str(GNURADIO_SIDE), "--device", DEVICE, "--freq", f"{FREQ:g}",
                   "--out", str(out), *common]
    done = subprocess.run(command, capture_output=True, text=True, timeout=warmup + window + 120)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise RuntimeError(f"{side} run failed (exit {done.returncode}): {' '.join(command)}\n"
                           f"{done.stderr.strip()[-2000:]}")
    run = json.loads(lines[-1])
    if side.startswith("daqflow"):
        samples, _, _ = read_sigmf(str(out))
    else:
        samples = np.fromfile(out, np.complex64)
    for path in folder.iterdir():  # keep the disk use to one run's file
        path.unlink()
    expected_window = rate * run["window_seconds"]
    # the file against the clock from the start to the stop request: short by the start-up,
    # over by at most what the stop lets through
    short = run["stopped_after"] - len(samples) / rate
    run.update({
        "cpu_per_signal_second": run["window_cpu"] / (run["window_samples"] / rate)
        if run["window_samples"] else None,
        "cpu_per_wall": run["window_cpu"] / run["window_seconds"],
        "window_samples_vs_clock": round(run["window_samples"] / expected_window, 4),
        "file_seconds_short": round(short, 3),
        "signal": signal_check(samples, rate),
    })
    run["file_ok"] = bool(len(samples) == run["file_samples"]
                          and abs(run["window_samples"] - expected_window) <= 0.01 * expected_window
                          and -FILE_SLACK <= short <= STARTUP_SLACK and run["signal"]["tone_found"])
    return run


def by_thread(results: list[dict[str, Any]], rate: float) -> dict[str, float]:
    """Median over runs of each thread's CPU seconds per second of signal."""
    names = {name for x in results for name in x["window_cpu_by_thread"]}
    per = {name: statistics.median(x["window_cpu_by_thread"].get(name, 0.0) / (x["window_samples"] / rate)
                                   for x in results) for name in names}
    return {name: round(v, 4) for name, v in sorted(per.items(), key=lambda x: -x[1]) if v >= 0.0001}


def cpu_comparison(sides: list[str], rate: float, warmup: float, window: float, rounds: int,
                   folder: Path, gnuradio_python: str | None) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for r in range(rounds):
        for side in sides if r % 2 == 0 else sides[::-1]:
            runs[side].append(run_side(side, rate, warmup, window, folder, gnuradio_python or ""))
    out: dict[str, Any] = {"rate": rate, "window_seconds": window, "warmup_seconds": warmup,
                           "rounds": rounds}
    for side, results in runs.items():
        out[f"{side}_cpu_per_signal_second"] = round(
            statistics.median(x["cpu_per_signal_second"] for x in results), 4)
    if gnuradio_python:
        best, better = [], []
        for p, u in zip(runs["gnuradio_pinned"], runs["gnuradio"], strict=True):
            best.append(min(p["cpu_per_signal_second"], u["cpu_per_signal_second"]))
            better.append("pinned" if best[-1] == p["cpu_per_signal_second"] else "unpinned")
        for side, key in (("daqflow", "ratio"), ("daqflow_pinned", "ratio_daqflow_pinned"),
                          ("bare_pinned", "ratio_bare_pinned")):
            if side not in runs:
                continue
            ratios = [d["cpu_per_signal_second"] / g for d, g in zip(runs[side], best, strict=True)]
            out[key] = round(statistics.median(ratios), 2)
            out[f"rounds_{key}"] = [round(x, 2) for x in ratios]
        out["gnuradio_better_setup"] = better
    out["cpu_per_signal_second_by_thread"] = {side: by_thread(results, rate)
                                              for side, results in runs.items()}
    out["files_ok"] = all(x["file_ok"] for results in runs.values() for x in results)
    out["daqflow_overflow"] = sum(x["overflow"] for side in sides if side.startswith("daqflow")
                                  for x in runs[side])
    out["runs"] = {side: [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in x.items()}
                          for x in results] for side, results in runs.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="sustained capture, seconds")
    parser.add_argument("--rate", type=float, default=192000, help="SoapySDR sample rate, Hz")
    parser.add_argument("--window", type=float, default=10.0, help="CPU window of one run, seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the CPU window")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median reported)")
    parser.add_argument("--bare", action="store_true",
                        help="also measure the driver alone (a readStream loop, pinned)")
    parser.add_argument("--gnuradio-python", default="/usr/bin/python3")
    # one measured run of a side, in its own process (used by the script itself)
    parser.add_argument("--child", choices=("daqflow", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        capture = daqflow_capture if args.child == "daqflow" else bare_capture
        print(json.dumps(capture(args.rate, args.warmup, args.seconds, args.out)))
        return
    if args.rounds < 1 or not (args.seconds > 0 and args.window > 0 and args.warmup >= 0):
        parser.error("--rounds must be >= 1, --seconds and --window > 0, --warmup >= 0")
    missing = gnuradio_missing(args.gnuradio_python)
    pinning = shutil.which("taskset") is not None
    if missing is None and not pinning:
        missing = "taskset not found"
    gnuradio: dict[str, Any] = {"available": missing is None}
    if missing is not None:
        gnuradio["reason"] = missing
    sides = ["daqflow"] + (["daqflow_pinned"] if pinning else [])
    sides += ["bare_pinned"] if args.bare and pinning else []
    sides += ["gnuradio_pinned", "gnuradio"] if missing is None else []
    load_before = os.getloadavg()
    started = time.perf_counter()
    server, daemon = sound_server.start()  # sets XDG_RUNTIME_DIR: the children find it too
    try:
        with tone(server, TONE_HZ), tempfile.TemporaryDirectory(prefix="daqflow-devices-") as tmp:
            folder = Path(tmp)
            results = {"sustained": sustained(args.seconds, args.rate, folder)}
            for path in folder.iterdir():
                path.unlink()
            results["cpu"] = cpu_comparison(sides, args.rate, args.warmup, args.window, args.rounds,
                                            folder, args.gnuradio_python if missing is None else None)
    finally:
        sound_server.stop(server, daemon)
    emit("devices", results, device=DEVICE, tone_hz=TONE_HZ, gnuradio=gnuradio,
         daqflow=git_state(), wall_seconds=round(time.perf_counter() - started, 1),
         load_average={"before": [round(x, 2) for x in load_before],
                       "after": [round(x, 2) for x in os.getloadavg()]})


if __name__ == "__main__":
    main()
