"""daqflow: real-time data acquisition and signal processing on asyncio.

Sources, blocks and sinks joined by bounded FIFOs: describe a graph by calling blocks on
streams, then run it.

>>> import daqflow as df
>>> @df.block
... def square(x):
...     return x * x
>>> df.run(df.collect(square(df.from_iterable(range(4))))).results["collect"]
[0, 1, 4, 9]
"""

from . import net as _net  # noqa: F401  (registers the executor of graphs over processes)
from .core import (
    BlockError,
    BlockReport,
    Chunk,
    EdgeReport,
    GraphError,
    Param,
    Process,
    Report,
    Running,
    Stream,
    arun,
    block,
    blocking,
    collect,
    from_iterable,
    iterate,
    null_sink,
    param,
    run,
    start,
)
from .core.graph import build_graph


def validate(*sinks: Stream) -> None:
    """Check the graph above ``sinks`` without running it (raises `GraphError`)."""
    build_graph(sinks)


def to_dot(*sinks: Stream) -> str:
    """Graphviz DOT text of the graph above ``sinks``."""
    return build_graph(sinks, require_sinks=False).to_dot()


__version__ = "0.1.0"

__all__ = [
    "BlockError",
    "BlockReport",
    "Chunk",
    "EdgeReport",
    "GraphError",
    "Param",
    "Process",
    "Report",
    "Running",
    "Stream",
    "__version__",
    "arun",
    "block",
    "blocking",
    "collect",
    "from_iterable",
    "iterate",
    "null_sink",
    "param",
    "run",
    "start",
    "to_dot",
    "validate",
]
