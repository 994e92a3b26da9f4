"""Importing Captum in a worker: its `captum.attr` imports matplotlib.pyplot.

matplotlib then picks a GUI backend when a display is around, and it needs a
writable config / cache directory (its font cache). Workers often run with a
read-only or missing home; matplotlib would then warn and rebuild the font
cache in a fresh temporary directory at every process start. So before the
first import the backend is set to Agg and, only where matplotlib's own
directories are not writable and MPLCONFIGDIR is unset, MPLCONFIGDIR points at
one per-user directory under the system temp dir, reused across processes.
Captum is imported lazily so that `import inference.engine` stays cheap.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import ModuleType


def captum_attr() -> ModuleType:
    """The `captum.attr` module, imported with a headless, writable matplotlib setup."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    if not os.environ.get("MPLCONFIGDIR") and not _matplotlib_dirs_writable():
        fallback = Path(tempfile.gettempdir()) / f"secondlook-matplotlib-{os.getuid()}"
        fallback.mkdir(mode=0o700, exist_ok=True)
        os.environ["MPLCONFIGDIR"] = str(fallback)
    import captum.attr

    return captum.attr


def _matplotlib_dirs_writable() -> bool:
    # The XDG locations matplotlib uses on Linux when MPLCONFIGDIR is unset.
    try:
        home = Path.home()
    except RuntimeError:
        return False
    bases = (
        os.environ.get("XDG_CONFIG_HOME") or home / ".config",
        os.environ.get("XDG_CACHE_HOME") or home / ".cache",
    )
    return all(_creatable(Path(base) / "matplotlib") for base in bases)


def _creatable(path: Path) -> bool:
    """Whether `path` is, or could be made, a writable directory."""
    while not path.exists():
        if path.parent == path:
            return False
        path = path.parent
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)
