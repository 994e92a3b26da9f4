"""Registering classifiers: a record of exactly which weights and preprocessing a study's
predictions came from, so that every stimulus can be traced and recomputed."""

from inference.models import Classifier

BUNDLED_NAME = "efficientnet-lite0"


def register_bundled() -> Classifier:
    """The bundled EfficientNet-Lite0 record, created on first use.

    Hashing the weights file needs no model, but the description lives in the engine,
    which imports torch: this is called from commands and workers, never from a view.
    """
    from inference.engine import describe_bundled

    description = describe_bundled()
    classifier, _ = Classifier.objects.update_or_create(
        name=BUNDLED_NAME,
        defaults={
            "source": Classifier.Source.BUNDLED,
            "architecture": description["architecture"],
            "weights_path": description["weights_path"],
            "weights_sha256": description["weights_sha256"],
            "preprocessing": description["preprocessing"],
            "label_set": "imagenet-1k",
            "num_classes": description["num_classes"],
            "library_versions": description["library_versions"],
        },
    )
    return classifier
