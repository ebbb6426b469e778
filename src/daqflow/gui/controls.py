"""Widgets for live controls: a slider and a spin box (or a list of choices) per `Param`.

Moving a control calls ``param.set(value)``; a change made elsewhere (a script, another
thread, another window) moves the control, through a queued Qt signal, so it is safe from
any thread. `find_params` lists the Params the blocks of a graph declare (an instrument's
settings among them: a check box for a bool, a list or a text field for a str).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from typing import Any

from ..core import Stream
from ..core.finding import params_of
from ..core.params import Param, exposed_params
from ._qt import QtCore, QtWidgets, isValid

SLIDER_STEPS = 1000  # slider positions across a float Param's range


def find_params(nodes: Iterable[Stream], depth: int = 4) -> list[Param[Any]]:
    """The Params the blocks declare, in graph order, each once: those they were given and
    the settings of instruments they stream from (see `core.finding`). ``depth`` is not used
    (nothing is searched: controls are declared when a block is called)."""
    return params_of(nodes)


def _decimals(param: Param[Any]) -> int:
    if param.kind is int:
        return 0
    if param.low is not None and param.high is not None and param.high > param.low:
        span = float(param.high - param.low)
    else:
        span = max(abs(float(param.value)), 1.0) * 10
    return int(min(6, max(0, 4 - math.floor(math.log10(span)))))


class _Relay(QtCore.QObject):
    """Carries a Param's new value to Qt's thread (emitted from whatever thread set it)."""

    changed = QtCore.Signal(object)


class ParamControl(QtWidgets.QWidget):
    """One Param's control: a slider and a spin box, or a list of its choices.

    Attributes:
        param: the Param.
        slider: the QSlider (None when the Param is unbounded or has choices).
        spinbox: the QSpinBox / QDoubleSpinBox (None when it has choices).
        combo: the QComboBox of its choices (None otherwise).
        check: the QCheckBox of a bool Param (an instrument's switch; None otherwise).
        text: the QLineEdit of a str Param without choices (None otherwise).
        error: the last value the Param refused, as its message ("" if none).
    """

    def __init__(self, param: Param[Any], parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.param = param
        self.error = ""
        self.slider: QtWidgets.QSlider | None = None
        self.spinbox: QtWidgets.QAbstractSpinBox | None = None
        self.combo: QtWidgets.QComboBox | None = None
        self.check: QtWidgets.QCheckBox | None = None
        self.text: QtWidgets.QLineEdit | None = None
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        tip = param.doc or param.name
        self.setToolTip(f"{tip} ({param.name}{', ' + param.unit if param.unit else ''})")
        suffix = f" {param.unit}" if param.unit else ""
        if param.kind is bool:
            check = self.check = QtWidgets.QCheckBox()
            check.toggled.connect(self._set)
            layout.addWidget(check)
        elif param.choices is not None:
            combo = self.combo = QtWidgets.QComboBox()
            for choice in param.choices:
                label = choice if isinstance(choice, str) else f"{choice:g}"
                combo.addItem(f"{label}{suffix}", choice)
            combo.currentIndexChanged.connect(self._from_combo)
            layout.addWidget(combo)
        elif param.kind is str:
            text = self.text = QtWidgets.QLineEdit()
            text.editingFinished.connect(lambda: self._set(text.text()))
            layout.addWidget(text)
        else:
            bounded = param.low is not None and param.high is not None
            if bounded:
                slider = self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
                slider.setRange(0, self._steps())
                slider.valueChanged.connect(self._from_slider)
                layout.addWidget(slider, 1)
            if param.kind is int:
                spin: QtWidgets.QAbstractSpinBox = QtWidgets.QSpinBox()
                lo = -(2**31) if param.low is None else max(int(param.low), -(2**31))
                hi = 2**31 - 1 if param.high is None else min(int(param.high), 2**31 - 1)
                spin.setRange(lo, hi)
                spin.valueChanged.connect(self._from_spinbox)
            else:
                spin = QtWidgets.QDoubleSpinBox()
                spin.setDecimals(_decimals(param))
                lo = -1e15 if param.low is None else float(param.low)
                hi = 1e15 if param.high is None else float(param.high)
                spin.setRange(lo, hi)
                if bounded:
                    spin.setSingleStep((hi - lo) / 100)
                spin.valueChanged.connect(self._from_spinbox)
            spin.setSuffix(suffix)
            spin.setKeyboardTracking(False)  # set the Param when typing is done, not per key
            self.spinbox = spin
            layout.addWidget(spin, 0 if bounded else 1)
        self._relay = _Relay(self)
        self._relay.changed.connect(self._show)
        self._show(param.value)
        relay = self._relay
        unwatch: list[Any] = []

        def stop(*_: Any) -> None:
            with contextlib.suppress(IndexError):  # once, whoever comes first
                unwatch.pop()()

        def changed(value: Any) -> None:  # in the thread that set the Param
            if isValid(relay):
                relay.changed.emit(value)
            else:  # the widget is gone: stop listening
                stop()

        unwatch.append(param.watch(changed))
        self.destroyed.connect(stop)

    # -- mapping -------------------------------------------------------------------------
    def _steps(self) -> int:
        p = self.param
        if p.kind is int and p.high - p.low <= 10 * SLIDER_STEPS:
            return int(p.high - p.low)
        return SLIDER_STEPS

    def _slider_value(self, position: int) -> Any:
        p = self.param
        value = p.low + (p.high - p.low) * position / self._steps()
        return round(value) if p.kind is int else value

    def _slider_position(self, value: Any) -> int:
        p = self.param
        span = p.high - p.low
        return round((value - p.low) / span * self._steps()) if span else 0

    # -- user -> Param -------------------------------------------------------------------
    def _set(self, value: Any) -> None:
        try:
            self.param.set(value)
        except ValueError as exc:
            self.error = str(exc)
            self.setToolTip(self.error)
            self._show(self.param.value)
            return
        self.error = ""
        self._show(self.param.value)

    def _from_slider(self, position: int) -> None:
        self._set(self._slider_value(position))

    def _from_spinbox(self, value: Any) -> None:
        self._set(value)

    def _from_combo(self, index: int) -> None:
        if self.combo is not None and index >= 0:
            self._set(self.combo.itemData(index))

    # -- Param -> widgets ----------------------------------------------------------------
    def _show(self, value: Any) -> None:
        widgets = (self.slider, self.spinbox, self.combo, self.check, self.text)
        for widget in widgets:
            if widget is not None:
                widget.blockSignals(True)
        try:
            if self.check is not None:
                self.check.setChecked(bool(value))
            if self.text is not None:
                self.text.setText(str(value))
            if self.combo is not None:
                index = self.combo.findData(value)
                if index >= 0:
                    self.combo.setCurrentIndex(index)
            if self.slider is not None:
                self.slider.setValue(self._slider_position(value))
            if self.spinbox is not None:
                self.spinbox.setValue(value)  # type: ignore[attr-defined]
        finally:
            for widget in widgets:
                if widget is not None:
                    widget.blockSignals(False)

    def set_from_user(self, value: Any) -> None:
        """What moving the control to ``value`` does (for scripts and tests)."""
        self._set(value)


class Controls(QtWidgets.QWidget):
    """A form of `ParamControl` rows, one per Param (``rows[name]``, by Param name).

    (No ``[]``/``len``: PySide treats a widget with them as a sequence.)"""

    def __init__(self, params: Iterable[Param[Any]], parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        layout = QtWidgets.QFormLayout(self)
        self.rows: dict[str, ParamControl] = {}
        for p in params:
            if not isinstance(p, Param):
                raise TypeError(f"controls: expected daqflow Params, got {type(p).__name__}")
            row = ParamControl(p)
            label = p.name + (f" ({p.unit})" if p.unit else "")
            layout.addRow(label, row)
            self.rows[p.name] = row

    def row(self, name: str) -> ParamControl:
        """The control of the Param named ``name``."""
        return self.rows[name]


def controls(*params: Any, parent: QtWidgets.QWidget | None = None) -> Controls:
    """A widget with a control per Param (sliders, spin boxes, choices).

    Args:
        params: Params; instruments (their settings); or sink streams whose graphs' Params
            are wanted (`find_params`).
        parent: the Qt parent widget.
    """
    from ..core import build_graph

    found: dict[int, Param[Any]] = {}
    sinks = [p for p in params if isinstance(p, Stream)]
    if sinks:
        for p in find_params(build_graph(sinks, require_sinks=False).nodes):
            found.setdefault(id(p), p)
    for p in params:
        if not isinstance(p, Stream):
            for exposed in exposed_params(p) or (p,):
                found.setdefault(id(exposed), exposed)
    return Controls(found.values(), parent)
