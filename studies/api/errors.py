"""One JSON error shape for the whole API: {"detail": str, "code": str, ...}.

Service errors carry their own status; DRF's validation errors get a readable detail
plus the field errors under "errors". A database outage is a 503 with Retry-After, which
clients retry (answers with their idempotency key, so a retry never stores one twice)."""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.database_outage import OUTAGE_ERRORS, RETRY_AFTER_S
from studies.services.errors import ServiceError

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response({"detail": exc.detail, "code": exc.code, **exc.extra}, status=exc.status)
    if isinstance(exc, OUTAGE_ERRORS):
        logger.warning("Database unavailable for %s: %s", context["request"].path, exc)
        return Response(
            {
                "detail": "The database is briefly unavailable; try again shortly.",
                "code": "database_unavailable",
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    if isinstance(exc, RequestDataTooBig):
        # Raised as DRF reads the body; left to Django it would be its HTML 400 page.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"detail": f"The request body is larger than {limit:,} bytes.", "code": "too_large"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "The request is invalid.", "code": "invalid", "errors": exc.detail}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {
            "detail": str(response.data["detail"]),
            "code": getattr(exc, "default_code", "error"),
        }
    if response.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        response.data["code"] = "method_not_allowed"
    return response
