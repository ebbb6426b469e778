"""The GNU Radio 3.10 side of ``vs_gnuradio.py``: flowgraphs timed inside their own process.

Run by GNU Radio's Python (``/usr/bin/python3`` on Debian), never by daqflow's, and does
not import daqflow. Every flowgraph reads ``head(N)`` of a source and ends in a null sink;
only ``tb.run()`` is timed, so interpreter start-up and graph construction are left out.
Two sources:

- ``null``: ``null_source`` (zeros), GNU Radio's fastest source: it fills as many items per
  call as the scheduler asks for. The timed runs use it.
- ``vector``: ``vector_source_c(data, repeat=True)`` over a repeated complex64 vector. It
  hands the scheduler at most one vector per call (about a third slower for 10 copies), so
  it is only a reference; it is the source whose output can be checked (``keep``).

Two modes:

- ``--serve``: print one JSON line ``{"ready": true, ...}``, then for every JSON request
  read on stdin print one JSON result line (``vs_gnuradio.py`` keeps one server pinned with
  ``taskset -c 0`` and one unpinned, and alternates them with its own runs). Requests:
  ``{"op": "data", "data": <base64 complex64 bytes>}`` sets the input vector;
  ``{"op": "run", "kind": KIND, "samples": N, "source": "null" | "vector", "params": {...}}``
  times one run of the flowgraph ``BUILDERS[KIND]`` with those parameters (``"keep": true``,
  vector source only: also return its output, for checking that both sides compute the
  same thing).
- ``--case KIND --samples N [--source null] [--taps 64] [--decim 1]``: one run on seeded
  noise, by hand.

Result line: ``{"case": KIND, "source", "samples" (read by head), "seconds", "msps",
"out_items" (written by the last block), "cpu_per_wall" (CPU seconds of the process / wall
seconds)}``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from gnuradio import blocks, fft, filter, gr

CHUNK = 8192  # samples of the repeated input vector
SOURCES = ("null", "vector")


def build_copy(tb, upstream, params):
    prev = upstream
    for _ in range(int(params["stages"])):
        block = blocks.copy(gr.sizeof_gr_complex)
        tb.connect(prev, block)
        prev = block
    return prev, "c", 1


class PyCopy(gr.sync_block):
    """A block written in Python, as a GNU Radio user writes one: copies its input (numpy)."""

    def __init__(self):
        gr.sync_block.__init__(self, name="py_copy", in_sig=[np.complex64], out_sig=[np.complex64])

    def work(self, input_items, output_items):
        output_items[0][:] = input_items[0]
        return len(output_items[0])


def build_pycopy(tb, upstream, params):
    """``stages`` Python ``sync_block``s in a row, at GNU Radio's default buffers (larger
    minimum output buffers were slower here: 1.3 against 4.5 MS/s pinned at 16384 items)."""
    prev = upstream
    tb.python_blocks = []  # GNU Radio keeps no reference to a Python block: the graph must
    for _ in range(int(params["stages"])):
        block = PyCopy()
        tb.connect(prev, block)
        tb.python_blocks.append(block)
        prev = block
    return prev, "c", 1


def build_fir(tb, upstream, params):
    block = filter.fir_filter_ccf(int(params.get("decim", 1)), [float(t) for t in params["taps"]])
    tb.connect(upstream, block)
    return block, "c", 1


def build_fft_filter(tb, upstream, params):
    block = filter.fft_filter_ccf(1, [float(t) for t in params["taps"]], 1)
    tb.connect(upstream, block)
    return block, "c", 1


def fft_stage(tb, upstream, nfft):
    """stream_to_vector -> fft_vcc (forward, rectangular window: no multiply, no shift, 1 thread)."""
    to_vector = blocks.stream_to_vector(gr.sizeof_gr_complex, nfft)
    transform = fft.fft_vcc(nfft, True, [], False, 1)
    tb.connect(upstream, to_vector, transform)
    return transform


def build_fft(tb, upstream, params):
    nfft = int(params["nfft"])
    return fft_stage(tb, upstream, nfft), "c", nfft


def build_receiver(tb, upstream, params):
    """rotator_cc -> fir_filter_ccf(decim) -> FFT -> complex_to_mag_squared -> integrate_ff."""
    nfft, average = int(params["nfft"]), int(params["average"])
    rotator = blocks.rotator_cc(2 * np.pi * float(params["freq"]) / float(params["rate"]))
    fir = filter.fir_filter_ccf(int(params["decim"]), [float(t) for t in params["taps"]])
    tb.connect(upstream, rotator, fir)
    transform = fft_stage(tb, fir, nfft)
    power = blocks.complex_to_mag_squared(nfft)
    integrate = blocks.integrate_ff(average, nfft)  # sums (daqflow's average divides by n)
    tb.connect(transform, power, integrate)
    return integrate, "f", nfft


BUILDERS = {
    "copy": build_copy,
    "pycopy": build_pycopy,
    "fir": build_fir,
    "fft_filter": build_fft_filter,
    "fft": build_fft,
    "receiver": build_receiver,
}


def make_source(source: str, data: np.ndarray):
    """``null``: zeros, as many per call as asked; ``vector``: ``data`` repeated."""
    if source == "null":
        return blocks.null_source(gr.sizeof_gr_complex)
    if source == "vector":
        return blocks.vector_source_c(data.tolist(), True)
    raise ValueError(f"source {source!r}: expected one of {', '.join(SOURCES)}")


def run_case(kind: str, samples: int, params: dict, data: np.ndarray, keep: bool = False,
             source: str = "null") -> dict:
    """Time one run of flowgraph ``kind`` over ``samples`` input samples from ``source``; with
    ``keep`` (vector source only), end in a vector sink instead of a null sink and return the
    output (base64, flattened)."""
    if keep and source != "vector":
        raise ValueError(f"keep with source {source!r}: only the vector source's output can be checked")
    tb = gr.top_block()
    head = blocks.head(gr.sizeof_gr_complex, int(samples))
    tb.connect(make_source(source, data), head)
    last, kind_of_item, vlen = BUILDERS[kind](tb, head, params)
    if keep:
        sink = (blocks.vector_sink_c if kind_of_item == "c" else blocks.vector_sink_f)(vlen)
    else:
        size = gr.sizeof_gr_complex if kind_of_item == "c" else gr.sizeof_float
        sink = blocks.null_sink(size * vlen)
    tb.connect(last, sink)
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    tb.run()
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    read = head.nitems_written(0)
    reply = {
        "case": kind,
        "source": source,
        "samples": read,
        "seconds": seconds,
        "msps": read / seconds / 1e6,
        "out_items": last.nitems_written(0),
        "cpu_per_wall": cpu / seconds,
    }
    if keep:
        output = np.asarray(sink.data(), np.complex64 if kind_of_item == "c" else np.float32)
        reply["output"] = base64.b64encode(output.tobytes()).decode("ascii")
        reply["dtype"] = str(output.dtype)
    return reply


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def noise(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(2 * CHUNK).astype(np.float32).view(np.complex64)


def serve() -> None:
    data = noise()
    ready = {
        "ready": True,
        "gnuradio": gr.version(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "affinity": sorted(os.sched_getaffinity(0)),
        "volk_config": (Path.home() / ".volk" / "volk_config").exists(),
    }
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            if request["op"] == "data":
                data = np.frombuffer(base64.b64decode(request["data"]), np.complex64).copy()
                reply = {"ok": True, "samples": len(data)}
            else:
                reply = run_case(request["kind"], request["samples"], request["params"], data,
                                 bool(request.get("keep")), request.get("source", "null"))
                reply["name"] = request.get("name")
        except Exception as exc:  # report to the driver rather than die silently
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="answer JSON requests on stdin")
    parser.add_argument("--case", choices=sorted(BUILDERS), help="one run of this flowgraph kind")
    parser.add_argument("--samples", type=int, default=50_000_000)
    parser.add_argument("--source", choices=SOURCES, default="null")
    parser.add_argument("--taps", type=int, default=64)
    parser.add_argument("--decim", type=int, default=1)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.case is None:
        parser.error("give --serve or --case")
    params = {"stages": 10, "taps": np.hamming(args.taps) / args.taps, "decim": args.decim,
              "nfft": 1024, "average": 16, "freq": -100e3, "rate": 1e6}
    print(json.dumps(run_case(args.case, args.samples, params, noise(), source=args.source)))


if __name__ == "__main__":
    main()
