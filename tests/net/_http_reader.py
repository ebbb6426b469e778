"""A reader of a served stream for test_http_resume, run as a separate process.

``python _http_reader.py URL LOGFILE``: resumes after the last sequence number recorded in
LOGFILE and appends one line ``SEQ KIND MISSED CRC32`` per packet (one write each, so a
SIGKILL never leaves half a line), until the end packet.
"""

from __future__ import annotations

import asyncio
import os
import sys
import zlib


def last_seq(path: str) -> int:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return 0
    return int(lines[-1].split()[0]) if lines else 0


async def read(url: str, path: str) -> None:
    from daqflow.net.http import http_packets

    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        async for packet in http_packets(url, after=last_seq(path), timeout=2.0):
            crc = zlib.crc32(packet.item.data.tobytes()) if packet.kind == "chunk" else 0
            os.write(fd, f"{packet.seq} {packet.kind} {packet.missed} {crc}\n".encode())
    finally:
        os.close(fd)


if __name__ == "__main__":
    asyncio.run(read(sys.argv[1], sys.argv[2]))
