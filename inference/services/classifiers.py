"""Registering classifiers: a record of exactly which weights and preprocessing a study's
stimuli came from, so that every stimulus can be traced and recomputed.

Registration loads the model once and checks it (the file exists and is a checkpoint,
its state dict fits the architecture, its output size matches the label set), so that a
bad classifier is refused here, with the reason, and never fails a job later. It imports
the engine (torch): it runs from commands and workers, never from a view."""

from django.db import IntegrityError, transaction

from inference.labelsets import get_label_set
from inference.models import Classifier

BUNDLED_NAME = "efficientnet-lite0"


class RegistrationError(ValueError):
    pass


def register_bundled() -> Classifier:
    """The bundled EfficientNet-Lite0 record, created on first use (hashing only: the
    bundled weights are known to fit)."""
    from inference.engine import describe_bundled

    return save(BUNDLED_NAME, {**describe_bundled(), "weights_path": "", "class_names": None}, "imagenet-1k")


def register(
    name: str,
    source: str,
    architecture: str,
    weights_path: str = "",
    preprocessing: dict | None = None,
    label_set: str = "imagenet-1k",
) -> Classifier:
    """Load, check and record a classifier, replacing the record of the same name. label_set
    "custom" takes the model's own class names (torchvision and timm models name theirs);
    raises RegistrationError saying why."""
    return save(name, describe(source, architecture, weights_path, preprocessing, label_set), label_set)


def describe(
    source: str,
    architecture: str,
    weights_path: str = "",
    preprocessing: dict | None = None,
    label_set: str = "imagenet-1k",
) -> dict:
    """Load and check a classifier (seconds: it builds the model and runs it once) and
    return its description for `save`; RegistrationError saying why it cannot be used."""
    from inference import engine

    expected = None if label_set == "custom" else len(get_label_set(label_set))
    try:
        description = engine.describe(source, architecture, weights_path or None, preprocessing, expected)
    except engine.ClassifierLoadError as error:
        raise RegistrationError(str(error)) from None
    if label_set == "custom" and not description["class_names"]:
        raise RegistrationError(
            f"{architecture} does not name its classes; register it with a label set such as imagenet-1k"
        )
    return description


def save(name: str, description: dict, label_set: str, replace: bool = True) -> Classifier:
    """Record a described classifier under `name`. With replace False an existing record of
    that name is a RegistrationError rather than replaced: studies may be built on it."""
    fields = {
        "source": description["source"],
        "architecture": description["architecture"],
        "weights_path": description["weights_path"],
        "weights_sha256": description["weights_sha256"],
        "preprocessing": description["preprocessing"],
        "label_set": label_set,
        "class_names": description["class_names"] if label_set == "custom" else None,
        "num_classes": description["num_classes"],
        "library_versions": description["library_versions"],
    }
    if replace:
        return Classifier.objects.update_or_create(name=name, defaults=fields)[0]
    try:
        with transaction.atomic():
            return Classifier.objects.create(name=name, **fields)
    except IntegrityError:
        raise RegistrationError(f"a classifier named {name!r} exists already; choose another name") from None
