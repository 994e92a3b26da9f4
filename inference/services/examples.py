"""Example-based explanations: for a prediction, the predicted class's prototypes and the
images of that class nearest to the image in the classifier's feature space.

Reads stored rows only (numpy, no torch), so pages and the participant API can use it."""

import numpy as np

from inference.models import Embedding, Image, Prediction, PrototypeSet


def class_members(classifier, image_set, class_index: int) -> list[int]:
    """Ids of the set's images of a class: ground truth when known, else the top-1."""
    class_id = classifier.labels().class_ids[class_index]
    labelled = set(image_set.images.filter(true_class=class_id).values_list("id", flat=True))
    unlabelled = image_set.images.filter(true_class="").values_list("id", flat=True)
    predicted = {
        p.image_id
        for p in Prediction.objects.filter(classifier=classifier, image_id__in=list(unlabelled))
        if p.topk[0]["index"] == class_index
    }
    return sorted(labelled | predicted)


def nearest_of_class(image: Image, classifier, image_set, class_index: int, k: int = 5) -> list[int]:
    """The k images of the class nearest to `image` by cosine distance of their features,
    nearest first (ties by id); the image itself is left out. Needs a features job."""
    members = [i for i in class_members(classifier, image_set, class_index) if i != image.pk]
    rows = {
        e.image_id: e.array()
        for e in Embedding.objects.filter(
            classifier=classifier, layer=Embedding.PENULTIMATE, image_id__in=[image.pk, *members]
        )
    }
    if image.pk not in rows:
        return []
    candidates = [i for i in members if i in rows]
    if not candidates:
        return []
    bank = np.stack([rows[i] for i in candidates]).astype(np.float64)
    query = rows[image.pk].astype(np.float64)
    norms = np.linalg.norm(bank, axis=1) * np.linalg.norm(query)
    similarity = np.divide(bank @ query, norms, out=np.zeros(len(candidates)), where=norms > 0)
    order = np.lexsort((np.array(candidates), -similarity))
    return [candidates[i] for i in order[:k]]


def prototypes_of_class(classifier, image_set, class_index: int) -> list[int]:
    """The newest MMD-critic prototypes of the class, in selection order ([] if none)."""
    found = (
        PrototypeSet.objects.filter(
            classifier=classifier,
            image_set=image_set,
            class_index=class_index,
            method=PrototypeSet.Method.MMD_CRITIC,
        )
        .order_by("-created_at")
        .first()
    )
    return list(found.prototypes) if found else []
