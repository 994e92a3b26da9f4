"""Top-k predictions on the clean images: one Prediction row per (image, classifier)."""

from inference import engine
from inference.models import Prediction
from inference.preparation.handler import nothing_to_finalize
from inference.preparation.handlers.common import decode

# At least this many labels are stored per prediction, so that a study asking for any k
# up to it (Study.k allows 1–10) finds its predictions ready.
STORED_K = 10


def done_ids(job, image_ids) -> set[int]:
    return set(
        Prediction.objects.filter(classifier=job.classifier, image_id__in=image_ids).values_list(
            "image_id", flat=True
        )
    )


def topk_rows(labels, probs, indices) -> list[list[dict]]:
    """The stored form of engine.topk's output, one list per image."""
    return [
        [
            {
                "rank": rank + 1,
                "index": int(index),
                "class_id": labels.class_ids[int(index)],
                "label": labels.names[int(index)],
                "prob": round(float(prob), 6),
            }
            for rank, (prob, index) in enumerate(zip(image_probs, image_indices, strict=True))
        ]
        for image_probs, image_indices in zip(probs, indices, strict=True)
    ]


def process(job, loaded, images, batch_size: int) -> dict[int, str]:
    inputs, decoded, errors = decode(images, loaded)
    if decoded:
        k = min(max(job.params.get("k", 5), STORED_K), loaded.num_classes)
        probs, indices = engine.topk(loaded.model, inputs, k=k, batch_size=batch_size)
        rows = topk_rows(job.classifier.labels(), probs, indices)
        Prediction.objects.bulk_create(
            [
                Prediction(image=image, classifier=job.classifier, job=job, topk=topk)
                for image, topk in zip(decoded, rows, strict=True)
            ],
            ignore_conflicts=True,
        )
    return errors


# Every image's output is complete on its own: nothing to do over the whole set.
finalize = nothing_to_finalize
