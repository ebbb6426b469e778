"""Watch and steer a running graph over HTTP: `ControlServer` and `serving`.

``df.run(..., serve=8765)``, ``df.start(..., serve=...)`` and ``daqflow serve FILE.py`` run a
graph beside a control server (protocol: docs/control.md). Routes (JSON unless said):

- ``GET /report``: the live report (per block and per edge, the printed report's figures);
- ``GET /params``, ``GET /params/{name}``: value, unit, range, choices of each control: every
  `Param` the blocks read and every setting of an instrument streamed in the graph
  (``scope.timebase``); ``PUT /params/{name}`` with ``{"value": V}``: 200 with the new value,
  or 400 with the control's own validation message;
- ``POST /stop``: an orderly stop (FIFOs drain, writers close);
- ``GET /graph``: nodes, edges and the DOT text;
- ``GET /views``: the `web_view` sinks; their items at ``GET /streams/{name}`` (long poll);
- ``GET /``: the page (``/static/*``: its script and style, shipped in the package).

The security rules are `PacketServer`'s: 127.0.0.1 by default, a bearer token required
beyond loopback and checked before any body is read (the page and its script excepted: they
hold no data; open ``/?token=T`` and the page sends it), limits on requests and connections.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import math
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from ..core.finding import params_of
from ..core.params import Param
from .codec import dumps
from .http_server import PacketServer, StreamFeed, _error
from .reports import pack_report

log = logging.getLogger("daqflow.net.control")

STATIC = Path(__file__).with_name("static")
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
          ".png": "image/png", ".svg": "image/svg+xml"}

#: the control server of the run whose blocks are running (for `web_view` sinks)
CURRENT: contextvars.ContextVar[ControlServer | None] = contextvars.ContextVar(
    "daqflow_control_server", default=None)


class Controls:
    """The values a graph lets you steer: the Params its blocks declare, an instrument's
    settings among them (``scope.timebase``: `Instrument.param`)."""

    def __init__(self, params: list[Param[Any]]):
        self.params = {p.name: p for p in params}

    def names(self) -> list[str]:
        return list(self.params)

    def describe(self, name: str) -> dict[str, Any]:
        """What a page needs to draw a control for ``name`` (KeyError if there is none)."""
        p = self.params[name]
        return {"name": name, "value": p.value, "kind": p.kind.__name__, "unit": p.unit,
                "low": p.low, "high": p.high,
                "choices": None if p.choices is None else list(p.choices),
                "doc": p.doc, "source": "param" if p.owner is None else f"instrument {p.owner}"}

    def set(self, name: str, value: Any) -> Any:
        """Set ``name``; returns the value now held. ValueError: the control's own message;
        KeyError: no such control."""
        self.params[name].set(value)
        return self.params[name].value


class ControlServer(PacketServer):
    """The HTTP face of a running graph (routes: see the module).

    Args:
        runtime: what runs the graph (``report()``, ``request_stop(reason)``, ``graph``).
        host, port, token, limits: as `PacketServer`.
    """

    def __init__(self, runtime: Any, *, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, **limits: Any):
        super().__init__(host=host, port=port, token=token, retention=64, **limits)
        self.runtime = runtime
        graph = getattr(runtime, "graph", None)
        nodes = list(graph.nodes) if graph is not None else []
        self.graph = graph
        self.controls = Controls(params_of(nodes))
        self.views: dict[str, str] = {}  # web_view name -> kind
        self.stop_requested = False

    def _authorized(self, request: Any) -> bool:
        """The page and its script need no token (they hold no data and are the package's
        own files); every data and control route does."""
        path = request.path
        if request.method == "GET" and (path in ("/", "/index.html") or path.startswith("/static/")):
            return True
        return super()._authorized(request)

    def add_view(self, name: str, kind: str) -> StreamFeed:
        """The feed of a `web_view` sink (its items at /streams/NAME)."""
        self.views[name] = kind
        return self.add_stream(name)

    async def _route(self, request: Any, path: str) -> Any:
        web = self._web
        method = request.method
        if path in ("/", "/index.html") or path.startswith("/static/"):
            return self._file(request, "index.html" if not path.startswith("/static/")
                              else path.removeprefix("/static/"))
        if path == "/report":
            return self._only(request, "GET") or self._json(self._report())
        if path == "/graph":
            return self._only(request, "GET") or self._json(self._graph())
        if path == "/views":
            return self._only(request, "GET") or self._json(
                [{"name": n, "kind": k, "url": f"/streams/{n}"} for n, k in self.views.items()])
        if path == "/stop":
            refused = self._only(request, "POST")
            if refused is not None:
                return refused
            self.stop_requested = True
            self.runtime.request_stop("stop")
            return self._json({"stopping": True}, status=202)
        if path == "/params":
            return self._only(request, "GET") or self._json(
                [self.controls.describe(n) for n in self.controls.names()])
        if path.startswith("/params/"):
            name = path.removeprefix("/params/")
            if name not in self.controls.names():
                return _error(web, 404, f"no control {name[:80]!r} (controls: "
                                        f"{', '.join(self.controls.names()) or 'none'})")
            if method == "GET":
                return self._json(self.controls.describe(name))
            if method == "PUT":
                return await self._put(request, name)
            return _error(web, 405, f"{method[:20]} is not allowed: GET or PUT",
                          {"Allow": "GET, PUT"})
        return await super()._route(request, path)

    # -- handlers --------------------------------------------------------------------------
    def _only(self, request: Any, method: str) -> Any:
        if request.method == method:
            return None
        return _error(self._web, 405, f"{request.method[:20]} is not allowed: {method} only",
                      {"Allow": method})

    def _json(self, value: Any, status: int = 200) -> Any:
        return self._web.Response(text=dumps(value), status=status,
                                  content_type="application/json")

    def _file(self, request: Any, name: str) -> Any:
        web = self._web
        if request.method != "GET":
            return _error(web, 405, "GET only", {"Allow": "GET"})
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file():
            return _error(web, 404, f"no such file {name[:80]!r}")
        return web.Response(body=path.read_bytes(), headers={"Cache-Control": "no-cache"},
                            content_type=_TYPES.get(path.suffix, "application/octet-stream"))

    async def _put(self, request: Any, name: str) -> Any:
        web = self._web
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError as exc:
            return _error(web, 400, f"the body must be JSON {{\"value\": ...}}: {exc}")
        if not isinstance(body, Mapping) or "value" not in body:
            return _error(web, 400, 'the body must be a JSON object {"value": ...}')
        try:
            value = self.controls.set(name, body["value"])
        except (ValueError, TypeError, OverflowError) as exc:
            return _error(web, 400, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        log.info("control %s set to %r", name, value)
        return self._json({"name": name, "value": value})

    def _report(self) -> dict[str, Any]:
        tree, _ = pack_report(self.runtime.report(), results=False)
        tree["stopping"] = self.stop_requested or bool(getattr(self.runtime, "_stopping", False))
        return _finite(tree)

    def _graph(self) -> dict[str, Any]:
        graph = self.graph
        if graph is None:
            return {"nodes": [], "edges": [], "dot": ""}
        names = graph.names
        nodes = [{"name": names[n], "kind": n.kind, "block": n.spec.name,
                  "process": n.proc.name if n.proc is not None else None} for n in graph.nodes]
        edges = [{"from": names[e.producer], "to": names[e.consumer], "port": e.port,
                  "fused": e.fused} for e in graph.edges]
        return {"nodes": nodes, "edges": edges, "dot": graph.to_dot()}


def _finite(value: Any) -> Any:
    """``value`` with inf/nan floats as None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def options_of(serve: Any) -> dict[str, Any]:
    """``serve=`` as the server's keywords: a port (int), or a mapping of host, port, token."""
    if isinstance(serve, bool) or not isinstance(serve, int | Mapping):
        raise ValueError(f"serve must be a port number or a mapping of host, port, token; got "
                         f"{serve!r}")
    options = {"port": serve} if isinstance(serve, int) else dict(serve)
    unknown = set(options) - {"host", "port", "token"}
    if unknown:
        raise ValueError(f"serve: unknown keys {sorted(unknown)} (host, port, token)")
    return options


@contextlib.asynccontextmanager
async def serving(runtime: Any, serve: Any, *, announce: bool = True) -> AsyncIterator[ControlServer]:
    """Run a `ControlServer` for ``runtime`` while the block runs; its blocks' tasks see it
    (`CURRENT`). Sets ``runtime.control_url``."""
    server = ControlServer(runtime, **options_of(serve))
    url = await server.start()
    runtime.control_url = url
    if announce:
        print(f"daqflow: watch and steer the graph at {url}/", file=sys.stderr, flush=True)
    token = CURRENT.set(server)
    try:
        yield server
    finally:
        CURRENT.reset(token)
        await server.close()
