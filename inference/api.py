"""Staff endpoint for adding images over HTTP; the same import rules as the command.

Uploading into an image set that studies are built on needs access to every one of them
(`inference.add_image` on the set: studies/auth_backends.py answers it). The size limit
holds before the body is read whole (inference/uploads.py)."""

import tempfile
from pathlib import Path

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from inference import uploads
from inference.labelsets import get_label_set
from inference.models import ImageSet
from inference.services import archives
from inference.services.images import ImportSourceError, RejectedImage, Source, import_one, import_sources


class CanAddImages(BasePermission):
    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_active and user.is_staff and user.has_perm("inference.add_image"))


class NotYourImageSet(exceptions.PermissionDenied):
    default_code = "not_your_image_set"


@extend_schema_field(OpenApiTypes.BINARY)
class UploadedFile(serializers.FileField):
    """A file in a multipart body: declared as binary, so that the API docs page offers a
    file picker (drf-spectacular declares a plain FileField as a URI)."""


class UploadRequest(serializers.Serializer):
    file = UploadedFile()
    label = serializers.CharField(required=False, allow_blank=True, default="")


class ImageUpload(APIView):
    """POST a file (multipart `file`, optional `label`) into an image set, created on first use.

    201 when stored, 200 when the same content was already stored, 400 with the reason when
    the file is rejected or over the size limit (nothing is stored then), 403 when studies
    the user is not on are built on the set, 411 without a Content-Length. A zip archive
    (recognised by its content) imports member by member like a folder: 200 with what was
    imported and what was rejected, and why."""

    parser_classes = [MultiPartParser]
    permission_classes = [CanAddImages]

    def initialize_request(self, request, *args, **kwargs):
        uploads.limit_uploads(request, settings.SECONDLOOK_MAX_UPLOAD_BYTES)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        request=UploadRequest,
        responses=inline_serializer(
            "UploadedImage", {"sha256": serializers.CharField(), "url": serializers.CharField()}
        ),
    )
    def post(self, request, name: str):
        uploads.require_length(request)
        existing = ImageSet.objects.filter(name=name).first()
        if existing is not None and not request.user.has_perm("inference.add_image", existing):
            raise NotYourImageSet(
                f"The image set {name!r} is used by studies you are not a researcher on; "
                "ask one of their researchers or an administrator."
            )
        body = UploadRequest(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        image_set = existing or ImageSet.objects.get_or_create(name=name)[0]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "upload"
            with path.open("wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            if archives.is_archive(path):
                return self._import_archive(path, Path(upload.name).name[:200], image_set)
            source = Source(path, body.validated_data["label"], Path(upload.name).name[:200])
            return self._import_file(source, image_set)

    def _import_file(self, source: Source, image_set: ImageSet) -> Response:
        try:
            image, created = import_one(
                source, image_set, get_label_set("imagenet-1k"), settings.SECONDLOOK_MAX_IMAGE_PIXELS
            )
        except RejectedImage as reason:
            return Response(
                {"detail": f"Rejected: {reason}.", "code": "rejected"}, status=status.HTTP_400_BAD_REQUEST
            )
        return Response(
            {
                "sha256": image.sha256,
                "url": image.stimulus_path,
                "width": image.width,
                "height": image.height,
                "true_class": image.true_class,
                "conversion": image.conversion,
            },
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def _import_archive(self, path: Path, name: str, image_set: ImageSet) -> Response:
        try:
            sources = archives.sources_from_archive(path, settings.SECONDLOOK_MAX_UPLOAD_BYTES, name=name)
        except ImportSourceError as error:
            return Response(
                {"detail": str(error), "code": "damaged_archive"}, status=status.HTTP_400_BAD_REQUEST
            )
        report = import_sources(
            sources, image_set, get_label_set("imagenet-1k"), settings.SECONDLOOK_MAX_IMAGE_PIXELS
        )
        return Response(
            {
                "imported": [image.sha256 for image in report.imported],
                "duplicates": [image.sha256 for image in report.duplicates],
                "rejected": [{"name": name, "reason": reason} for name, reason in report.rejected],
            }
        )
