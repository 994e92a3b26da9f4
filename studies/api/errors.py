"""One JSON error shape for the whole API: {"detail": str, "code": str, ...}.

Service errors carry their own status; DRF's validation errors get a readable detail
plus the field errors under "errors"."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from studies.services.errors import ServiceError


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response({"detail": exc.detail, "code": exc.code, **exc.extra}, status=exc.status)
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
