"""io.tiff_writer / io.tiff_source (frames that tifffile reads back) and io.walker (a place in a
directory tree that concurrent tasks write into)."""

import asyncio

import numpy as np
import pytest
import tifffile

import daqflow as df
from daqflow import io


def frames(n, h=6, w=5, dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 4000, (h, w)).astype(dtype) for _ in range(n)]


def test_2d_frames_each_become_a_file(tmp_path, assert_bit_exact, assert_no_partial):
    images = frames(3)
    sink = io.tiff_writer(df.from_iterable(images), tmp_path)  # plain arrays: numbered by count
    result = df.run(sink).results["tiff_writer"]
    names = [f"frame-{k:06d}.tif" for k in range(3)]
    assert result == {"directory": str(tmp_path), "frames": 3,
                      "paths": [str(tmp_path / n) for n in names]}
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    for name, image in zip(names, images, strict=True):
        assert_bit_exact(tifffile.imread(tmp_path / name), image)
    assert_no_partial(tmp_path)


def test_stacks_are_frames_named_by_stream_index(tmp_path, assert_bit_exact):
    images = frames(7, dtype=np.float32)
    stacks = [np.stack(images[:3]), np.stack(images[3:4]), np.stack(images[4:])]
    source = df.from_iterable(stacks, rate=10.0)  # Chunks of (n, h, w): index counts frames
    result = df.run(io.tiff_writer(source, tmp_path, pattern="img_{index}.tiff")).results["tiff_writer"]
    assert result["frames"] == 7
    for k, image in enumerate(images):
        assert_bit_exact(tifffile.imread(tmp_path / f"img_{k}.tiff"), image)


def test_source_reads_back_in_natural_order(tmp_path, replay, assert_bit_exact):
    images = frames(12, dtype=np.uint8)
    df.run(io.tiff_writer(df.from_iterable(images), tmp_path, pattern="f{index}.tif"))
    back = replay(io.tiff_source(tmp_path, "f*.tif", rate=5.0))  # f2 before f10
    assert [c.meta["path"] for c in back.items] == [str(tmp_path / f"f{k}.tif") for k in range(12)]
    assert [c.data.shape for c in back.items] == [(1, 6, 5)] * 12
    assert [(c.index, c.time, c.rate) for c in back.items] == [(k, k / 5.0, 5.0) for k in range(12)]
    assert_bit_exact(back.data, np.stack(images))


def test_source_replays_a_recording_into_a_writer(tmp_path, assert_bit_exact):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    images = frames(4, dtype=np.int16)
    df.run(io.tiff_writer(df.from_iterable(images), tmp_path / "a"))
    df.run(io.tiff_writer(io.tiff_source(tmp_path / "a"), tmp_path / "b"))
    for k, image in enumerate(images):
        assert_bit_exact(tifffile.imread(tmp_path / "b" / f"frame-{k:06d}.tif"), image)


def test_writer_needs_an_existing_directory_and_a_pattern_with_index(tmp_path):
    source = df.from_iterable(frames(1))
    with pytest.raises(FileNotFoundError, match="missing"):
        io.tiff_writer(source, tmp_path / "missing")
    with pytest.raises(ValueError, match="pattern"):
        io.tiff_writer(source, tmp_path, pattern="{frame}.tif")
    with pytest.raises(FileNotFoundError, match="missing"):
        io.tiff_source(tmp_path / "missing")


def test_writer_refuses_1d_data(tmp_path):
    with pytest.raises(df.BlockError, match="2-D"):
        df.run(io.tiff_writer(df.from_iterable([np.zeros(5)]), tmp_path))
    assert not list(tmp_path.iterdir())


# -- walker ----------------------------------------------------------------------------------

def test_walker_creates_root_and_descends(tmp_path):
    root = io.walker(tmp_path / "root")
    assert (tmp_path / "root").is_dir()

    async def main():
        async with root.descend("scan-1") as scan:
            return scan

    scan = asyncio.run(main())
    assert scan.path == tmp_path / "root" / "scan-1" and scan.path.is_dir()
    assert (root / "a" / "b").path == tmp_path / "root" / "a" / "b"


@pytest.mark.parametrize("name", ["../x", "a/../../x", "..", "/abs", "", "scan/../.."])
def test_walker_refuses_names_leaving_its_tree(tmp_path, name):
    root = io.walker(tmp_path / "root")

    async def main():
        async with root.descend(name):
            pass

    with pytest.raises(ValueError, match="relative path inside"):
        asyncio.run(main())
    with pytest.raises(ValueError, match="relative path inside"):
        root.child(name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
    assert not list((tmp_path / "root").iterdir())


def test_two_tasks_write_into_their_own_subdirectories(tmp_path, assert_bit_exact, assert_no_partial):
    root = io.walker(tmp_path)
    images = {"scan-a": frames(20, seed=1), "scan-b": frames(13, seed=2)}

    @df.block
    async def slowly(items):  # interleave the two graphs on one loop
        for item in items:
            await asyncio.sleep(0.001)
            yield item

    async def scan(name):
        async with root.descend(name) as where:
            report = await df.arun(where.tiff_writer(slowly(images[name]), name="frames"))
        return report.results["frames"]

    async def main():
        return await asyncio.gather(scan("scan-a"), scan("scan-b"))

    a, b = asyncio.run(main())
    assert (a["frames"], b["frames"]) == (20, 13)
    assert a["directory"] == str(tmp_path / "scan-a") and b["directory"] == str(tmp_path / "scan-b")
    for name, stack in images.items():
        files = sorted((tmp_path / name).iterdir())
        assert len(files) == len(stack)
        for path, image in zip(files, stack, strict=True):
            assert_bit_exact(tifffile.imread(path), image)
    assert_no_partial(tmp_path)


def test_tasks_descending_into_the_same_name_take_turns(tmp_path):
    root = io.walker(tmp_path)
    events = []

    async def visit(tag):
        async with root.descend("shared"):
            events.append(("in", tag))
            await asyncio.sleep(0.01)
            events.append(("out", tag))

    async def main():
        await asyncio.gather(visit(1), visit(2), visit(3))

    asyncio.run(main())
    assert [kind for kind, _ in events] == ["in", "out"] * 3
    assert [tag for _, tag in events[::2]] == [tag for _, tag in events[1::2]]
