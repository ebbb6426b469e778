"""Sound cards through PortAudio (sounddevice): `audio_source`, `audio_sink`, `audio_devices`.

`audio_source` is a real-time source like `simulated_adc`: PortAudio's callback copies each
block into a Chunk and hands it to the loop through a bounded `Handoff`, never waiting.
PortAudio's input overflow (the card had to discard samples) becomes a marked gap: the
samples lost are measured from the jump of the blocks' ADC timestamps when the host API
gives them, else from the host clock, and the next chunk carries ``meta["overflow"]`` with
``meta["overflow_estimated"] = True`` (PortAudio reports the event, not a count). Chunks
the loop was too slow to take are dropped whole and counted exactly. A card that goes away
(PortAudio ends the stream) or stops delivering for ``timeout`` seconds fails the source with
an error naming the device.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType, ModuleType
from typing import Any

import numpy as np

from ..core import Chunk, Stream, block, note_lost
from .devices import DeviceInfo
from .handoff import Handoff

HANDOFF_CHUNKS = 32
COMMON_RATES = (8000, 16000, 22050, 32000, 44100, 48000, 96000, 192000)
FIRST_DATA_S = 5.0  # a sound server may take seconds to deliver the first block
DTYPES = ("float32", "int16", "int32")
PORTAUDIO_INSTALL = ("sound cards need the 'sounddevice' package and the PortAudio library: "
                     "pip install 'daqflow[audio]', and on Debian/Ubuntu apt-get install libportaudio2")


def sounddevice() -> ModuleType:
    """The sounddevice module; ImportError/OSError become one line saying what to install."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library itself is missing
        raise ImportError(f"{PORTAUDIO_INSTALL} ({exc})") from None
    return sd


def _device_error(sd: ModuleType, what: str, device: Any, exc: Exception, kind: str,
                  rate: float, channels: int) -> ValueError:
    """One line: the device, what was asked, what it supports, what else there is."""
    label = f"default {kind}" if device is None else device
    try:
        info = sd.query_devices(device, kind)
        supports = (f"; it has {info[f'max_{kind}_channels']} {kind} channel(s), default rate "
                    f"{info['default_samplerate']:g} Hz, rates {_rates_text(sd, info, kind)}")
    except (sd.PortAudioError, ValueError):  # no such device: the error says so
        supports = ""
    names = [d["name"] for d in sd.query_devices() if d[f"max_{kind}_channels"] > 0]
    return ValueError(f"{what} {label!r}: {rate:g} Hz x {channels} channel(s) asked: "
                      f"{str(exc).strip()}{supports}; {kind} devices: {names}")


def _rates_text(sd: ModuleType, info: Mapping[str, Any], kind: str) -> str:
    rates = [r for r in COMMON_RATES if _rate_ok(sd, info, r, kind)]
    return ", ".join(f"{r:g}" for r in rates) + " Hz" if rates else "none of the common ones"


class _Capture:
    """PortAudio's callback side of `audio_source` (runs in PortAudio's thread)."""

    def __init__(self, rate: float, handoff: Handoff, meta: Mapping[str, Any]):
        self.rate = rate
        self.handoff = handoff
        self.meta = meta
        self.index = 0
        self.next_adc: float | None = None  # ADC time the next block should have (s)
        self.anchor: tuple[float, int] | None = None  # host clock (s), stream index
        self.overflows = 0

    def __call__(self, indata: np.ndarray, frames: int, times: Any, status: Any) -> None:
        now = time.monotonic()
        adc = float(times.inputBufferAdcTime) or None
        meta = self.meta
        if status.input_overflow:
            self.overflows += 1
            lost = self._estimate(adc, now)
            self.index += lost
            meta = {**meta, "overflow": lost, "overflow_estimated": True}
            self.anchor = None
        data = indata[:, 0].copy() if indata.shape[1] == 1 else indata.copy()
        self.handoff.offer(Chunk(data, self.rate, self.index, self.index / self.rate, meta))
        self.index += frames
        self.next_adc = None if adc is None else adc + frames / self.rate
        if self.anchor is None:
            self.anchor = (now, self.index)

    def _estimate(self, adc: float | None, now: float) -> int:
        if adc is not None and self.next_adc is not None:
            return max(1, round((adc - self.next_adc) * self.rate))
        if self.anchor is not None:
            t0, i0 = self.anchor
            return max(1, round((now - t0) * self.rate) - (self.index - i0))
        return 1


@block(name="audio_source", realtime=True)
async def _audio_source(config: Mapping[str, Any]) -> AsyncIterator[Chunk]:
    sd = sounddevice()
    handoff = Handoff(HANDOFF_CHUNKS, asyncio.get_running_loop())
    label = config["label"]
    meta = MappingProxyType({"device": str(label)})
    capture = _Capture(config["rate"], handoff, meta)
    closing = False

    def finished() -> None:  # PortAudio's thread: the stream became inactive
        if not closing:
            handoff.finish(RuntimeError(f"audio_source {label!r}: the device stopped delivering "
                                        "(PortAudio ended the stream): was it unplugged?"))

    def device_error(exc: Exception) -> ValueError:
        return _device_error(sd, "audio_source", config["device"], exc, "input", config["rate"],
                             config["channels"])

    try:
        stream = sd.InputStream(samplerate=config["rate"], channels=config["channels"],
                                dtype=config["dtype"], device=config["device"],
                                blocksize=config["chunk"], callback=capture,
                                finished_callback=finished)
    except (sd.PortAudioError, ValueError) as exc:
        raise device_error(exc) from None
    try:
        try:
            stream.start()
        except sd.PortAudioError as exc:
            raise device_error(exc) from None
        wait = max(config["timeout"], FIRST_DATA_S)
        while True:
            try:
                chunk = await asyncio.wait_for(handoff.get(), wait)
            except TimeoutError:
                raise TimeoutError(f"audio_source {label!r}: no samples for {wait:g} s: is the "
                                   "device still there?") from None
            if chunk is None:
                break
            wait = config["timeout"]
            yield chunk
    finally:
        closing = True
        await asyncio.to_thread(stream.close)
        note_lost(handoff.lost_unmarked)


def audio_source(rate: float = 48000, channels: int = 1, device: int | str | None = None,
                 dtype: str = "float32", chunk: int | None = None, *, timeout: float = 3.0,
                 **options: Any) -> Stream:
    """Capture from a sound card (PortAudio): a real-time source of real chunks.

    Args:
        rate: sample rate in Hz.
        channels: input channels; one gives chunks of shape (n,), several (n, channels).
        device: a PortAudio device number or (part of its) name; None: the default input.
        dtype: "float32" (full scale 1.0), "int16" or "int32".
        chunk: samples per chunk (default about 20 ms, a power of two).
        timeout: seconds without samples before the source fails (the first block may take
            up to 5 s).
        options: name=, buffer=, policy=.

    ``meta["device"]`` names the device. An input overflow marks the next chunk with
    ``meta["overflow"]`` (estimated: ``overflow_estimated``), and its index jumps by as much.
    """
    if not (isinstance(rate, int | float) and rate > 0):
        raise ValueError(f"audio_source: rate must be > 0 Hz, got {rate!r}")
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"audio_source: channels must be an int >= 1, got {channels!r}")
    if not (isinstance(timeout, int | float) and timeout > 0):
        raise ValueError(f"audio_source: timeout must be > 0 s, got {timeout!r}")
    if dtype not in DTYPES:
        raise ValueError(f"audio_source: dtype must be one of {DTYPES}, got {dtype!r}")
    if chunk is None:
        chunk = 1 << max(6, round(np.log2(rate * 0.02)))
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"audio_source: chunk must be an int >= 1 sample, got {chunk!r}")
    sounddevice()  # a missing PortAudio fails here, when the graph is described
    config = MappingProxyType({"rate": float(rate), "channels": channels, "device": device,
                               "dtype": dtype, "chunk": chunk, "timeout": float(timeout),
                               "label": "default input" if device is None else device})
    return _audio_source(config, **options)


# -- output -----------------------------------------------------------------------------
class _Playback:
    """The PortAudio side of `audio_sink`, in one thread: blocking writes, underflows counted."""

    def __init__(self, device: int | str | None, latency: float | str):
        self.device = device
        self.latency = latency
        self.label = "default output" if device is None else device
        self.stream: Any = None
        self.rate: float | None = None
        self.channels = 0
        self.samples = 0
        self.underflows = 0

    def write(self, chunk: Chunk) -> None:
        sd = sounddevice()
        data = np.asarray(chunk.data)
        channels = 1 if data.ndim == 1 else data.shape[1]
        if self.stream is None:
            self.rate, self.channels = chunk.rate, channels
            try:
                self.stream = sd.OutputStream(samplerate=chunk.rate, channels=channels,
                                              dtype="float32", device=self.device,
                                              latency=self.latency)
                self.stream.start()
            except (sd.PortAudioError, ValueError) as exc:
                raise _device_error(sd, "audio_sink", self.device, exc, "output", chunk.rate,
                                    channels) from None
        elif chunk.rate != self.rate or channels != self.channels:
            raise ValueError(f"audio_sink: the stream changed from {self.rate:g} Hz x {self.channels} "
                             f"channel(s) to {chunk.rate:g} Hz x {channels}")
        try:
            if self.stream.write(_full_scale(data.reshape(len(data), channels))):
                self.underflows += 1
        except sd.PortAudioError as exc:
            raise RuntimeError(f"audio_sink {self.label!r}: writing to the device failed: "
                               f"{exc}") from None
        self.samples += len(data)

    def close(self) -> dict[str, Any]:
        latency = None
        if self.stream is not None:
            latency = float(self.stream.latency)
            try:
                self.stream.stop()  # plays what is queued (about ``latency``), then stops
            finally:
                self.stream.close()
        return {"device": self.label, "latency": latency,
                "samples": self.samples, "underflows": self.underflows}


def _full_scale(block_: np.ndarray) -> np.ndarray:
    """float32 samples, full scale 1.0: floats as they are; signed integers over 2^(bits-1);
    unsigned integers (offset binary, as 8-bit WAV) centred on their midpoint first."""
    kind = block_.dtype.kind
    if kind == "i":
        return np.ascontiguousarray(block_ / float(-np.iinfo(block_.dtype).min), np.float32)
    if kind == "u":
        half = (float(np.iinfo(block_.dtype).max) + 1) / 2
        return np.ascontiguousarray((block_ - half) / half, np.float32)
    if kind == "b":
        raise ValueError("audio_sink: booleans are not sound; give floats (full scale 1.0) or integers")
    return np.ascontiguousarray(block_, np.float32)


@block(name="audio_sink", accepts="real", needs_samples=True)
async def _audio_sink(x: Stream, device: int | str | None, latency: float | str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    playback = _Playback(device, latency)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="audio_sink") as thread:
        try:
            async for chunk in x:  # type: ignore[attr-defined]
                await loop.run_in_executor(thread, playback.write, chunk)
        finally:
            result = await loop.run_in_executor(thread, playback.close)
    return result


def audio_sink(stream: Stream, device: int | str | None = None, *, latency: float | str = 0.1,
               **options: Any) -> Stream:
    """Play a stream of real chunks on a sound card (PortAudio), at the chunks' rate.

    Args:
        stream: real chunks, (n,) mono or (n, channels); floats are full scale 1.0, signed
            integers full scale at 2^(bits-1), unsigned ones centred on their midpoint.
        device: a PortAudio device number or name; None: the default output.
        latency: seconds of sound queued ahead of the card (or PortAudio's "low"/"high");
            the sink's stop plays out about this much.
        options: name=, buffer=, policy=.

    The sink's result: ``{"device", "samples", "underflows", "latency"}``; ``underflows``
    counts the writes after which PortAudio said the card had run dry (the stream came too
    slowly); ``latency`` is the output latency PortAudio gave, in seconds.
    """
    sounddevice()
    return _audio_sink(stream, device, latency, **options)


def audio_devices() -> list[DeviceInfo]:
    """The sound devices PortAudio sees, with their channels and default rate.

    Raises:
        ImportError: sounddevice or the PortAudio library is missing.
    """
    sd = sounddevice()
    apis = sd.query_hostapis()
    out = []
    for dev in sd.query_devices():
        rates = [r for r in COMMON_RATES
                 if _rate_ok(sd, dev, r, "input" if dev["max_input_channels"] else "output")]
        listed = ", ".join(f"{r:g}" for r in rates) or f"{dev['default_samplerate']:g}"
        out.append(DeviceInfo(
            "audio", dev["name"], f"{dev['name']} ({apis[dev['hostapi']]['name']})",
            int(dev["max_input_channels"]), int(dev["max_output_channels"]),
            f"{listed} Hz (default {dev['default_samplerate']:g})"))
    return out


def _rate_ok(sd: ModuleType, dev: Mapping[str, Any], rate: int, kind: str) -> bool:
    try:
        if kind == "input":
            sd.check_input_settings(device=dev["index"], samplerate=rate)
        else:
            sd.check_output_settings(device=dev["index"], samplerate=rate)
    except (sd.PortAudioError, ValueError):
        return False
    return True
