"""The GNU Radio 3.10 side of ``devices.py``: ``soapy.source -> blocks.file_sink`` on a real
SoapySDR device, with the CPU time of this process measured over a window of wall time.

Run by GNU Radio's Python (``/usr/bin/python3`` on Debian), never by daqflow's, and does not
import daqflow. The flowgraph keeps GNU Radio's defaults (buffer sizes, file_sink buffering);
the source gets the settings daqflow's ``io.soapy_source`` makes: sample rate, centre
frequency and automatic gain when the device has it. Timeline: ``tb.start()``, the first
samples (``nitems_read`` polled every 10 ms), the rest of ``--warmup`` seconds, then the
measured window of ``--seconds`` (CPU seconds of the whole process from ``getrusage``, samples
the file sink took from ``nitems_read``, each thread's CPU from /proc), then ``tb.stop()``.
GNU Radio is imported inside `capture`, so ``devices.py`` shares the measuring helpers.

One JSON line on stdout: ``{"side": "gnuradio", "window_seconds", "window_cpu",
"window_samples", "window_cpu_by_thread", "first_samples_after" and "stopped_after"
(seconds from tb.start),
"file_samples" (complex64 samples in the file), "affinity", "gnuradio"}``.

    /usr/bin/python3 benchmarks/_gnuradio_soapy.py --rate 192000 --out /tmp/x.cf32
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_cpu() -> dict[str, float]:
    """CPU seconds of the threads of this process so far, by name: Python's thread name where
    the thread is Python's, else the kernel's (``comm``; same names summed). Read from each
    thread's CPU clock (Linux: clock id ``(~tid << 3) | 6``), to the nanosecond."""
    python = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        tid = int(task.name)
        try:
            comm = (task / "comm").read_text().strip()
            used = time.clock_gettime((~tid << 3) | 6)
        except OSError:  # the thread ended meanwhile
            continue
        name = python.get(tid) or comm
        out[name] = out.get(name, 0.0) + used
    return out


def cpu_by_thread(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Each thread's CPU seconds between two `thread_cpu` readings (threads above 1 ms)."""
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    return {name: round(t, 3) for name, t in sorted(used.items(), key=lambda x: -x[1]) if t >= 0.001}


def first_samples(count: Callable[[], int], started: float, warmup: float) -> float:
    """Poll ``count()`` every 10 ms until it is > 0 (at most ``warmup`` + 10 s); returns when
    (perf_counter) the first samples were seen, then sleeps out the rest of the warm-up."""
    while count() == 0 and time.perf_counter() - started < warmup + 10:
        time.sleep(0.01)
    first = time.perf_counter()
    time.sleep(max(0.0, started + warmup - first))
    return first


def capture(device: str, rate: float, freq: float, warmup: float, seconds: float, out: str) -> dict:
    from gnuradio import blocks, gr, soapy

    tb = gr.top_block()
    source = soapy.source(device, "fc32", 1, "", "", [""], [""])
    source.set_sample_rate(0, rate)
    source.set_frequency(0, freq)
    if source.has_gain_mode(0):
        source.set_gain_mode(0, True)
    sink = blocks.file_sink(gr.sizeof_gr_complex, out, False)
    tb.connect(source, sink)
    started = time.perf_counter()
    tb.start()
    first = first_samples(lambda: sink.nitems_read(0), started, warmup)
    threads0, cpu0, t0, n0 = thread_cpu(), cpu_seconds(), time.perf_counter(), sink.nitems_read(0)
    time.sleep(seconds)
    cpu1, t1, n1, threads1 = cpu_seconds(), time.perf_counter(), sink.nitems_read(0), thread_cpu()
    tb.stop()
    tb.wait()
    sink.close()
    return {
        "side": "gnuradio",
        "window_seconds": t1 - t0,
        "window_cpu": cpu1 - cpu0,
        "window_samples": n1 - n0,
        "window_cpu_by_thread": cpu_by_thread(threads0, threads1),
        "first_samples_after": first - started,
        "stopped_after": t1 - started,
        "file_samples": os.path.getsize(out) // gr.sizeof_gr_complex,
        "affinity": sorted(os.sched_getaffinity(0)),
        "gnuradio": gr.version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="driver=audio", help="SoapySDR device args")
    parser.add_argument("--rate", type=float, default=192000, help="sample rate, Hz")
    parser.add_argument("--freq", type=float, default=100e6, help="centre frequency, Hz")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before the window")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window, seconds")
    parser.add_argument("--out", required=True, help="the file sink's path (raw complex64)")
    args = parser.parse_args()
    print(json.dumps(capture(args.device, args.rate, args.freq, args.warmup, args.seconds, args.out)))


if __name__ == "__main__":
    main()
