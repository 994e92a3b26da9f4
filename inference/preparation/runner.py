"""Running preparation batches: the one place that knows about back-off, per-image
errors, progress and the end of a job. Kind-specific work lives in handlers/.

Invariants:
- A batch skips the images that already have their output (or a recorded error), so a
  batch run twice — a retry, or a worker killed mid-batch and the task redelivered
  (acks_late) — stores every row exactly once.
- A failing image does not fail the job: it becomes a JobError with its reason. Only a
  problem with the job as a whole (the classifier cannot be loaded) fails the job.
- Out of memory on a model batch halves the batch and goes on; a batch of one that still
  runs out of memory is that image's error.
- The job finishes once, in the transaction that holds its row lock, when no batch is
  left: the handler's finalize step (rendering with a shared scale, prototypes per
  class) runs there.
"""

import logging
from collections.abc import Callable
from functools import partial

from django.db import transaction
from django.utils import timezone

from inference.models import Image, JobBatch, JobError, PreparationJob
from inference.preparation import loading
from inference.preparation.handler import Handler, handler_for
from inference.preparation.loading import PreparationError
from inference.services import plans
from inference.transient import TRANSIENT_ERRORS

log = logging.getLogger(__name__)


def is_out_of_memory(error: BaseException) -> bool:
    import torch

    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


def run_batch(batch_id: int, on_progress: Callable[[int], None] | None = None) -> JobBatch:
    batch = JobBatch.objects.select_related("job__classifier", "job__image_set").get(pk=batch_id)
    job = batch.job
    if batch.status == JobBatch.Status.DONE or job.is_finished:
        return batch
    JobBatch.objects.filter(pk=batch.pk).update(status=JobBatch.Status.RUNNING, attempts=batch.attempts + 1)
    job.mark_running()
    try:
        loaded = loading.load(job.classifier)
    except PreparationError as error:
        job.mark_failed(str(error))
        return batch
    handler = handler_for(job.kind)
    images = list(Image.objects.filter(pk__in=batch.image_ids).order_by("id"))
    gone = set(batch.image_ids) - {image.pk for image in images}
    _record_errors(job, dict.fromkeys(gone, "the image was deleted before it was prepared"), gone)
    settled = handler.done_ids(job, batch.image_ids) | set(
        JobError.objects.filter(job=job, image_ref__in=batch.image_ids).values_list("image_ref", flat=True)
    )
    todo = [image for image in images if image.pk not in settled]
    _record_errors(job, compute(handler, job, loaded, todo, on_progress))
    _close_batch(job, batch, handler)
    _finish_if_last(job, handler, loaded)
    return batch


def compute(handler, job, loaded, images: list[Image], on_progress=None) -> dict[int, str]:
    """Run the handler over the images; returns {image id: error}.

    The handler gets all of the task's images at once (decoding overlaps in threads and
    rows are written together) and runs the model `batch_size` images at a time. Out of
    memory halves the model batch and retries what is not stored yet; any other error
    is looked for image by image, so that only the image that fails is given up."""
    size = loading.model_batch_size()
    while True:
        try:
            errors = handler.process(job, loaded, images, batch_size=size)
        except TRANSIENT_ERRORS:
            raise
        except Exception as error:  # noqa: BLE001 — isolated per image below, never swallowed
            if is_out_of_memory(error) and size > 1:
                _free_accelerator_memory()
                log.warning("job %s: out of memory at batch %s, going on with %s", job.pk, size, size // 2)
                size //= 2
                stored = handler.done_ids(job, [image.pk for image in images])
                images = [image for image in images if image.pk not in stored]
                continue
            errors = _one_by_one(handler, job, loaded, images) if len(images) > 1 else _failed(images, error)
        if on_progress:
            on_progress(len(images))
        return errors


def _failed(images: list[Image], error: Exception) -> dict[int, str]:
    return {images[0].pk: f"{type(error).__name__}: {error}"}


def _one_by_one(handler, job, loaded, images: list[Image]) -> dict[int, str]:
    errors: dict[int, str] = {}
    for image in images:
        try:
            errors.update(handler.process(job, loaded, [image], batch_size=1))
        except TRANSIENT_ERRORS:
            raise
        except Exception as error:  # noqa: BLE001 — this image's error, recorded by the caller
            errors.update(_failed([image], error))
    return errors


def _free_accelerator_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _record_errors(job: PreparationJob, errors: dict[int, str], gone: set[int] = frozenset()) -> None:
    for image_id, message in errors.items():
        JobError.objects.get_or_create(
            job=job,
            image_ref=image_id,
            defaults={"image_id": None if image_id in gone else image_id, "message": message},
        )


def _close_batch(job, batch: JobBatch, handler: Handler) -> None:
    ids = batch.image_ids
    done = len(handler.done_ids(job, ids))
    failed = JobError.objects.filter(job=job, image_ref__in=ids).count()
    JobBatch.objects.filter(pk=batch.pk).update(
        status=JobBatch.Status.DONE, done=done, failed=failed, finished_at=timezone.now()
    )


def _finish_if_last(job: PreparationJob, handler: Handler, loaded) -> None:
    with transaction.atomic():
        job = PreparationJob.objects.select_for_update().get(pk=job.pk)
        if job.is_finished or job.batches.exclude(status=JobBatch.Status.DONE).exists():
            return
        handler.finalize(job, loaded)
        job.mark_done()
        # Plans waiting on this job start their next stages once the job is seen done.
        transaction.on_commit(partial(plans.job_finished, job.pk))


def run_job_here(job: PreparationJob, on_progress: Callable[[int], None] | None = None) -> PreparationJob:
    """Every unfinished batch of the job, in this process (the embedded runner)."""
    for batch_id in job.batches.exclude(status=JobBatch.Status.DONE).values_list("id", flat=True):
        run_batch(batch_id, on_progress)
        job.refresh_from_db()
        if job.is_finished:
            break
    job.refresh_from_db()
    return job
