"""Timer quality on the event loop: `hw.poll` lateness, and round-robin task switches.

1. ``hw.poll`` at 1 kHz and 100 Hz for ``--seconds`` each: *idle* (alone on the loop),
   *busy* (sharing the loop with a DSP pipeline running as fast as it can:
   ``io.simulated_adc(2e6, realtime=False)`` -> ``dsp.mix`` -> ``dsp.fir_decimate`` (64
   taps, /8) -> ``dsp.spectrum`` (1024, average 16) -> ``null_sink``, in the same graph
   run), and *busy* with ``poll(..., threaded=True)`` (the poller on its own event loop in
   a worker thread). For each: readings, deadlines missed (skipped because the loop was
   late by more than a period), the lateness of each reading (``Reading.late``: from its
   deadline to the call of ``read``) as p50 / p99 / max in microseconds, the longest time
   between two reads, and for *busy* the pipeline's MS/s.
   References, idle, same rates: a relative ``await asyncio.sleep(period)`` in a loop
   (lateness against its own request), and a ticker thread that sleeps to each absolute
   deadline with ``time.sleep`` and hands the tick to the loop (``call_soon_threadsafe``):
   asyncio's epoll timers round their timeout up to whole milliseconds, so a deadline not
   aligned to "now + n ms" is late by up to 1 ms (2 ms when the rounding is applied twice).
2. Round-robin: N tasks each looping on ``await asyncio.sleep(0)`` for ``--seconds``; total
   task switches per second (the seed note's ``roundrobin.py``), for N = 1, 10, 100, 1000.

    python benchmarks/timing.py [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time

import numpy as np

import daqflow as df
from _common import emit
from daqflow import dsp, hw, io
from daqflow.instruments import Instrument

RATES = (1000.0, 100.0)  # Hz
TASKS = (1, 10, 100, 1000)


@df.block
async def lateness(x: df.Stream):
    """Sink: each reading's lateness (s), the missed count, the longest gap between readings."""
    late, missed, gap, last = [], 0, 0.0, None
    async for reading in x:
        late.append(reading.late)
        missed += reading.missed
        if last is not None:
            gap = max(gap, reading.time + reading.late - last)
        last = reading.time + reading.late
    return np.array(late), missed, gap


def busy_pipeline() -> df.Stream:
    adc = io.simulated_adc(2e6, chunk=8192, tones=[(250e3, 1.0)], noise=0.01, realtime=False, seed=1)
    base = dsp.mix(adc, freq=-250e3)
    narrow = dsp.fir_decimate(base, dsp.lowpass(64, 50e3, rate=2e6), 8)
    return df.null_sink(dsp.spectrum(narrow, 1024, average=16), name="busy_sink")


def us(seconds: float) -> float:
    return round(seconds * 1e6, 1)


async def poll_run(rate: float, busy: bool, seconds: float, threaded: bool = False) -> dict:
    source = hw.poll(lambda: None, 1.0 / rate, threaded=threaded)
    sinks = [lateness(source, name="lateness")]
    if busy:
        sinks.append(busy_pipeline())
    report = await df.arun(*sinks, duration=seconds)
    late, missed, gap = report.results["lateness"]
    out = {
        "rate_hz": rate,
        "load": ("busy" if busy else "idle") + (", poll threaded" if threaded else ""),
        "readings": int(late.size),
        "missed": int(missed),
        **stats(late),
        "longest_gap_ms": round(gap * 1e3, 2),
        "dropped_readings": report.dropped_items,
    }
    if busy:
        adc = report.blocks["simulated_adc"]
        out["pipeline_ms_per_s"] = round(adc.samples_out / report.duration / 1e6, 1)
    return out


def stats(late: list[float]) -> dict:
    a = np.array(late)
    return {"late_p50_us": us(float(np.percentile(a, 50))),
            "late_p99_us": us(float(np.percentile(a, 99))), "late_max_us": us(float(a.max()))}


async def reference_sleep(rate: float, seconds: float) -> dict:
    loop, period, late = asyncio.get_running_loop(), 1.0 / rate, []
    for _ in range(int(seconds * rate)):
        t = loop.time()
        await asyncio.sleep(period)
        late.append(loop.time() - t - period)
    return {"rate_hz": rate, "timer": "asyncio.sleep(period), relative", **stats(late)}


async def reference_thread(rate: float, seconds: float) -> dict:
    loop, period, n = asyncio.get_running_loop(), 1.0 / rate, int(seconds * rate)
    ticks: asyncio.Queue[int] = asyncio.Queue()
    t0 = loop.time() + 0.01  # loop.time() is time.monotonic()

    def ticker() -> None:
        for k in range(n):
            delay = t0 + k * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            loop.call_soon_threadsafe(ticks.put_nowait, k)

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    late = []
    for _ in range(n):
        k = await ticks.get()
        late.append(loop.time() - (t0 + k * period))
    thread.join()
    return {"rate_hz": rate, "timer": "ticker thread, absolute deadlines", **stats(late)}


async def round_robin(n: int, seconds: float) -> dict:
    counts = [0] * n
    stop = False

    async def spin(i: int) -> None:
        while not stop:
            await asyncio.sleep(0)
            counts[i] += 1

    tasks = [asyncio.create_task(spin(i)) for i in range(n)]
    await asyncio.sleep(0)  # all started
    start = list(counts)
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - t0
    total = sum(counts) - sum(start)
    stop = True
    await asyncio.gather(*tasks)
    return {"tasks": n, "switches": total, "switches_per_s": round(total / elapsed),
            "us_per_switch": round(elapsed / total * 1e6, 3)}


class _Work(Instrument):
    """An instrument whose trace is a fixed piece of work (one loop step and a small FFT)."""

    async def _trace(self) -> df.Chunk:
        return df.Chunk(await _work(), 1.0)


async def _work() -> np.ndarray:
    await asyncio.sleep(0)
    return np.abs(np.fft.fft(_SAMPLES))


_SAMPLES = np.ones(256, np.complex64)


async def run_single_overhead(calls: int = 5000) -> dict:
    """µs per `run_single()` against a bare coroutine doing the same work, same run."""
    async with _Work() as instrument:
        async def bare() -> float:
            t0 = time.perf_counter()
            for _ in range(calls):
                await _work()
            return time.perf_counter() - t0

        async def wrapped() -> float:
            t0 = time.perf_counter()
            for _ in range(calls):
                await instrument.run_single()
            return time.perf_counter() - t0

        bare_s = min([await bare() for _ in range(3)])
        wrapped_s = min([await wrapped() for _ in range(3)])
    return {"calls": calls, "bare_us": round(bare_s / calls * 1e6, 2),
            "run_single_us": round(wrapped_s / calls * 1e6, 2),
            "overhead_us": round((wrapped_s - bare_s) / calls * 1e6, 2)}


async def main(seconds: float) -> dict:
    poll = []
    for rate in RATES:
        poll.append(await poll_run(rate, False, seconds))
        poll.append(await poll_run(rate, True, seconds))
        poll.append(await poll_run(rate, True, seconds, threaded=True))
    reference = []
    for rate in RATES:
        reference.append(await reference_sleep(rate, min(seconds, 2.0)))
        reference.append(await reference_thread(rate, min(seconds, 2.0)))
    switches = [await round_robin(n, min(seconds, 2.0)) for n in TASKS]
    return {"poll": poll, "reference_timers_idle": reference, "round_robin": switches,
            "run_single": await run_single_overhead()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each poll run")
    args = parser.parse_args()
    t0 = time.perf_counter()
    results = asyncio.run(main(args.seconds))
    emit("timing", results, seconds_per_run=args.seconds, wall_s=round(time.perf_counter() - t0, 1))
