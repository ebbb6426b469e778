"""Delay: trigger, retrigger, stop, running(), callbacks plain or coroutine, errors."""

import asyncio

import pytest

from daqflow.hw import Delay


def now():
    return asyncio.get_running_loop().time()


def test_trigger_calls_back_after_the_delay_and_running_tracks_it():
    async def main():
        fired = []
        async with Delay(0.1, lambda: fired.append(now())) as delay:
            before = delay.running()
            t0 = now()
            delay.trigger()
            during = delay.running()
            await asyncio.sleep(0.3)
            return before, during, delay.running(), [t - t0 for t in fired]

    before, during, after, fired = asyncio.run(main())
    assert (before, during, after) == (False, True, False)
    assert len(fired) == 1 and fired[0] >= 0.1


def test_retrigger_restarts_the_countdown():
    async def main():
        fired = []
        async with Delay(0.15, lambda: fired.append(now())) as delay:
            t0 = now()
            for _ in range(4):  # a trigger every 0.05 s keeps postponing it
                delay.trigger()
                await asyncio.sleep(0.05)
            last = now() - 0.05 - t0  # the last trigger
            running = delay.running()
            await asyncio.sleep(0.4)
        return running, last, [t - t0 for t in fired]

    running, last, fired = asyncio.run(main())
    assert running
    assert len(fired) == 1
    assert fired[0] >= last + 0.15 - 0.002 >= 0.3 - 0.002


def test_stop_cancels_the_callback():
    async def main():
        fired = []
        async with Delay(0.05, lambda: fired.append(1)) as delay:
            delay.trigger()
            delay.stop()
            stopped = delay.running()
            delay.stop()  # idempotent
            await asyncio.sleep(0.15)
        return stopped, fired

    assert asyncio.run(main()) == (False, [])


def test_exit_drops_a_running_countdown():
    async def main():
        fired = []
        async with Delay(0.05, lambda: fired.append(1)) as delay:
            delay.trigger()
        running = delay.running()
        await asyncio.sleep(0.15)
        return running, fired

    assert asyncio.run(main()) == (False, [])


def test_trigger_with_its_own_duration_and_zero_delay():
    async def main():
        fired = []
        async with Delay(10.0, lambda: fired.append(now())) as delay:
            t0 = now()
            delay.trigger(0.05)
            await asyncio.sleep(0.2)
            delay.trigger(0)
            await asyncio.sleep(0.01)
        return [t - t0 for t in fired]

    fired = asyncio.run(main())
    assert len(fired) == 2 and 0.05 <= fired[0] < 0.2 <= fired[1]


def test_a_coroutine_callback_can_retrigger_itself():
    async def main():
        ticks = []

        async def tick():
            ticks.append(delay.running())  # False: the countdown is over while it runs
            await asyncio.sleep(0)
            if len(ticks) < 3:
                delay.trigger()

        delay = Delay(0.02, tick)
        async with delay:
            delay.trigger()
            await asyncio.sleep(0.3)
        return ticks

    assert asyncio.run(main()) == [False, False, False]


def test_coroutine_callback_still_running_is_cancelled_on_exit():
    async def main():
        log = []

        async def slow():
            log.append("start")
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                log.append("cancelled")
                raise

        async with Delay(0, slow) as delay:
            delay.trigger()
            await asyncio.sleep(0.05)
        return log

    assert asyncio.run(asyncio.wait_for(main(), 5)) == ["start", "cancelled"]


def test_a_failing_callback_is_raised_from_async_with():
    async def main():
        def bad():
            raise ZeroDivisionError("in the callback")

        async with Delay(0.01, bad) as delay:
            delay.trigger()
            await asyncio.sleep(10)  # cancelled by the failure

    with pytest.raises(ZeroDivisionError, match="in the callback") as info:
        asyncio.run(asyncio.wait_for(main(), 5))
    assert any("Delay callback" in note for note in info.value.__notes__)


def test_trigger_outside_async_with_is_an_error():
    delay = Delay(1, lambda: None)
    with pytest.raises(RuntimeError, match="async with"):
        delay.trigger()
    assert not delay.running()


@pytest.mark.parametrize(
    ("make", "error", "word"),
    [
        (lambda: Delay(-1, lambda: None), ValueError, "seconds"),
        (lambda: Delay(float("nan"), lambda: None), ValueError, "seconds"),
        (lambda: Delay("1", lambda: None), TypeError, "seconds"),
        (lambda: Delay(1, None), TypeError, "callback"),
        (lambda: Delay(1, 42), TypeError, "callback"),
    ],
)
def test_bad_input_names_the_parameter(make, error, word):
    with pytest.raises(error, match=word):
        make()


def test_trigger_checks_its_duration():
    async def main():
        async with Delay(1, lambda: None) as delay:
            with pytest.raises(ValueError, match="seconds"):
                delay.trigger(-0.5)
            return delay.running()

    assert asyncio.run(main()) is False
