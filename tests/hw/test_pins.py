"""Pins: SimPin, its scripts, the Pin protocol, and GpiodPin's lazy import."""

import asyncio
import subprocess
import sys

import pytest

from daqflow.hw import GpiodPin, Pin, SimPin


def test_simpin_set_and_value():
    pin = SimPin()
    assert pin.value() is False
    pin.set(1)
    assert pin.value() is True
    assert SimPin(initial=True).value() is True
    assert isinstance(pin, Pin)


def test_play_sets_values_on_absolute_deadlines():
    async def main():
        pin, seen = SimPin(), []
        loop = asyncio.get_running_loop()

        async def watch():
            last = pin.value()
            while True:
                await asyncio.sleep(0.001)
                if pin.value() != last:
                    last = pin.value()
                    seen.append((last, loop.time() - t0))

        t0 = loop.time()
        watcher = asyncio.create_task(watch())
        await pin.play([(0.05, True), (0.10, False), (0.15, True)])
        elapsed = loop.time() - t0
        await asyncio.sleep(0.02)
        watcher.cancel()
        return seen, elapsed

    seen, elapsed = asyncio.run(main())
    assert [v for v, _ in seen] == [True, False, True]
    assert all(t >= deadline for (_, t), deadline in zip(seen, (0.05, 0.10, 0.15), strict=True))
    assert elapsed >= 0.15


def test_play_with_an_empty_script_returns_at_once():
    pin = SimPin(True)
    asyncio.run(pin.play([]))
    assert pin.value() is True


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ([(0.1, True), (0.05, False)], ValueError),  # decreasing
        ([(-1, True)], ValueError),
        ([(float("nan"), True)], ValueError),
        ([(0.1,)], TypeError),
        (5, TypeError),
    ],
)
def test_play_rejects_bad_scripts_before_changing_anything(script, error):
    pin = SimPin()
    with pytest.raises(error, match="script"):
        asyncio.run(pin.play(script))
    assert pin.value() is False


def test_importing_hw_loads_no_optional_dependency():
    code = (
        "import sys, daqflow.hw; "
        "print(sorted({'gpiod', 'serial'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_gpiodpin_without_gpiod_names_what_to_install():
    try:
        import gpiod  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("gpiod is installed: this test is for machines without it")
    with pytest.raises(ImportError, match=r"pip install 'daqflow\[gpio\]"):
        GpiodPin(0, 17)


@pytest.mark.parametrize(
    ("kwargs", "error", "word"),
    [
        ({"chip": -1, "line": 1}, ValueError, "chip"),
        ({"chip": 1.5, "line": 1}, TypeError, "chip"),
        ({"chip": 0, "line": 2.0}, TypeError, "line"),
        ({"chip": 0, "line": 1, "bias": "up"}, ValueError, "bias"),
    ],
)
def test_gpiodpin_checks_arguments_before_importing(kwargs, error, word):
    with pytest.raises(error, match=word):
        GpiodPin(**kwargs)


def test_hw_names_are_pinned():
    import daqflow.hw

    assert set(daqflow.hw.__all__) == {
        "Delay", "GpiodPin", "Pin", "Pushbutton", "Reading", "SimPin", "Switch",
        "fd_source", "poll", "serial_source",
    }
    for name in daqflow.hw.__all__:
        assert getattr(daqflow.hw, name) is not None
