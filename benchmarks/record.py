"""Recording speed: MS/s into SigMF and HDF5 against raw ``ndarray.tofile`` in the same run,
and the sustained real-time rate with zero overflow.

    python benchmarks/record.py [--megabytes 512] [--repeat 3] [--sustain 30] [--rates 2e6 10e6]

Writers get pre-made complex64 chunks (one shared array, increasing indices), so the figure
is the writer's cost; "adc" rows add the simulated ADC (as fast as possible) in front.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import daqflow as df
from _common import best_of, emit
from daqflow import dsp, io

RATE = 10e6


def chunks(count: int, size: int) -> list[df.Chunk]:
    data = (np.random.default_rng(0).standard_normal(2 * size).astype(np.float32)).view(np.complex64)
    first = df.Chunk(data, RATE)
    return [first.replace(index=k * size, time=k * size / RATE) for k in range(count)]


def clear(directory: Path) -> None:
    """Remove earlier outputs (outside the timing: unlinking a large file costs)."""
    for path in directory.iterdir():
        path.unlink()


def time_tofile(items: list[df.Chunk], path: Path) -> float:
    clear(path.parent)
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        for c in items:
            c.data.tofile(f)
    return time.perf_counter() - t0


def time_writer(make_sink, items: list[df.Chunk], directory: Path) -> float:
    clear(directory)
    sink = make_sink(df.from_iterable(items))
    t0 = time.perf_counter()
    df.run(sink)
    return time.perf_counter() - t0


def time_adc(make_sink, samples: int, size: int, directory: Path) -> float:
    clear(directory)
    adc = dsp.head(io.simulated_adc(RATE, chunk=size, noise=0.1, realtime=False, seed=1), samples)
    sink = make_sink(adc)
    t0 = time.perf_counter()
    df.run(sink)
    return time.perf_counter() - t0


def sustained(rate: float, seconds: float, directory: Path) -> dict:
    adc = io.simulated_adc(rate, noise=0.1, seed=1)
    report = df.run(io.sigmf_writer(adc, directory / "sustained", checksum=False, name="rec"),
                    duration=seconds)
    written = report.results["rec"]["samples"]
    return {"rate_hz": rate, "seconds": round(report.duration, 2), "samples": written,
            "overflow": report.overflow, "writer_busy": round(report.blocks["rec"].busy_fraction, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=512, help="data per timed run")
    parser.add_argument("--chunk", type=int, default=65536, help="samples per chunk")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sustain", type=float, default=30.0, help="seconds of real-time recording")
    parser.add_argument("--rates", type=float, nargs="*", default=[2e6, 10e6],
                        help="real-time rates to sustain, Hz")
    args = parser.parse_args()
    size = args.chunk
    count = max(1, args.megabytes * 2**20 // (8 * size))
    items = chunks(count, size)
    samples = count * size
    with tempfile.TemporaryDirectory(dir=os.environ.get("DAQFLOW_BENCH_DIR")) as tmp:
        directory = Path(tmp)
        sinks = {
            "sigmf": lambda s: io.sigmf_writer(s, directory / "x", checksum=False),
            "sigmf_sha512": lambda s: io.sigmf_writer(s, directory / "y", checksum=True),
            "hdf5": lambda s: io.hdf5_writer(s, directory / "x.h5"),
            "npy": lambda s: io.npy_writer(s, directory / "x.npy"),
        }
        raw = best_of(lambda: time_tofile(items, directory / "raw.bin"), args.repeat)
        results: dict = {"tofile_msps": round(samples / raw / 1e6, 1)}
        for name, make in sinks.items():
            t = best_of(lambda make=make: time_writer(make, items, directory), args.repeat)
            results[f"{name}_msps"] = round(samples / t / 1e6, 1)
            results[f"{name}_ratio_to_tofile"] = round(raw / t, 3)
        for name in ("sigmf", "hdf5"):
            t = best_of(lambda name=name: time_adc(sinks[name], samples, size, directory), args.repeat)
            results[f"adc_to_{name}_msps"] = round(samples / t / 1e6, 1)
        clear(directory)
        results["sustained"] = [sustained(rate, args.sustain, directory) for rate in args.rates]
    emit("record", results, megabytes=args.megabytes, chunk=size, repeat=args.repeat,
         targets={"sigmf_ratio_to_tofile": ">= 0.8", "hdf5_ratio_to_tofile": ">= 0.8",
                  "sustained overflow": "0"})


if __name__ == "__main__":
    main()
