"""The second criticism mode, for uncovering biases: for a target class, the images of
other classes that the model finds closest to it — ranked by the smallest L∞ budget at
which targeted PGD makes the model predict the target class (on the stored 8-bit file).

Batches store, per image, the adversarial image found at its smallest budget; the
finishing step ranks the images that are not of the target class."""

import math

from inference import engine
from inference.engine.attacks import minimal_targeted_linf
from inference.models import AdversarialImage, PrototypeSet
from inference.preparation.handlers.adversarial import done_ids, save_rows, store_and_reclassify
from inference.preparation.handlers.common import (
    decode,
    ensure_model_inputs,
)

__all__ = ["done_ids", "finalize", "process"]


def process(job, loaded, images, batch_size: int) -> dict[int, str]:
    inputs, decoded, errors = decode(images, loaded)
    if not decoded:
        return errors
    ensure_model_inputs(job.classifier, decoded, inputs)
    params = job.params
    _, clean = engine.topk(loaded.model, inputs, k=1, batch_size=batch_size)
    found = minimal_targeted_linf(
        loaded.model,
        inputs,
        params["target_class"],
        loaded.num_classes,
        max_eps=params["max_eps"],
        steps=params["steps"],
        batch_size=batch_size,
    )
    stored = store_and_reclassify(job, loaded, found.images, batch_size)
    target = params["target_class"]
    save_rows(
        job,
        stored,
        [
            {
                "image": image,
                "attacked_class": int(clean[i, 0]),
                "target_class": target,
                "success": int(stored.indices[i, 0]) == target and math.isfinite(float(found.eps[i])),
                "linf": float(found.eps[i]),
                "l2": float((stored.pixels[i] - inputs[i].cpu()).norm()),
            }
            for i, image in enumerate(decoded)
        ],
    )
    return errors


def _class_of(row: AdversarialImage, labels) -> int:
    """The image's ground-truth class when known, else the model's clean prediction."""
    true = row.image.true_class
    return labels.index(true) if true and true in labels.class_ids else row.attacked_class


def finalize(job, loaded) -> None:
    target = job.params["target_class"]
    labels = job.classifier.labels()
    rows = AdversarialImage.objects.filter(
        classifier=job.classifier, params_key=job.params_key, image__in=job.image_set.images.all()
    ).select_related("image")
    ranked = sorted(
        (row for row in rows if row.success and _class_of(row, labels) != target),
        key=lambda row: (row.linf, row.image_id),
    )
    PrototypeSet.objects.update_or_create(
        image_set=job.image_set,
        classifier=job.classifier,
        class_index=target,
        method=PrototypeSet.Method.ADVERSARIAL_DISTANCE,
        params_key=job.params_key,
        defaults={
            "class_id": labels.class_ids[target],
            "params": job.params,
            "criticisms": [row.image_id for row in ranked],
            "scores": {str(row.image_id): row.linf for row in ranked},
            "job": job,
        },
    )
