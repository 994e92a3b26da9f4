"""A database outage answered as one: 503 with Retry-After, not a 500 page.

While PostgreSQL restarts (an upgrade, a failover, a crash) every query fails with
OperationalError or InterfaceError for a few seconds. Django's 500 page would tell a
participant that the site is broken; a 503 with Retry-After tells browsers, proxies and
the trial runner (static/js/trial/api.js) to try again. The participant API answers the
same errors in its own JSON shape (studies.api.errors); this middleware covers the pages.
Other database errors are bugs and stay 500s."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

# The server down, restarting or unreachable, or a connection it dropped. OperationalError
# also covers deadlocks and cancelled statements, for which a retry is just as right.
OUTAGE_ERRORS = (OperationalError, InterfaceError)
# Seconds: about what a PostgreSQL restart takes, so a participant is not kept waiting long.
RETRY_AFTER_S = 5

# Inline, not a template: base templates read request.user, which would query the database.
PAGE = (
    "<!doctype html><html lang='en'><meta charset='utf-8'><title>Back in a moment</title>"
    "<p>This page is briefly unavailable. Please reload it in a few seconds.</p></html>"
)

logger = logging.getLogger(__name__)


class DatabaseOutageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OUTAGE_ERRORS):
            return None
        logger.warning("Database unavailable for %s: %s", request.path, exception)
        response = HttpResponse(PAGE, status=503, content_type="text/html; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response
