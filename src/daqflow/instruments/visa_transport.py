"""VISA transport: the packaged simulation (`sim_backend`), `InstrumentError`, and one worker
thread and lock per VISA resource, shared by every instrument opened on that resource name
(a module-level registry keyed by the canonical resource name), so a command and its answer
are never split by another object's traffic, even across event loops and threads.

PyVISA is imported only when used (`pyvisa_module`).
"""

from __future__ import annotations

import concurrent.futures
import importlib.resources
import threading
from types import ModuleType
from typing import Any

from ..core.authoring import require

SIM_FILE = "daqflow-sim.yaml"

def sim_backend() -> str:
    """The pyvisa-sim backend string of daqflow's packaged instrument definitions,
    ``"<path>/daqflow-sim.yaml@sim"``: a `Multimeter` on ``GPIB0::22::INSTR`` (and a second
    one on ``GPIB0::23::INSTR``) and a `FunctionGenerator` on
    ``TCPIP0::192.168.0.50::inst0::INSTR``. Needs the pyvisa-sim package to be opened.

    >>> sim_backend().endswith("daqflow-sim.yaml@sim")
    True
    """
    path = importlib.resources.files("daqflow.instruments").joinpath("sims", SIM_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"daqflow's VISA simulation file is missing: {path}")
    return f"{path}@sim"


class InstrumentError(RuntimeError):
    """The instrument reported an error (its SCPI error queue), or a VISA call failed.

    Attributes:
        instrument: the instrument's name.
        resource: its VISA resource name.
        command: the command that caused it.
        errors: (code, message) pairs read from the error queue (empty for VISA failures).
    """

    def __init__(self, message: str, *, instrument: str = "", resource: str = "",
                 command: str = "", errors: tuple[tuple[int, str], ...] = ()):
        super().__init__(message)
        self.instrument, self.resource, self.command = instrument, resource, command
        self.errors = tuple(errors)


def pyvisa_module() -> ModuleType:
    """PyVISA (ImportError naming the extra ``instruments`` if it is missing)."""
    return require("pyvisa", "instruments", "VISA instruments")


# -- one worker thread and lock per VISA resource --------------------------------------------
class _Port:
    """What every instrument on one VISA resource shares: the lock held for each transaction
    and the single worker thread that runs them (created on first use, ended with the last
    user)."""

    def __init__(self, key: str):
        self.key = key
        self.lock = threading.Lock()
        self.users = 0
        self.executor: concurrent.futures.ThreadPoolExecutor | None = None


_ports: dict[str, _Port] = {}
_ports_lock = threading.Lock()
_managers: dict[str, Any] = {}  # backend -> pyvisa ResourceManager (one per backend)
_managers_lock = threading.Lock()


def _manager(visa: ModuleType, backend: str) -> Any:
    """The backend's ResourceManager, created once even when instruments on different
    resources connect at the same time (two would be two simulated worlds for pyvisa-sim)."""
    with _managers_lock:
        if backend not in _managers:
            _managers[backend] = visa.ResourceManager(backend)
        return _managers[backend]


def _port_key(resource: str) -> str:
    try:
        name = pyvisa_module().rname.to_canonical_name(resource)
    except Exception:  # an alias or a name pyvisa does not parse: the string itself
        name = resource
    return name.strip().upper()


def _port(resource: str) -> _Port:
    key = _port_key(resource)
    with _ports_lock:
        return _ports.setdefault(key, _Port(key))


def _acquire(port: _Port) -> concurrent.futures.ThreadPoolExecutor:
    with _ports_lock:
        if port.executor is None:
            port.executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix=f"daqflow-visa {port.key}")
        port.users += 1
        return port.executor


def _release(port: _Port) -> None:
    with _ports_lock:
        port.users -= 1
        if port.users == 0 and port.executor is not None:
            port.executor.shutdown(wait=False)
            port.executor = None
