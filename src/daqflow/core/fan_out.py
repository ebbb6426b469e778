"""Sending a block's output: to one FIFO, to an inline map, or to several (fan-out) with
every edge's figures adding up to the producer's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .channel import Channel
from .errors import ReceiverGone


def delivered(exc: BaseException) -> bool:
    """Whether a send cancelled half-way (``exc``) still delivered its item (`fan_out`): the
    producer counts it as sent all the same."""
    return getattr(exc, "_daqflow_delivered", False)


async def discard(item: Any) -> None:
    """Output of a block nobody reads inside this graph (e.g. a map fused into a sink-less tail)."""


def without_waiting(put_nowait: Callable[[Any], bool]) -> Callable[[Any], Awaitable[None]]:
    async def send(item: Any) -> None:
        put_nowait(item)

    return send


def fan_out(targets: list[tuple[Callable[[Any], Awaitable[None]], Channel | None]]
            ) -> Callable[[Any], Awaitable[None]]:
    """One send to several targets (FIFOs, or inline maps: channel None) that keeps every
    edge's figures adding up to the producer's: an item counted as sent is in each FIFO,
    or counted as discarded where the consumer has gone, even when a stop cancels the send
    half-way through the targets (the item is then pushed into the FIFOs left, and the
    CancelledError marked `delivered`: the producer counts it as sent)."""
    live = list(targets)
    gone: list[Channel] = []

    async def send(item: Any) -> None:
        delivered = False
        refused: list[int] = []
        for n, (put, channel) in enumerate(live):
            try:
                await put(item)
                delivered = True
            except ReceiverGone:
                refused.append(n)
            except asyncio.CancelledError as cancelled:
                if delivered:  # the FIFOs before it hold the item: so do the rest
                    for _, rest in live[n:]:
                        if rest is not None:
                            rest.push_over(item)
                    for channel in gone:
                        channel.discard(item)
                    cancelled._daqflow_delivered = True  # type: ignore[attr-defined]
                raise
        if delivered:  # counted as sent: consumers that have gone count it as discarded
            for channel in gone:
                channel.discard(item)
        for n in reversed(refused):
            _, channel = live.pop(n)
            if channel is not None:
                if delivered:
                    channel.discard(item)
                gone.append(channel)
        if not live:
            raise ReceiverGone

    return send


async def sent(send: Callable[[Any], Awaitable[None]], item: Any, state: Any) -> None:
    """``send(item)``, then count it as ``state``'s output (a block's `_State`): also when a
    stop cancelled the send after it had delivered the item (a fan-out: `delivered`)."""
    try:
        await send(item)
    except asyncio.CancelledError as exc:
        if delivered(exc):
            state.count(item)
        raise
    state.count(item)
