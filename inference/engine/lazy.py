"""Package attributes imported on first use (PEP 562).

The engine's packages hold torch-free modules (parameter dataclasses) next to torch code.
With lazy exports, importing `inference.engine.attacks.params` — the web tier validates
job parameters with it — runs the package's `__init__` without importing torch."""

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable, Callable, list[str]]:
    """(`__getattr__`, `__dir__`, `__all__`) for `package`; exports maps each public name to
    the relative module that defines it."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__, sorted(exports)
