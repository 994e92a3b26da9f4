"""The upload size limit, enforced as the request arrives rather than once it is stored.

A body whose Content-Length is over the limit (plus room for the form around the file) is
refused before a byte of it is read. A body whose Content-Length understates it (under
ASGI the stream is not cut at the declared length, as WSGI's is) is cut off once its files
pass the limit, and the rest is never read. A body without a Content-Length is never read
at all: Django sees an empty body, so the upload endpoint answers 411 rather than
"no file". Every refusal is the API's JSON error (studies/api/errors.py), which DRF
produces from these exceptions.

The admin's upload forms (image archives, classifier weights) answer with the form again
and the error on its field instead (MarkOversizeFiles), which needs the rest of the form."""

import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from rest_framework import exceptions, status

# The multipart framing and the label field around the file: a few hundred bytes in
# practice, so that a file right at the limit is never refused by its Content-Length.
FORM_ALLOWANCE = 64 * 1024


class UploadTooLarge(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "too_large"

    def __init__(self, limit: int):
        super().__init__(f"The file is larger than the upload limit of {limit:,} bytes.")


class LengthRequired(exceptions.APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_code = "length_required"
    default_detail = "Send the file with a Content-Length (Django reads no body without one)."


class SizeLimitHandler(FileUploadHandler):
    """First of a request's upload handlers: refuses by Content-Length, then passes each
    chunk on to Django's own handlers (which store the file) until the files' bytes pass
    the limit."""

    def __init__(self, request, limit: int):
        super().__init__(request)
        self.limit, self.received, self.exceeded = limit, 0, False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # Called by the parser before it reads anything.
        if content_length > self.limit + FORM_ALLOWANCE:
            raise UploadTooLarge(self.limit)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            # connection_reset: the parser closes the partial files and reads no further.
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler returns the stored file

    def upload_complete(self) -> None:
        # The parser calls this after a StopUpload too: refusing here means the form it
        # stopped reading never reaches the view as a form without its file.
        if self.exceeded:
            raise UploadTooLarge(self.limit)


def limit_uploads(request, limit: int) -> None:
    """Put the limit first among the Django request's upload handlers. It must happen
    before anything reads the body: with a login cookie, DRF's CSRF check parses the form
    while it authenticates, before the view runs."""
    request.upload_handlers.insert(0, SizeLimitHandler(request, limit))


def require_length(request) -> None:
    if not request.META.get("CONTENT_LENGTH"):
        raise LengthRequired


class OversizeFile(UploadedFile):
    """Stands in for a file that passed its field's limit: its name and its full size in
    bytes, without its content, which was never stored."""

    def __init__(self, name: str, size: int, limit: int):
        super().__init__(io.BytesIO(), name=name, size=size)
        self.limit = limit


class MarkOversizeFiles(FileUploadHandler):
    """For the admin's forms, first of a request's upload handlers: a file over its field's
    limit is read to its end but not stored past the limit, and the form receives an
    OversizeFile in its place. Unlike SizeLimitHandler, which ends the request, the rest of
    the form still arrives, so the page can be shown again with the error on the field
    (and the browser sees that page rather than a reset connection). Memory and disk use
    stay within the limit; only the time to receive the body is spent."""

    def __init__(self, request, limits: dict[str, int]):
        super().__init__(request)
        self.limits, self.received = limits, 0

    def new_file(self, field_name, *args, **kwargs):
        super().new_file(field_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        limit = self.limits.get(self.field_name)
        # None: the handlers after this one (which store the file) never see the chunk.
        return None if limit is not None and self.received > limit else raw_data

    def file_complete(self, file_size: int) -> UploadedFile | None:
        limit = self.limits.get(self.field_name)
        if limit is not None and self.received > limit:
            # Returned first, so Django's handlers' partial copy is never used.
            return OversizeFile(self.file_name, self.received, limit)
        return None


def mark_oversize_files(request, limits: dict[str, int]) -> None:
    """Put MarkOversizeFiles first among the request's upload handlers, for the file fields
    named in `limits` (field name: bytes). As with limit_uploads, before anything reads the
    body: Django's CSRF middleware reads a form's body before the view runs."""
    request.upload_handlers.insert(0, MarkOversizeFiles(request, limits))


@contextmanager
def stored_path(upload: UploadedFile) -> Iterator[Path]:
    """A path to the upload's bytes: Django's temporary file for a large upload, a copy in a
    temporary file for one Django kept in memory."""
    if hasattr(upload, "temporary_file_path"):
        yield Path(upload.temporary_file_path())
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload"
        with path.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        upload.seek(0)
        yield path
