"""From sinks to a validated graph (`build_graph`, `Graph`, `Edge`): it lives beside `Stream`
in `daqflow.core.stream` (a Stream draws its own graph); this is its face."""

from .stream import DEFAULT_BUFFER, Edge, Graph, build_graph, is_fused

__all__ = ["DEFAULT_BUFFER", "Edge", "Graph", "build_graph", "is_fused"]
