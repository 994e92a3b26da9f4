"""Sending background work: to Celery workers, or, in the embedded default, to one thread
of this process.

The embedded default has no broker: its tasks run in-process. A researcher's request
that starts long work (preparing a study, importing an upload, registering a classifier)
must still return at once and show progress, so the embedded server runs that work on a
single background thread, one task after another, writing the same rows a worker would.
Under the test settings (SECONDLOOK_BACKGROUND_THREAD off) the task runs eagerly, in the
caller, so that a test sees its outcome when the request returns.

Work is sent only once the caller's transaction commits: the task must find the rows the
request wrote.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from celery import current_app
from django.conf import settings
from django.db import close_old_connections, connections, transaction

log = logging.getLogger(__name__)


def run_later(task, *args) -> None:
    """Send `task(*args)` once the current transaction commits. `task` is a Celery task or
    its registered name: a module that the task's own code imports (inference.services.jobs,
    which the preparation runner reaches) names it, so that no import cycle forms."""
    transaction.on_commit(lambda: _send(task, args))


def _send(task, args: tuple) -> None:
    if isinstance(task, str):
        task = current_app.tasks[task]
    if settings.SECONDLOOK_TASK_MODE == "in-process" and settings.SECONDLOOK_BACKGROUND_THREAD:
        _thread().submit(_run_here, task, args)
    else:
        task.delay(*args)


@cache
def _thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="secondlook-background")


def _run_here(task, args: tuple) -> None:
    close_old_connections()
    try:
        # apply() runs the task with its retries and failure handler, as a worker would;
        # the task's own rows record its outcome, so a failure is logged, not raised.
        # throw=False: the embedded settings propagate eager tasks' errors, which would
        # skip both the retries and the failure handler.
        result = task.apply(args=args, throw=False)
        if result.failed():
            log.error("background task %s%s failed: %s", task.name, args, result.result)
    except Exception:
        log.exception("background task %s%s failed", task.name, args)
    finally:
        connections.close_all()
