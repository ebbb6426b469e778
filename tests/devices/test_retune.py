"""Live tuning of `io.soapy_source` through a `df.param`, on SoapySDR's audio driver."""

from __future__ import annotations

from _sound_signals import RATE, gaps, set_at

import daqflow as df
from daqflow import dsp, io

OLD, NEW = 100e6, 101.5e6


def test_a_retune_is_sample_aligned_and_marked_as_skipped_not_lost():
    tune = df.param(OLD, name="tune", low=0, high=6e9, unit="Hz")
    radio = io.soapy_source("driver=audio", rate=RATE, freq=tune, chunk=1024)
    spectra = df.collect(dsp.spectrum(radio, 256, average=4), name="spectra")
    report = df.run(set_at(radio, tune, 20, NEW, name="chunks"), spectra, duration=3.5)
    chunks = report.results["chunks"]
    centers = [c.meta["center_freq"] for c in chunks]
    first_new = centers.index(NEW)
    assert first_new >= 20 and set(centers[:first_new]) == {OLD} and set(centers[first_new:]) == {NEW}
    before, after = chunks[first_new - 1], chunks[first_new]
    # the new setting starts a chunk of its own, after the samples the device still held
    assert after.meta["params"] == {"tune": NEW}
    assert after.meta["skipped"] > 0 and "overflow" not in after.meta
    assert after.index == before.end_index + after.meta["skipped"]
    assert gaps(chunks) == [(after.index, after.meta["skipped"], 0, after.meta["skipped"])]
    assert all("params" not in c.meta for c in chunks[first_new + 1:])
    # skipped on purpose is not a loss
    assert report.overflow == 0 and report.skipped == after.meta["skipped"]
    assert "skipped on purpose" in str(report)
    # downstream, no averaged spectrum mixes the two tunings: its axis moves with the tuning
    rows = report.results["spectra"]
    axis_centers = [float(r.meta["freqs"][len(r.meta["freqs"]) // 2]) for r in rows]
    switch = next(k for k, c in enumerate(axis_centers) if c >= NEW - RATE)
    assert all(c < OLD + RATE for c in axis_centers[:switch])
    assert all(c >= NEW - RATE for c in axis_centers[switch:])
    assert rows[switch].meta["center_freq"] == NEW
