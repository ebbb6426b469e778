"""`http_source` does not trust a misbehaving server: a repeated, negative or out-of-order
sequence number, a negative `X-Daqflow-Missed` or a jump the server does not own up to ends
the block with one clear error naming the URL (a real aiohttp server on loopback)."""

import asyncio
import threading

import numpy as np
import pytest
from aiohttp import web

import daqflow as df
from daqflow import net


class MisbehavingServer:
    """Serves packets whose (X-Daqflow-Seq, X-Daqflow-Missed) come from ``script`` in order
    (then an end packet)."""

    def __init__(self, script):
        self.script = list(script)
        self.last = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    async def _packet(self, request):
        body = np.arange(4, dtype=np.float32).tobytes()
        if not self.script:
            return web.Response(status=200, headers={"X-Daqflow-Kind": "end",
                                                     "X-Daqflow-Seq": str(self.last + 1)})
        seq, missed = self.script.pop(0)
        self.last = seq
        return web.Response(body=body, headers={
            "X-Daqflow-Kind": "array", "X-Daqflow-Seq": str(seq), "X-Daqflow-Missed": str(missed),
            "X-Daqflow-Dtype": "float32", "X-Daqflow-Shape": "4",
            "Content-Type": "application/octet-stream"})

    def _serve(self):
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/streams/x", self._packet)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        self.loop.close()

    def __enter__(self):
        self.thread.start()
        self.ready.wait(10)
        return f"http://127.0.0.1:{self.port}/streams/x"

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.mark.parametrize("script, says", [
    ([(1, 0), (1, 0)], "the server sent packet 1 when asked for the one after 1 (repeated or out of order)"),
    ([(1, 0), (3, 0), (2, 0)], "the server jumped from packet 1 to 3 but said 0 were missed"),
    ([(-4, 0)], "the server sent sequence number -4 with 0 missed"),
    ([(1, 0), (2, -3)], "the server sent sequence number 2 with -3 missed"),
])
def test_a_misbehaving_server_fails_the_source_naming_the_url(script, says):
    with MisbehavingServer(script) as url, pytest.raises(df.BlockError) as err:
        df.run(df.collect(net.http_source(url, reconnect=False)))
    assert err.value.block == "http_source"
    assert f"GET {url}: {says}" in str(err.value) and "\n" not in str(err.value.cause)


def test_a_server_owning_up_to_a_jump_is_followed():
    with MisbehavingServer([(1, 0), (4, 2), (5, 0)]) as url:
        report = df.run(df.collect(net.http_source(url, reconnect=False)))
    assert len(report.results["collect"]) == 3
