"""Instrument settings are Params: `Setting` declares one on the class, `SettingParam` holds it.

``timebase = Setting(1e-4, unit="s/div", low=1e-9, high=10.0)`` in an instrument class gives
every instance a `SettingParam` named ``"<instrument>.timebase"`` (``scope.param("timebase")``):
a `daqflow.Param` whose value is the setting, validated by the Param's own code, so the GUI,
the control page and ``PUT /params/scope.timebase`` steer it like any ``df.param``.
``scope.timebase`` reads it and ``scope.timebase = 2e-5`` sets it; the instrument takes it at
its next trace (a VISA driver writes it then, `visa.VisaInstrument`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..core.authoring import Param

if TYPE_CHECKING:
    from .base import Instrument


class SettingParam(Param[Any]):
    """One instrument's setting as a `Param` (made by `Setting`; ``name`` is
    ``"<instrument>.<setting>"``). Refusals read ``"scope.timebase = 100 s/div: must be in
    [1e-09, 10] s/div"``; numbers may also be given as text (``"1e-3"``), as SCPI reads them.

    Attributes:
        setting: the setting's name on the instrument (``"timebase"``).
    """

    __slots__ = ("_owner", "setting")
    KINDS = (float, int, bool, str)
    READS_TEXT = True

    def __init__(self, spec: Setting, instrument: str):
        self._owner = instrument
        self.setting = spec.name
        super().__init__(spec.default, name=f"{instrument}.{spec.name}", kind=spec.kind,
                         low=spec.low, high=spec.high, choices=spec.choices, unit=spec.unit,
                         doc=spec.doc)

    @property
    def owner(self) -> str:
        """The instrument's name."""
        return self._owner

    def rename(self, instrument: str) -> None:
        """Follow the instrument's new name."""
        self._owner, self.name = instrument, f"{instrument}.{self.setting}"

    def _refused(self, problem: str, given: Any, value: Any, what: str) -> ValueError:
        unit = f" {self.unit}" if self.unit else ""
        where = f"{self.name} = {given!r}"
        if problem == "choices":
            return ValueError(f"{where}: must be one of {list(self.choices or ())}")
        if problem == "finite":
            return ValueError(f"{where}: must be finite")
        if problem == "range":
            if self.high is None:
                bound = f">= {self.low:g}{unit}"
            elif self.low is None:
                bound = f"<= {self.high:g}{unit}"
            else:
                bound = f"in [{self.low:g}, {self.high:g}]{unit}"
            return ValueError(f"{where}{unit}: must be {bound}")
        return ValueError(f"{where}: expected {self.kind.__name__}{' in ' + self.unit if self.unit else ''}")


class Setting:
    """A validated instrument setting, declared on the instrument's class.

    Each instance of the class holds it as a `SettingParam` (``inst.param(name)``);
    ``inst.name_of_setting`` reads its value and assigning it sets it (ValueError naming the
    instrument, the setting and what it allows).

    Args:
        default: value before anything is set.
        unit: physical unit for messages and `Instrument.describe` ("V", "s", "Hz", ...).
        low, high: inclusive range (numbers).
        choices: allowed values (instead of a range).
        kind: type the value is converted to (float, int, str, bool).
        doc: one line saying what it is.
    """

    def __init__(self, default: Any, *, unit: str = "", low: float | None = None,
                 high: float | None = None, choices: Sequence[Any] | None = None,
                 kind: type = float, doc: str = ""):
        if kind not in SettingParam.KINDS:
            raise ValueError(f"Setting kind must be float, int, bool or str, got {kind!r}")
        self.default, self.unit, self.low, self.high = default, unit, low, high
        self.choices = tuple(choices) if choices is not None else None
        self.kind, self.doc = kind, doc
        self.name = "?"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def bind(self, instrument: str) -> SettingParam:
        """This setting of the instrument named ``instrument``, as a new Param."""
        return SettingParam(self, instrument)

    def __get__(self, instrument: Instrument | None, owner: type) -> Any:
        if instrument is None:
            return self
        return instrument.param(self.name).value

    def __set__(self, instrument: Instrument, value: Any) -> None:
        instrument.param(self.name).set(value)

    def validate(self, instrument: Instrument, value: Any) -> Any:
        """``value`` as the setting takes it (ValueError if it is refused); nothing is set."""
        return instrument.param(self.name)._check(value)
