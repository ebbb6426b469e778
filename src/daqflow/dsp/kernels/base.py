"""The kernel contract: what every streaming kernel of `daqflow.dsp` offers its driver.

A kernel is pure state plus numpy: no asyncio, no Chunks. ``work(x, index)`` takes the
samples ``x`` whose first one has absolute input index ``index`` and returns
``(y, first)``: the outputs it can give now and the absolute output index of ``y[0]``
(output indices count from the stream start too, so the result does not depend on how the
input was cut). ``reset()`` forgets the past (the driver calls it at a gap). ``stride`` says
where outputs sit: output j is at input sample j * stride[0] / stride[1], so the output
rate is rate * stride[1] / stride[0] (`output_rate`).
"""

from __future__ import annotations

import abc
from typing import Protocol

import numpy as np


class Kernel(Protocol):
    """What `daqflow.dsp.driver` needs of a kernel (see the module docstring)."""

    stride: tuple[int, int]

    def work(self, x: np.ndarray, index: int) -> tuple[np.ndarray, int]: ...

    def reset(self) -> None: ...

    def output_rate(self, rate: float) -> float: ...


class Samplewise(abc.ABC):
    """Base of kernels that turn n samples into n samples (same index, same rate): the
    subclass gives ``process(x)`` and ``reset()``."""

    __slots__ = ()
    stride = (1, 1)

    @abc.abstractmethod
    def process(self, x: np.ndarray) -> np.ndarray:
        """The outputs of the samples ``x`` (as many as it is given)."""

    def work(self, x: np.ndarray, index: int) -> tuple[np.ndarray, int]:
        return self.process(x), index

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget the past (the driver calls it at a gap)."""

    def output_rate(self, rate: float) -> float:
        return rate


def output_rate(stride: tuple[int, int], rate: float) -> float:
    """Output rate in Hz of a kernel with ``stride`` fed at ``rate`` Hz."""
    return rate * stride[1] / stride[0]
