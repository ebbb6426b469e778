"""The optional GUI libraries, imported in one place: a missing one names the ``gui`` extra.

Qt comes from PySide6. PySide6 is imported first, so qasync and pyqtgraph, which use the Qt
binding already loaded, pick it too.
"""

from __future__ import annotations

from ..core.requirements import require

_PURPOSE = "daqflow.gui (live Qt views)"

require("PySide6.QtWidgets", "gui", _PURPOSE)
qasync = require("qasync", "gui", _PURPOSE)
pg = require("pyqtgraph", "gui", _PURPOSE)

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402
from shiboken6 import delete as shiboken_delete  # noqa: E402
from shiboken6 import isValid  # noqa: E402

for _lib, _name in ((getattr(qasync, "QtModuleName", "PySide6"), "qasync"),
                    (pg.Qt.QT_LIB, "pyqtgraph")):
    if _lib != "PySide6":
        raise ImportError(f"{_PURPOSE} runs on PySide6, but {_name} chose {_lib} (imported "
                          f"earlier): import daqflow.gui before other Qt bindings")

__all__ = ["QtCore", "QtGui", "QtWidgets", "isValid", "pg", "qasync", "shiboken_delete"]
