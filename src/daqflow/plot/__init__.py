"""daqflow.plot: static plots with matplotlib (extra ``plot``).

`plot_png` keeps a PNG of a stream's newest item (a sink); `PyplotViewer` shows the newest
item in one pyplot figure, redrawn in place (notebooks); `draw_trace`, `draw_spectrum` and
`draw_image` draw into any matplotlib Axes, and `Painter` picks which for an item. The same
code draws ``daqflow inspect --plot`` (`plot_recording`). matplotlib is imported only when
something is drawn.
"""

from .drawing import Painter, classify, draw_image, draw_spectrum, draw_trace
from .recordings import plot_recording
from .sinks import plot_png
from .viewer import PyplotViewer

__all__ = [
    "Painter",
    "PyplotViewer",
    "classify",
    "draw_image",
    "draw_spectrum",
    "draw_trace",
    "plot_png",
    "plot_recording",
]
