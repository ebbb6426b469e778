"""One partition's share of a graph in the process that runs it (`Part`: its blocks and the
ends of its links), and the control messages between processes (JSON, raw buffers after)."""

from __future__ import annotations

import contextlib
from typing import Any

from ..core.graph import Graph, build_graph
from ..core.requirements import require
from ..core.stream import Stream
from .codec import dumps
from .links import RecvEnd, SendEnd, make_ends, receive_link, send_link
from .plan import PartitionDesc
from .reports import RECEIVE, SEND


def zmq_module() -> Any:
    require("zmq.asyncio", "net", "running blocks in other processes")
    import zmq

    return zmq


def send_json(
    sock: Any, message: dict[str, Any], buffers: list[Any] = (), ident: bytes | None = None
) -> Any:
    frames = [dumps(message).encode(), *buffers]
    if ident is not None:
        frames.insert(0, ident)
    return sock.send_multipart(frames)


class Part:
    """The parts of one partition in the process that runs it."""

    def __init__(self, desc: PartitionDesc, context: Any, token: str,
                 specs: dict[str, Any] | None = None, keys: dict[str, bytes] | None = None):
        from .plan import build_streams

        self.desc = desc
        self.recv_ends: dict[str, RecvEnd] = {}
        self.send_ends: dict[str, SendEnd] = {}
        receivers: dict[str, Stream] = {}
        for link in desc.inbound:
            end = make_ends(link, "recv", context, token, keys)
            self.recv_ends[link.id] = end  # type: ignore[assignment]
            receivers[link.id] = receive_link(end, name=RECEIVE + link.id)
        streams = build_streams(desc, receivers, specs)
        sinks = [s for s in streams.values() if s.kind == "sink"]
        for link in desc.outbound:
            end = make_ends(link, "send", context, token, keys)
            self.send_ends[link.id] = end  # type: ignore[assignment]
            sinks.append(send_link(
                streams[link.producer], end, name=SEND + link.id,
                buffer=link.capacity, policy=link.policy,
            ))
        self.graph: Graph | None = build_graph(sinks) if sinks else None

    async def bind(self, where: str) -> dict[str, str]:
        return {lid: await end.bind(where) for lid, end in self.send_ends.items()}

    async def connect(self, addresses: dict[str, str]) -> None:
        for lid, end in self.recv_ends.items():
            await end.connect(addresses[lid])

    def abort_peer(self, part: str | None) -> None:
        """Stop waiting on links to or from partition ``part`` (its process died; None:
        every partition, when the coordinator died and with it the run)."""
        for end in self.send_ends.values():
            if part is None or end.link.consumer_part == part:
                end.abort()
        for end in self.recv_ends.values():
            if part is None or end.link.producer_part == part:
                end.abort()

    async def close(self) -> None:
        for end in [*self.send_ends.values(), *self.recv_ends.values()]:
            with contextlib.suppress(Exception):
                await end.close()
