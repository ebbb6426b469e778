"""Device libraries that come from the operating system, not from PyPI.

SoapySDR has no wheel: its Python module is Debian's ``python3-soapysdr`` (in
``/usr/lib/python3/dist-packages``), built for the system's CPython. A venv made with
``--system-site-packages`` from that Python sees it directly. Any other CPython of the same
version (pyenv, a plain venv) can load it too: the binary interface is the same, so
`soapysdr` loads just that module from the system directory when a plain import fails,
without putting the rest of the system's packages (their numpy among them) on ``sys.path``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

SYSTEM_DIRS = (Path("/usr/lib/python3/dist-packages"), Path("/usr/local/lib/python3/dist-packages"))
SOAPY_INSTALL = ("SoapySDR's Python module is missing: on Debian/Ubuntu, apt-get install "
                 "python3-soapysdr plus the module of your radio (e.g. soapysdr-module-rtlsdr, "
                 "soapysdr-module-audio)")


def soapysdr() -> ModuleType:
    """The ``SoapySDR`` module (plain import, else the system's copy, if built for this
    Python). Raises ImportError with one line saying what to install."""
    loaded = sys.modules.get("SoapySDR")
    if loaded is not None:
        return loaded
    try:
        return importlib.import_module("SoapySDR")
    except ImportError:
        pass
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    for folder in SYSTEM_DIRS:
        wrapper, binary = folder / "SoapySDR.py", folder / f"_SoapySDR{suffix}"
        if wrapper.is_file() and binary.is_file():
            _load("_SoapySDR", binary)
            return _load("SoapySDR", wrapper)
    found = [str(p) for folder in SYSTEM_DIRS for p in folder.glob("_SoapySDR*")]
    if found:
        raise ImportError(f"{SOAPY_INSTALL}; the system's copy ({found[0]}) is built for another "
                          f"Python than this one ({sys.version.split()[0]}, {suffix}): use that "
                          "Python, or a venv made from it with --system-site-packages")
    raise ImportError(SOAPY_INSTALL)


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {name} from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
