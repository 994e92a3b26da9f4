"""Package attributes imported on first use (PEP 562).

The engine's packages hold torch-free modules (parameter dataclasses) next to torch code.
With lazy exports, importing `inference.engine.attacks.params` — the web tier validates
job parameters with it — runs the package's `__init__` without importing torch."""

import importlib
import pkgutil
import sys
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable, Callable, list[str]]:
    """(`__getattr__`, `__dir__`, `__all__`) for `package`; exports maps each public name to
    the relative module that defines it.

    A public name may not be the name of one of the package's modules: once that module
    is imported, Python sets the package attribute to the module itself, and the name
    would then mean the module or the function depending on import order."""
    modules = {info.name for info in pkgutil.iter_modules(sys.modules[package].__path__)}
    shadowed = sorted(set(exports) & modules)
    if shadowed:
        raise ValueError(f"{package}: exported names that are also module names: {shadowed}")

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__, sorted(exports)
