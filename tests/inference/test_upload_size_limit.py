"""Uploads over SECONDLOOK_MAX_UPLOAD_BYTES are refused before they are read whole: from
the Content-Length before a byte of the body is read, and while streaming when the
Content-Length understates the body. The reply is the API's JSON 400 `too_large`, naming
the limit, and nothing is stored."""

import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.asgi import ASGIRequest
from django.test import override_settings
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from rest_framework.test import APIClient, force_authenticate

from inference.api import ImageUpload
from inference.models import Image, ImageSet
from tests.factories import png_bytes

pytestmark = pytest.mark.django_db
URL = "/api/v1/image-sets/uploads/images"
LIMIT = 100_000


class UnreadableBody(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer):
        raise AssertionError("the request body was read")


class CountingBody(io.BytesIO):
    """A request body that remembers how far it was read."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.furthest = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.furthest = max(self.furthest, self.tell())
        return chunk

    def readline(self, size=-1):
        line = super().readline(size)
        self.furthest = max(self.furthest, self.tell())
        return line


@pytest.fixture
def curator(django_user_model):
    user = django_user_model.objects.create_user("curator", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_image"))
    return user


def form(file_bytes: bytes) -> bytes:
    """A multipart body with a PNG header and then file_bytes: an image file as far as the
    first chunk tells."""
    return encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("big.png", png_bytes() + file_bytes)})


def assert_too_large(reply):
    assert reply.status_code == 400
    body = json.loads(reply.content)
    assert body["code"] == "too_large" and f"{LIMIT:,} bytes" in body["detail"]
    assert Image.objects.count() == 0 and not ImageSet.objects.filter(name="uploads").exists()


@pytest.mark.parametrize("with_csrf_cookie", [False, True], ids=["api-client", "browser-session"])
@override_settings(SECONDLOOK_MAX_UPLOAD_BYTES=LIMIT)
def test_a_content_length_over_the_limit_is_refused_without_reading_the_body(curator, with_csrf_cookie):
    client = APIClient(enforce_csrf_checks=with_csrf_cookie)
    client.force_login(curator)
    headers = {}
    if with_csrf_cookie:
        # With the login cookie and a CSRF cookie, DRF's CSRF check parses the form while
        # it authenticates, before the view runs: the limit holds there too.
        client.get("/admin/")
        headers["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    reply = client.generic(
        "POST",
        URL,
        b"unused",
        MULTIPART_CONTENT,
        **{"CONTENT_LENGTH": str(10 * LIMIT), "wsgi.input": UnreadableBody(), **headers},
    )
    assert_too_large(reply)


@override_settings(SECONDLOOK_MAX_UPLOAD_BYTES=LIMIT)
def test_a_file_over_the_limit_in_a_body_whose_length_passes_is_refused(curator):
    client = APIClient()
    client.force_login(curator)
    # Just over the limit: the Content-Length leaves room for the form around the file.
    body = form(b"\0" * (LIMIT - len(png_bytes()) + 1))
    reply = client.generic("POST", URL, body, MULTIPART_CONTENT)
    assert_too_large(reply)


@override_settings(SECONDLOOK_MAX_UPLOAD_BYTES=LIMIT)
def test_a_body_longer_than_its_content_length_says_is_stopped_while_streaming(curator):
    # Under ASGI the body stream is not cut at the Content-Length, as it is under WSGI.
    body = CountingBody(form(b"\0" * (50 * LIMIT)))
    scope = {
        "type": "http",
        "method": "POST",
        "path": URL,
        "headers": [(b"content-type", MULTIPART_CONTENT.encode()), (b"content-length", b"1000")],
    }
    request = ASGIRequest(scope, body)
    force_authenticate(request, curator)
    reply = ImageUpload.as_view()(request, name="uploads")
    reply.render()
    assert_too_large(reply)
    # Stopped within a chunk (64 KiB) of the limit, not read to the end.
    assert body.furthest < LIMIT + 2 * 65536 < len(body.getvalue())


def test_a_file_at_the_limit_is_accepted(curator):
    image = png_bytes(color=(7, 7, 7))
    client = APIClient()
    client.force_login(curator)
    with override_settings(SECONDLOOK_MAX_UPLOAD_BYTES=len(image)):
        reply = client.post(URL, {"file": SimpleUploadedFile("a.png", image)}, format="multipart")
    assert reply.status_code == 201


def test_a_body_without_a_content_length_is_never_read_and_is_411(curator):
    client = APIClient()
    client.force_login(curator)
    reply = client.generic(
        "POST",
        URL,
        b"unused",
        MULTIPART_CONTENT,
        **{"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": UnreadableBody()},
        CONTENT_LENGTH="",
    )
    assert reply.status_code == 411
    assert json.loads(reply.content)["code"] == "length_required"
    assert Image.objects.count() == 0
