"""daqflow.net: streams between processes and machines (extra ``net``).

- `serve` / `http_source`: the HTTP boundary (long-poll, sequence numbers, raw bodies); any
  client can read it (docs/protocol.md).
- `zmq_source` / `zmq_sink`: wire-compatible with GNU Radio's gr-zeromq blocks.
- `web_view` and `ControlServer`: watch and steer a running graph from a browser or any HTTP
  client (``df.run(..., serve=PORT)``, ``daqflow serve``; docs/control.md).
- `serve_epics`: a Channel Access IOC publishing streams and params as EPICS PVs (extra
  ``facility``; docs/epics.md).
- `serve_tango`: a Tango device server publishing streams and params as attributes (extra
  ``facility``; docs/tango.md).
- Process partitions (``proc=df.Process("name")``, ``df.run(..., cluster=client)``):
  `partition` runs them, `plan` splits the graph, `links` carries the edges between them.
"""

from __future__ import annotations

from typing import Any

from ..core.driver import register_control_server
from ..core.executor import Executor, register_executor
from ..core.graph import Graph

_NAMES = {
    "serve": ".http",
    "http_source": ".http",
    "zmq_source": ".zmq_bridge",
    "zmq_sink": ".zmq_bridge",
    "web_view": ".web_views",
    "ControlServer": ".control",
    "serve_epics": ".epics_server",
    "serve_tango": ".tango_server",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    """Import a name's module on first use (aiohttp and pyzmq load only when needed)."""
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'daqflow.net' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def _partitioned(graph: Graph, **options: Any) -> Executor:
    """The executor of graphs split over processes (`partition.PartitionedRuntime`)."""
    try:
        from .partition import PartitionedRuntime
    except ImportError as exc:
        raise ImportError(f"running blocks in other processes needs daqflow.net: "
                          f"pip install 'daqflow[net]' ({exc})") from exc
    return PartitionedRuntime(graph, **options)


def _control_server(executor: Executor, serve: Any) -> Any:
    """`serve=`'s control server (`control.serving`)."""
    try:
        from .control import serving
    except ImportError as exc:
        raise ImportError(f"serve= needs daqflow.net: pip install 'daqflow[net]' ({exc})") from exc
    return serving(executor, serve)


register_executor(_partitioned)
register_control_server(_control_server)
