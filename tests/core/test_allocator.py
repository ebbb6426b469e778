"""glibc's heap set for streams of large arrays: a chain that copies 512 KiB chunks reuses
freed memory instead of faulting fresh pages in for each copy (counted by the kernel: minor
page faults), unless ``DAQFLOW_MALLOC=system``. Each case in a fresh interpreter."""

import json
import os
import subprocess
import sys

import pytest

import daqflow as df

CHILD = """
import json, resource
import numpy as np
import daqflow as df
from daqflow.core import allocator

@df.block
async def copying(x: df.Stream):
    async for c in x:
        yield df.Chunk(np.copy(c.data), c.rate, c.index, c.time, c.meta)

data = np.zeros(65536, np.complex64)  # 512 KiB
chunks = [df.Chunk(data, 1e6, i * 65536) for i in range(300)]

def graph():
    s = df.from_iterable(chunks)
    for _ in range(10):
        s = copying(s)
    return df.null_sink(s)

df.run(graph())  # the heap grows to its working size once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
df.run(graph())
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"faults_per_chunk": (after - before) / len(chunks),
                  "tuned": allocator._applied}))
"""


def faults_per_chunk(setting: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DAQFLOW_MALLOC"}
    if setting is not None:
        env["DAQFLOW_MALLOC"] = setting
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"),
                    reason="glibc's heap settings")
def test_copied_chunks_reuse_freed_memory_instead_of_faulting_pages_in():
    tuned = faults_per_chunk(None)
    system = faults_per_chunk("system")
    assert tuned["tuned"] is True and system["tuned"] is False
    assert system["faults_per_chunk"] > 10  # glibc alone: fresh pages for many copies
    assert tuned["faults_per_chunk"] < 1  # (128 faults would be one copy's pages)


def test_a_bad_setting_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("DAQFLOW_MALLOC", "jemalloc")
    with pytest.raises(ValueError, match="^DAQFLOW_MALLOC='jemalloc': expected 'streaming' "
                                         r"\(the default\) or 'system'"):
        df.run(df.collect(df.from_iterable([1])))
