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
