"""Pins: the one-method `Pin` protocol, `SimPin` for tests and demos, `GpiodPin` for Linux GPIO.

A pin is anything with ``value() -> bool``; True means *closed* / *pressed* / *active*.
`Switch` and `Pushbutton` sample it at a fixed period, so a pin needs no events or threads:
a function reading a register, a serial flag or a GUI checkbox makes a pin.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from ..core.authoring import sleep_until


@runtime_checkable
class Pin(Protocol):
    """A digital input: ``value()`` returns its level now, True meaning closed (active)."""

    def value(self) -> bool: ...


class SimPin:
    """A pin held in memory: ``set(value)`` it by hand, or ``await play(script)``.

    Args:
        initial: the level at creation.

    >>> pin = SimPin()
    >>> pin.value()
    False
    >>> pin.set(True)
    >>> pin.value()
    True
    """

    __slots__ = ("_value",)

    def __init__(self, initial: bool = False):
        self._value = bool(initial)

    def value(self) -> bool:
        return self._value

    def set(self, value: bool) -> None:
        self._value = bool(value)

    async def play(self, script: Iterable[tuple[float, bool]]) -> None:
        """Set the pin to each value at its time, then return.

        Args:
            script: ``(t, value)`` pairs, t in seconds after the call (>= 0, not
                decreasing). Deadlines are absolute: a step that comes late does not delay
                the next ones (if the loop was busy past several steps, they are applied
                back to back and a sampler may see only the last).

        >>> import asyncio
        >>> pin = SimPin()
        >>> asyncio.run(pin.play([(0.0, True), (0.001, False), (0.002, True)]))
        >>> pin.value()
        True
        """
        steps = _check_script(script)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for t, value in steps:
            await sleep_until(t0 + t)
            self._value = value

    def __repr__(self) -> str:
        return f"SimPin({self._value})"


def _check_script(script: Iterable[tuple[float, bool]]) -> list[tuple[float, bool]]:
    steps = []
    last = 0.0
    try:
        items = list(script)
    except TypeError:
        raise TypeError(f"SimPin.play: script must be an iterable of (t, value), got {script!r}") from None
    for step in items:
        try:
            t, value = step
        except (TypeError, ValueError):
            raise TypeError(f"SimPin.play: script steps must be (t, value) pairs, got {step!r}") from None
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < last:
            raise ValueError(
                f"SimPin.play: script times must be finite seconds >= 0 and not decreasing, got {t!r}"
            )
        last = float(t)
        steps.append((last, bool(value)))
    return steps


_BIASES = ("pull_up", "pull_down", "disabled", None)


def _import_gpiod() -> Any:
    try:
        import gpiod
    except ImportError as exc:
        raise ImportError(
            "GpiodPin needs the libgpiod v2 Python bindings (Linux only): pip install 'daqflow[gpio]'"
        ) from exc
    if not hasattr(gpiod, "request_lines"):
        raise ImportError(
            f"GpiodPin needs the libgpiod v2 Python bindings; the installed 'gpiod' "
            f"({getattr(gpiod, '__version__', 'unknown version')}) is the v1 API: "
            "pip install 'daqflow[gpio]' (gpiod>=2.1)"
        )
    return gpiod


def _chip_path(chip: int | str) -> str:
    if isinstance(chip, bool) or not isinstance(chip, (int, str)) or chip == "":
        raise TypeError(f"GpiodPin: chip must be a number, a name or a path, got {chip!r}")
    if isinstance(chip, int):
        if chip < 0:
            raise ValueError(f"GpiodPin: chip number must be >= 0, got {chip!r}")
        return f"/dev/gpiochip{chip}"
    return chip if "/" in chip else f"/dev/{chip}"


class GpiodPin:
    """One Linux GPIO line read as an input through libgpiod v2 (``pip install gpiod``).

    The ``gpiod`` module is imported when a GpiodPin is made, not before.

    Args:
        chip: ``0``, ``"gpiochip0"`` or ``"/dev/gpiochip0"``.
        line: line offset on the chip (or its name).
        active_low: True when the contact pulls the line low (``value()`` is then True
            while the line is low: closed stays True).
        bias: "pull_up", "pull_down", "disabled" or None (leave as is).
        consumer: the label shown by ``gpioinfo``.

    Raises:
        ImportError: the libgpiod v2 bindings are missing. OSError: the line is busy or the
            chip does not exist.

    ``close()`` (or ``with GpiodPin(...) as pin:``) releases the line.
    """

    def __init__(
        self,
        chip: int | str,
        line: int | str,
        *,
        active_low: bool = False,
        bias: str | None = None,
        consumer: str = "daqflow",
    ):
        path = _chip_path(chip)
        if isinstance(line, bool) or not isinstance(line, (int, str)):
            raise TypeError(f"GpiodPin: line must be an offset or a name, got {line!r}")
        if bias not in _BIASES:
            raise ValueError(f"GpiodPin: bias must be one of {_BIASES}, got {bias!r}")
        gpiod = _import_gpiod()
        from gpiod.line import Bias, Direction, Value

        biases = {"pull_up": Bias.PULL_UP, "pull_down": Bias.PULL_DOWN,
                  "disabled": Bias.DISABLED, None: Bias.AS_IS}
        settings = gpiod.LineSettings(
            direction=Direction.INPUT, active_low=bool(active_low), bias=biases[bias]
        )
        self.chip = path
        self.line = line
        self._active = Value.ACTIVE
        self._request = gpiod.request_lines(path, consumer=consumer, config={line: settings})

    def value(self) -> bool:
        if self._request is None:
            raise RuntimeError(f"{self!r} is closed")
        return bool(self._request.get_value(self.line) == self._active)

    def close(self) -> None:
        """Release the line (idempotent)."""
        request, self._request = self._request, None
        if request is not None:
            request.release()

    def __enter__(self) -> GpiodPin:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GpiodPin({self.chip!r}, {self.line!r})"
