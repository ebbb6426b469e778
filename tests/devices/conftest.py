"""Device tests run on the real sound stack: a private PulseAudio null sink (fixture
``sound_card`` in tests/conftest.py), PortAudio through sounddevice, and SoapySDR's audio
driver (``driver=audio``) reading the sink's monitor."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _sound(sound_card):
    return sound_card
