"""daqflow.hw: hardware-interface helpers on asyncio.

- Pins: the `Pin` protocol (``value() -> bool``), `SimPin` (in memory, scriptable over time
  with ``play``), `GpiodPin` (Linux GPIO through libgpiod v2, imported only when used).
- `Switch` and `Pushbutton`: debounced contacts calling you back on close/open, press,
  click, double click and long press; `Delay`: a retriggerable timer. All three are async
  context managers that own a watcher and the callbacks they run.
- Sources: `poll` (a real-time source of `Reading` ``(time, value)`` on absolute deadlines),
  `fd_source` (bytes from a file descriptor, woken by IO readiness), `serial_source`
  (bytes from a serial port via pyserial, extra ``instruments``).
"""

from .delay import Delay
from .pins import GpiodPin, Pin, SimPin
from .sources import Reading, fd_source, poll, serial_source
from .switches import Pushbutton, Switch

__all__ = [
    "Delay",
    "GpiodPin",
    "Pin",
    "Pushbutton",
    "Reading",
    "SimPin",
    "Switch",
    "fd_source",
    "poll",
    "serial_source",
]
