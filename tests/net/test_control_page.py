"""The control page in a real browser (headless Chromium through Playwright): it draws the
graph, the live table, a control per Param and the web views; the spectrum's peak is where
the tone is; moving a control retunes the graph and the next chunks say so."""

import os
import shutil
import time
from pathlib import Path

import pytest

import daqflow as df
from daqflow import dsp, io, net

pytest.importorskip("aiohttp")
playwright = pytest.importorskip("playwright.sync_api")  # the test extra installs it

CENTER, TONE, RATE = 100e6, 100e3, 1e6
BIN = RATE / 1024  # Hz


def chromium() -> str:
    """Debian's chromium (the README's apt line installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "headless Chromium is needed: apt-get install chromium"
    return found


def control_url(running) -> str:
    """The control server's URL once it is up."""
    deadline = time.monotonic() + 10
    while running.control_url is None:
        assert time.monotonic() < deadline and not running.done(), "no control server"
        time.sleep(0.02)
    return running.control_url


@pytest.fixture
def page_of_a_running_graph(tmp_path):
    tune = df.param(0.0, name="tune", low=-200e3, high=200e3, unit="Hz", doc="mixer frequency")
    adc = io.simulated_adc(RATE, chunk=8192, tones=[(TONE, 1.0)], noise=0.01, center_freq=CENTER)
    spectra = dsp.spectrum(dsp.mix(adc, freq=tune), nfft=1024)
    running = df.start(net.web_view(spectra, "spectrum", name="spectrum"),
                       net.web_view(spectra, "waterfall", name="waterfall"),
                       net.web_view(adc, "time", name="trace"), serve=0)
    url = control_url(running)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/")
            yield page, tune
            shot = Path(os.environ.get("DAQFLOW_ARTIFACTS", tmp_path)) / "control-page.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)  # kept as the test's artifact
        finally:
            browser.close()
            running.stop()
            running.wait(15)


def peak(page, view="spectrum"):
    return page.evaluate(f"window.daqflow.views[{view!r}].data.peak")


def test_the_page_shows_the_tone_and_a_control_retunes_the_graph(page_of_a_running_graph):
    page, tune = page_of_a_running_graph
    page.wait_for_function("window.daqflow.ready && window.daqflow.views.spectrum "
                           "&& window.daqflow.views.spectrum.shown > 2", timeout=15000)
    assert abs(peak(page) - (CENTER + TONE)) <= BIN  # the RF axis, as in the Qt views
    page.wait_for_function("window.daqflow.views.waterfall && window.daqflow.views.waterfall.shown"
                           " > 2 && window.daqflow.views.trace.shown > 2", timeout=15000)
    assert abs(peak(page, "waterfall") - (CENTER + TONE)) <= BIN

    # the graph, the live table and the control are drawn
    assert page.locator("#graph text").all_text_contents() == [
        "simulated_adc", "mix", "spectrum_1", "spectrum", "waterfall", "trace"]
    page.wait_for_function("document.querySelectorAll('#blocks tr').length > 3", timeout=10000)
    assert "simulated_adc" in page.locator("#blocks").inner_text()
    control = page.locator('.control[data-name="tune"] input[type=number]')
    assert control.input_value() == "0"

    control.fill("50000")
    control.dispatch_event("change")
    page.wait_for_function("window.daqflow.views.spectrum.params.tune === 50000", timeout=10000)
    assert tune.value == 50000.0
    # the mixer moved the band: the chunks say the new centre, the tone stays at its RF
    page.wait_for_function(f"window.daqflow.views.spectrum.meta.center_freq === {CENTER - 50e3}",
                           timeout=10000)
    time.sleep(0.3)
    assert abs(peak(page) - (CENTER + TONE)) <= BIN

    control.fill("999999")  # out of range: the Param's own message, the value unchanged
    control.dispatch_event("change")
    page.wait_for_function("window.daqflow.errors.length > 0", timeout=10000)
    assert "out of range" in page.locator('.control[data-name="tune"] .error').inner_text()
    assert tune.value == 50000.0


def test_the_stop_button_stops_the_graph_in_order(page_of_a_running_graph):
    page, _ = page_of_a_running_graph
    page.wait_for_function("window.daqflow.ready", timeout=15000)
    page.click("#stop")
    page.wait_for_function("document.getElementById('state').textContent.startsWith('ended')"
                           " || document.getElementById('state').textContent.startsWith("
                           "'stopping')", timeout=15000)


def test_an_instrument_in_the_graph_gets_its_settings_as_controls_on_the_page(tmp_path):
    from daqflow.instruments import SimScope

    scope = SimScope(name="scope", points=200)
    with df.blocking(scope):
        running = df.start(net.web_view(scope.stream(), "time", name="traces"),
                           serve=0)
        try:
            url = control_url(running)
            with playwright.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
                try:
                    page = browser.new_page()
                    page.goto(url + "/")
                    page.wait_for_function("window.daqflow.ready && window.daqflow.views.traces "
                                           "&& window.daqflow.views.traces.shown > 0",
                                           timeout=15000)
                    box = page.locator('.control[data-name="scope.timebase"] input[type=number]')
                    box.fill("0.002")
                    box.dispatch_event("change")
                    page.wait_for_function("window.daqflow.views.traces.meta && "
                                           "window.daqflow.errors.length === 0", timeout=10000)
                    deadline = time.monotonic() + 10
                    while scope.timebase != 0.002:
                        assert time.monotonic() < deadline, "the setting did not reach the scope"
                        time.sleep(0.02)
                    channels = page.locator('.control[data-name="scope.channels"] input')
                    assert channels.count() >= 1  # every setting has its control
                finally:
                    browser.close()
        finally:
            running.stop()
            running.wait(15)
