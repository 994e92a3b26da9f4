"""Celery tasks of the inference app: thin wrappers that take ids and call services.

The services import torch; they are imported inside the task bodies so that the web
tier, which imports this module to send tasks, never does.
"""

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

# Only these are worth retrying: the database or broker blinked. Anything else is a bug
# or bad input, and retrying would just fail again.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


class JobTask(Task):
    """Base for tasks that work on a PreparationJob row given as the first argument.

    Retries transient errors with exponential back-off; when a task fails for good, the
    job row says so, so that no job stays 'running' forever."""

    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2
    retry_backoff_max = 120
    retry_jitter = True
    max_retries = 5

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from inference.models import PreparationJob

        job = PreparationJob.objects.filter(pk=args[0]).first() if args else None
        if job and not job.is_finished:
            job.mark_failed(f"{type(exc).__name__}: {exc}")


@shared_task(base=JobTask, bind=True)
def compute_predictions(self, job_id: int) -> str:
    from inference.services.predictions import run_prediction_job

    return run_prediction_job(job_id).status
