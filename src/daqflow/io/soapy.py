"""SDR radios through SoapySDR: `soapy_source` (RX) and `soapy_sink` (TX); opening and
setting up the device is `soapy_radio`.

Everything that touches the device runs in one reader (or writer) thread, so the event loop
never waits on the radio: the reader fills chunk buffers with ``readStream`` (which releases
the GIL) and hands finished Chunks to the loop through a bounded `Handoff`. Losses are
counted and marked where they happen:

- the device's overflow (``SOAPY_SDR_OVERFLOW``): with hardware time, the exact samples lost
  (from the jump of ``timeNs``); without, the host clock's estimate (at least one sample),
  and the next chunk carries ``meta["overflow_estimated"] = True``;
- a loop too slow to take chunks: the handoff drops whole chunks, counted exactly;
- a full FIFO downstream: the runtime's real-time rule (the source never waits).
Every loss shows as an index jump equal to the next chunk's ``meta["overflow"]``.

Retuning (``freq``/``gain`` given as a `daqflow.Param`) happens between chunks: the samples
the device still held from the old setting are dropped on purpose (``meta["skipped"]``, not
``overflow``), so the first chunk at the new setting starts exactly where it took effect, and
the gap resets every block downstream (no average mixes two tunings).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from types import MappingProxyType, ModuleType
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block, note_lost
from ..core.authoring import Param
from ._system import soapysdr
from .handoff import Handoff
from .soapy_radio import Radio, Setting, args_text, changed_settings

READ_TIMEOUT_US = 100_000  # one readStream call; the reader checks for a stop between calls
HANDOFF_CHUNKS = 16


class LossClock:
    """Turns what readStream says into sample counts: where each read's samples sit, and
    how many were lost before them.

    With hardware time, a read's ``timeNs`` against the time its first sample should have had
    gives the exact loss. Without it, an overflow is estimated from the host clock: the
    samples the clock produced since the last re-anchoring that were not delivered
    (``estimated`` is then True; at least one sample, as the device said it lost some).
    """

    def __init__(self, rate: float, hardware_time: bool):
        self.rate = rate
        self.hardware_time = hardware_time
        self.next_ns: int | None = None  # hardware time the next sample should have
        self.anchor: tuple[float, int] | None = None  # (host seconds, stream index)

    def on_samples(self, index: int, count: int, time_ns: int | None, now: float) -> int:
        """``count`` samples arrived (stamped ``time_ns``, or None); returns samples lost just
        before them (0 without hardware time: overflows are told by `on_overflow`)."""
        lost = 0
        if time_ns is not None and self.next_ns is not None:
            lost = max(0, round((time_ns - self.next_ns) * self.rate / 1e9))
        if time_ns is not None:
            self.next_ns = time_ns + round(count * 1e9 / self.rate)
        if self.anchor is None:
            self.anchor = (now, index + lost + count)
        return lost

    def on_overflow(self, index: int, now: float) -> int:
        """The device reported an overflow with ``index`` samples delivered so far; returns the
        estimated samples lost (without hardware time), 0 with it (the next stamp tells)."""
        if self.hardware_time and self.next_ns is not None:
            return 0
        estimate = 1
        if self.anchor is not None:
            t0, i0 = self.anchor
            estimate = max(1, round((now - t0) * self.rate) - (index - i0))
        self.anchor = None  # re-anchored at the next delivered read
        return estimate

    def time_of(self, index: int, time_ns: int | None) -> float:
        return time_ns / 1e9 if time_ns is not None else index / self.rate


class _ChunkBuilder:
    """Fills one chunk's buffers and makes Chunks with true index, time and marks."""

    def __init__(self, channels: int, size: int, rate: float):
        self.channels, self.size, self.rate = channels, size, rate
        self.index = 0  # stream index of the next sample
        self.lost = 0  # samples lost before the next chunk (overflow)
        self.estimated = False
        self.skipped = 0  # samples dropped on purpose before the next chunk (retune)
        self.params: dict[str, float] = {}
        self._new()

    def _new(self) -> None:
        self.buffers = [np.empty(self.size, np.complex64) for _ in range(self.channels)]
        self.pos = 0
        self.start = self.index
        self.time: float | None = None

    def views(self) -> list[np.ndarray]:
        return [b[self.pos:] for b in self.buffers]

    @property
    def space(self) -> int:
        return self.size - self.pos

    def take(self, meta: Mapping[str, Any]) -> Chunk | None:
        """The filled part as a Chunk (None if empty); the next chunk starts fresh."""
        if self.pos == 0:
            return None
        if self.channels == 1:
            data = self.buffers[0][:self.pos]
        else:
            data = np.stack([b[:self.pos] for b in self.buffers], axis=1)
        extra: dict[str, Any] = {}
        if self.lost:
            extra["overflow"] = self.lost
            if self.estimated:
                extra["overflow_estimated"] = True
        if self.skipped:
            extra["skipped"] = self.skipped
        if self.params:
            extra["params"] = dict(self.params)
        chunk = Chunk(data, self.rate, self.start, self.time if self.time is not None
                      else self.start / self.rate, {**meta, **extra} if extra else meta)
        self.lost, self.estimated, self.skipped, self.params = 0, False, 0, {}
        self._new()
        return chunk

    def gap(self, lost: int = 0, skipped: int = 0, estimated: bool = False) -> None:
        """Samples missing before the next sample; call only at a chunk boundary."""
        assert self.pos == 0
        self.lost += lost
        self.skipped += skipped
        self.estimated |= estimated and lost > 0
        self.index += lost + skipped
        self.start = self.index


class _Receiver:
    """The reader thread of `soapy_source`: reads, accounts, retunes, hands chunks over."""

    def __init__(self, config: Mapping[str, Any], handoff: Handoff):
        self.config = config
        self.handoff = handoff
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._main, name=f"soapy_source {config['args']}",
                                       daemon=True)

    def _main(self) -> None:
        error: BaseException | None = None
        try:
            soapy = soapysdr()
            c = self.config
            radio = Radio(soapy, c["device"], soapy.SOAPY_SDR_RX, c["rate"], c["freq"], c["gain"],
                           c["channels"], c["antenna"], c["bandwidth"], "soapy_source")
            try:
                self._stream(soapy, radio)
            finally:
                radio.close()
        except BaseException as exc:  # handed to the loop, raised there by the source
            error = exc
        self.handoff.finish(error)

    def _stream(self, soapy: ModuleType, radio: Radio) -> None:
        c = self.config
        mtu = radio.setup_stream()
        size = c["chunk"] or _default_chunk(radio.rate, mtu)
        builder = _ChunkBuilder(len(radio.channels), size, radio.rate)
        clock = LossClock(radio.rate, radio.hardware_time)
        meta = radio.meta()
        timeout = c["timeout"]
        last_data = time.monotonic()
        started = False
        while not self.stopping.is_set():
            if builder.pos == 0 and (changed := changed_settings(radio)):
                meta = self._retune(soapy, radio, builder, clock, changed, mtu)
                if builder.space == 0:  # what was kept after the retune filled a chunk
                    self.handoff.offer(builder.take(meta))  # type: ignore[arg-type]
                    continue
            result = radio.dev.readStream(radio.stream, builder.views(), builder.space,
                                          timeoutUs=READ_TIMEOUT_US)
            now = time.monotonic()
            ret = result.ret
            if ret > 0:
                stamped = result.timeNs if result.flags & soapy.SOAPY_SDR_HAS_TIME else None
                lost = clock.on_samples(builder.index, ret, stamped, now)
                if lost:  # the device skipped ahead: close the chunk before the jump
                    self._move_after_gap(builder, meta, ret, lost)
                if builder.time is None and stamped is not None:
                    builder.time = clock.time_of(builder.start, stamped) - builder.pos / radio.rate
                builder.pos += ret
                builder.index += ret
                last_data, started = now, True
                if builder.space == 0:
                    self.handoff.offer(builder.take(meta))  # type: ignore[arg-type]
            elif ret == soapy.SOAPY_SDR_TIMEOUT:
                limit = timeout if started else max(timeout, 5.0)
                if now - last_data > limit:
                    raise TimeoutError(f"soapy_source {radio.args!r}: no samples for {limit:g} s "
                                       "(readStream timed out): is the device still connected?")
            elif ret == soapy.SOAPY_SDR_OVERFLOW:
                estimate = clock.on_overflow(builder.index, now)
                partial = builder.take(meta)
                if partial is not None:
                    self.handoff.offer(partial)
                builder.gap(lost=estimate, estimated=True)
            else:
                raise _read_failed(soapy, radio, ret)
        partial = builder.take(meta)
        if partial is not None:
            self.handoff.offer(partial)

    def _move_after_gap(self, builder: _ChunkBuilder, meta: Mapping[str, Any], count: int,
                        lost: int) -> None:
        """The read just made (``count`` samples at ``builder.pos``) follows ``lost`` missing
        samples: deliver what came before, and start a new chunk with these samples."""
        fresh = [b[builder.pos:builder.pos + count].copy() for b in builder.buffers]
        done = builder.take(meta)
        if done is not None:
            self.handoff.offer(done)
        builder.gap(lost=lost)
        for buffer, samples in zip(builder.buffers, fresh, strict=True):
            buffer[:count] = samples

    def _retune(self, soapy: ModuleType, radio: Radio, builder: _ChunkBuilder,
                clock: LossClock, changed: list[Setting], mtu: int) -> Mapping[str, Any]:
        """Apply the ``changed`` settings, then drop on purpose everything up to the moment
        the new setting has settled: with hardware time, every sample stamped before the
        device's time after the command plus ``settle``; without, what the device had
        buffered plus ``settle`` seconds of samples. What falls in that window is skipped,
        whether this read dropped it or the radio lost it in an overflow; only samples lost
        after it count as lost. The next chunk starts at the first sample kept."""
        for setting in changed:
            radio.apply(setting)
            builder.params[setting.follow.name] = setting.value  # type: ignore[assignment]
        start = builder.index  # the first sample not delivered: the window opens here
        settle = max(1, round(self.config["settle"] * radio.rate))  # a gap, always
        position = start  # index of the next sample read, losses counted
        settled_ns = 0
        window_end: int | None = None  # index of the first sample to keep
        if radio.hardware_time:
            settled_ns = radio.dev.getHardwareTime("") + round(settle * 1e9 / radio.rate)
        else:
            position += self._drain(radio, builder.size, mtu)  # held from before the command
            window_end = position + settle
        scratch = [np.empty(builder.size, np.complex64) for _ in radio.channels]
        deadline = time.monotonic() + self.config["timeout"]
        while not self.stopping.is_set():
            result = radio.dev.readStream(radio.stream, scratch, builder.size, timeoutUs=READ_TIMEOUT_US)
            if time.monotonic() > deadline:
                raise TimeoutError(f"soapy_source {radio.args!r}: no samples at the new setting for "
                                   f"{self.config['timeout']:g} s after a retune")
            if result.ret == soapy.SOAPY_SDR_OVERFLOW:
                position += clock.on_overflow(position, time.monotonic())
                continue
            if result.ret == soapy.SOAPY_SDR_TIMEOUT:
                continue
            if result.ret < 0:
                raise _read_failed(soapy, radio, result.ret)
            stamped = result.timeNs if result.flags & soapy.SOAPY_SDR_HAS_TIME else None
            position += clock.on_samples(position, result.ret, stamped, time.monotonic())
            if radio.hardware_time:
                if stamped is None:  # an unstamped read: drop it, wait for a stamped one
                    position += result.ret
                    continue
                window_end = position + math.ceil((settled_ns - stamped) * radio.rate / 1e9)
            assert window_end is not None
            keep = max(window_end - position, 0)
            if keep >= result.ret:
                position += result.ret
                continue
            kept = result.ret - keep
            for buffer, samples in zip(builder.buffers, scratch, strict=True):
                buffer[:kept] = samples[keep:result.ret]
            first = position + keep
            skipped = max(min(first, window_end) - start, 0)
            builder.gap(lost=first - start - skipped, skipped=skipped,
                        estimated=not radio.hardware_time)
            first_ns = None if stamped is None else stamped + round(keep * 1e9 / radio.rate)
            builder.time = clock.time_of(builder.index, first_ns)
            builder.pos, builder.index = kept, builder.index + kept
            break
        return radio.meta()

    def _drain(self, radio: Radio, size: int, mtu: int) -> int:
        """Read without waiting what the device holds; returns the samples read. It stops at
        the first read shorter than a full one (the device had no more), at a stop, or after
        ``timeout`` seconds (a device that produces as fast as it is read never runs dry)."""
        scratch = [np.empty(size, np.complex64) for _ in radio.channels]
        full = min(size, mtu) if mtu > 0 else size
        deadline = time.monotonic() + self.config["timeout"]
        drained = 0
        while not self.stopping.is_set() and time.monotonic() < deadline:
            ret = radio.dev.readStream(radio.stream, scratch, size, timeoutUs=0).ret
            if ret == radio.soapy.SOAPY_SDR_OVERFLOW:
                continue  # what it held is gone; the settle gap and the clock cover it
            if ret < 0 and ret != radio.soapy.SOAPY_SDR_TIMEOUT:
                raise _read_failed(radio.soapy, radio, ret)
            drained += max(ret, 0)
            if ret < full:
                break
        return drained


def _read_failed(soapy: ModuleType, radio: Radio, ret: int) -> RuntimeError:
    return RuntimeError(f"soapy_source {radio.args!r}: readStream failed: {soapy.errToStr(ret)} ({ret})")


def _default_chunk(rate: float, mtu: int) -> int:
    """About 20 ms of samples, a power of two, at least one MTU."""
    target = 2 ** round(math.log2(max(rate * 0.02, 1.0)))
    return int(min(max(target, 256, mtu), 1 << 20))


@block(name="soapy_source", realtime=True)
async def _soapy_source(config: Mapping[str, Any]) -> AsyncIterator[Chunk]:
    handoff = Handoff(HANDOFF_CHUNKS, asyncio.get_running_loop())
    receiver = _Receiver(config, handoff)
    receiver.thread.start()
    try:
        while (chunk := await handoff.get()) is not None:
            yield chunk
    finally:
        receiver.stopping.set()
        await asyncio.to_thread(receiver.thread.join)
        note_lost(handoff.lost_unmarked)


def soapy_source(device: str | Mapping[str, str] = "driver=rtlsdr", rate: float = 2.4e6,
                 freq: float | Param[float] | None = 100e6, gain: float | Param[float] | None = None,
                 channels: Sequence[int] = (0,), antenna: str | None = None,
                 bandwidth: float | None = None, chunk: int | None = None, *,
                 timeout: float = 3.0, settle: float = 0.002, **options: Any) -> Stream:
    """Receive from an SDR radio through SoapySDR: a real-time source of complex64 chunks.

    Args:
        device: SoapySDR device args, as a string ("driver=rtlsdr,serial=...") or a dict.
        rate: sample rate in Hz (checked against what the device supports).
        freq: centre frequency in Hz, or a float `daqflow.Param` to retune live
            (None: leave the device's). Chunks carry it as ``meta["center_freq"]``.
        gain: overall gain in dB, or a Param; None uses the device's automatic gain.
        channels: RX channels; one gives chunks of shape (n,), several (n, channels).
        antenna: antenna name (``daqflow devices`` lists them).
        bandwidth: analog filter bandwidth in Hz (None: the driver's default).
        chunk: samples per chunk (default about 20 ms of samples, a power of two).
        timeout: seconds without samples before the source fails (the first samples may
            take up to 5 s).
        settle: seconds a retune takes to settle; what the device captured before the new
            setting plus ``settle`` is dropped as ``meta["skipped"]``.
        options: name=, buffer=, policy=.

    Chunks carry ``meta``: ``center_freq``, ``gain``, ``device`` (the args) and ``hw`` (driver
    and hardware keys). ``time`` is the device's timestamp (``timeNs``) when it has hardware
    time, else ``index / rate``. After lost samples the next chunk has ``meta["overflow"]`` (and
    ``overflow_estimated`` when the count is the host clock's estimate); after a retune,
    ``meta["skipped"]`` counts the samples dropped on purpose and ``meta["params"]`` the new
    values (only those that changed). A device that cannot be opened, an unsupported rate,
    frequency, gain, antenna or channel, and a device that stops delivering raise errors naming
    the device args and what it supports. A live value the device cannot take is refused
    without ending the run: the Param is set back and a warning names the device's range.
    """
    for name, value in (("rate", rate), ("bandwidth", bandwidth)):
        if value is not None and not (isinstance(value, int | float) and value > 0):
            raise ValueError(f"soapy_source: {name} must be > 0 Hz, got {value!r}")
    if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"soapy_source: chunk must be an int >= 1 sample, got {chunk!r}")
    channels = tuple(int(c) for c in channels)
    if not channels:
        raise ValueError("soapy_source: channels must name at least one channel")
    soapysdr()  # a missing SoapySDR fails here, when the graph is described
    config = MappingProxyType({
        "device": device if isinstance(device, str) else dict(device), "args": args_text(device),
        "rate": float(rate), "freq": freq, "gain": gain, "channels": channels, "antenna": antenna,
        "bandwidth": bandwidth, "chunk": chunk, "timeout": float(timeout), "settle": float(settle),
    })
    return _soapy_source(config, **options)


# -- TX ---------------------------------------------------------------------------------
class _Transmitter:
    """The device side of `soapy_sink`, run in its own thread (one device, one thread)."""

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.radio: Radio | None = None
        self.underflows = 0
        self.samples = 0

    def open(self) -> None:
        soapy = soapysdr()
        c = self.config
        self.radio = Radio(soapy, c["device"], soapy.SOAPY_SDR_TX, c["rate"], c["freq"], c["gain"],
                            (c["channel"],), c["antenna"], None, "soapy_sink")
        self.radio.setup_stream()

    def write(self, data: np.ndarray) -> None:
        radio = self.radio
        assert radio is not None
        soapy = radio.soapy
        for setting in changed_settings(radio):
            radio.apply(setting)
        samples = np.ascontiguousarray(data, np.complex64)
        done = 0
        while done < len(samples):
            ret = radio.dev.writeStream(radio.stream, [samples[done:]], len(samples) - done,
                                        timeoutUs=1_000_000).ret
            if ret == soapy.SOAPY_SDR_UNDERFLOW:
                self.underflows += 1
                continue
            if ret == soapy.SOAPY_SDR_TIMEOUT:
                raise TimeoutError(f"soapy_sink {radio.args!r}: the device took no samples for 1 s")
            if ret < 0:
                raise RuntimeError(f"soapy_sink {radio.args!r}: writeStream failed: "
                                   f"{soapy.errToStr(ret)} ({ret})")
            done += ret
        self.samples += done
        self.poll_status()

    def poll_status(self) -> None:
        """Count the underflows the driver reports asynchronously (if it reports them)."""
        radio = self.radio
        assert radio is not None
        soapy = radio.soapy
        while True:
            status = radio.dev.readStreamStatus(radio.stream, timeoutUs=0)
            if status.ret == soapy.SOAPY_SDR_UNDERFLOW:
                self.underflows += 1
                continue
            return

    def close(self) -> dict[str, Any]:
        if self.radio is not None:
            self.radio.close()
        return {"device": self.config["args"], "samples": self.samples, "underflows": self.underflows}


@block(name="soapy_sink", accepts="complex", needs_samples=True)
async def _soapy_sink(x: Stream, config: Mapping[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    transmitter = _Transmitter(config)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="soapy_sink") as thread:
        try:
            await loop.run_in_executor(thread, transmitter.open)
            async for chunk in x:  # type: ignore[attr-defined]
                data = chunk.data if isinstance(chunk, Chunk) else np.asarray(chunk)
                await loop.run_in_executor(thread, transmitter.write, data)
        finally:
            result = await loop.run_in_executor(thread, transmitter.close)
    return result


def soapy_sink(stream: Stream, device: str | Mapping[str, str] = "driver=hackrf", rate: float = 2e6,
               freq: float | Param[float] | None = 100e6, gain: float | Param[float] | None = None,
               channel: int = 0, antenna: str | None = None, **options: Any) -> Stream:
    """Transmit a stream of complex samples through a SoapySDR radio (TX).

    Args:
        stream: complex chunks at ``rate`` (written as CF32).
        device: SoapySDR device args (string or dict).
        rate: sample rate in Hz.
        freq: centre frequency in Hz, or a float Param (applied between chunks).
        gain: TX gain in dB, or a Param; None leaves the device's.
        channel: the TX channel.
        antenna: antenna name.
        options: name=, buffer=, policy=.

    The sink's result: ``{"device": args, "samples": written, "underflows": n}``, where
    ``underflows`` counts the times the device ran out of samples (writeStream's and the
    driver's stream status reports).
    """
    if not (isinstance(rate, int | float) and rate > 0):
        raise ValueError(f"soapy_sink: rate must be > 0 Hz, got {rate!r}")
    soapysdr()
    config = MappingProxyType({
        "device": device if isinstance(device, str) else dict(device), "args": args_text(device),
        "rate": float(rate), "freq": freq, "gain": gain, "channel": int(channel), "antenna": antenna,
    })
    return _soapy_sink(stream, config, **options)
