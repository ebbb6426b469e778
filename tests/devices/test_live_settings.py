"""Live settings of `io.soapy_source` at their edges, on the loopback radio: a radio without
hardware time (the drain-and-settle path), a gain-only change, a value the radio cannot take,
and a radio that fails while a retune is settling."""

from __future__ import annotations

import logging

import pytest
from _sound_signals import assert_where_it_says, gaps, set_at

import daqflow as df
from daqflow import io

RATE = 4e6


def test_a_retune_without_hardware_time_keeps_every_index_true(loopback_radio):
    # The radio produces while it is drained: the drain stops at the first short read, and the
    # samples it drained count as skipped, so the chunk after the retune starts at its true index.
    tune = df.param(100e6, name="tune", low=1e6, high=6e9, unit="Hz")
    radio = io.soapy_source(f"{loopback_radio},time=0", rate=RATE, freq=tune, chunk=4096)
    report = df.run(set_at(radio, tune, 20, 101e6), duration=1.0)
    chunks = report.results["set_at"]
    assert_where_it_says(chunks, RATE)
    (index, jump, overflow, skipped), = gaps(chunks)
    first = next(c for c in chunks if c.index == index)
    assert first.meta["center_freq"] == 101e6 and first.meta["params"] == {"tune": 101e6}
    assert jump == skipped >= round(0.002 * RATE) and overflow == 0
    assert report.skipped == skipped and report.overflow == 0


def test_a_gain_change_alone_reports_only_the_gain(loopback_radio):
    tune = df.param(100e6, name="tune", low=1e6, high=6e9, unit="Hz")
    gain = df.param(10.0, name="gain", low=0, high=50, unit="dB")
    radio = io.soapy_source(loopback_radio, rate=RATE, freq=tune, gain=gain, chunk=4096)
    chunks = df.run(set_at(radio, gain, 10, 30.0), duration=0.6).results["set_at"]
    assert_where_it_says(chunks, RATE)
    changed = [c for c in chunks if "params" in c.meta]
    assert [c.meta["params"] for c in changed] == [{"gain": 30.0}]
    assert changed[0].meta["gain"] == 30.0 and changed[0].meta["skipped"] > 0
    assert {c.meta["center_freq"] for c in chunks} == {100e6}


def test_a_frequency_the_radio_cannot_take_is_refused_and_the_run_goes_on(loopback_radio, caplog):
    tune = df.param(100e6, name="tune", low=0, high=10e9, unit="Hz")  # wider than the radio's
    radio = io.soapy_source(loopback_radio, rate=RATE, freq=tune, chunk=4096)
    with caplog.at_level(logging.WARNING, logger="daqflow.io.soapy_radio"):
        report = df.run(set_at(radio, tune, 10, 7e9), duration=0.6)
    chunks = report.results["set_at"]
    assert report.stopped_by == "duration" and len(chunks) > 300
    assert tune.value == 100e6  # set back to what the radio is tuned to
    assert gaps(chunks) == [] and {c.meta["center_freq"] for c in chunks} == {100e6}
    assert ("soapy_source 'driver=loopback': frequency 7e+09 Hz is out of its range "
            "1..6000 MHz; param 'tune' set back to 1e+08") in caplog.text


def test_a_radio_that_fails_while_a_retune_settles_names_the_failure(loopback_radio):
    # settle is long (0.5 s of samples), so the radio fails in the middle of the retune
    tune = df.param(100e6, name="tune", low=1e6, high=6e9, unit="Hz")
    radio = io.soapy_source(f"{loopback_radio},fail_after=300000", rate=1e6, freq=tune,
                            chunk=4096, settle=0.5, timeout=3.0)
    with pytest.raises(df.BlockError) as caught:
        df.run(set_at(radio, tune, 1, 101e6), duration=10)
    assert ("soapy_source 'driver=loopback,fail_after=300000': readStream failed: STREAM_ERROR (-2)"
            in str(caught.value))
