"""Computing and storing top-k predictions. Worker side: imports the engine (torch).

Invariants:
- One Prediction per (image, classifier), enforced by a unique constraint; images that
  already have one are skipped, so re-running a job is a no-op and a job interrupted
  half-way resumes where it stopped.
- A classifier whose weights file no longer matches the recorded sha256 is refused:
  predictions must come from exactly the weights the record names.
"""

from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.db.models import F

from inference import engine
from inference.labelsets import get_label_set
from inference.models import Classifier, Image, Prediction, PreparationJob

# At least this many labels are stored per prediction, so that a study asking for any k
# up to it (Study.k allows 1–10) finds its predictions ready.
STORED_K = 10


class PreparationError(Exception):
    """A permanent failure of a job: retrying cannot help; the message says why."""


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


@cache
def _load(classifier_id: int, weights_sha256: str, device: str) -> engine.LoadedClassifier:
    """One model per classifier and process: workers load it once, not per task."""
    classifier = Classifier.objects.get(pk=classifier_id)
    try:
        loaded = engine.load_classifier(
            source=classifier.source,
            architecture=classifier.architecture,
            # The bundled weights are found through their package wherever the venv is;
            # the sha256 check below still pins them.
            weights_path=None if classifier.source == Classifier.Source.BUNDLED else classifier.weights_path,
            preprocessing=classifier.preprocessing,
            device=device,
        )
    except (engine.ClassifierLoadError, OSError) as error:
        raise PreparationError(f"cannot load classifier {classifier.name}: {error}") from error
    if loaded.weights_sha256 != weights_sha256:
        raise PreparationError(
            f"the weights of classifier {classifier.name} at {classifier.weights_path} have "
            f"sha256 {loaded.weights_sha256[:12]}…, not the recorded {weights_sha256[:12]}…"
        )
    return loaded


def run_prediction_job(job_id: int, on_batch: Callable[[int], None] | None = None) -> PreparationJob:
    """Compute the job's missing predictions; on_batch(n) is told of each stored batch."""
    job = PreparationJob.objects.select_related("classifier", "image_set").get(pk=job_id)
    if job.status == PreparationJob.Status.DONE:
        return job
    classifier = job.classifier
    images = job.image_set.images.order_by("id")
    todo = list(images.exclude(predictions__classifier=classifier))
    job.mark_running(total=images.count())
    PreparationJob.objects.filter(pk=job.pk).update(done=job.total - len(todo))
    try:
        if todo:
            loaded = _load(
                classifier.pk, classifier.weights_sha256, resolve_device(settings.SECONDLOOK_DEVICE)
            )
            labels = get_label_set(classifier.label_set)
            batch = settings.SECONDLOOK_PREDICTION_BATCH
            for start in range(0, len(todo), batch):
                stored = _predict_batch(job, loaded, labels, todo[start : start + batch])
                if on_batch:
                    on_batch(stored)
    except PreparationError as error:
        job.mark_failed(str(error))
        return job
    job.refresh_from_db(fields=["done"])
    job.mark_done()
    return job


def _predict_batch(job, loaded, labels, images: list[Image]) -> int:
    try:
        # Decoded in parallel threads: Pillow releases the GIL (see bench/prepare_topk.py).
        inputs = engine.load_model_inputs([image.file.path for image in images], loaded.preprocessing)
    except OSError as error:
        raise PreparationError(f"cannot read a stored image: {error}") from error
    k = min(max(job.k, STORED_K), loaded.num_classes)
    probs, indices = engine.topk(loaded.model, inputs, k=k, batch_size=len(images))
    rows = [
        Prediction(
            image=image,
            classifier=job.classifier,
            job=job,
            topk=[
                {
                    "rank": rank + 1,
                    "index": int(index),
                    "class_id": labels.class_ids[int(index)],
                    "label": labels.names[int(index)],
                    "prob": round(float(prob), 6),
                }
                for rank, (prob, index) in enumerate(zip(image_probs, image_indices, strict=True))
            ],
        )
        for image, image_probs, image_indices in zip(images, probs, indices, strict=True)
    ]
    Prediction.objects.bulk_create(rows, ignore_conflicts=True)
    PreparationJob.objects.filter(pk=job.pk).update(done=F("done") + len(rows))
    return len(rows)
