"""Shared helpers for the benchmark scripts (each script prints one JSON document)."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any


def best_of(fn: Callable[[], float], repeat: int) -> float:
    """Smallest of ``repeat`` timings (seconds): the least disturbed run on a noisy machine."""
    return min(fn() for _ in range(repeat))


def emit(name: str, results: Any, **extra: Any) -> None:
    doc = {
        "benchmark": name,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **extra,
        "results": results,
    }
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")
