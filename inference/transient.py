"""The errors worth retrying: the database or the broker blinked. Anything else is a bug or
bad input, and retrying would only fail again. Shared by the Celery tasks and the
preparation runner, which lets these through instead of recording them as an image's error."""

from django.db import InterfaceError, OperationalError

TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
