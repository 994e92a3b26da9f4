"""The Celery application shared by web (which only sends) and workers (which run).

Configuration comes from Django settings under the CELERY_ namespace.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.embedded")

app = Celery("secondlook")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
