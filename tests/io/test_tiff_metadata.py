"""TIFF sequences keep each frame's index, rate, time and meta (JSON in the ImageDescription,
where tifffile keeps metadata) and `tiff_source` reads them back: gaps stay gaps."""

import json

import numpy as np
import pytest
import tifffile

import daqflow as df
from daqflow import io


def _frame(k, h=4, w=3):
    return np.full((h, w), k, dtype=np.uint16)


@df.block
async def frames_with_a_gap():
    """Frames 0, 1, then 4 (two lost upstream and marked so), then a stack of 5 and 6."""
    yield df.Chunk(_frame(0)[None], 10.0, 0, 100.0, {"camera": "cam1", "exposure": np.float32(0.01)})
    yield df.Chunk(_frame(1)[None], 10.0, 1, 100.1, {"camera": "cam1", "params": {"gain": 3}})
    yield df.Chunk(_frame(4)[None], 10.0, 4, 100.4, {"camera": "cam1", "overflow": 2})
    yield df.Chunk(np.stack([_frame(5), _frame(6)]), 10.0, 5, 100.5,
                   {"camera": "cam1", "skipped": 0, "roi": np.arange(4)})


def test_each_file_keeps_index_rate_time_and_meta_and_they_come_back(tmp_path, replay):
    df.run(io.tiff_writer(frames_with_a_gap(), tmp_path))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"frame-{k:06d}.tif" for k in (0, 1, 4, 5, 6)]

    with tifffile.TiffFile(tmp_path / "frame-000004.tif") as tiff:  # the reference reader
        kept = json.loads(tiff.pages[0].description)
    assert kept == {"daqflow": 1, "index": 4, "rate": 10.0, "time": pytest.approx(100.4),
                    "meta": {"camera": "cam1", "overflow": 2}}

    back = replay(io.tiff_source(tmp_path)).items
    assert [c.index for c in back] == [0, 1, 4, 5, 6]  # not renumbered 0..4
    assert [c.rate for c in back] == [10.0] * 5
    assert [c.time for c in back] == pytest.approx([100.0, 100.1, 100.4, 100.5, 100.6])
    assert [int(c.data[0, 0, 0]) for c in back] == [0, 1, 4, 5, 6]
    assert back[0].meta["exposure"] == pytest.approx(0.01)  # a numpy scalar, kept as a number
    assert back[1].meta["params"] == {"gain": 3}
    assert back[2].meta["overflow"] == 2  # the gap is marked as it was
    assert "roi" not in back[3].meta  # an array is not kept
    assert "overflow" not in back[4].meta and back[4].meta["camera"] == "cam1"


def test_a_frame_missing_from_the_directory_is_marked_lost_not_hidden(tmp_path, replay):
    chunks = [df.Chunk(_frame(k)[None], 2.0, k, k / 2.0) for k in range(5)]
    df.run(io.tiff_writer(df.from_iterable(chunks), tmp_path))
    (tmp_path / "frame-000002.tif").unlink()
    back = replay(io.tiff_source(tmp_path)).items
    assert [c.index for c in back] == [0, 1, 3, 4]
    assert back[2].meta["overflow"] == 1 and [c.time for c in back] == [0.0, 0.5, 1.5, 2.0]


def test_an_explicit_rate_relabels_the_frames(tmp_path, replay):
    df.run(io.tiff_writer(frames_with_a_gap(), tmp_path))
    back = replay(io.tiff_source(tmp_path, rate=2.0)).items
    assert [(c.index, c.rate, c.time) for c in back][:3] == [(0, 2.0, 0.0), (1, 2.0, 0.5),
                                                             (4, 2.0, 2.0)]


def test_the_description_is_strict_json_even_for_a_non_finite_time(tmp_path, replay):
    chunk = df.Chunk(_frame(7)[None], float("inf"), 7, float("nan"), {"note": "é", "bad": float("nan")})
    df.run(io.tiff_writer(df.from_iterable([chunk]), tmp_path))
    with tifffile.TiffFile(tmp_path / "frame-000007.tif") as tiff:
        text = tiff.pages[0].description

    def strict(constant):
        raise ValueError(constant)

    assert json.loads(text, parse_constant=strict) == {"daqflow": 1, "index": 7, "rate": None,
                                                       "meta": {"note": "é"}}
    (back,) = replay(io.tiff_source(tmp_path)).items
    assert (back.index, back.rate, back.time, back.meta["note"]) == (7, 1.0, 7.0, "é")


def test_files_from_elsewhere_are_numbered_in_order(tmp_path, replay):
    for k in range(2):
        tifffile.imwrite(tmp_path / f"img{k}.tif", _frame(k))  # tifffile's own metadata
    tifffile.imwrite(tmp_path / "img2.tif", _frame(2), description='made with "daqflow", by hand',
                     metadata=None)  # plain text that names daqflow is not daqflow's JSON
    back = replay(io.tiff_source(tmp_path, rate=4.0)).items
    assert [(c.index, c.time, c.rate) for c in back] == [(0, 0.0, 4.0), (1, 0.25, 4.0),
                                                         (2, 0.5, 4.0)]
    assert all("overflow" not in c.meta for c in back)


@pytest.mark.parametrize("description", [
    '{"daqflow": 1, "index": ',  # cut short
    '{"daqflow": 1, "index": -3, "rate": 1.0}',
    '{"daqflow": 1, "index": 0, "rate": "fast"}',
    '{"daqflow": 1, "index": 0, "rate": true}',
    '{"daqflow": 1, "index": 0, "time": NaN}',
    '{"daqflow": 1, "index": 2, "meta": {"overflow": "x"}}',
    '{"daqflow": 1, "index": 2, "meta": {"skipped": -1}}',
    '{"daqflow": 2, "index": 0}',  # a format this version does not know
])
def test_a_broken_daqflow_description_is_one_line_naming_the_file(tmp_path, description):
    path = tmp_path / "frame-000000.tif"
    tifffile.imwrite(path, _frame(0), description=description, metadata=None)
    with pytest.raises(df.BlockError) as info:
        df.run(df.collect(io.tiff_source(tmp_path)))
    message = str(info.value.cause)
    assert str(path) in message and "\n" not in message
