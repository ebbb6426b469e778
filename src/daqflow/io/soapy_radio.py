"""Opening and setting up an SDR radio through SoapySDR, for `soapy_source` and `soapy_sink`:
device args, `Radio` (rate, frequency, gain, antenna, channels checked against what the
device supports, errors naming the args), live settings from `daqflow.Param`s, and
`soapy_devices` (what is attached).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from types import MappingProxyType, ModuleType
from typing import Any

from ..core.authoring import Follow
from ._system import soapysdr
from .devices import DeviceInfo, format_rates

log = logging.getLogger(__name__)


def args_text(device: str | Mapping[str, str]) -> str:
    if isinstance(device, str):
        return device
    return ",".join(f"{k}={v}" for k, v in device.items())


def _identity(kwargs: Mapping[str, str]) -> str:
    """The args that tell one device from another (what ``device=`` needs), as text."""
    args = dict(kwargs)
    keys = ("driver", "serial", "device_id", "addr")
    return args_text({k: args[k] for k in keys if k in args} or args)


def _kwargs(soapy: ModuleType, device: str | Mapping[str, str]) -> Any:
    return device if isinstance(device, str) else soapy.SoapySDRKwargs(dict(device))


def _ranges(ranges: Sequence[Any]) -> list[tuple[float, float]]:
    return [(r.minimum(), r.maximum()) for r in ranges]


def _in_ranges(value: float, ranges: list[tuple[float, float]], values: Sequence[float] = ()) -> bool:
    tolerance = 1e-9 * max(abs(value), 1.0)
    return any(lo - tolerance <= value <= hi + tolerance for lo, hi in ranges) or any(
        abs(value - v) <= tolerance for v in values)


def _ranges_text(ranges: list[tuple[float, float]], unit: str, scale: float = 1.0) -> str:
    parts = [f"{lo / scale:g}" if lo == hi else f"{lo / scale:g}..{hi / scale:g}" for lo, hi in ranges]
    return ", ".join(parts) + f" {unit}" if parts else "none"


def _open(soapy: ModuleType, device: str | Mapping[str, str], what: str) -> Any:
    """The opened device, or an error naming the args and listing what is attached."""
    args = args_text(device)
    try:
        return soapy.Device(_kwargs(soapy, device))
    except (RuntimeError, ValueError) as exc:
        found = [_identity(k) for k in soapy.Device.enumerate()]
        modules = ", ".join(m.rsplit("/", 1)[-1] for m in soapy.listModules()) or "none"
        listing = "; ".join(found) if found else "none"
        raise RuntimeError(f"{what}: no SoapySDR device opens with {args!r} ({exc}); devices found: "
                           f"{listing}; driver modules installed: {modules}") from None


@dataclasses.dataclass
class Setting:
    """One tunable setting (frequency or gain) of a channel, maybe a live Param."""

    key: str  # meta key: "center_freq" or "gain"
    follow: Follow

    @property
    def value(self) -> float | None:
        return self.follow.value


class Radio:
    """An opened SoapySDR device configured for streaming, checked against what it supports.
    Used by one thread only."""

    def __init__(self, soapy: ModuleType, device: str | Mapping[str, str], direction: int,
                 rate: float, freq: Any, gain: Any, channels: Sequence[int],
                 antenna: str | None, bandwidth: float | None, what: str):
        self.soapy = soapy
        self.args = args_text(device)
        self.what = what
        self.direction = direction
        self.dev = _open(soapy, device, what)
        self.channels = tuple(channels)
        self.stream: Any = None
        try:
            self._configure(rate, freq, gain, antenna, bandwidth)
        except BaseException:
            self.close()
            raise

    def _fail(self, message: str) -> ValueError:
        return ValueError(f"{self.what} {self.args!r}: {message}")

    def _configure(self, rate: float, freq: Any, gain: Any, antenna: str | None,
                   bandwidth: float | None) -> None:
        soapy, dev, d = self.soapy, self.dev, self.direction
        side = "RX" if d == soapy.SOAPY_SDR_RX else "TX"
        available = dev.getNumChannels(d)
        bad = [c for c in self.channels if not 0 <= c < available]
        if not self.channels or bad:
            raise self._fail(f"channels {list(self.channels)} asked, the device has {available} "
                             f"{side} channel(s) (0..{available - 1})" if available else
                             f"channels {list(self.channels)} asked, the device has no {side} channel")
        first = self.channels[0]
        rates = list(dev.listSampleRates(d, first))
        rate_ranges = _ranges(dev.getSampleRateRange(d, first))
        if not _in_ranges(rate, rate_ranges, rates):
            raise self._fail(f"sample rate {rate:g} Hz is not supported; it takes "
                             f"{format_rates(rates, rate_ranges)}")
        self.freq_ranges = _ranges(dev.getFrequencyRange(d, first))
        self.gain_range = (dev.getGainRange(d, first).minimum(), dev.getGainRange(d, first).maximum())
        for c in self.channels:
            dev.setSampleRate(d, c, rate)
        self.rate = float(dev.getSampleRate(d, first))
        if antenna is not None:
            names = list(dev.listAntennas(d, first))
            if antenna not in names:
                raise self._fail(f"antenna {antenna!r} is not one of {names}")
            for c in self.channels:
                dev.setAntenna(d, c, antenna)
        if bandwidth is not None:
            for c in self.channels:
                dev.setBandwidth(d, c, float(bandwidth))
        self.freq = Setting("center_freq", Follow(freq))
        self.gain = Setting("gain", Follow(gain))
        self.tune(self.freq.value)
        self.set_gain(self.gain.value)
        self.hardware_time = bool(dev.hasHardwareTime(""))
        self.hw = f"{dev.getDriverKey()} {dev.getHardwareKey()}".strip()

    def check_freq(self, freq: float) -> None:
        if not _in_ranges(float(freq), self.freq_ranges):
            raise self._fail(f"frequency {float(freq):g} Hz is out of its range "
                             f"{_ranges_text(self.freq_ranges, 'MHz', 1e6)}")

    def check_gain(self, gain: float) -> None:
        low, high = self.gain_range
        if not low - 1e-9 <= float(gain) <= high + 1e-9:
            raise self._fail(f"gain {float(gain):g} dB is out of its range {low:g}..{high:g} dB")

    def tune(self, freq: float | None) -> None:
        if freq is None:
            return
        self.check_freq(freq)
        for c in self.channels:
            self.dev.setFrequency(self.direction, c, float(freq))

    def set_gain(self, gain: float | None) -> None:
        dev, d = self.dev, self.direction
        if gain is None:  # the device's automatic gain, if it has one
            for c in self.channels:
                if dev.hasGainMode(d, c):
                    dev.setGainMode(d, c, True)
            return
        self.check_gain(gain)
        for c in self.channels:
            if dev.hasGainMode(d, c):
                dev.setGainMode(d, c, False)
            dev.setGain(d, c, float(gain))

    def apply(self, setting: Setting) -> None:
        """Send a setting's current value to the device."""
        (self.tune if setting is self.freq else self.set_gain)(setting.value)

    def accepts(self, setting: Setting, value: float | None) -> None:
        """Raise ValueError (naming the device and its range) if ``value`` is out of range."""
        if value is not None:
            (self.check_freq if setting is self.freq else self.check_gain)(value)

    def setup_stream(self) -> int:
        """Open and activate the CF32 stream; returns its MTU in samples."""
        soapy = self.soapy
        try:
            self.stream = self.dev.setupStream(self.direction, soapy.SOAPY_SDR_CF32, list(self.channels))
        except RuntimeError as exc:
            raise self._fail(f"cannot set up a CF32 stream on channels {list(self.channels)}: {exc}"
                             ) from None
        status = self.dev.activateStream(self.stream)
        if status != 0:
            raise self._fail(f"activateStream failed: {soapy.errToStr(status)}")
        return int(self.dev.getStreamMTU(self.stream))

    def meta(self) -> Mapping[str, Any]:
        meta: dict[str, Any] = {"device": self.args, "hw": self.hw}
        if self.freq.value is not None:
            meta["center_freq"] = float(self.freq.value)
        if self.gain.value is not None:
            meta["gain"] = float(self.gain.value)
        return MappingProxyType(meta)

    def close(self) -> None:
        """Deactivate and close the stream, then the device, even if a step before fails."""
        dev, stream = self.dev, self.stream
        self.stream = None
        try:
            if stream is not None:
                try:
                    dev.deactivateStream(stream)
                finally:
                    dev.closeStream(stream)
        finally:
            dev.close()


def changed_settings(radio: Radio) -> list[Setting]:
    """The live settings whose Param changed since the last chunk, if the device takes the
    new value. A value out of the device's range is refused without ending the run: the
    Param is set back to the value in effect and a warning names the device and range."""
    changed = []
    for setting in (radio.freq, radio.gain):
        before = setting.value
        if not setting.follow.poll():
            continue
        try:
            radio.accepts(setting, setting.value)
        except ValueError as exc:
            setting.follow.value = before
            name = setting.follow.name
            log.warning("%s; param %r set back to %g", exc, name, before)
            try:
                setting.follow.live.set(before)  # type: ignore[union-attr]
            except ValueError as refused:  # the Param's own bounds moved: keep the device's
                log.warning("param %r: %s", name, refused)
            continue
        changed.append(setting)
    return changed



# -- listing ----------------------------------------------------------------------------
def soapy_devices() -> list[DeviceInfo]:
    """Every SoapySDR device attached, with what it supports (opens each one briefly).

    Raises:
        ImportError: SoapySDR's Python module is missing (the message says what to install).
    """
    soapy = soapysdr()
    found = []
    for kwargs in soapy.Device.enumerate():
        args = dict(kwargs)
        text = _identity(args)
        try:
            dev = soapy.Device(kwargs)
        except RuntimeError as exc:
            found.append(DeviceInfo("soapy", text, f"{args.get('label', text)} (cannot open: {exc})",
                                    0, 0, "unknown"))
            continue
        try:
            found.append(_describe(soapy, dev, text, args.get("label", dev.getHardwareKey())))
        finally:
            dev.close()
    return found


def _describe(soapy: ModuleType, dev: Any, args: str, label: str) -> DeviceInfo:
    rx = dev.getNumChannels(soapy.SOAPY_SDR_RX)
    tx = dev.getNumChannels(soapy.SOAPY_SDR_TX)
    d = soapy.SOAPY_SDR_RX if rx else soapy.SOAPY_SDR_TX
    if not rx and not tx:
        return DeviceInfo("soapy", args, label, 0, 0, "unknown")
    rates = format_rates(list(dev.listSampleRates(d, 0)), _ranges(dev.getSampleRateRange(d, 0)))
    freq = _ranges(dev.getFrequencyRange(d, 0))
    gain = dev.getGainRange(d, 0)
    gains = f"{gain.minimum():g}..{gain.maximum():g} dB"
    if dev.hasGainMode(d, 0):
        gains += " (automatic gain available)"
    return DeviceInfo("soapy", args, str(label), rx, tx, rates,
                      (min(lo for lo, _ in freq), max(hi for _, hi in freq)) if freq else None,
                      gains, tuple(dev.listAntennas(d, 0)), bool(dev.hasHardwareTime("")))
