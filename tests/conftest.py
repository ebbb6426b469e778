"""Suite-wide settings: hypothesis runs the same examples on every run (derandomized), so a
CI result is reproducible; `HYPOTHESIS_PROFILE=explore` searches afresh each time."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
