"""A `Walker` writes only inside its tree: no '..' in names or file patterns, and no symlink
inside the tree leads it out."""

import pytest

import daqflow as df
from daqflow import io


def frames(n=2):
    import numpy as np

    return df.from_iterable([np.zeros((4, 4), np.uint16)] * n)


def test_a_file_pattern_that_climbs_out_is_refused(tmp_path):
    walker = io.walker(tmp_path / "root")
    with pytest.raises(ValueError, match=r"pattern '\.\./x-\{index\}\.tif' must name files in"):
        walker.tiff_writer(frames(), pattern="../x-{index}.tif")
    with pytest.raises(ValueError, match="must name files in"):
        walker.tiff_writer(frames(), pattern="sub/x-{index}.tif")
    assert not list(tmp_path.glob("x-*.tif"))


def test_a_symlink_inside_the_tree_does_not_lead_out(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    root = tmp_path / "root"
    walker = io.walker(root)
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match=r"leads outside the tree .*root'"):
        walker.child("link")
    with pytest.raises(ValueError, match="leads outside the tree"):
        walker / "link" / "deeper"
    assert list(outside.iterdir()) == []


def test_a_walker_writes_its_frames_inside_the_tree(tmp_path):
    walker = io.walker(tmp_path / "root")
    with walker.descend_sync("scan-1") as scan:
        report = df.run(scan.tiff_writer(frames(3), pattern="f-{index}.tif"))
    paths = report.results["tiff_writer"]["paths"]
    assert len(paths) == 3 and all(p.startswith(str(tmp_path / "root" / "scan-1")) for p in paths)
