"""``daqflow demo --instruments``: the simulated instruments, concurrently, then through VISA.

1. A scope, a spectrum analyzer and a network analyzer acquire at the same time
   (``asyncio.gather`` of their ``run_single``): the whole takes about the longest one.
2. A function generator and a multimeter on PyVISA's simulated backend (packaged pyvisa-sim
   definitions): identity, settings written with SCPI, an out-of-range request refused by the
   instrument's own error queue, then `visa_poll` readings through a daqflow graph.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np

from . import dsp
from .core import arun, collect
from .instruments import (
    FunctionGenerator,
    InstrumentError,
    Multimeter,
    SimNetworkAnalyzer,
    SimScope,
    SimSpectrumAnalyzer,
    visa_poll,
)


async def concurrent_acquisitions(say: Callable[[str], None]) -> dict[str, float]:
    """Three simulated instruments at once; returns each one's acquisition time (s)."""
    async with SimScope(timebase=2e-3, seed=1) as scope, SimSpectrumAnalyzer(span=20e3) as sa, \
            SimNetworkAnalyzer(points=401, ifbw=20e3, seed=1) as na:
        timings: dict[str, float] = {}

        async def timed(label: str, coro):
            t0 = time.perf_counter()
            result = await coro
            timings[label] = time.perf_counter() - t0
            return result

        t0 = time.perf_counter()
        trace, spectrum, s21 = await asyncio.gather(
            timed("scope", scope.acquire(4)), timed("spectrum analyzer", sa.acquire(2)),
            timed("network analyzer", na.acquire(1)))
        total = time.perf_counter() - t0
        say(f"scope: {trace.data.size} samples at {trace.rate / 1e3:g} kS/s, "
            f"{np.std(trace.data):.3f} V rms (mean of 4 traces)")
        freqs = spectrum.meta["freqs"]
        say(f"spectrum analyzer: strongest line at {freqs[np.argmax(spectrum.data)] / 1e3:.2f} kHz")
        f = s21.meta["freqs"]
        say(f"network analyzer: |S21| peaks at {f[np.argmax(np.abs(s21.data))] / 1e6:.4f} MHz "
            f"(resonator at {na.f0 / 1e6:g} MHz, Q {na.q:g})")
        longest = max(timings.values())
        say(f"all three at once: {total:.3f} s, while their acquisitions took "
            + ", ".join(f"{k} {v:.3f} s" for k, v in timings.items())
            + f" (sum {sum(timings.values()):.3f} s, longest {longest:.3f} s): they overlapped")
        return {**timings, "total": total}


async def visa_session(say: Callable[[str], None], readings: int = 5) -> list[float]:
    """SCPI over PyVISA's simulated backend; returns the polled multimeter readings."""
    async with FunctionGenerator.simulated(frequency=1e3, amplitude=1.0) as gen, \
            Multimeter.simulated(nplc=1) as dmm:
        say(f"function generator: {gen.identity}")
        say(f"multimeter:         {dmm.identity}")
        gen.frequency = 12.5e3
        await gen.apply()
        say(f"generator set to {await gen.query('FREQ?')} Hz")
        try:
            await gen.write("FREQ 1e12")  # beyond what the instrument accepts
        except InstrumentError as exc:
            say(f"refused by the instrument: {exc}")
        report = await arun(collect(dsp.head(visa_poll(dmm, "READ?", 0.05), readings), name="dmm"))
        values = [float(c.data[0]) for c in report.results["dmm"]]
        say("multimeter readings every 50 ms: " + ", ".join(f"{v:.4f} V" for v in values))
        return values


def run(say: Callable[[str], None] = print) -> None:
    asyncio.run(concurrent_acquisitions(say))
    asyncio.run(visa_session(say))
