"""Penultimate-layer features of the clean images: one Embedding per (image, classifier)."""

import numpy as np

from inference.engine.features import penultimate_features
from inference.models import Embedding
from inference.preparation.handler import nothing_to_finalize
from inference.preparation.handlers.common import decode

LAYER = Embedding.PENULTIMATE


def done_ids(job, image_ids) -> set[int]:
    return set(
        Embedding.objects.filter(classifier=job.classifier, layer=LAYER, image_id__in=image_ids).values_list(
            "image_id", flat=True
        )
    )


def process(job, loaded, images, batch_size: int) -> dict[int, str]:
    inputs, decoded, errors = decode(images, loaded)
    if decoded:
        features = penultimate_features(loaded.model, inputs, batch_size=batch_size).numpy()
        Embedding.objects.bulk_create(
            [
                Embedding(
                    image=image,
                    classifier=job.classifier,
                    layer=LAYER,
                    dim=vector.shape[0],
                    vector=np.ascontiguousarray(vector, dtype="<f4").tobytes(),
                    job=job,
                )
                for image, vector in zip(decoded, features, strict=True)
            ],
            ignore_conflicts=True,
        )
    return errors


# Every image's output is complete on its own: nothing to do over the whole set.
finalize = nothing_to_finalize
