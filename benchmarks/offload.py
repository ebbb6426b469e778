"""Two FFT-heavy blocks on two branches of one source: inline vs tasks vs ``threaded=True``.

One source fans out a 65536-sample complex64 chunk (repeated) to two plain-function map
blocks, each doing ``--ffts`` FFTs per chunk in ``scipy.fft`` (a few ms; the FFTs release
the GIL), each ending in a null sink. Variants, in the same run:

- ``fused``: the maps take no options, so both run inline in the source's task;
- ``tasks``: ``buffer=4, threaded=False``: each map is its own task on the event loop;
- ``threaded``: ``buffer=4, threaded=True``: each map runs in its own worker thread.

Reported per variant: best-of-``--repeat`` wall time, MS/s read from the source, and each
heavy block's busy fraction (``report.blocks[name].busy_fraction``); then the speed-up of
``threaded`` over ``tasks`` (and over ``fused``). On 2 free cores the ideal is ~2x.

A side run pushes a few distinct random chunks through every variant into ``collect``
sinks and checks the outputs are identical to each other and to calling the functions
directly (order, data and metadata): the threaded path must not change results.

    python benchmarks/offload.py [--items 100] [--samples 65536] [--ffts 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np
import scipy.fft

import daqflow as df
from _common import emit

BUFFER = 4
RATE = 1e6
VARIANTS = {
    "fused": {},
    "tasks": {"buffer": BUFFER, "threaded": False},
    "threaded": {"buffer": BUFFER, "threaded": True},
}
HEAVY = ("roundtrip", "multitaper")


@functools.cache
def sine_tapers(samples: int, count: int) -> np.ndarray:
    """``count`` orthonormal sine tapers of ``samples`` points (float32, read-only)."""
    n = np.arange(1, samples + 1)
    k = np.arange(1, count + 1)[:, None]
    tapers = (np.sqrt(2.0 / (samples + 1)) * np.sin(np.pi * k * n / (samples + 1))).astype(np.float32)
    tapers.flags.writeable = False
    return tapers


@df.block
def roundtrip(c, ffts=8):
    """``ffts // 2`` forward+inverse FFT pairs (a stand-in for FFT filtering): complex64 out."""
    y = c.data
    for _ in range(ffts // 2):
        y = scipy.fft.ifft(scipy.fft.fft(y))
    return df.Chunk(y, c.rate, c.index, c.time, c.meta)


@df.block
def multitaper(c, ffts=8):
    """Multitaper power spectrum with ``ffts`` sine tapers: float32 out, fftshifted."""
    x = c.data
    psd = np.zeros(x.shape[0], np.float32)
    for taper in sine_tapers(x.shape[0], ffts):
        s = scipy.fft.fft(x * taper)
        psd += s.real * s.real + s.imag * s.imag
    psd /= ffts
    return df.Chunk(scipy.fft.fftshift(psd), c.rate, c.index, c.time, c.meta)


def build(chunks: list[df.Chunk], ffts: int, variant: str, sink: df.BlockFactory) -> tuple:
    options = VARIANTS[variant]
    src = df.from_iterable(chunks)
    a = roundtrip(src, ffts=ffts, name=HEAVY[0], **options)
    b = multitaper(src, ffts=ffts, name=HEAVY[1], **options)
    return sink(a, name="sink_a", buffer=BUFFER), sink(b, name="sink_b", buffer=BUFFER)


def time_variant(chunks: list[df.Chunk], ffts: int, variant: str, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        sinks = build(chunks, ffts, variant, df.null_sink)
        t0 = time.perf_counter()
        report = df.run(*sinks)
        wall = time.perf_counter() - t0
        assert report.results == {"sink_a": len(chunks), "sink_b": len(chunks)}
        runs.append((wall, report))
    wall, report = min(runs, key=lambda run: run[0])
    samples = sum(c.samples for c in chunks)
    return {
        "wall_s": round(wall, 4),
        "msps": round(samples / wall / 1e6, 2),
        "busy_fraction": {name: round(report.blocks[name].busy_fraction, 3) for name in HEAVY},
        "busy_ms_per_chunk": {
            name: round(report.blocks[name].busy / len(chunks) * 1e3, 3) for name in HEAVY
        },
    }


def check_outputs(samples: int, ffts: int, items: int) -> dict:
    """Distinct chunks through every variant: same outputs as each other and direct calls."""
    rng = np.random.default_rng(1)
    chunks = []
    for i in range(items):
        data = rng.standard_normal(2 * samples, dtype=np.float32).view(np.complex64)
        chunks.append(df.Chunk(data, RATE, i * samples, i * samples / RATE, {"n": i}))
    expected = (
        [roundtrip.spec.fn(c, ffts) for c in chunks],
        [multitaper.spec.fn(c, ffts) for c in chunks],
    )
    outputs = {}
    for variant in VARIANTS:
        report = df.run(*build(chunks, ffts, variant, df.collect))
        outputs[variant] = (report.results["sink_a"], report.results["sink_b"])

    def same(got: list[df.Chunk], want: list[df.Chunk]) -> bool:
        return len(got) == len(want) and all(
            g.data.dtype == w.data.dtype
            and np.array_equal(g.data, w.data)
            and (g.rate, g.index, g.time, dict(g.meta)) == (w.rate, w.index, w.time, dict(w.meta))
            for g, w in zip(got, want, strict=False)
        )

    def same_pair(x: tuple, y: tuple) -> bool:
        return same(x[0], y[0]) and same(x[1], y[1])

    return {
        "items_checked": items,
        "threaded_equals_tasks": same_pair(outputs["threaded"], outputs["tasks"]),
        "threaded_equals_fused": same_pair(outputs["threaded"], outputs["fused"]),
        "all_equal_direct_calls": all(same_pair(out, expected) for out in outputs.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100, help="chunks per run")
    parser.add_argument("--samples", type=int, default=65536, help="complex64 samples per chunk")
    parser.add_argument("--ffts", type=int, default=8, help="FFTs per block and chunk")
    parser.add_argument("--check-items", type=int, default=4, help="chunks in the correctness run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    chunk = df.Chunk(np.ones(args.samples, np.complex64), RATE)
    check = check_outputs(args.samples, args.ffts, args.check_items)  # also warms up
    results: dict[str, object] = {
        variant: time_variant([chunk] * args.items, args.ffts, variant, args.repeat)
        for variant in VARIANTS
    }
    results["speedup_threaded_over_tasks"] = round(
        results["tasks"]["wall_s"] / results["threaded"]["wall_s"], 3
    )
    results["speedup_threaded_over_fused"] = round(
        results["fused"]["wall_s"] / results["threaded"]["wall_s"], 3
    )
    results["correctness"] = check
    emit(
        "offload",
        results,
        items=args.items,
        samples=args.samples,
        ffts=args.ffts,
        buffer=BUFFER,
        repeat=args.repeat,
        targets={"speedup_threaded_over_tasks": "up to ~2 on 2 free cores"},
    )


if __name__ == "__main__":
    main()
