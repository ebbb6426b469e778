"""daqflow.core: chunks, channels, the lazy graph, the runtime and the blocking facade.

Imports nothing above it and no optional dependency.
"""

from .basic import collect, from_iterable, null_sink
from .block_state import note_lost
from .channel import Channel, ChannelStatistics
from .chunk import Chunk
from .clock import Pacer, SampleClock
from .decorator import BlockFactory, block
from .errors import BlockError, EndOfStream, GraphError, ReceiverGone, UpstreamFailed
from .facade import Blocking, blocking
from .graph import build_graph
from .iterating import iterate
from .params import Param, param
from .placement import Process
from .report import BlockReport, EdgeReport, Report
from .running import Running, arun, run, start
from .stream import Stream

__all__ = [
    "BlockError",
    "BlockFactory",
    "BlockReport",
    "Blocking",
    "Channel",
    "ChannelStatistics",
    "Chunk",
    "EdgeReport",
    "EndOfStream",
    "GraphError",
    "Pacer",
    "Param",
    "Process",
    "ReceiverGone",
    "Report",
    "Running",
    "SampleClock",
    "Stream",
    "UpstreamFailed",
    "arun",
    "block",
    "blocking",
    "build_graph",
    "collect",
    "from_iterable",
    "iterate",
    "note_lost",
    "null_sink",
    "param",
    "run",
    "start",
]
