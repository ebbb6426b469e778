"""A Report's repr is one short line: asyncio.Runner takes a repr of a finished run's result
(restoring the SIGINT handler), so a repr that spelled out every collected item cost
seconds at the end of a run that collected many (0.7 s for 20,000 arrays, the run 0.03 s)."""

from __future__ import annotations

import numpy as np

import daqflow as df


def test_the_repr_of_a_report_stays_short_however_much_was_collected() -> None:
    report = df.run(df.collect(df.from_iterable([np.zeros(4)] * 20_000), name="kept"))
    text = repr(report)
    assert len(text) < 200
    assert text.startswith("<Report ") and "stopped by end" in text
    assert "kept=[20000 items]" in text
