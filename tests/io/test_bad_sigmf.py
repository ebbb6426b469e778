"""A SigMF recording with bad metadata is refused in one line naming the file and the field,
never a library's traceback or a replay that runs for ever; a fuzz over the fields keeps it so."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import daqflow as df
from daqflow import io

SAMPLES = 1000


def write_recording(folder, global_info=None, captures=None):
    """A valid cf32_le recording of SAMPLES samples with ``global_info``/``captures`` changed."""
    meta = {
        "global": {"core:datatype": "cf32_le", "core:sample_rate": 1000.0, "core:version": "1.0.0",
                   **(global_info or {})},
        "captures": captures if captures is not None else [{"core:sample_start": 0}],
        "annotations": [],
    }
    np.arange(SAMPLES, dtype=np.complex64).tofile(folder / "rec.sigmf-data")
    (folder / "rec.sigmf-meta").write_text(json.dumps(meta))
    return folder / "rec.sigmf-meta"


def refusal(path):
    """The one-line error opening ``path`` gives (it must be a ValueError naming the file)."""
    with pytest.raises(ValueError) as err:
        io.sigmf_source(path)
    text = str(err.value)
    assert str(path) in text and "\n" not in text, text
    return text


def test_a_capture_beyond_the_data_is_refused_instead_of_replayed_for_ever(tmp_path):
    path = write_recording(tmp_path, captures=[{"core:sample_start": 0},
                                               {"core:sample_start": 10**9}])
    assert "capture 1 starts at sample 1000000000, beyond the data file's 1000 samples" in refusal(path)
    with pytest.raises(ValueError, match="beyond the data"):
        io.inspect_recording(path)


@pytest.mark.parametrize("rate", [0, -1.0, "fast", float("inf")])
def test_a_sample_rate_that_is_not_a_positive_number_is_refused(tmp_path, rate):
    path = write_recording(tmp_path, {"core:sample_rate": rate})
    assert "core:sample_rate must be a sample rate > 0 Hz" in refusal(path)


@pytest.mark.parametrize("captures, says", [
    ([{"core:sample_start": 0, "core:global_index": -5}], "core:global_index must be an index >= 0"),
    ([{"core:sample_start": 500}, {"core:sample_start": 100}], "captures must be in order"),
])
def test_bad_captures_are_refused(tmp_path, captures, says):
    assert says in refusal(write_recording(tmp_path, captures=captures))


def test_deeply_nested_json_is_refused_in_one_line(tmp_path):
    path = write_recording(tmp_path)
    path.write_text('{"global": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "is not a SigMF recording daqflow can read" in refusal(path)


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                   st.floats(allow_nan=True), st.text(max_size=5), st.lists(st.integers(), max_size=2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["core:sample_rate", "core:datatype", "core:version",
                              "capture:core:sample_start", "capture:core:global_index",
                              "capture:core:frequency", "capture:daqflow:sample_rate"]),
       value=VALUES)
def test_any_bad_field_value_reads_or_is_refused_in_one_line(tmp_path, field, value):
    if field.startswith("capture:"):
        path = write_recording(tmp_path, captures=[{"core:sample_start": 0, field[8:]: value}])
    else:
        path = write_recording(tmp_path, {field: value})
    try:
        stream = io.sigmf_source(path, chunk=400)
    except ValueError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc), str(exc)
        return
    chunks = df.run(df.collect(stream)).results["collect"]  # a file it accepts reads in full
    assert sum(c.samples for c in chunks) == SAMPLES
