"""Shared helpers of the recording tests (daqflow.io), handed out as fixtures.

- ``adc(n, ...)``: ``n`` samples of the simulated ADC, not paced, seeded (reproducible).
- ``drop_chunks(stream, {k, ...})``: loses those chunks (0-based) and marks the next one
  ``meta["overflow"]``, as the runtime does when a real-time source finds its FIFO full.
- ``fail_at(stream, k)``: raises `InjectedFault` on the k-th chunk (0-based).
- ``retune(stream, from_index, rate=, center_freq=)``: another rate / centre frequency.
- ``record(writer, stream, path)``: runs ``writer(stream, path, name="recording")`` beside a
  ``collect`` of the same stream, so the test knows exactly what the writer was handed.
- ``replay(source)``: the chunks a source gives back (`Chunks`: data, indices, overflow).
- ``assert_bit_exact``, ``assert_no_partial``, ``reference_read(path, tail=None)`` (a
  recording as its format's reference library reads it: sigmf, h5py, numpy).
- ``daqflow_cli(*args)`` / ``interrupted_record(...)``: the ``daqflow`` command as a
  subprocess, and one stopped by a signal after a delay.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import daqflow as df
from daqflow import dsp, io
from daqflow.core.chunk import mark_overflow

DAQFLOW = [sys.executable, "-m", "daqflow"]
RATE = 1e6


class InjectedFault(RuntimeError):
    """The failure `fail_at` raises."""


@df.block(name="drop_chunks", accepts="chunk", produces="same")
async def _drop_chunks(x: df.Stream, lose: frozenset[int]):
    lost = 0
    k = 0
    async for chunk in x:
        if k in lose:
            lost += chunk.samples
        else:
            yield mark_overflow(chunk, lost)
            lost = 0
        k += 1


@df.block(name="fail_at", accepts="chunk", produces="same")
async def _fail_at(x: df.Stream, at: int):
    k = 0
    async for chunk in x:
        if k == at:
            raise InjectedFault(f"injected failure at chunk {at}")
        yield chunk
        k += 1


@df.block(name="retune", accepts="chunk", produces="same")
def _retune(chunk: df.Chunk, from_index: int, rate: float | None, center_freq: float | None):
    """From stream index ``from_index`` on: another rate and/or centre frequency."""
    if chunk.index < from_index:
        return chunk
    if rate is not None:
        chunk = chunk.replace(rate=rate, time=chunk.index / rate)
    if center_freq is not None:
        chunk = chunk.with_meta(center_freq=center_freq)
    return chunk


@pytest.fixture
def drop_chunks() -> Callable[..., df.Stream]:
    def make(stream: df.Stream, lose: Iterable[int]) -> df.Stream:
        return _drop_chunks(stream, frozenset(lose))

    return make


@pytest.fixture
def fail_at() -> Callable[..., df.Stream]:
    return _fail_at


@pytest.fixture
def retune() -> Callable[..., df.Stream]:
    def make(stream: df.Stream, from_index: int, rate: float | None = None,
             center_freq: float | None = None) -> df.Stream:
        return _retune(stream, from_index, rate, center_freq)

    return make


@pytest.fixture
def adc() -> Callable[..., df.Stream]:
    def make(n: int, chunk: int = 1000, dtype: str = "complex64", seed: int = 7,
             center_freq: float | None = None, rate: float = RATE, noise: float = 0.1) -> df.Stream:
        source = io.simulated_adc(rate, chunk=chunk, dtype=dtype, noise=noise, realtime=False,
                                  seed=seed, center_freq=center_freq)
        return dsp.head(source, n)

    return make


@dataclass
class Chunks:
    """Chunks of one stream, with what the tests compare of them."""

    items: list[df.Chunk]

    @property
    def data(self) -> np.ndarray:
        return np.concatenate([c.data for c in self.items])

    @property
    def indices(self) -> np.ndarray:
        """The stream index of every sample."""
        if not self.items:
            return np.zeros(0, np.int64)
        return np.concatenate([np.arange(c.index, c.end_index) for c in self.items])

    @property
    def overflow(self) -> dict[int, int]:
        """Samples marked lost, by the index of the chunk after the loss."""
        return {c.index: int(c.meta["overflow"]) for c in self.items if c.meta.get("overflow")}

    def per_sample(self, what: Callable[[df.Chunk], Any]) -> list[tuple[int, Any]]:
        """(first index, value) wherever ``what(chunk)`` changes along the stream."""
        out: list[tuple[int, Any]] = []
        for c in self.items:
            value = what(c)
            if not out or out[-1][1] != value:
                out.append((c.index, value))
        return out


@dataclass
class Recorded:
    """What a `record` run gave: the report and the chunks the writer was handed."""

    report: df.Report
    seen: Chunks

    @property
    def result(self) -> dict[str, Any]:
        return self.report.results["recording"]


@pytest.fixture
def record() -> Callable[..., Recorded]:
    def run(writer: Callable[..., df.Stream], stream: df.Stream, path: Any, **options: Any) -> Recorded:
        sink = writer(stream, path, name="recording", **options)
        seen = df.collect(stream, name="seen")
        report = df.run(sink, seen)
        assert report.blocks["recording"].samples_in == report.blocks["seen"].samples_in
        return Recorded(report, Chunks(report.results["seen"]))

    return run


@pytest.fixture
def replay() -> Callable[[df.Stream], Chunks]:
    def run(source: df.Stream) -> Chunks:
        return Chunks(df.run(df.collect(source, name="replayed")).results["replayed"])

    return run


def _assert_bit_exact(actual: Any, expected: Any) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape)
    assert actual.tobytes() == expected.tobytes(), "same dtype and shape, different bits"


@pytest.fixture
def assert_bit_exact() -> Callable[[Any, Any], None]:
    """Same dtype, same shape, same bits."""
    return _assert_bit_exact


def _no_partial(directory: Path) -> None:
    left = sorted(p.name for p in Path(directory).rglob("*") if p.name.endswith(".partial"))
    assert not left, f"temporary files left in {directory}: {left}"


@pytest.fixture
def assert_no_partial() -> Callable[[Path], None]:
    return _no_partial


def _reference_read(path: Path, tail: int | None = None) -> tuple[int, np.ndarray]:
    path = Path(path)
    if path.name.endswith(".sigmf-meta"):
        import sigmf

        handle = sigmf.sigmffile.fromfile(str(path), autoscale=False)  # checks core:sha512
        handle.validate()
        count = handle.sample_count
        start = 0 if tail is None else max(0, count - tail)
        data = handle.read_samples(start, count - start) if count > start else np.zeros(0, np.complex64)
    elif path.suffix == ".h5":
        import h5py

        with h5py.File(path, "r") as f:
            ds = f["signal"]
            assert bool(ds.attrs["complete"]), f"{path}: complete is not True"
            count = ds.shape[0]
            data = ds[0 if tail is None else max(0, count - tail):]
    elif path.suffix == ".npy":
        whole = np.load(path, mmap_mode="r" if tail is not None else None)
        count = whole.shape[0]
        data = np.array(whole[0 if tail is None else max(0, count - tail):])
        del whole
    else:
        raise ValueError(f"no reference reader for {path}")
    return int(count), np.asarray(data)


@pytest.fixture
def reference_read() -> Callable[..., tuple[int, np.ndarray]]:
    """``reference_read(path, tail=None)``: open a recording (SigMF meta, .h5, .npy) with its
    format's reference library (sigmf: checksum checked, validated; h5py: complete=True;
    numpy.load) and return (samples it holds, its samples, or only the last ``tail``).
    The sigmf library gives float32/complex64 whatever the datatype."""
    return _reference_read


@pytest.fixture
def daqflow_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*DAQFLOW, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout)

    return run


@dataclass
class Interrupted:
    """A ``daqflow record`` subprocess stopped by a signal."""

    returncode: int
    stdout: str
    stderr: str
    signal: str
    delay: float

    @property
    def recorded(self) -> dict[str, str]:
        """The ``recorded: k=v, ...`` line the command prints at the end."""
        lines = [line for line in self.stdout.splitlines() if line.startswith("recorded: ")]
        assert len(lines) == 1, f"no 'recorded:' line in:\n{self.stdout}\n{self.stderr}"
        return dict(part.split("=", 1) for part in lines[0].removeprefix("recorded: ").split(", "))

    @property
    def samples(self) -> int:
        return int(self.recorded["samples"])

    def table_items_in(self, block: str = "recording") -> int:
        """Items in of ``block`` in the printed report table."""
        for line in self.stdout.splitlines():
            cells = line.split()
            if cells and cells[0] == block and cells[1] == "sink":
                return int(cells[2])
        raise AssertionError(f"no row for {block!r} in the report:\n{self.stdout}")

    def __str__(self) -> str:
        return (f"{self.signal} after {self.delay:.3f} s -> exit {self.returncode}\n"
                f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}")


@pytest.fixture
def interrupted_record() -> Callable[..., Interrupted]:
    def run(output: Path, sig: signal.Signals, delay: float, *args: str) -> Interrupted:
        """Start ``daqflow record OUTPUT ARGS``; once it says it runs, wait ``delay`` seconds
        and send ``sig``; wait for the orderly end."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with subprocess.Popen([*DAQFLOW, "record", str(output), *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) as proc:
            try:
                first = proc.stderr.readline()
                assert "Ctrl-C stops" in first, first + proc.stderr.read()
                time.sleep(delay)
                proc.send_signal(sig)
                stdout, rest = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
        return Interrupted(proc.returncode, stdout, first + rest, sig.name, delay)

    return run
