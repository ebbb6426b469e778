"""Reads a served stream to its end and writes one line per chunk: seq, index, samples, missed.

Run as ``python _netns_reader.py URL TOKEN OUT`` (inside a network namespace by the test).
"""

from __future__ import annotations

import asyncio
import sys

from daqflow.net.http import http_packets


async def main(url: str, token: str, out: str) -> None:
    with open(out, "w") as f:
        async for packet in http_packets(url, after=0, token=token, timeout=2.0):
            if packet.kind == "end":
                f.write("end\n")
                return
            chunk = packet.item
            f.write(f"{packet.seq} {chunk.index} {chunk.samples} {packet.missed}\n")
            f.flush()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
