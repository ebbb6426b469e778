"""Samples dropped on purpose (``meta["skipped"]``, e.g. by `dsp.squelch`) against samples lost
(``meta["overflow"]``), end to end: a squelched stream with losses recorded as SigMF and HDF5
(reopened with the sigmf library and h5py: the kinds are told apart), replayed by
sigmf_source / hdf5_source with the same marks, shown by ``daqflow inspect``, and carried by a
DSP block downstream of the squelch as ``skipped``, not ``overflow``."""

import h5py
import numpy as np
import pytest
import sigmf

import daqflow as df
from daqflow import cli, dsp, io

RATE = 1e6
CENTER = 100e6
CHUNK = 1000
QUIET = {3, 4, 12}  # chunks the squelch drops
LOST = {7, 11}  # chunks lost upstream of it (a full FIFO): chunk 12 is lost-then-quiet, a mixed gap
#: what the recording holds: (file position, stream index after the gap, lost, skipped)
GAPS = [(3000, 5000, 0, 2000), (5000, 8000, 1000, 0), (8000, 13000, 1000, 1000)]


def signal_chunks(n=14):
    rng = np.random.default_rng(11)
    out = []
    for k in range(n):
        level = 1e-3 if k in QUIET else 1.0
        x = (level * (rng.standard_normal(CHUNK) + 1j * rng.standard_normal(CHUNK))).astype(np.complex64)
        out.append(df.Chunk(x, RATE, k * CHUNK, k * CHUNK / RATE, {"center_freq": CENTER}))
    return out


@pytest.fixture
def squelched(drop_chunks):
    """The stream after the squelch (-20 dB on 1 ms windows: one per chunk)."""
    def make():
        return dsp.squelch(drop_chunks(df.from_iterable(signal_chunks()), LOST), -20.0, window=CHUNK / RATE)
    return make


def marks(chunks):
    return {c.index: {k: c.meta[k] for k in ("overflow", "skipped") if k in c.meta}
            for c in chunks if "overflow" in c.meta or "skipped" in c.meta}


EXPECTED_MARKS = {5000: {"skipped": 2000}, 8000: {"overflow": 1000},
                  13000: {"overflow": 1000, "skipped": 1000}}
#: ... and after a DSP block: the gaps with any loss are all "overflow" (conservative)
FILTERED_MARKS = {5000: {"skipped": 2000}, 8000: {"overflow": 1000}, 13000: {"overflow": 2000}}


def test_squelch_marks_what_it_drops(squelched):
    out = df.run(df.collect(squelched(), name="out")).results["out"]
    assert marks(out) == EXPECTED_MARKS
    assert [c.index // CHUNK for c in out] == [0, 1, 2, 5, 6, 8, 9, 10, 13]


def test_sigmf_annotations_tell_skipped_from_lost(tmp_path, squelched, record, replay, assert_bit_exact):
    rec = record(io.sigmf_writer, squelched(), tmp_path / "sq")
    assert marks(rec.seen.items) == EXPECTED_MARKS
    handle = sigmf.sigmffile.fromfile(str(tmp_path / "sq.sigmf-meta"), autoscale=False)
    handle.validate()
    assert [(c["core:sample_start"], c["core:global_index"]) for c in handle.get_captures()] == [
        (0, 0), (3000, 5000), (5000, 8000), (8000, 13000)]
    annotations = handle.get_annotations()
    lost = [(a["core:sample_start"], a["daqflow:lost_samples"]) for a in annotations
            if a["core:label"] == "overflow"]
    skipped = [(a["core:sample_start"], a["daqflow:skipped_samples"]) for a in annotations
               if a["core:label"] == "skipped"]
    assert lost == [(p, n) for p, _, n, _ in GAPS if n]
    assert skipped == [(p, n) for p, _, _, n in GAPS if n]
    comments = {a["core:label"]: a["core:comment"] for a in annotations if a["core:sample_start"] == 8000}
    assert comments == {"overflow": "1000 samples lost before this point",
                        "skipped": "1000 samples dropped on purpose before this point (e.g. squelch or "
                                   "retune), not lost"}
    assert_bit_exact(handle.read_samples(), rec.seen.data)

    back = replay(io.sigmf_source(tmp_path / "sq", chunk=600))
    assert_bit_exact(back.data, rec.seen.data)
    np.testing.assert_array_equal(back.indices, rec.seen.indices)
    assert marks(back.items) == EXPECTED_MARKS


def test_hdf5_gaps_table_tells_skipped_from_lost(tmp_path, squelched, record, replay, assert_bit_exact):
    rec = record(io.hdf5_writer, squelched(), tmp_path / "sq.h5")
    with h5py.File(tmp_path / "sq.h5", "r") as f:
        gaps = f["signal_gaps"]
        assert gaps.attrs["columns"] == "position,lost,index,skipped"
        np.testing.assert_array_equal(gaps[()], [[p, lost, i, skipped] for p, i, lost, skipped in GAPS])
        assert_bit_exact(f["signal"][()], rec.seen.data)
    back = replay(io.hdf5_source(tmp_path / "sq.h5", chunk=700))
    assert_bit_exact(back.data, rec.seen.data)
    np.testing.assert_array_equal(back.indices, rec.seen.indices)
    assert marks(back.items) == EXPECTED_MARKS


def test_hdf5_without_the_skipped_column_reads_as_lost(tmp_path, squelched, record, replay):
    """A recording made before skipped gaps were told apart (three columns): all lost."""
    record(io.hdf5_writer, squelched(), tmp_path / "old.h5")
    with h5py.File(tmp_path / "old.h5", "r+") as f:
        rows = f["signal_gaps"][()]
        del f["signal_gaps"]
        f["signal_gaps"] = rows[:, :3] + np.array([0, 1, 0]) * rows[:, 3:]  # lost = lost + skipped
    info = io.inspect_recording(tmp_path / "old.h5")
    assert info.gaps == tuple((p, lost + skipped, 0) for p, _, lost, skipped in GAPS)
    assert marks(replay(io.hdf5_source(tmp_path / "old.h5")).items) == {
        5000: {"overflow": 2000}, 8000: {"overflow": 1000}, 13000: {"overflow": 2000}}


@pytest.mark.parametrize("name, writer", [("sq.sigmf-meta", io.sigmf_writer), ("sq.h5", io.hdf5_writer)])
def test_inspect_says_skipped_on_purpose_or_lost(tmp_path, capsys, squelched, record, name, writer):
    record(writer, squelched(), tmp_path / name)
    info = io.inspect_recording(tmp_path / name)
    assert info.gaps == tuple((p, lost, skipped) for p, _, lost, skipped in GAPS)
    assert (info.lost, info.skipped, info.samples, info.segments) == (2000, 3000, 9000, 4)

    assert cli.main(["inspect", str(tmp_path / name)]) == 0
    out = capsys.readouterr().out
    rows = dict(line.split(None, 1) for line in out.splitlines() if line and not line.startswith(" "))
    assert rows["gaps"] == "3 (2000 samples lost, 3000 skipped on purpose)"
    assert [line.strip() for line in out.splitlines() if line.startswith("  gap at")] == [
        "gap at sample 3000: 2000 samples skipped on purpose",
        "gap at sample 5000: 1000 samples lost",
        "gap at sample 8000: 1000 samples lost, 1000 samples skipped on purpose",
    ]


def test_a_filter_after_the_squelch_passes_skipped_into_the_recording(tmp_path, squelched, record, replay):
    """dsp.fir between squelch and writer: the pure skip stays "skipped" (in the chunks and the
    file); the gaps with loss are "overflow" (a mixed one, conservatively, all of it)."""
    rec = record(io.sigmf_writer, dsp.fir(squelched(), dsp.lowpass(31, 200e3, rate=RATE)), tmp_path / "f")
    assert marks(rec.seen.items) == FILTERED_MARKS
    handle = sigmf.sigmffile.fromfile(str(tmp_path / "f.sigmf-meta"))
    handle.validate()
    assert sorted((a["core:sample_start"], a["core:label"]) for a in handle.get_annotations()) == [
        (3000, "skipped"), (5000, "overflow"), (8000, "overflow")]
    # and downstream of a replay: the recorded skip comes back and passes a filter as skipped
    filtered = replay(dsp.fir(io.sigmf_source(tmp_path / "f", chunk=512), [0.5, 0.5]))
    assert marks(filtered.items) == FILTERED_MARKS
