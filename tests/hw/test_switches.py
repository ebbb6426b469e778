"""Switch and Pushbutton on a SimPin driven by scripts with contact bounce.

Timings have wide margins (debounce 20 ms, stable levels >= 50 ms, long press 0.5 s, double
window 0.3 s) and the assertions are on callback sequences, plus lower bounds on times
(a callback can come late on a busy machine, never early).
"""

import asyncio

import pytest

from daqflow.hw import Pushbutton, SimPin, Switch

DEBOUNCE = 0.02  # s
LONG = 0.5  # s
DOUBLE_WINDOW = 0.3  # s
SLACK = 0.006  # s: one poll period (debounce / 5) plus timer granularity


def bouncy(t, value, bounces=5, cycle=0.002):
    """Script steps for a change to ``value`` at ``t`` s with ``bounces`` bounces of ``cycle``
    s each (half at the new level, half at the old), settling at the new level."""
    half = cycle / 2
    steps = []
    for i in range(bounces):
        steps += [(t + 2 * i * half, value), (t + (2 * i + 1) * half, not value)]
    return [*steps, (t + bounces * cycle, value)]


def press(t_down, t_up):
    return bouncy(t_down, True) + bouncy(t_up, False)


CLICK = press(0.0, 0.10)
DOUBLE = press(0.0, 0.06) + press(0.14, 0.20)
LONG_PRESS = press(0.0, 0.90)
BOUNCE_ONLY = bouncy(0.0, True)[:-1]  # chatter that ends where it began (released)


class Recorder:
    """Callbacks that log (name, seconds since start)."""

    def __init__(self):
        self.events = []
        self.t0 = None

    def __call__(self, name):
        def callback():
            self.events.append((name, asyncio.get_running_loop().time() - self.t0))
        return callback

    @property
    def names(self):
        return [name for name, _ in self.events]

    def time(self, name, nth=0):
        return [t for n, t in self.events if n == name][nth]


async def play(script, make, settle):
    """Run ``make(pin, recorder)`` as a context while ``script`` plays, then ``settle`` s."""
    pin, rec = SimPin(), Recorder()
    async with make(pin, rec):
        rec.t0 = asyncio.get_running_loop().time()
        await pin.play(script)
        await asyncio.sleep(settle)
    return rec


def all_callbacks(pin, rec, suppress=True, **kw):
    return Pushbutton(
        pin, on_press=rec("press"), on_release=rec("release"), on_double=rec("double"),
        on_long=rec("long"), long_press=LONG, double_click=DOUBLE_WINDOW, debounce=DEBOUNCE,
        suppress=suppress, **kw,
    )


def every_release(pin, rec):
    return all_callbacks(pin, rec, suppress=False)


def press_release_only(pin, rec, suppress=True):
    return Pushbutton(pin, on_press=rec("press"), on_release=rec("release"),
                      long_press=LONG, double_click=DOUBLE_WINDOW, debounce=DEBOUNCE,
                      suppress=suppress)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (CLICK, ["press", "release"]),
        (DOUBLE, ["press", "press", "double"]),
        (LONG_PRESS, ["press", "long"]),
        (BOUNCE_ONLY, []),
    ],
    ids=["click", "double", "long", "bounce-only"],
)
def test_suppressed_gestures_with_all_callbacks(script, expected):
    rec = asyncio.run(play(script, all_callbacks, settle=DOUBLE_WINDOW + 0.15))
    assert rec.names == expected


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (CLICK, ["press", "release"]),
        (DOUBLE, ["press", "release", "press", "double", "release"]),
        (LONG_PRESS, ["press", "long", "release"]),
        (BOUNCE_ONLY, []),
    ],
    ids=["click", "double", "long", "bounce-only"],
)
def test_by_default_every_release_calls_on_release(script, expected):
    rec = asyncio.run(play(script, every_release, settle=DOUBLE_WINDOW + 0.15))
    assert rec.names == expected


def test_by_default_a_release_is_reported_at_once_not_after_the_double_window():
    rec = asyncio.run(play(CLICK, every_release, settle=DOUBLE_WINDOW + 0.15))
    assert rec.time("release") >= 0.10 + DEBOUNCE - SLACK
    assert rec.time("release") < DOUBLE_WINDOW  # suppressed, it would wait for the window


def test_suppress_false_is_the_default():
    assert Pushbutton(SimPin()).suppress is False


def test_click_is_reported_only_when_the_double_window_closes():
    rec = asyncio.run(play(CLICK, all_callbacks, settle=DOUBLE_WINDOW + 0.15))
    assert rec.names == ["press", "release"]
    # released at ~0.11 s, but the click waits for the window from its press edge
    assert rec.time("release") >= DOUBLE_WINDOW - SLACK
    assert rec.time("press") >= DEBOUNCE - SLACK  # a press counts once stable for debounce


def test_long_press_fires_while_held_and_its_release_is_silent():
    rec = asyncio.run(play(LONG_PRESS, all_callbacks, settle=0.1))
    assert rec.names == ["press", "long"]
    assert rec.time("long") >= LONG - SLACK
    assert rec.time("long") < 0.9 + DEBOUNCE  # while still held (release edge at 0.9 s)


def test_double_click_fires_at_the_second_press():
    rec = asyncio.run(play(DOUBLE, all_callbacks, settle=DOUBLE_WINDOW + 0.15))
    assert rec.names == ["press", "press", "double"]
    assert rec.time("double") >= 0.14 + DEBOUNCE - SLACK
    assert rec.time("double") >= rec.time("press", 1)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (CLICK, ["press", "release"]),
        (DOUBLE, ["press", "release", "press", "release"]),  # no on_double: two clicks
        (LONG_PRESS, ["press", "release"]),  # no on_long: a long press is a click
        (BOUNCE_ONLY, []),
    ],
    ids=["click", "double", "long", "bounce-only"],
)
def test_without_double_or_long_callbacks_every_press_is_a_click(script, expected):
    rec = asyncio.run(play(script, press_release_only, settle=0.1))
    assert rec.names == expected


def test_without_on_double_a_click_is_reported_at_the_release():
    rec = asyncio.run(play(CLICK, press_release_only, settle=0.1))
    assert rec.time("release") >= 0.10 + DEBOUNCE - SLACK


def test_triple_click_is_a_double_then_a_click():
    script = DOUBLE + press(0.28, 0.34)  # third press inside the first window, after the double
    rec = asyncio.run(play(script, all_callbacks, settle=DOUBLE_WINDOW + 0.15))
    assert rec.names == ["press", "press", "double", "press", "release"]


def test_a_click_after_the_window_is_a_new_click():
    script = press(0.0, 0.06) + press(0.45, 0.51)  # second press 450 ms after the first
    rec = asyncio.run(play(script, all_callbacks, settle=DOUBLE_WINDOW + 0.15))
    assert rec.names == ["press", "release", "press", "release"]


def test_a_button_held_at_entry_is_no_gesture():
    async def main():
        pin, rec = SimPin(True), Recorder()
        async with all_callbacks(pin, rec) as button:
            rec.t0 = asyncio.get_running_loop().time()
            held = button.pressed()
            await pin.play(bouncy(0.05, False) + press(0.15, 0.25))
            await asyncio.sleep(DOUBLE_WINDOW + 0.15)
            return held, button.pressed(), rec

    held, after, rec = asyncio.run(main())
    assert held and not after
    assert rec.names == ["press", "release"]  # only the later click


def test_switch_reports_debounced_changes():
    def make(pin, rec):
        return Switch(pin, on_close=rec("close"), on_open=rec("open"), debounce=DEBOUNCE)

    rec = asyncio.run(play(CLICK + press(0.3, 0.5), make, settle=0.1))
    assert rec.names == ["close", "open", "close", "open"]
    assert rec.time("close") >= DEBOUNCE - SLACK
    assert rec.time("open") >= 0.10 + DEBOUNCE - SLACK


def test_switch_ignores_bounce_only():
    def make(pin, rec):
        return Switch(pin, on_close=rec("close"), on_open=rec("open"), debounce=DEBOUNCE)

    assert asyncio.run(play(BOUNCE_ONLY, make, settle=0.1)).names == []


def test_switch_closed_is_the_debounced_level():
    async def main():
        pin = SimPin()
        async with Switch(pin, debounce=0.05) as switch:
            pin.set(True)
            await asyncio.sleep(0.01)
            early = switch.closed()  # raw level True, but not yet stable for 50 ms
            await asyncio.sleep(0.2)
            return early, switch.closed(), pin.value()

    assert asyncio.run(main()) == (False, True, True)


def test_zero_debounce_counts_every_sampled_change():
    async def main():
        pin, seen = SimPin(), []
        async with Switch(pin, on_close=lambda: seen.append(1), debounce=0, poll=0.005):
            for _ in range(3):
                pin.set(True)
                await asyncio.sleep(0.05)
                pin.set(False)
                await asyncio.sleep(0.05)
        return seen

    assert asyncio.run(main()) == [1, 1, 1]


def test_coroutine_callbacks_run_as_tasks_and_are_cancelled_on_exit():
    async def main():
        pin, log = SimPin(), []

        async def on_close():
            log.append("close started")
            await asyncio.sleep(0.01)
            log.append("close done")

        async def on_open():
            log.append("open started")
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                log.append("open cancelled")
                raise

        async with Switch(pin, on_close=on_close, on_open=on_open, debounce=DEBOUNCE):
            await pin.play([(0.0, True), (0.1, False)])
            await asyncio.sleep(0.1)
        return log

    assert asyncio.run(main()) == ["close started", "close done", "open started", "open cancelled"]


@pytest.mark.parametrize("kind", ["plain", "coroutine"])
def test_a_failing_callback_cancels_the_body_and_is_raised_on_exit(kind):
    class Boom(Exception):
        pass

    def plain():
        raise Boom("pressed too hard")

    async def coroutine():
        await asyncio.sleep(0)
        raise Boom("pressed too hard")

    async def main():
        pin = SimPin()
        body = []
        with pytest.raises(Boom) as info:
            async with Pushbutton(pin, on_press=plain if kind == "plain" else coroutine,
                                  debounce=DEBOUNCE):
                pin.set(True)
                try:
                    await asyncio.sleep(10)  # the failure must not wait for this
                except asyncio.CancelledError:
                    body.append("cancelled")
                    raise
        assert asyncio.current_task().cancelling() == 0  # the cancellation was consumed
        return body, info.value

    body, exc = asyncio.run(asyncio.wait_for(main(), 5))
    assert body == ["cancelled"]
    assert any("Pushbutton callback on_press" in note for note in exc.__notes__)


def test_a_body_exception_wins_and_carries_the_callback_error():
    async def main():
        pin = SimPin()

        def bad():
            raise RuntimeError("callback")

        with pytest.raises(KeyError) as info:
            async with Switch(pin, on_close=bad, debounce=0.0, poll=0.002):
                pin.set(True)
                try:
                    await asyncio.sleep(10)
                finally:
                    raise KeyError("body")
        return info.value

    exc = asyncio.run(main())
    assert any("RuntimeError: callback" in note for note in exc.__notes__)


def test_a_failing_pin_is_raised_on_exit():
    class Flaky:
        n = 0

        def value(self):
            self.n += 1
            if self.n > 3:
                raise OSError("line gone")
            return False

    async def main():
        async with Switch(Flaky(), debounce=0.01):
            await asyncio.sleep(10)

    with pytest.raises(OSError, match="line gone") as info:
        asyncio.run(asyncio.wait_for(main(), 5))
    assert any("Switch watcher" in note for note in info.value.__notes__)


def test_an_outside_cancellation_still_propagates():
    async def main():
        pin = SimPin()
        async with Switch(pin, on_close=lambda: None, debounce=DEBOUNCE):
            await asyncio.sleep(10)

    async def outer():
        task = asyncio.create_task(main())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return True

    assert asyncio.run(outer())


def test_one_context_at_a_time_and_reusable_after():
    async def main():
        button = Pushbutton(SimPin(), debounce=0.01)
        async with button:
            with pytest.raises(RuntimeError, match="already running"):
                async with button:
                    pass
        async with button:
            await asyncio.sleep(0.01)
        return True

    assert asyncio.run(main())


@pytest.mark.parametrize(
    ("make", "error", "word"),
    [
        (lambda: Switch(SimPin(), debounce=-0.01), ValueError, "debounce"),
        (lambda: Switch(SimPin(), debounce="fast"), TypeError, "debounce"),
        (lambda: Switch(SimPin(), poll=0), ValueError, "poll"),
        (lambda: Switch(SimPin(), on_close=3), TypeError, "on_close"),
        (lambda: Switch(SimPin(), on_open="x"), TypeError, "on_open"),
        (lambda: Switch(object()), TypeError, "pin"),
        (lambda: Pushbutton(SimPin(), debounce=-1), ValueError, "debounce"),
        (lambda: Pushbutton(SimPin(), long_press=-5), ValueError, "long_press"),
        (lambda: Pushbutton(SimPin(), double_click=0), ValueError, "double_click"),
        (lambda: Pushbutton(SimPin(), long_press=float("inf")), ValueError, "long_press"),
        (lambda: Pushbutton(SimPin(), suppress=1), TypeError, "suppress"),
        (lambda: Pushbutton(SimPin(), on_press=1), TypeError, "on_press"),
        (lambda: Pushbutton(SimPin(), on_release=[]), TypeError, "on_release"),
        (lambda: Pushbutton(SimPin(), on_double=True), TypeError, "on_double"),
        (lambda: Pushbutton(SimPin(), on_long="later"), TypeError, "on_long"),
    ],
)
def test_bad_input_names_the_parameter(make, error, word):
    with pytest.raises(error, match=word):
        make()


@pytest.mark.parametrize(
    ("make", "word"),
    [
        (lambda: Pushbutton(SimPin(), debounce=50), "debounce=50 s is implausible"),
        (lambda: Switch(SimPin(), debounce=20), "debounce=20 s is implausible"),
        (lambda: Pushbutton(SimPin(), long_press=1000), "long_press=1000 s is implausible"),
        (lambda: Pushbutton(SimPin(), double_click=400), "double_click=400 s is implausible"),
        (lambda: Pushbutton(SimPin(), debounce=0.5), "shorter than double_click"),
        (lambda: Pushbutton(SimPin(), debounce=0.5, long_press=0.4, double_click=1),
         "shorter than long_press"),
    ],
)
def test_durations_are_all_seconds_and_millisecond_habits_are_refused(make, word):
    """``debounce=50`` (milliseconds in MicroPython) used to be a silent 50 s wait."""
    with pytest.raises(ValueError, match=word) as info:
        make()
    assert "seconds" in str(info.value) and "\n" not in str(info.value)


def test_the_millisecond_names_are_gone():
    with pytest.raises(TypeError, match="long_ms"):
        Pushbutton(SimPin(), long_ms=1000)
