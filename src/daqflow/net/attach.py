"""`daqflow top --attach URL`: the live table of a graph running elsewhere, from its control
API's ``GET /report`` (`daqflow.net.control`)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ..core.diagnosis import diagnose
from ..core.live import show
from ..core.report import Report
from .http_server import _aiohttp
from .reports import unpack_report


class GraphGone(ConnectionError):
    """The control server could not be reached (the graph ended, or never ran there)."""


async def fetch_report(session: Any, url: str, token: str | None) -> Report:
    """The live report at ``url`` (the control API's base URL)."""
    aiohttp = _aiohttp()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with session.get(f"{url.rstrip('/')}/report", headers=headers,
                               timeout=aiohttp.ClientTimeout(total=10)) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                message = body.get("error") if isinstance(body, dict) else body
                raise GraphGone(f"{url}: {response.status} {message}")
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise GraphGone(f"{url}: no graph answers there ({exc})") from None
    return unpack_report(body, [])


async def attach(url: str, *, token: str | None = None, interval: float = 1.0,
                 mode: str | None = None) -> Report:
    """Show the live table of the graph served at ``url`` until it ends (its server goes
    away) or this is cancelled; returns the last report seen.

    Raises:
        GraphGone: nothing answered at ``url`` at first.
    """
    aiohttp = _aiohttp()
    async with aiohttp.ClientSession() as session:
        last = await fetch_report(session, url, token)

        async def poll() -> None:
            nonlocal last
            while True:
                await asyncio.sleep(interval / 2)
                last = await fetch_report(session, url, token)

        poller = asyncio.ensure_future(poll())
        shower = asyncio.ensure_future(show(lambda: last, interval, mode=mode,
                                            diagnose=lambda report: diagnose(report).line))
        try:
            with contextlib.suppress(GraphGone):
                await poller
        finally:
            for task in (poller, shower):
                task.cancel()
            await asyncio.gather(poller, shower, return_exceptions=True)
    return last
