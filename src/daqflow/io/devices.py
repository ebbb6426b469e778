"""`DeviceInfo`: what a radio or a sound card supports, as ``daqflow devices`` prints it."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    """One acquisition device and what it supports.

    Attributes:
        kind: "soapy" (a SoapySDR radio) or "audio" (a PortAudio sound card).
        args: what to pass as ``device=`` to open it (a SoapySDR args string, or the
            PortAudio device name).
        label: a human name.
        rx_channels, tx_channels: receive and transmit channels.
        rates: the sample rates it takes, as text (Hz; ranges as ``low..high``).
        freq_range: RF tuning range in Hz (low, high), None for a sound card.
        gains: gain range in dB, as text ("" if it has none).
        antennas: antenna names.
        hardware_time: the device timestamps its samples.
    """

    kind: str
    args: str
    label: str
    rx_channels: int
    tx_channels: int
    rates: str
    freq_range: tuple[float, float] | None = None
    gains: str = ""
    antennas: tuple[str, ...] = ()
    hardware_time: bool = False

    def __str__(self) -> str:
        lines = [f"{self.label}  [{self.kind}]", f"  device:   {self.args!r}",
                 f"  channels: {self.rx_channels} RX, {self.tx_channels} TX",
                 f"  rates:    {self.rates}"]
        if self.freq_range is not None:
            low, high = self.freq_range
            lines.append(f"  freq:     {low / 1e6:g} .. {high / 1e6:g} MHz")
        if self.gains:
            lines.append(f"  gain:     {self.gains}")
        if self.antennas:
            lines.append(f"  antennas: {', '.join(self.antennas)}")
        if self.kind == "soapy":
            lines.append(f"  hardware time: {'yes' if self.hardware_time else 'no'}")
        return "\n".join(lines)


def format_rates(values: list[float], ranges: list[tuple[float, float]]) -> str:
    """Rates as text: discrete values listed, continuous ranges as ``low..high`` (Hz)."""
    parts = [f"{v:g}" for v in values]
    parts += [f"{lo:g}..{hi:g}" for lo, hi in ranges if lo != hi and (lo, hi)]
    return ", ".join(parts) + " Hz" if parts else "unknown"
