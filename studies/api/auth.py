"""Bearer-token authentication for participant endpoints."""

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from studies.models import Participant
from studies.services import access
from studies.services.sessions import participant_for_token


class ParticipantTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` → request.auth is the Participant.

    request.user stays anonymous: a participant token grants nothing on staff pages."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        participant = participant_for_token(token)
        if participant is None:
            raise exceptions.AuthenticationFailed("The token is not valid (unknown or replaced).")
        return AnonymousUser(), participant

    def authenticate_header(self, request):
        return 'Bearer realm="participant"'


class IsParticipant(permissions.BasePermission):
    message = "A participant token is required (Authorization: Bearer <token>)."

    def has_permission(self, request, view):
        return isinstance(request.auth, Participant)


class CanReadStudyData(permissions.BasePermission):
    """Staff with permission to view responses (which studies: services/access.py)."""

    def has_permission(self, request, view):
        return access.can_read_data(request.user)


class ParticipantTokenScheme(OpenApiAuthenticationExtension):
    """Describes the bearer token in the OpenAPI schema."""

    target_class = ParticipantTokenAuthentication
    name = "participantToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Token from POST .../sessions"}
