"""Replay in virtual time: seconds of signal replayed per wall second.

``--hours`` (default 1) of ``io.simulated_adc(rate, chunk)``, real-time (on its
`SampleClock`), complex64 with noise, through ``dsp.mix`` -> ``dsp.fir_decimate`` (64 taps,
/8) -> a sink that hashes what it gets, run with ``df.run(..., duration=hours * 3600, clock="virtual")``.
Reported: wall seconds, signal seconds per wall second, MS/s, overflow (0: a virtual clock
never falls behind), and whether a second run gave the same chunks (CRC-32 of indices,
times, meta and data).

    python benchmarks/virtual_time.py [--hours 1] [--rate 100000] [--chunk 10000]
"""

from __future__ import annotations

import argparse
import time
import zlib

import daqflow as df
from _common import emit
from daqflow import dsp, io


@df.block
async def digest(stream: df.Stream) -> list:
    """[chunks, CRC-32 of their indices, times and data]: compares two runs' outputs."""
    count, crc = 0, 0
    async for c in stream:
        count += 1
        crc = zlib.crc32(repr((c.index, c.time, sorted(c.meta.items()))).encode(), crc)
        crc = zlib.crc32(c.data.tobytes(), crc)
    return [count, crc]


def replay(hours: float, rate: float, chunk: int) -> dict:
    adc = io.simulated_adc(rate, chunk=chunk, noise=0.1, seed=1)
    taps = dsp.lowpass(64, rate / 20, rate=rate)
    chain = dsp.fir_decimate(dsp.mix(adc, -rate / 8), taps, 8)
    seconds = hours * 3600.0
    t0 = time.perf_counter()
    report = df.run(digest(chain, name="sink"), duration=seconds, clock="virtual")
    wall = time.perf_counter() - t0
    samples = report.blocks["simulated_adc"].samples_out
    return {
        "signal_seconds": samples / rate,
        "wall_seconds": round(wall, 3),
        "signal_seconds_per_wall_second": round(samples / rate / wall, 1),
        "msps": round(samples / wall / 1e6, 2),
        "chunks_and_crc32": report.results["sink"],
        "overflow": report.overflow,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0, help="signal to replay (hours)")
    parser.add_argument("--rate", type=float, default=100_000.0, help="sample rate (Hz)")
    parser.add_argument("--chunk", type=int, default=10_000, help="samples per chunk")
    args = parser.parse_args()
    first = replay(args.hours, args.rate, args.chunk)
    second = replay(args.hours, args.rate, args.chunk)
    emit("virtual_time", {"first": first, "second": second,
                          "same_output": first["chunks_and_crc32"] == second["chunks_and_crc32"]},
         hours=args.hours, rate=args.rate, chunk=args.chunk,
         chain="simulated_adc (real-time) -> mix -> fir_decimate(64 taps, /8) -> digest")


if __name__ == "__main__":
    main()
