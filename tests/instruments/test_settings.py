"""An instrument's settings are Params: one validation path, readable and settable as a
Param (what the GUI, the control page and the HTTP API steer), renamed with the instrument."""

import asyncio
import pickle

import pytest

import daqflow as df
from daqflow.instruments import Instrument, Setting, SimScope
from daqflow.instruments.settings import SettingParam


class Source(Instrument):
    level = Setting(1.0, unit="V", low=0.0, high=5.0, doc="output level")
    mode = Setting("DC", kind=str, choices=("DC", "AC"), doc="coupling")
    on = Setting(False, kind=bool, doc="output enabled")
    count = Setting(4, kind=int, low=1, high=8)

    async def _trace(self):
        return df.Chunk([float(self.active("level"))], 1.0)


def test_a_setting_is_a_param_of_the_instance():
    scope = SimScope(name="scope", timebase=1e-3)
    p = scope.param("timebase")
    assert isinstance(p, df.Param) and p.name == "scope.timebase" and p.owner == "scope"
    assert (p.value, p.unit, p.low, p.high, p.doc) == (1e-3, "s/div", 1e-9, 10.0,
                                                        "time per division")
    seen, version = [], p.version
    p.watch(seen.append)
    scope.timebase = 2e-3  # an attribute write is a change of the Param
    p.set(5e-4)  # and setting the Param changes the attribute
    assert seen == [2e-3, 5e-4] and scope.timebase == 5e-4 and p.version == version + 2
    assert SimScope(name="other").param("timebase") is not p  # one Param per instance
    assert [q.name for q in scope.params()] == [f"scope.{k}" for k in scope.setting_names()]
    with pytest.raises(ValueError, match=r"scope: no setting 'volts'"):
        scope.param("volts")


def test_the_param_refuses_in_the_instruments_words():
    src = Source(name="src")
    for bad, match in [
        (lambda: src.param("level").set(6), r"src\.level = 6 V: must be in \[0, 5\] V"),
        (lambda: src.param("mode").set("XX"), r"src\.mode = 'XX': must be one of \['DC', 'AC'\]"),
        (lambda: src.param("on").set(1), r"src\.on = 1: expected bool"),
        (lambda: src.param("count").set(2.5), r"src\.count = 2\.5: expected int"),
        (lambda: setattr(src, "level", float("nan")), r"src\.level = nan: must be finite"),
    ]:
        with pytest.raises(ValueError, match=match):
            bad()
    assert src.settings() == {"count": 4, "level": 1.0, "mode": "DC", "on": False}
    src.level, src.on, src.count = "2.5", True, 8.0  # numbers as text, as SCPI reads them
    assert (src.level, src.on, src.count) == (2.5, True, 8)
    assert type(src.count) is int
    assert Setting.validate(Source.level, src, "3") == 3.0 and src.level == 2.5  # nothing set


def test_a_renamed_instrument_renames_its_params():
    src = Source()
    assert src.param("level").name == "Source.level"
    src.name = "bench"
    assert src.param("level").name == "bench.level" and src.param("level").owner == "bench"
    with pytest.raises(ValueError, match=r"bench\.level = -1 V"):
        src.level = -1


def test_a_pickled_setting_param_keeps_its_setting_and_owner():
    src = Source(name="src", level=3.0)
    copy = pickle.loads(pickle.dumps(src.param("level")))
    assert (copy.name, copy.owner, copy.setting, copy.value) == ("src.level", "src", "level", 3.0)
    copy.set(4.0)  # a dead copy
    assert src.level == 3.0


def test_a_setting_of_an_unknown_kind_is_refused_when_declared():
    with pytest.raises(ValueError, match="Setting kind must be"):
        Setting(1j, kind=complex)


def test_a_stream_of_an_instrument_declares_its_settings():
    from daqflow.core.finding import params_of

    src = Source(name="src")
    sink = df.collect(src.stream())
    graph = df.build_graph([sink])
    assert [p.name for p in params_of(graph.nodes)] == [f"src.{k}" for k in src.setting_names()]
    assert all(isinstance(p, SettingParam) for p in params_of(graph.nodes))

    async def main():
        async with src:
            src.param("level").set(4.0)  # as a GUI or PUT /params/src.level would
            return (await src.acquire()).data.tolist()

    assert asyncio.run(main()) == [4.0]
