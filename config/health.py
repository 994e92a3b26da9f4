"""`GET /health/`: whether each dependency answers, for load balancers and operators.

Participants need only this web process and the database, so the status is 503 only when
the database does not answer; a missing broker or worker makes the site "degraded"
(preparations wait) but participants keep going. Errors are named by kind only: a
connection string or host name in a message must not reach an anonymous caller."""

import os
import time

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

# Long enough for a busy server, short enough that a probe never hangs on a dead one.
TIMEOUT_S = 1.0


def _timed(check) -> dict:
    start = time.perf_counter()
    try:
        found = check()
    except Exception as error:  # a dependency can fail in any way; the probe must not
        found = {"ok": False, "error": type(error).__name__}
    found["ms"] = round(1000 * (time.perf_counter() - start), 1)
    return found


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        connection.close()  # the next request opens a fresh connection
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True, "vendor": connection.vendor}


def _broker() -> dict:
    from config.celery import app

    with app.connection_for_read(connect_timeout=TIMEOUT_S) as broker:
        broker.ensure_connection(max_retries=1, timeout=TIMEOUT_S)
    return {"ok": True}


def _workers() -> dict:
    from config.celery import app

    # limit=1: answer as soon as one worker replies instead of waiting out the timeout.
    replies = app.control.ping(timeout=TIMEOUT_S, limit=1)
    return {"ok": bool(replies), "replied": len(replies)}


def _media() -> dict:
    root = settings.MEDIA_ROOT
    return {"ok": os.path.isdir(root) and os.access(root, os.W_OK)}


@never_cache
@require_GET
def health(request):
    checks = {"database": _timed(_database), "media": _timed(_media)}
    if settings.SECONDLOOK_TASK_MODE == "celery":
        checks["broker"] = _timed(_broker)
        no_broker = {"ok": False, "error": "no broker"}
        checks["workers"] = _timed(_workers) if checks["broker"]["ok"] else no_broker
    else:
        checks["tasks"] = {"ok": True, "mode": "in-process"}
    if not checks["database"]["ok"]:
        status = "down"
    elif all(check["ok"] for check in checks.values()):
        status = "ok"
    else:
        status = "degraded"
    return JsonResponse({"status": status, "checks": checks}, status=503 if status == "down" else 200)
