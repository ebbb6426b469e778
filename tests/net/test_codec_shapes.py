"""Every dtype and shape class (0-d, empty, n-d, non-contiguous, Fortran order) crosses exactly:
through the codec (a bounded property test) and through the real shm, zmq and http links."""

import numpy as np
import pytest
from _partition_blocks import shaped_item_list, shaped_items
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import daqflow as df
from daqflow import Chunk
from daqflow.net.codec import decode_item, encode_item

DTYPES = ["bool", "uint8", "int8", "int16", "uint16", "int32", "int64", "float32", "float64",
          "complex64", "complex128"]


def same(a, b):
    """Exactly equal: type, dtype, shape and every value (NaNs included)."""
    if isinstance(a, Chunk):
        return (isinstance(b, Chunk) and (a.rate, a.index, a.time, dict(a.meta))
                == (b.rate, b.index, b.time, dict(b.meta)) and same(a.data, b.data))
    return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def crossed(item):
    header, body = encode_item(item)
    return decode_item(header, bytes(body))


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=0, max_dims=4, min_side=0,
                                                            max_side=4)),
       st.sampled_from(["c", "fortran", "strided"]))
def test_any_array_crosses_the_codec_exactly(array, layout):
    if layout == "fortran":
        array = np.asfortranarray(array)
    elif layout == "strided" and array.ndim:
        array = array[::-1]
    assert same(array, crossed(array))
    if array.ndim:  # a Chunk's data has samples on its first axis
        chunk = Chunk(array, rate=1e3, index=7, time=0.5, meta={"k": 1})
        assert same(chunk, crossed(chunk))


@pytest.mark.parametrize("transport", ["shm", "zmq", "http"])
def test_every_shape_class_crosses_each_link_exactly(transport):
    report = df.run(df.collect(shaped_items(proc=df.Process("a"))), transport=transport)
    got = report.results["collect"]
    want = shaped_item_list()
    assert len(got) == len(want)
    for a, b in zip(want, got, strict=True):
        assert same(a, b), (a, b)
