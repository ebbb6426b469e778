"""`net.web_view` on its own: what it sends of an item, what it does without a server."""

import logging

import numpy as np
import pytest

import daqflow as df
from daqflow.net.web_views import reduce_item, web_view


def test_a_spectrum_is_reduced_to_db_on_its_rf_axis_keeping_its_peaks():
    freqs = 100e6 + np.arange(4096) * 100.0
    power = np.full((2, 4096), 1e-6)
    power[-1, 1001] = 1.0  # the newest row's peak, in a bin that merging must keep
    values, meta = reduce_item(df.Chunk(power, 10.0, 0, 0.0, {"freqs": freqs, "gain": np.float32(3),
                                                              "center_freq": 100e6}),
                               "auto", 1024)
    assert meta["kind"] == "spectrum" and len(values) == 1024 and values.dtype == np.float32
    assert values.max() == pytest.approx(0.0) and values.min() == pytest.approx(-60.0)
    peak = meta["f0"] + int(np.argmax(values)) * meta["df"]
    assert abs(peak - freqs[1001]) <= 2 * 100.0  # within the merged bin's width
    assert meta["gain"] == 3.0 and meta["center_freq"] == 100e6  # scalar meta goes along


def test_a_complex_trace_is_sent_as_i_and_q():
    x = np.exp(2j * np.pi * 0.01 * np.arange(5000)).astype(np.complex64)
    values, meta = reduce_item(df.Chunk(x, 1e3, 0, 2.5), "time", 1024)
    assert values.shape == (1024, 2) and meta == {"kind": "time", "rate": 1e3, "t0": 2.5}
    np.testing.assert_allclose(values[:, 0] + 1j * values[:, 1], x[:1024], rtol=1e-6)


def test_without_a_control_server_it_says_so_once_and_counts_what_it_did_not_show(caplog):
    chunks = [df.Chunk(np.zeros(8), 1.0, 8 * k) for k in range(5)]
    with caplog.at_level(logging.WARNING, logger="daqflow.net.control"):
        report = df.run(web_view(df.from_iterable(chunks), name="scope", buffer=8, policy="block"))
    assert report.results["scope"] == {"shown": 0, "skipped": 5}
    warnings = [r for r in caplog.records if "no control server" in r.getMessage()]
    assert len(warnings) == 1 and "scope" in warnings[0].getMessage()


@pytest.mark.parametrize(("args", "word"), [({"kind": "radar"}, "kind"),
                                             ({"max_fps": 0}, "max_fps"),
                                             ({"max_points": 4}, "max_points")])
def test_bad_arguments_name_themselves(args, word):
    with pytest.raises(ValueError, match=word):
        web_view(df.from_iterable([1]), **args)
