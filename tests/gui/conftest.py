"""Qt tests run offscreen (no display), with one QApplication for the session.

``QT_QPA_PLATFORM`` is set before Qt is imported. Helpers handed out as fixtures:

- ``qapp``: the QApplication.
- ``shoot``: an ``on_start`` hook for ``gui.run(..., keep_open=True)``: once the graph has
  ended it lets Qt paint, saves a PNG of every view (``tmp_path/<sink>.png``, in
  ``shoot.paths``), keeps its pixels (``shoot.images``: (h, w, 3) uint8 arrays by sink name)
  and closes the window.
- ``image_of(widget)``: a widget's pixels (``widget.grab()``) as an (h, w, 3) uint8 array.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import numpy as np
import pytest

from daqflow import gui


@pytest.fixture(scope="session")
def qapp():
    app = gui.application()
    app.setQuitOnLastWindowClosed(False)
    return app


def _image_of(widget: Any) -> np.ndarray:
    image = widget.grab().toImage().convertToFormat(gui._qt.QtGui.QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    rows = np.frombuffer(image.constBits(), np.uint8, count=stride * h).reshape(h, stride)
    return rows[:, : 3 * w].reshape(h, w, 3).copy()


@pytest.fixture
def image_of() -> Callable[[Any], np.ndarray]:
    return _image_of


class Shooter:
    """on_start hook: after the graph ends, save and keep a screenshot of each view."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.images: dict[str, np.ndarray] = {}
        self.paths: dict[str, Path] = {}
        self.session: gui.Session | None = None

    def __call__(self, session: gui.Session) -> None:
        self.session = session
        asyncio.get_running_loop().create_task(self._shoot(session))

    async def _shoot(self, session: gui.Session) -> None:
        try:
            while not session.finished:
                await asyncio.sleep(0.02)
            for _ in range(5):  # let the last frames paint
                await asyncio.sleep(0.02)
            for name, view in session.views:
                path = self.directory / f"{name}.png"
                view.widget.grab().save(str(path))
                self.paths[name] = path
                self.images[name] = _image_of(view.widget)
        finally:
            session.close_window()


@pytest.fixture
def shoot(tmp_path: Path) -> Shooter:
    return Shooter(tmp_path)
