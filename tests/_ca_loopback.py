"""Channel Access on loopback only, for the EPICS tests: a port of the test's own, searches
to 127.0.0.1, beacons and client registrations to a UDP socket the test holds (so no
caRepeater is needed), and a check that no process was left running."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

import pytest


def children() -> set[int]:
    """PIDs of this process's children."""
    me = str(os.getpid())
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[1] == me:
                    found.add(int(entry))
    return found


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


def loopback_ca(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Set the EPICS environment for loopback only; yields the server port; fails if a
    process (a caRepeater) is left running."""
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:  # beacons, registrations
        sink.bind(("127.0.0.1", 0))
        settings = {
            "EPICS_CA_AUTO_ADDR_LIST": "NO", "EPICS_CA_ADDR_LIST": "127.0.0.1",
            "EPICS_CA_SERVER_PORT": str(port), "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
            "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO", "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
            "EPICS_CAS_BEACON_PORT": str(sink.getsockname()[1]),
            "EPICS_CA_REPEATER_PORT": str(sink.getsockname()[1]),
        }
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        before = children()
        yield port
        assert children() <= before, "a process (a caRepeater?) was left running"
