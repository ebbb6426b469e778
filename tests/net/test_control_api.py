"""The control API of a running graph, over real HTTP on loopback: report, params (Params and
instrument settings), stop, graph; the token; `daqflow serve` and `daqflow top --attach`."""

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import pytest

import daqflow as df
from daqflow import dsp, io, net
from daqflow.instruments import SimScope

pytest.importorskip("aiohttp")


def call(url, method="GET", body=None, token=None):
    """(status, parsed JSON body) of one request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"null")


def started(*sinks, **serve):
    running = df.start(*sinks, serve=serve or 0)
    deadline = time.monotonic() + 10
    while running.control_url is None:
        assert time.monotonic() < deadline and not running.done(), "no control server"
        time.sleep(0.02)
    return running, running.control_url


def radio():
    tune = df.param(0.0, name="tune", low=-200e3, high=200e3, unit="Hz", doc="mixer frequency")
    adc = io.simulated_adc(1e6, chunk=8192, tones=[(100e3, 1.0)], noise=0.01)
    spectra = dsp.spectrum(dsp.mix(adc, freq=tune), nfft=1024)
    return tune, net.web_view(spectra, name="spectrum"), df.collect(dsp.head(spectra, 10**9))


def test_params_report_graph_and_stop():
    tune, view, _ = radio()
    running, base = started(view)
    try:
        status, params = call(f"{base}/params")
        assert status == 200 and params == [{
            "name": "tune", "value": 0.0, "kind": "float", "unit": "Hz", "low": -200e3,
            "high": 200e3, "choices": None, "doc": "mixer frequency", "source": "param"}]
        assert call(f"{base}/params/tune", "PUT", {"value": 50e3}) == (
            200, {"name": "tune", "value": 50000.0})
        assert tune.value == 50e3 and call(f"{base}/params/tune")[1]["value"] == 50e3
        status, error = call(f"{base}/params/tune", "PUT", {"value": 1e9})
        assert status == 400 and "out of range" in error["error"] and "tune" in error["error"]
        assert tune.value == 50e3  # refused: unchanged
        assert call(f"{base}/params/tune", "PUT", {"v": 1})[0] == 400
        huge = call(f"{base}/params/tune", "PUT", {"value": 10**400})  # not a 500
        assert huge[0] == 400 and "finite" in huge[1]["error"]
        assert call(f"{base}/params/nope")[0] == 404
        assert call(f"{base}/params", "DELETE")[0] == 405

        time.sleep(0.5)
        status, report = call(f"{base}/report")
        blocks = {b["name"]: b for b in report["blocks"]}
        assert status == 200 and blocks["simulated_adc"]["samples_out"] > 0
        assert {e["consumer"] for e in report["edges"]} >= {"spectrum"}
        status, graph = call(f"{base}/graph")
        assert [n["name"] for n in graph["nodes"]] == ["simulated_adc", "mix", "spectrum_1",
                                                       "spectrum"]
        assert {"from": "spectrum_1", "to": "spectrum", "port": "stream", "fused": False} in (
            graph["edges"])
        assert graph["dot"].startswith("digraph")
        assert call(f"{base}/views") == (200, [{"name": "spectrum", "kind": "auto",
                                                "url": "/streams/spectrum"}])
        assert call(f"{base}/stop", "POST") == (202, {"stopping": True})
        report = running.wait(15)
    finally:
        running.stop()
    assert report.stopped_by == "stop"
    assert report.results["spectrum"]["shown"] > 0


def test_instrument_settings_are_controls():
    scope = SimScope(name="scope", points=100)
    with df.blocking(scope):
        running, base = started(df.collect(scope.stream(name="traces")))
        try:
            names = [p["name"] for p in call(f"{base}/params")[1]]
            assert "scope.timebase" in names and "scope.channels" in names
            assert call(f"{base}/params/scope.timebase", "PUT", {"value": 2e-5}) == (
                200, {"name": "scope.timebase", "value": 2e-5})
            assert scope.timebase == 2e-5
            status, error = call(f"{base}/params/scope.timebase", "PUT", {"value": 100})
            assert status == 400 and error["error"].startswith("scope.timebase = 100")
            deadline = time.monotonic() + 5
            while not running.done() and time.monotonic() < deadline:
                traces = running.report().blocks["traces"].items_out if "traces" in (
                    running.report().blocks) else 0
                if traces > 3:
                    break
                time.sleep(0.05)
        finally:
            running.stop()
            report = running.wait(15)
    later = [t for t in report.results["collect"] if t.meta["settings"]["timebase"] == 2e-5]
    assert later, "no trace was taken with the new setting"


def test_a_token_is_checked_before_anything_else():
    _, view, _ = radio()
    running, base = started(view, token="s3cret", port=0)
    try:
        assert call(f"{base}/params")[0] == 401
        assert call(f"{base}/params/tune", "PUT", {"value": 1.0}, token="wrong")[0] == 401
        assert call(f"{base}/stop", "POST")[0] == 401
        assert call(f"{base}/params", token="s3cret")[0] == 200
        assert call(f"{base}/report?token=s3cret")[0] == 200  # (the page's first load)
        with urllib.request.urlopen(f"{base}/", timeout=10) as page:  # holds no data
            assert page.status == 200 and b"daqflow" in page.read()
    finally:
        running.stop()
        running.wait(15)


def test_serve_refuses_a_public_address_without_a_token():
    _, view, _ = radio()
    with pytest.raises(ValueError, match="token"):
        df.run(view, serve={"host": "0.0.0.0", "port": 0}, duration=0.1)


SCRIPT = """
import daqflow as df
from daqflow import dsp, io, net

tune = df.param(0.0, name="tune", low=-200e3, high=200e3, unit="Hz")
adc = io.simulated_adc(1e6, chunk=8192, tones=[(100e3, 1.0)])
if __name__ == "__main__":
    df.run(net.web_view(dsp.spectrum(dsp.mix(adc, freq=tune), nfft=256), name="spectrum"))
"""


def test_daqflow_serve_and_top_attach(tmp_path):
    script = tmp_path / "radio.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "COLUMNS": "200"}
    server = subprocess.Popen([sys.executable, "-m", "daqflow", "serve", str(script), "--port",
                               "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env)
    try:
        line = server.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line + server.stderr.read()
        base = match.group(0)
        watcher = subprocess.Popen([sys.executable, "-m", "daqflow", "top", "--attach", base,
                                    "--interval", "0.3"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(1.5)
        assert call(f"{base}/params/tune", "PUT", {"value": 20e3})[0] == 200
        assert call(f"{base}/stop", "POST")[0] == 202
        out, err = server.communicate(timeout=30)
        watched, watch_err = watcher.communicate(timeout=30)
    finally:
        for process in (server,):
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert server.returncode == 0, err
    assert "stopped by stop" in out and "spectrum" in out
    assert watcher.returncode == 0, watch_err
    assert "simulated_adc" in watched and "daqflow report" in watched  # the last table seen
    assert "simulated_adc" in watch_err  # the live lines while it ran
