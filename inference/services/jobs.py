"""Asking for preparation work. Web-tier safe: it writes rows and sends task ids.

Invariants:
- The same work (kind, image set, classifier, canonical parameters) is never queued
  twice: an unfinished job for it is returned instead, and so is the last finished one
  when it covered every image of the set without an error.
- A job's images are split into batches when it is created; each batch is one task, and
  the tasks are sent only after the transaction commits (inference.background), so a
  worker never looks for a row it cannot see.
"""

import hashlib
import json

from django.conf import settings
from django.db import transaction

from inference.background import run_later
from inference.models import Classifier, ImageSet, JobBatch, PreparationJob
from inference.params import canonical_params


def params_key(kind: str, params: dict) -> str:
    text = json.dumps({"kind": kind, **params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# What an explanation map depends on: jobs that differ only in what else they explain
# (clean images only, or their adversarial versions too) share maps.
MAP_FIELDS = ("method", "method_params", "target", "seed")


def explanation_map_key(params: dict) -> str:
    """The key stored with each Explanation, from an explanations job's canonical params."""
    return params_key("explanation-map", {field: params[field] for field in MAP_FIELDS})


def request_job(
    kind: str, image_set: ImageSet, classifier: Classifier, params: dict | None = None, dispatch: bool = True
) -> PreparationJob:
    """The job for this work, created and sent to the workers if needed.

    Raises ValueError naming the bad parameter when params are invalid. With
    dispatch=False the caller runs the batches itself (the in-process runner of
    `manage.py prepare`, which shows a progress bar)."""
    params = canonical_params(kind, params or {}, num_classes=classifier.num_classes)
    key = params_key(kind, params)
    with transaction.atomic():
        jobs = PreparationJob.objects.select_for_update().filter(
            kind=kind, image_set=image_set, classifier=classifier, params_key=key
        )
        job = jobs.filter(status__in=[PreparationJob.Status.PENDING, PreparationJob.Status.RUNNING]).first()
        if job is None:
            job = jobs.filter(status=PreparationJob.Status.DONE).first()
            # Asking again is new work when images were added since, or when some failed
            # (the cause may be fixed now); a new job skips everything already stored.
            if job is not None and (
                job.errors.exists() or set(_image_ids(image_set)) != set(_planned_ids(job))
            ):
                job = None
        if job is None:
            job = _create(kind, image_set, classifier, params, key)
        pending = list(job.batches.filter(status=JobBatch.Status.PENDING).values_list("id", flat=True))
        if dispatch and job.status == PreparationJob.Status.PENDING:
            # Sent again for a pending job too: if the first messages were lost (broker
            # down), this is how the work gets going; batches are idempotent.
            for batch_id in pending:
                run_later("inference.tasks.run_batch", batch_id)
    return job


def _image_ids(image_set: ImageSet) -> list[int]:
    return list(image_set.images.order_by("id").values_list("id", flat=True))


def _planned_ids(job: PreparationJob) -> list[int]:
    return [image_id for ids in job.batches.values_list("image_ids", flat=True) for image_id in ids]


def _create(kind, image_set, classifier, params, key) -> PreparationJob:
    ids = _image_ids(image_set)
    batch_size = settings.SECONDLOOK_PREPARATION_BATCH
    job = PreparationJob.objects.create(
        kind=kind,
        image_set=image_set,
        classifier=classifier,
        params=params,
        params_key=key,
        batch_size=batch_size,
        total=len(ids),
    )
    if not ids:
        job.mark_done()
    JobBatch.objects.bulk_create(
        JobBatch(job=job, index=index, image_ids=ids[start : start + batch_size])
        for index, start in enumerate(range(0, len(ids), batch_size))
    )
    return job
