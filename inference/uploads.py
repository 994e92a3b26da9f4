"""The upload size limit, enforced as the request arrives rather than once it is stored.

A body whose Content-Length is over the limit (plus room for the form around the file) is
refused before a byte of it is read. A body whose Content-Length understates it (under
ASGI the stream is not cut at the declared length, as WSGI's is) is cut off once its files
pass the limit, and the rest is never read. A body without a Content-Length is never read
at all: Django sees an empty body, so the upload endpoint answers 411 rather than
"no file". Every refusal is the API's JSON error (studies/api/errors.py), which DRF
produces from these exceptions."""

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
