"""The embedded default: one machine, nothing to configure.

SQLite and media under DATA_DIR, and tasks run in the process that asks for them, unless
DATABASE_URL / REDIS_URL (or CELERY_BROKER_URL) name real services, in which case those
are used. The mode announces itself: a system check message at start-up and a banner in
the admin (see studies.checks and studies.admin).
"""

from config.env import env_bool, env_list, env_str

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, DATA_DIR, database_from_env

DEBUG = env_bool("DEBUG", True)
# A fixed, public key is acceptable only here: the embedded default listens on
# 127.0.0.1 and production settings refuse to start without a real SECRET_KEY.
SECRET_KEY = env_str("SECRET_KEY", "embedded-insecure-key-for-local-use-only")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

DATABASES = {"default": database_from_env(DATA_DIR / "secondlook.sqlite3")}

SECONDLOOK_TASK_MODE = "celery" if CELERY_BROKER_URL else "in-process"
CELERY_TASK_ALWAYS_EAGER = SECONDLOOK_TASK_MODE == "in-process"
SECONDLOOK_BACKGROUND_THREAD = SECONDLOOK_TASK_MODE == "in-process"
CELERY_TASK_EAGER_PROPAGATES = True
if CELERY_TASK_ALWAYS_EAGER:
    # Never contacted (tasks run in-process); set so that Celery does not go looking for
    # a broker on localhost.
    CELERY_BROKER_URL = "memory://"
