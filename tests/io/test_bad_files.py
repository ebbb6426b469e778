"""A file daqflow cannot replay gets one line naming it and what is wrong: HDF5 with a group
where the dataset should be, a scalar dataset, a rate that is not a number > 0, segment rows
of the wrong width; a directory; a truncated .npy (SigMF: test_bad_sigmf.py)."""

import h5py
import numpy as np
import pytest

from daqflow import io


def refusal(path):
    with pytest.raises(ValueError) as err:
        io.hdf5_source(path)
    text = str(err.value)
    assert str(path) in text and "\n" not in text, text
    return text


def test_a_group_named_like_the_dataset_is_called_a_group(tmp_path):
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as f:
        f.create_group("signal").create_dataset("signal", data=np.zeros(4))
    assert "'signal' is a group, not a dataset (its datasets: none)" in refusal(path)


def test_a_scalar_dataset_is_refused(tmp_path):
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        f["signal"] = 3.0
    assert "dataset 'signal' is a scalar" in refusal(path)


@pytest.mark.parametrize("rate", ["fast", 0.0, -5, np.inf])
def test_a_rate_attribute_that_is_not_a_positive_number_is_refused(tmp_path, rate):
    path = tmp_path / "r.h5"
    with h5py.File(path, "w") as f:
        f["signal"] = np.zeros(8, np.complex64)
        f["signal"].attrs["rate"] = rate
    assert "attribute rate must be a sample rate > 0 Hz" in refusal(path)


def test_segment_rows_of_the_wrong_width_are_refused(tmp_path):
    path = tmp_path / "seg.h5"
    with h5py.File(path, "w") as f:
        f["signal"] = np.zeros(8, np.complex64)
        f["signal"].attrs["rate"] = 1e3
        f["signal_segments"] = np.zeros((1, 2))
    assert "signal_segments has shape (1, 2), expected rows of" in refusal(path)


def test_a_directory_is_called_a_directory(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"'{tmp_path}' is a directory, not a file"):
        io.hdf5_source(tmp_path)
    with pytest.raises(IsADirectoryError, match="is a directory, not a file"):
        io.inspect_recording(tmp_path)


def test_inspect_of_a_truncated_npy_says_it_is_truncated(tmp_path):
    path = tmp_path / "cut.npy"
    np.save(path, np.arange(1000, dtype=np.complex64))
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 8 * 300 - 3)
    with pytest.raises(ValueError, match=r"cut.npy' is truncated: its header says shape \(1000,\) .* "
                                         r"\(699 whole rows\)"):
        io.inspect_recording(path)
