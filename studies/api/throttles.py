"""Rate limits on the participant API (see services/rate_limits.py): new sessions per
client address, and requests per participant token and per client address. Each study sets
its own limits (a lab whose participants share one address raises the per-address ones).

The client address is REMOTE_ADDR unless NUM_PROXIES says how many trusted proxies add
X-Forwarded-For; a header the client wrote itself is never trusted."""

from rest_framework import exceptions
from rest_framework.throttling import BaseThrottle

from studies.models import Participant, Study
from studies.services import rate_limits


class _CountedThrottle(BaseThrottle):
    def limits(self, request, view) -> list[rate_limits.Limit]:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        exceeded = rate_limits.count(self.limits(request, view))
        if exceeded is None:
            return True
        scope = exceeded.limit.key.split(":")[0]
        raise exceptions.Throttled(
            wait=exceeded.retry_after_s,
            detail=f"Too many requests ({scope}: at most {exceeded.limit.per_minute} a minute). "
            f"Try again in {exceeded.retry_after_s} s.",
        )


class SessionThrottle(_CountedThrottle):
    """New sessions of one study per client address, at the study's limit."""

    def limits(self, request, view):
        slug = view.kwargs.get("slug", "")
        per_minute = Study.objects.filter(slug=slug).values_list("sessions_per_address_per_minute", flat=True)
        # An unknown study is counted at the default limit: the reply must not tell them apart.
        default = Study._meta.get_field("sessions_per_address_per_minute").default
        key = f"sessions:{slug}:{self.get_ident(request)}"
        return [rate_limits.Limit(key, per_minute.first() or default)]


class ParticipantThrottle(_CountedThrottle):
    """Requests per participant token and per client address, at the study's limits."""

    def limits(self, request, view):
        participant = request.auth
        if not isinstance(participant, Participant):
            return []  # refused before this by authentication and permissions
        study = participant.study
        return [
            rate_limits.Limit(f"participant:{participant.pk}", study.requests_per_token_per_minute),
            rate_limits.Limit(f"address:{self.get_ident(request)}", study.requests_per_address_per_minute),
        ]
