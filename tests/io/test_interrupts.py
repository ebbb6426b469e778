"""Recordings stopped at random moments: SIGINT and SIGTERM to ``daqflow record`` (an orderly
stop), and an exception raised upstream of the writer (the writer sees end of stream). Every
time: each file opens in its reference reader, no ``.partial`` file is left, and the file
holds exactly the samples the writer was handed. Also: bad output paths, found before running.

The random moments come from DAQFLOW_TEST_SEED (random when unset; failures print it).
"""

import os
import random
import re
import signal

import numpy as np
import pytest

import daqflow as df
from daqflow import io

SEED = int(os.environ.get("DAQFLOW_TEST_SEED", random.randrange(1 << 30)))
WRITERS = {"sigmf-meta": io.sigmf_writer, "h5": io.hdf5_writer, "npy": io.npy_writer}
FILES = {"sigmf-meta": ["rec.sigmf-data", "rec.sigmf-meta"], "h5": ["rec.h5"], "npy": ["rec.npy"]}
CHUNK = 8192  # daqflow record's default

# a real-time recording on a busy machine may overflow: its gaps use daqflow:* SigMF keys
# that the sigmf library warns about (see test_sigmf.py, the undeclared-extension bug)


def rng_for(*key):
    return random.Random(f"{SEED}-{'-'.join(map(str, key))}")


# -- signals to `daqflow record` --------------------------------------------------------------

SIGNALED = [(sig, ext, mode) for sig in (signal.SIGINT, signal.SIGTERM)
            for ext in WRITERS for mode in ("fast", "realtime")]


@pytest.mark.parametrize(("sig", "ext", "mode"), SIGNALED,
                         ids=[f"{s.name}-{e}-{m}" for s, e, m in SIGNALED])
def test_signal_stops_record_in_order(tmp_path, interrupted_record, reference_read, assert_no_partial,
                                      sig, ext, mode):
    delay = rng_for(sig.name, ext, mode).uniform(0.3, 1.5)
    output = tmp_path / f"rec.{ext}"
    args = ["--rate", "1e6", "--seed", "1"] + (["--fast"] if mode == "fast" else [])
    run = interrupted_record(output, sig, delay, *args)
    why = f"DAQFLOW_TEST_SEED={SEED}: {run}"

    assert run.returncode == 130, why
    assert "stopped by interrupt" in run.stdout, why
    assert "Traceback" not in run.stderr, why
    assert_no_partial(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == FILES[ext], why
    samples = run.samples
    assert samples > 0 and samples == run.table_items_in() * CHUNK, why

    count, last = reference_read(output, tail=256)
    assert count == samples, why
    # the tone at rate/8, amplitude 1, noise 0.01: the end of the file is signal, not padding
    assert len(last) == 256 and np.all(np.abs(np.abs(last) - 1) < 0.1), why
    output.unlink()  # fast recordings are large: do not keep them in the pytest temp dirs


# -- an exception upstream of the writer ------------------------------------------------------

FAILED = [(ext, k) for ext in WRITERS for k in range(4)]


@pytest.mark.parametrize(("ext", "run_no"), FAILED, ids=[f"{e}-{k}" for e, k in FAILED])
def test_upstream_failure_at_a_random_chunk(tmp_path, reference_read, assert_no_partial,
                                            assert_bit_exact, fail_at, ext, run_no):
    rng = rng_for("fail", ext, run_no)
    chunk, at, threaded = rng.choice([256, 1000, 4096, 8192]), rng.randint(1, 80), rng.random() < 0.5
    why = f"DAQFLOW_TEST_SEED={SEED}: chunk={chunk} fail at chunk {at} threaded={threaded}"
    output = tmp_path / f"rec.{ext}"
    adc = io.simulated_adc(1e6, chunk=chunk, noise=0.1, realtime=False, seed=run_no)
    upstream = fail_at(adc, at)
    sinks = (WRITERS[ext](upstream, output, name="recording", threaded=threaded),
             df.collect(upstream, name="seen"))

    with pytest.raises(df.BlockError) as err:
        df.run(*sinks)
    assert err.value.block == "fail_at", why
    assert type(err.value.cause).__name__ == "InjectedFault", why
    report = err.value.report
    assert report.stopped_by == "error" and "injected failure" in report.error, why
    delivered = report.blocks["recording"].samples_in
    assert delivered == report.results["recording"]["samples"] == at * chunk, why

    assert_no_partial(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == FILES[ext], why
    count, data = reference_read(output)
    assert count == delivered, why
    assert_bit_exact(data, np.concatenate([c.data for c in report.results["seen"]]))  # complex64


@pytest.mark.parametrize("ext", ["sigmf-meta", "h5", "npy"])
def test_failure_before_the_first_chunk(tmp_path, reference_read, assert_no_partial, fail_at, ext):
    output = tmp_path / f"rec.{ext}"
    upstream = fail_at(io.simulated_adc(1e6, chunk=1000, realtime=False), 0)
    with pytest.raises(df.BlockError) as err:
        df.run(WRITERS[ext](upstream, output, name="recording"))
    assert_no_partial(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names in ([], FILES[ext])  # an empty recording, or none
    if names:
        assert reference_read(output)[0] == 0
    assert err.value.block == "fail_at", err.value  # not the writer
    assert err.value.report.results["recording"]["samples"] == 0


# -- the writer itself fails --------------------------------------------------------------------

@pytest.mark.parametrize("ext", ["sigmf-meta", "h5", "npy"])
def test_writer_failing_mid_stream_leaves_only_valid_files(tmp_path, reference_read, assert_no_partial,
                                                           ext):
    """A dtype change mid-stream fails the writer; what it had is kept in a valid file (or
    nothing is), never a temporary file."""
    source = df.from_iterable([np.ones(100, np.complex64), np.ones(100, np.float32)], rate=1e3)
    with pytest.raises(df.BlockError, match=r"cf32_le|complex64") as err:
        df.run(WRITERS[ext](source, tmp_path / f"rec.{ext}", name="recording"))
    assert err.value.block == "recording"
    assert err.value.report.blocks["recording"].samples_in == 200
    assert_no_partial(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names in ([], FILES[ext])
    if names:
        assert reference_read(tmp_path / f"rec.{ext}")[0] == 100


# -- bad output paths: found when the writer is built, before anything runs ---------------------

def source():
    return df.from_iterable([np.zeros(10, np.complex64)], rate=1.0)


def tiff(stream, path, **options):
    return io.tiff_writer(stream, path.parent, pattern=path.name.replace(".", "-{index}."), **options)


BUILDERS = {"sigmf": (io.sigmf_writer, "x.sigmf-meta"), "hdf5": (io.hdf5_writer, "x.h5"),
            "npy": (io.npy_writer, "x.npy"), "tiff": (tiff, "x.tif")}


@pytest.mark.parametrize("kind", BUILDERS)
def test_directory_missing(tmp_path, kind):
    writer, name = BUILDERS[kind]
    missing = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        writer(source(), missing / name)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kind", ["sigmf", "hdf5", "npy"])
def test_parent_is_a_regular_file(tmp_path, kind):
    writer, name = BUILDERS[kind]
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(NotADirectoryError, match=re.escape(str(tmp_path / "file"))):
        writer(source(), tmp_path / "file" / name)


@pytest.mark.parametrize("kind", ["sigmf", "hdf5", "npy"])
def test_path_is_a_directory(tmp_path, kind):
    writer, name = BUILDERS[kind]
    target = tmp_path / name.replace("sigmf-meta", "sigmf-data")
    target.mkdir()
    with pytest.raises(IsADirectoryError, match=re.escape(str(target))):
        writer(source(), tmp_path / name)


@pytest.mark.parametrize("kind", ["sigmf", "hdf5", "npy"])
def test_directory_not_writable(tmp_path, kind):
    """As root every permission check passes: /proc takes no new files, so the writer can
    only fail when it opens its file, and must then leave nothing."""
    writer, name = BUILDERS[kind]
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(PermissionError, match=re.escape(str(locked))):
            writer(source(), locked / name)
        return
    path = f"/proc/daqflow-test-{os.getpid()}-{name}"
    try:
        sink = writer(source(), path, name="recording")
    except OSError as exc:  # found before running: fine too
        assert "/proc" in str(exc)
        return
    with pytest.raises(df.BlockError) as err:
        df.run(sink)
    assert err.value.block == "recording"
    assert isinstance(err.value.cause, OSError) and "/proc/daqflow-test" in str(err.value.cause)
    assert not [p for p in os.listdir("/proc") if p.startswith("daqflow-test")]


def test_record_command_names_a_missing_directory(tmp_path, daqflow_cli):
    out = daqflow_cli("record", tmp_path / "nope" / "x.h5", "--samples", "10", "--fast")
    assert out.returncode == 2
    assert str(tmp_path / "nope") in out.stderr and "does not exist" in out.stderr
    assert "Traceback" not in out.stderr
    assert not list(tmp_path.iterdir())
