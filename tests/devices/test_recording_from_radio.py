"""From a radio into recordings: losses and retunes land in SigMF and HDF5 as gaps of their
kind, the radio's identity, tuning and gain in the metadata, and a replay gives every
sample back at its true index and tuning (the loopback radio's samples carry both)."""

from __future__ import annotations

import time

import h5py
import numpy as np
import sigmf

import daqflow as df
from daqflow import io

RATE = 4e6


@df.block(name="disturb")
async def disturb(x: df.Stream, tune: df.Param):
    """Hogs the interpreter twice (the radio overflows) and retunes once in between."""
    k = 0
    async for _ in x:
        k += 1
        if k in (10, 60):
            end = time.perf_counter() + 0.4
            while time.perf_counter() < end:
                pass
        if k == 35:
            tune.set(150e6)
    return k


def test_losses_retunes_and_the_radio_s_identity_are_in_the_recordings(loopback_radio, tmp_path):
    tune = df.param(120e6, name="tune", low=1e6, high=6e9, unit="Hz")
    radio = io.soapy_source(f"{loopback_radio},buffer=16384", rate=RATE, freq=tune, gain=20,
                            chunk=8192)
    report = df.run(io.sigmf_writer(radio, tmp_path / "rf", name="sigmf", buffer=64),
                    io.hdf5_writer(radio, tmp_path / "rf.h5", name="hdf5", buffer=64),
                    df.collect(radio, name="seen", buffer=64), disturb(radio, tune),
                    duration=2.0)
    seen = report.results["seen"]
    lost = sum(int(c.meta.get("overflow", 0)) for c in seen)
    skipped = sum(int(c.meta.get("skipped", 0)) for c in seen)
    assert lost > 0 and skipped > 0, report
    assert report.dropped_samples == 0  # the FIFOs were long enough: all losses at the radio

    handle = sigmf.sigmffile.fromfile(str(tmp_path / "rf.sigmf-meta"))
    handle.validate()
    info = handle.get_global_info()
    assert info["core:hw"] == "loopback daqflow-test-loopback"
    assert info["daqflow:device"] == f"{loopback_radio},buffer=16384"
    captures = handle.get_captures()
    assert {c["core:frequency"] for c in captures} == {120e6, 150e6}
    assert {c["daqflow:gain"] for c in captures} == {20.0}
    annotations = handle.get_annotations()
    assert sum(a.get("daqflow:lost_samples", 0) for a in annotations) == lost
    assert sum(a.get("daqflow:skipped_samples", 0) for a in annotations) == skipped

    with h5py.File(tmp_path / "rf.h5", "r") as f:
        assert bool(f["signal"].attrs["complete"])
        assert f["signal"].shape[0] == sum(c.samples for c in seen)

    for replay in (io.sigmf_source(tmp_path / "rf.sigmf-meta"), io.hdf5_source(tmp_path / "rf.h5")):
        chunks = df.run(df.collect(replay, name="back")).results["back"]
        data = np.concatenate([c.data for c in chunks])
        index = np.concatenate([np.arange(c.index, c.end_index) for c in chunks])
        tuned = np.concatenate([np.full(c.samples, c.meta["center_freq"] / 1e6, np.float32)
                                for c in chunks])
        assert np.array_equal(data.real, index % (1 << 24))
        assert np.array_equal(data.imag, tuned)
        assert sum(int(c.meta.get("overflow", 0)) for c in chunks) == lost
        assert sum(int(c.meta.get("skipped", 0)) for c in chunks) == skipped
    replayed = df.run(df.collect(io.sigmf_source(tmp_path / "rf"), name="back")).results["back"]
    assert {c.meta["gain"] for c in replayed} == {20.0}  # SigMF gives the gain back
