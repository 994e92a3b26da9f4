"""Prototypes and criticisms per class (MMD-critic in the classifier's feature space).

Batches compute the features (as the features handler does); the finishing step groups
the images by class — their ground-truth class, or the model's top-1 — and selects
prototypes and criticisms for each class with at least two images."""

import numpy as np
import torch

from inference.engine.prototypes import mmd_critic
from inference.models import Embedding, Prediction, PrototypeSet
from inference.preparation.handlers import features

done_ids = features.done_ids
process = features.process


def _classes(job, image_ids: list[int]) -> dict[int, int]:
    """{image id: class index} under the job's grouping; images without a class are left out."""
    if job.params["group_by"] == "predicted":
        rows = Prediction.objects.filter(classifier=job.classifier, image_id__in=image_ids)
        return {row.image_id: row.topk[0]["index"] for row in rows}
    labels = job.classifier.labels()
    classes = {}
    for image_id, class_id in job.image_set.images.filter(pk__in=image_ids).values_list("id", "true_class"):
        if class_id and class_id in labels.class_ids:
            classes[image_id] = labels.index(class_id)
    return classes


def finalize(job, loaded) -> None:
    embeddings = Embedding.objects.filter(
        classifier=job.classifier, layer=features.LAYER, image__in=job.image_set.images.all()
    ).order_by("image_id")
    ids = list(embeddings.values_list("image_id", flat=True))
    classes = _classes(job, ids)
    by_class: dict[int, list[int]] = {}
    for image_id in ids:
        if image_id in classes:
            by_class.setdefault(classes[image_id], []).append(image_id)
    vectors = {e.image_id: e.array() for e in embeddings}
    labels = job.classifier.labels()
    params = job.params
    for class_index, members in sorted(by_class.items()):
        if len(members) < 2:
            continue
        matrix = torch.from_numpy(np.stack([vectors[i] for i in members]))
        found = mmd_critic(matrix, params["m"], params["c"], params["gamma"], params["regularizer"])
        PrototypeSet.objects.update_or_create(
            image_set=job.image_set,
            classifier=job.classifier,
            class_index=class_index,
            method=PrototypeSet.Method.MMD_CRITIC,
            params_key=job.params_key,
            defaults={
                "class_id": labels.class_ids[class_index],
                "params": {**params, "gamma": found.gamma},
                "prototypes": [members[i] for i in found.prototypes.tolist()],
                "criticisms": [members[i] for i in found.criticisms.tolist()],
                "job": job,
            },
        )
