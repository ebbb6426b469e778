"""A process that `multiprocessing` is still starting must not run a graph.

A spawned child (a `Process` partition, or the user's own ``multiprocessing``) first re-runs
the parent's ``__main__`` script. Without ``if __name__ == "__main__":`` around its top-level
code, that re-run reaches ``df.run`` again. `refuse_while_bootstrapping` stops such a child at
once with exit code `UNGUARDED_MAIN_EXIT`, so the parent can say what to fix in one line.
"""

from __future__ import annotations

import multiprocessing
import os
import sys

#: exit code of a child that re-ran an unguarded ``__main__`` (EX_CONFIG of sysexits.h)
UNGUARDED_MAIN_EXIT = 78

#: spawned partition processes are named ``daqflow-NAME``: their parent explains the exit
PARTITION_PREFIX = "daqflow-"


def unguarded_main_advice(script: str | None = None) -> str:
    """The one line that says what went wrong and how to fix it."""
    main = sys.modules.get("__mp_main__") or sys.modules.get("__main__")  # a child re-runs it as __mp_main__
    where = script or getattr(main, "__file__", None) or "the script"
    return (f"{where} runs a graph at import: a process it starts re-runs its top-level code. "
            "Put that code under `if __name__ == \"__main__\":`")


def bootstrapping() -> bool:
    """True while this process is a spawned child re-running its parent's ``__main__``."""
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def refuse_while_bootstrapping() -> None:
    """Exit at once (code `UNGUARDED_MAIN_EXIT`) if called while this process is being
    spawned; a child that is not a daqflow partition also prints the advice on stderr."""
    if not bootstrapping():
        return
    if not multiprocessing.current_process().name.startswith(PARTITION_PREFIX):
        print(f"daqflow: {unguarded_main_advice()}", file=sys.stderr, flush=True)
    sys.stderr.flush()
    os._exit(UNGUARDED_MAIN_EXIT)
