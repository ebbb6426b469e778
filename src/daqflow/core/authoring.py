"""What a block's author may use, in one import: ``from daqflow.core.authoring import ...``.

The library packages (dsp, io, instruments, hw, testing, plot) reach core only through this
module and the package's face (`daqflow.core`, for running graphs); core's other modules are
private to core and to the packages that run graphs (gui, net). tests/test_layers.py holds
them to it.

- Items and streams: `Chunk` (data + rate, index, time, meta), `Stream`, `Dropped` (the marks
  of dropped chunks), `mark_overflow`, `kind_of_dtype`.
- Blocks: `block`, `BlockFactory`; an input is a `ReceivePort` (`WouldBlock`, `EndOfStream`,
  `upstream_failure`, `was_cut`, `DRAIN_CUT_BY`); errors `GraphError`, `ReceiverGone`,
  `UpstreamFailed`; `note_lost` (a real-time source's losses); `running_block` (the state of
  the block running this code: it differs from run to run of one described graph).
- Live values: `Param`, `param`, `Follow`, `with_params`, `exposed_params`.
- Time: `SampleClock` (a real-time source's clock), `BACKLOG`, `Pacer`, `Grid`, `ticks`,
  `Tick`, `sleep_until`.
- Gaps: `MARKS`, `gap_kind`, `InputGaps`, `OutputMarks`, `GapTally`, `mark_gap`, `split_gap`.
- Optional libraries: `require` (a missing one names its pip extra).
"""

from .block_state import note_lost, running_block
from .channel import WouldBlock, upstream_failure, was_cut
from .chunk import Chunk, Dropped, mark_overflow
from .clock import BACKLOG, Grid, Pacer, SampleClock, Tick, sleep_until, ticks
from .decorator import BlockFactory, block
from .errors import EndOfStream, GraphError, ReceiverGone, UpstreamFailed
from .gaps import MARKS, GapTally, InputGaps, OutputMarks, gap_kind, mark_gap, split_gap
from .kinds import kind_of_dtype
from .params import Follow, Param, exposed_params, param, with_params
from .ports import ReceivePort
from .report import DRAIN_CUT_BY
from .requirements import require
from .stream import Stream

__all__ = [
    "BACKLOG", "DRAIN_CUT_BY", "MARKS", "BlockFactory", "Chunk", "Dropped", "EndOfStream",
    "Follow", "GapTally", "GraphError", "Grid", "InputGaps", "OutputMarks", "Pacer", "Param",
    "ReceivePort", "ReceiverGone", "SampleClock", "Stream", "Tick", "UpstreamFailed",
    "WouldBlock", "block", "exposed_params", "gap_kind", "kind_of_dtype", "mark_gap",
    "mark_overflow", "note_lost", "param", "require", "running_block", "sleep_until", "split_gap", "ticks",
    "upstream_failure", "was_cut", "with_params",
]
