"""daqflow inside a Twisted program: a graph and an instrument on Twisted's asyncio reactor.

    python examples/twisted_graph.py [seconds]

Twisted's asyncio reactor runs Twisted on an asyncio event loop, so daqflow's coroutines
run on that same loop: each is wrapped as a Deferred (``as_deferred``). Meanwhile Twisted
does its own work: a twisted.web endpoint on 127.0.0.1 serves the newest peak, and
Twisted's HTTP client reads it four times a second. No hardware, no network beyond
127.0.0.1.
"""

import asyncio
import json
import sys
import warnings

from twisted.internet import asyncioreactor

LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(LOOP)
asyncioreactor.install(LOOP)  # before anything imports twisted.internet.reactor

import numpy as np  # noqa: E402
from twisted.internet import defer, task  # noqa: E402
from twisted.web import client, resource, server  # noqa: E402

import daqflow as df  # noqa: E402
from daqflow import dsp, io  # noqa: E402
from daqflow.instruments import SimScope  # noqa: E402


def as_deferred(coro) -> defer.Deferred:
    """An asyncio coroutine as a Deferred, run as a task of the reactor's loop. The loop is
    named: code run at the reactor's start-up runs before that loop does, and
    ``asyncio.ensure_future`` would then put the task on another loop, where it never runs."""
    return defer.Deferred.fromFuture(LOOP.create_task(coro))


def ended(task: asyncio.Task) -> defer.Deferred:
    """Cancel ``task``; fires once it has ended. A shutdown trigger: a reactor that stops
    (Ctrl-C) would otherwise stop the loop under a graph whose blocks never end."""
    task.cancel()
    return defer.Deferred.fromFuture(asyncio.gather(task, return_exceptions=True))


@df.block
async def track_peak(spectra: df.Stream, latest: dict) -> int:
    """Sink: keeps the newest spectrum row's peak frequency (Hz) in ``latest``; returns the
    number of rows seen."""
    rows = 0
    async for chunk in spectra:
        freqs = chunk.meta["freqs"]
        for row in np.atleast_2d(chunk.data):
            latest["peak_hz"] = float(freqs[int(np.argmax(row))])
            rows += 1
        latest["rows"] = rows
    return rows


class Latest(resource.Resource):
    """GET / -> the newest peak as JSON (Twisted's own web server)."""

    isLeaf = True

    def __init__(self, latest: dict):
        super().__init__()
        self.latest = latest

    def render_GET(self, request) -> bytes:
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(self.latest).encode()


async def scope_trace() -> np.ndarray:
    """One instrument call: the mean of 10 traces of a simulated scope (1000 points)."""
    async with SimScope(timebase=1e-3) as scope:
        return await scope.run_single(avg=10)


async def main(reactor, seconds: float) -> None:
    latest: dict = {}
    port = reactor.listenTCP(0, server.Site(Latest(latest)), interface="127.0.0.1")
    url = f"http://127.0.0.1:{port.getHost().port}/".encode()
    agent, answers = client.Agent(reactor), []

    # Twisted's own work beside the graph (readBody warns about Twisted's own proxy transport)
    warnings.filterwarnings("ignore", "Using readBody", DeprecationWarning)

    async def poll() -> None:
        answers.append(json.loads(await client.readBody(await agent.request(b"GET", url))))
        if len(answers) == 1:
            print(f"first answer from {url.decode()}: {answers[0]}", flush=True)

    poller = task.LoopingCall(lambda: defer.Deferred.fromCoroutine(poll()))
    poller.start(0.25, now=False)

    adc = io.simulated_adc(rate=1e6, tones=[(125e3, 1.0)], noise=0.01, name="adc")
    spectra = dsp.spectrum(adc, 1024, average=8)
    graph = LOOP.create_task(df.arun(track_peak(spectra, latest, name="peak"), duration=seconds))
    reactor.addSystemEventTrigger("before", "shutdown", ended, graph)
    try:
        report, trace = await defer.gatherResults(  # the graph and the scope at the same time
            [defer.Deferred.fromFuture(graph), as_deferred(scope_trace())], consumeErrors=True)
    except defer.FirstError as error:
        if error.subFailure.check(asyncio.CancelledError):
            print("stopped: the reactor stopped and the graph was cancelled")
            return
        error.subFailure.raiseException()
    poller.stop()
    await port.stopListening()

    print(f"graph: {report.blocks['adc'].samples_out} samples, "
          f"{report.results['peak']} spectra, peak at {latest['peak_hz'] / 1e3:.1f} kHz")
    print(f"scope: run_single(avg=10) gave shape {trace.shape}, "
          f"{np.sqrt(np.mean(trace ** 2)):.3f} V rms")
    print(f"twisted: the web endpoint answered {len(answers)} requests while the graph ran, "
          f"the last: {answers[-1] if answers else None}")


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, seconds)))
