"""daqflow.gui: live Qt views of a running graph, on the same asyncio loop (extra ``gui``).

View sinks show a stream as it flows: `time_plot`, `spectrum_plot`, `waterfall_plot`,
`image_view` and `xy_plot`. Each keeps only the newest items (``policy="drop_oldest"``, a
small FIFO) and redraws at most ``max_fps`` times a second, less when drawing would take
the time the graph needs, so a display never slows acquisition; its result is
``{"shown": frames, "skipped": items not drawn}``.

`run` opens a window with every view sink of the graph and a control (slider, spin box) for
every `daqflow.Param` its blocks use, runs the graph on a qasync loop (Qt's event loop is
the asyncio loop), and returns the report; closing the window stops the graph in order.
Inside an existing Qt application, ``await arun(...)`` does the same, and
``view_of(sink).widget`` is a view's QWidget to embed anywhere; `controls` makes the
widgets for Params.

    import daqflow as df
    from daqflow import dsp, gui, io

    tune = df.param(-250e3, name="tune", low=-1e6, high=1e6, unit="Hz")
    adc = io.simulated_adc(2e6, tones=[(250e3, 1.0)], noise=0.01)
    spec = dsp.spectrum(dsp.mix(adc, freq=tune), 1024, average=8)
    gui.run(gui.spectrum_plot(spec), gui.waterfall_plot(spec))

Importing it needs PySide6, qasync and pyqtgraph (``pip install 'daqflow[gui]'``);
``import daqflow`` never imports them.
"""

from . import _qt  # noqa: F401 (first: a missing library names the extra)
from .controls import Controls, ParamControl, controls, find_params
from .image_plots import ImageView, WaterfallPlot, image_view, waterfall_plot
from .line_plots import SpectrumPlot, TimePlot, XYPlot, spectrum_plot, time_plot, xy_plot
from .loop import Session, application, arun, run
from .pacing import Pacing
from .sinks import view_of, view_sink
from .view import View
from .widgets import PlotWidget
from .window import Window

__all__ = [
    "Controls",
    "ImageView",
    "Pacing",
    "ParamControl",
    "PlotWidget",
    "Session",
    "SpectrumPlot",
    "TimePlot",
    "View",
    "WaterfallPlot",
    "Window",
    "XYPlot",
    "application",
    "arun",
    "controls",
    "find_params",
    "image_view",
    "run",
    "spectrum_plot",
    "time_plot",
    "view_of",
    "view_sink",
    "waterfall_plot",
    "xy_plot",
]
