"""Test settings: the embedded default (SQLite unless DATABASE_URL is set) with tasks run
in-process; the integration tests switch to a real broker and worker themselves."""

import tempfile
from pathlib import Path

from .embedded import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="secondlook-test-media-"))
SECONDLOOK_TASK_MODE = "in-process"
CELERY_TASK_ALWAYS_EAGER = True
# Background work runs in the request that starts it, so a test sees its outcome.
SECONDLOOK_BACKGROUND_THREAD = False
LOGGING = {"version": 1, "disable_existing_loggers": False}
