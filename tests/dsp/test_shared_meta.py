"""A block whose outputs carry extra meta (a spectrum's frequency axis) makes that meta once
and shares it while its input's meta is the same object (a source that reuses its meta, or
blocks passing it on); a new centre frequency, a gap or marks on the input still give each
output its own, right meta."""

from types import MappingProxyType

import numpy as np

from daqflow import Chunk, dsp
from daqflow.testing import run_block

RATE = 1e6


def chunk(index: int, meta) -> Chunk:
    return Chunk(np.ones(2048, np.complex64), RATE, index=index, time=index / RATE, meta=meta)


def test_outputs_share_their_meta_until_something_changes():
    tuned, retuned = MappingProxyType({"center_freq": 1e8}), MappingProxyType({"center_freq": 2e8})
    items = [chunk(0, tuned), chunk(2048, tuned), chunk(4096, tuned), chunk(6144, retuned),
             chunk(12288, retuned),  # 4096 samples (4 frames) missing before it
             chunk(14336, {"center_freq": 2e8, "skipped": 0}), chunk(16384, retuned),
             chunk(18432, retuned)]
    metas = [c.meta for c in run_block(lambda s: dsp.fft(s, 1024), items)]  # 2 frames per chunk
    assert len(metas) == 8 and all(type(m) is MappingProxyType for m in metas)
    assert metas[0] is metas[1] is metas[2]
    assert metas[0]["center_freq"] == 1e8 and metas[0]["freqs"][0] == 1e8
    assert metas[3]["center_freq"] == 2e8 and metas[3]["freqs"][0] == 2e8  # retuned
    assert metas[4]["overflow"] == 4 and metas[4]["freqs"][0] == 2e8  # frames lost in the gap
    assert "skipped" not in metas[5] and "overflow" not in metas[5]  # marks are the block's own
    assert metas[6] is metas[7] and set(metas[6]) == {"center_freq", "freqs"}
    assert metas[6] is metas[3]
