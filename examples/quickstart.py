"""Quickstart: a real-time simulated ADC, a power meter fused inline, a lossy decimating tap.

    python examples/quickstart.py [seconds]
"""

import sys

import numpy as np

import daqflow as df
from daqflow import io


@df.block(accepts="complex")
def power_db(chunk: df.Chunk) -> float:
    """Mean power of a chunk in dB."""
    return float(10 * np.log10(np.mean(np.abs(chunk.data) ** 2)))


@df.block
async def every(x: df.Stream, n: int):
    """Every n-th item of a stream."""
    k = 0
    async for item in x:
        if k % n == 0:
            yield item
        k += 1


def main(duration: float = 2.0) -> df.Report:
    adc = io.simulated_adc(rate=2e6, tones=[(250e3, 1.0)], noise=0.01)
    report = df.run(
        df.collect(power_db(adc), name="power"),
        df.collect(every(adc, 10, buffer=2, policy="drop_oldest"), name="tap"),
        duration=duration,
    )
    print(report)
    print("first power readings (dB):", [round(p, 2) for p in report.results["power"][:3]])
    return report


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
