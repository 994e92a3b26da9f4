"""System checks (ids secondlook.*): start-up fails loudly on a broken assumption, and the
embedded mode says that it is on."""

import os
import tempfile

from django.conf import settings
from django.core.checks import Error, Info, register


@register()
def media_root_writable(app_configs, **kwargs):
    root = settings.MEDIA_ROOT
    try:
        os.makedirs(root, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as error:
        return [
            Error(
                f"MEDIA_ROOT {root} is not writable: {error}",
                hint="Set MEDIA_ROOT (or SECONDLOOK_DATA_DIR) to a writable directory.",
                id="secondlook.E001",
            )
        ]
    return []


@register()
def task_mode(app_configs, **kwargs):
    if settings.SECONDLOOK_TASK_MODE == "in-process":
        return [
            Info(
                "Embedded mode: background tasks run in-process (no broker configured).",
                hint="Set REDIS_URL (or CELERY_BROKER_URL) and start a Celery worker to use workers.",
                id="secondlook.I001",
            )
        ]
    return []
