"""The admin login's lockout (django-axes; settings in config/settings/base.py): the client
address it counts failures of, and the page a locked-out login gets.

The address is the one the participant API's rate limits count (DRF's NUM_PROXIES: the
address the last trusted proxy reports, else REMOTE_ADDR), so a client's own
X-Forwarded-For never dodges a lockout and a proxy does not lock every client out."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.throttling import BaseThrottle

# Inline, like config/database_outage.py's page: no template, no script.
PAGE = (
    "<!doctype html><html lang='en'><meta charset='utf-8'><title>Login locked</title>"
    "<p>Too many failed logins for this account or from this address. Try again in "
    "{minutes} minutes, or ask an administrator to lift the lockout "
    "(<code>manage.py axes_reset_username</code>).</p></html>"
)


def client_address(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE. A forwarded value that is no address (a proxy passing a
    client's header on unchecked) counts as the connection's: axes stores addresses in an
    inet column on PostgreSQL, which would refuse it."""
    address = BaseThrottle().get_ident(request)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return request.META.get("REMOTE_ADDR")
    return address


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with Retry-After. Each refused attempt counts as a
    failure and restarts the cool-off, so the lockout ends at most a cool-off from now."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = HttpResponse(PAGE.format(minutes=round(seconds / 60)), status=429)
    response["Retry-After"] = str(seconds)
    return response
