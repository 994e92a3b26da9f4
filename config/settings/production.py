"""Production: every secret and service comes from the environment, or start-up fails.

Passes `manage.py check --deploy` once SECRET_KEY and ALLOWED_HOSTS are real.
"""

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_required

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, MIDDLEWARE, database_from_env

DEBUG = False
SECRET_KEY = env_required("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must name the hosts this site is served on.")

DATABASES = {"default": database_from_env(None)}

if not CELERY_BROKER_URL:
    raise ImproperlyConfigured(
        "Production needs a broker: set REDIS_URL or CELERY_BROKER_URL "
        "(the embedded settings run tasks in-process instead)."
    )
SECONDLOOK_TASK_MODE = "celery"

# TLS terminates at the reverse proxy, which sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Sending the preload directive does not submit the site to the preload list; operators do.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# gunicorn serves static files itself through WhiteNoise (no separate file server needed);
# the development server in the embedded mode serves them from the app directories.
MIDDLEWARE = [MIDDLEWARE[0], "whitenoise.middleware.WhiteNoiseMiddleware", *MIDDLEWARE[1:]]
# Not the manifest storage: it would rename static files, and the participant app's ES
# module imports refer to the plain names.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
