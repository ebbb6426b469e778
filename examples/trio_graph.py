"""daqflow inside a trio program, through trio-asyncio.

    python examples/trio_graph.py [seconds]

`trio_asyncio.open_loop()` runs an asyncio event loop inside trio; `aio_as_trio(f)` turns an
asyncio coroutine function into one that trio code awaits. The graph and an instrument call
run that way as tasks of one trio nursery, beside a plain trio task that watches the
graph's newest result. No hardware, no network.
"""

import sys

import numpy as np
import trio
import trio_asyncio

import daqflow as df
from daqflow import dsp, io
from daqflow.instruments import SimScope


@df.block
async def track_peak(spectra: df.Stream, latest: dict) -> int:
    """Sink: keeps the newest spectrum row's peak frequency (Hz) in ``latest``; returns the
    number of rows seen."""
    rows = 0
    async for chunk in spectra:
        freqs = chunk.meta["freqs"]
        for row in np.atleast_2d(chunk.data):
            latest["peak_hz"] = float(freqs[int(np.argmax(row))])
            rows += 1
        latest["rows"] = rows
    return rows


async def scope_trace() -> np.ndarray:
    """One instrument call: the mean of 10 traces of a simulated scope (1000 points)."""
    async with SimScope(timebase=1e-3) as scope:
        return await scope.run_single(avg=10)


async def main(seconds: float) -> None:
    latest: dict = {}
    got: dict = {}
    adc = io.simulated_adc(rate=1e6, tones=[(125e3, 1.0)], noise=0.01, name="adc")
    sink = track_peak(dsp.spectrum(adc, 1024, average=8), latest, name="peak")

    async def graph() -> None:  # asyncio code, awaited from trio
        got["report"] = await trio_asyncio.aio_as_trio(df.arun)(sink, duration=seconds)

    async def scope() -> None:
        got["trace"] = await trio_asyncio.aio_as_trio(scope_trace)()

    async def watch() -> None:  # a plain trio task, beside the graph
        got["seen"] = []
        while True:
            await trio.sleep(0.25)
            if "report" in got:
                return
            got["seen"].append(dict(latest))

    async with trio_asyncio.open_loop(), trio.open_nursery() as nursery:
        for task in (graph, scope, watch):
            nursery.start_soon(task)

    report, trace = got["report"], got["trace"]
    print(f"graph: {report.blocks['adc'].samples_out} samples, "
          f"{report.results['peak']} spectra, peak at {latest['peak_hz'] / 1e3:.1f} kHz")
    print(f"scope: run_single(avg=10) gave shape {trace.shape}, "
          f"{np.sqrt(np.mean(trace ** 2)):.3f} V rms")
    print(f"trio: a trio task looked {len(got['seen'])} times while the graph ran, "
          f"the last: {got['seen'][-1]}")


if __name__ == "__main__":
    trio.run(main, float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
