"""Streaming kernels: pure state plus numpy/scipy, no asyncio, no Chunks.

Each follows the contract of `base.Kernel` (``work(x, index) -> (y, first)``, ``reset()``,
``stride`` / ``output_rate``), so one driver (`daqflow.dsp.driver`) runs any of them in a
block; all can be used and tested alone. The blocks that wrap them sit one level up
(`daqflow.dsp.filters`, `modulation`, `spectra`, `averaging`, `scope`, `broadcast`).
"""
