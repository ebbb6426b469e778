"""`collect` of an endless stream: one warning, naming the block and how to bound the run, once
it holds more than ``warn_bytes`` of samples."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import daqflow as df


def _chunks(n: int, samples: int = 1000) -> list[df.Chunk]:
    return [df.Chunk(np.zeros(samples, np.float32), 1e3, k * samples) for k in range(n)]


def test_a_collect_past_its_bound_warns_once_naming_itself(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="daqflow")
    report = df.run(df.collect(df.from_iterable(_chunks(50)), warn_bytes=10_000, name="keep_all"))
    assert len(report.results["keep_all"]) == 50  # it still keeps everything
    warnings = [r for r in caplog.records if "keeps every item" in r.getMessage()]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert message.startswith("keep_all holds 0 MiB (3 items)")  # 3 x 4000 bytes > 10000
    assert "duration=" in message and "dsp.head" in message


def test_a_collect_within_its_bound_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="daqflow")
    df.run(df.collect(df.from_iterable(_chunks(2)), warn_bytes=10_000))
    assert not [r for r in caplog.records if "keeps every item" in r.getMessage()]
