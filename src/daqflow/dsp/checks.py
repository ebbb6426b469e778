"""Parameter checks shared by the kernels and blocks (ValueError naming the parameter)."""

from __future__ import annotations

import numpy as np


def check_int(value: object, name: str, minimum: int = 1, unit: str = "") -> int:
    """``value`` as an int >= ``minimum``; bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}{' ' + unit if unit else ''}, got {value!r}")
    return int(value)
