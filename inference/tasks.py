"""Celery tasks of the inference app: thin wrappers that take ids and call the worker-side
code, imported inside the task bodies so that the web tier, which imports this module to
send tasks, never imports torch."""

from celery import Task, shared_task

from inference.transient import TRANSIENT_ERRORS


class BatchTask(Task):
    """Base for tasks that work on a JobBatch row given as the first argument.

    Retries transient errors with exponential back-off. acks_late (settings) means a
    worker killed mid-batch leaves the message to be redelivered, and the batch skips
    what it already stored. When a task fails for good, the job row says so, so that no
    job stays 'running' forever."""

    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2
    retry_backoff_max = 120
    retry_jitter = True
    max_retries = 5

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from inference.models import JobBatch

        batch = JobBatch.objects.select_related("job").filter(pk=args[0]).first() if args else None
        if batch and not batch.job.is_finished:
            batch.job.mark_failed(f"batch {batch.index} failed: {type(exc).__name__}: {exc}")


@shared_task(base=BatchTask, bind=True)
def run_batch(self, batch_id: int) -> str:
    from inference.preparation.runner import run_batch as run

    return run(batch_id).status


class IntakeTask(Task):
    """Base for tasks that work on an intake row (inference.models.intake) given as the
    first argument: retries transient errors with back-off, and when a task fails for good
    the row says so, so that no import or registration stays 'running' forever."""

    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2
    retry_backoff_max = 120
    retry_jitter = True
    max_retries = 5
    row_model = ""  # "app_label.ModelName" of the row

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from django.apps import apps

        row = apps.get_model(self.row_model).objects.filter(pk=args[0]).first() if args else None
        if row is not None and not row.is_finished:
            row.mark_failed(f"stopped by an unexpected error: {type(exc).__name__}: {exc}")


# Light work (decoding and storing images): routed to the default queue (settings).
@shared_task(base=IntakeTask, bind=True, row_model="inference.ImageImport")
def import_uploaded_images(self, import_id: int) -> str | None:
    from inference.services.image_imports import run_import

    row = run_import(import_id)
    return row.status if row else None


# Loads the weights with torch: on the gpu queue, whose workers have the model libraries.
@shared_task(base=IntakeTask, bind=True, row_model="inference.ClassifierRegistration")
def register_uploaded_classifier(self, registration_id: int) -> str | None:
    from inference.services.classifier_registrations import run_registration

    row = run_registration(registration_id)
    return row.status if row else None
