"""Settings shared by every mode. Values that differ between deployments come from the
environment through config.env; the mode modules (embedded, production, test) decide
the defaults and what is required."""

from datetime import timedelta
from pathlib import Path

import dj_database_url

from config.env import env_bool, env_int, env_list, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# Everything SecondLook writes at run time (SQLite file, media, the demo's admin
# password) lives under one directory so that a fresh checkout stays clean.
DATA_DIR = env_path("SECONDLOOK_DATA_DIR", BASE_DIR / "data")
MEDIA_ROOT = env_path("MEDIA_ROOT", DATA_DIR / "media")
MEDIA_URL = "/media/"
STATIC_ROOT = env_path("STATIC_ROOT", DATA_DIR / "staticfiles")
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "inference",
    "studies",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.content_security.ContentSecurityPolicyMiddleware",
    "config.database_outage.DatabaseOutageMiddleware",
    # Last, as axes asks, and inside the CSP middleware, which so covers its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_from_env(default_sqlite: Path | None) -> dict:
    """DATABASE_URL when set; otherwise SQLite at default_sqlite (None: required).

    SQLite runs in WAL mode with IMMEDIATE transactions: a transaction takes the write lock
    when it starts, so concurrent participants queue for it instead of failing half-way
    with "database is locked" (the failure mode seen in Label Studio's SQLite default).
    """
    url = env_str("DATABASE_URL")
    if url is None:
        if default_sqlite is None:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured("DATABASE_URL must be set in this mode.")
        url = f"sqlite:///{default_sqlite}"
    config = dj_database_url.parse(url, conn_max_age=env_int("CONN_MAX_AGE", 60))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    else:
        config["CONN_HEALTH_CHECKS"] = True
    return config


# The participant path's statements are prepared once per PostgreSQL connection
# (studies/services/prepared_statements.py); 0 behind a pooler that shares server
# connections between transactions (PgBouncer's transaction mode).
PREPARED_STATEMENTS = env_bool("PREPARED_STATEMENTS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTHENTICATION_BACKENDS = [
    # First: it refuses a locked-out login before any other backend checks the password.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Object permissions on image sets and images that studies are built on; it
    # authenticates nobody (studies/auth_backends.py).
    "studies.auth_backends.StudyAccessBackend",
]
# The admin login (django-axes; config/admin_login.py). After ADMIN_LOGIN_FAILURE_LIMIT
# failed passwords for one account, or from one client address, that account or address
# is refused (429), right password included, until ADMIN_LOGIN_LOCKOUT_MINUTES pass
# without a failure; a refused try counts as one. A successful login before the limit
# clears the count. `manage.py axes_reset` (or axes_reset_username NAME) lifts lockouts.
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ADMIN_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
# Each entry counts on its own: per account, and per address (a nested list such as
# [["username", "ip_address"]] would count only the pair, which rotating either dodges).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# The address the participant API's rate limits count (NUM_PROXIES below).
AXES_CLIENT_IP_CALLABLE = "config.admin_login.client_address"
AXES_LOCKOUT_CALLABLE = "config.admin_login.lockout_response"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Frames are refused everywhere (the CSP says frame-ancestors 'none' too).
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "studies.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # How many trusted reverse proxies add X-Forwarded-For (0: the client address is
    # REMOTE_ADDR). Rate limits per address trust nothing else the client could write.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SecondLook participant API",
    "VERSION": "1",
    "DESCRIPTION": "Sessions, consent, trials and responses for SecondLook studies.",
    "SERVE_INCLUDE_SCHEMA": False,
    # Self-hosted assets: participant and researcher pages load nothing from third parties.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery. The broker is REDIS_URL unless CELERY_BROKER_URL names another one.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", env_str("REDIS_URL"))
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "default"
# Model work goes to the "gpu" queue, whose workers load a model once per process. Images
# uploaded in the admin are only decoded and stored: light work, for the default queue
# (an exact name is matched before the patterns).
CELERY_TASK_ROUTES = {
    "inference.tasks.import_uploaded_images": {"queue": "default"},
    "inference.tasks.*": {"queue": "gpu"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With Redis, a task taken by a worker that dies (killed, out of memory) is handed to
# another worker once this many seconds have passed without an acknowledgement (tasks are
# acknowledged late, after the work). It must exceed the longest task, or a running task
# is handed out twice (harmless — batches are idempotent — but wasted work).
# Workers look for such tasks every interval × throttle seconds (kombu's defaults: 10 × 10).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * CELERY_TASK_TIME_LIMIT),
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 10),
}

# Where tasks run: "celery" (a broker and worker processes) or "in-process" (the
# embedded default: the process that asks for work does it). Set by the mode modules.
SECONDLOOK_TASK_MODE = "celery"
# In-process mode only: long work a request starts runs on one background thread of the
# server (inference.background) instead of inside the request.
SECONDLOOK_BACKGROUND_THREAD = False

# Images with more pixels than this are rejected on import (decompression bombs).
SECONDLOOK_MAX_IMAGE_PIXELS = env_int("SECONDLOOK_MAX_IMAGE_PIXELS", 40_000_000)
SECONDLOOK_MAX_UPLOAD_BYTES = env_int("SECONDLOOK_MAX_UPLOAD_BYTES", 50_000_000)
# Classifier weights uploaded in the admin: larger than images (a ViT-L state dict is over
# 1 GB), and read whole by the worker that checks them.
SECONDLOOK_MAX_WEIGHTS_BYTES = env_int("SECONDLOOK_MAX_WEIGHTS_BYTES", 2_000_000_000)
# Device for model work in workers ("cpu", "cuda", "cuda:1"); "auto" picks CUDA if present.
SECONDLOOK_DEVICE = env_str("SECONDLOOK_DEVICE", "auto")
# Images per task: the unit of progress, retry and idempotency.
SECONDLOOK_PREPARATION_BATCH = env_int("SECONDLOOK_PREPARATION_BATCH", 32)
# Images per model call inside a task: 4 is the fastest on 2 CPU cores (bench/); on CUDA a
# larger batch pays, and an out-of-memory error halves it instead of failing.
SECONDLOOK_MODEL_BATCH = env_int("SECONDLOOK_MODEL_BATCH", 4)
SECONDLOOK_MODEL_BATCH_CUDA = env_int("SECONDLOOK_MODEL_BATCH_CUDA", 64)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
