# Importing the Celery app here makes @shared_task bind to it in every process (Celery's
# documented Django layout).
from .celery import app as celery_app

# SecondLook's own version, stated in exports and on results pages (keep pyproject.toml in step).
VERSION = "0.1.0"

__all__ = ["VERSION", "celery_app"]
