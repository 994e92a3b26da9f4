"""Uploading an image over HTTP: staff only; non-images are a 400 that stores nothing."""

import io
import os

import PIL.Image
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from inference.models import Image, ImageSet
from tests.factories import png_bytes

pytestmark = pytest.mark.django_db
URL = "/api/v1/image-sets/uploads/images"


@pytest.fixture
def staff(django_user_model):
    user = django_user_model.objects.create_user("curator", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_image"))
    client = APIClient()
    client.force_login(user)
    return client


def noise_png() -> bytes:
    buffer = io.BytesIO()
    PIL.Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(client, data: bytes, name="photo.png", label=""):
    return client.post(URL, {"file": SimpleUploadedFile(name, data), "label": label}, format="multipart")


def test_staff_upload_an_image_with_its_label(staff):
    reply = upload(staff, png_bytes(color=(1, 2, 3)), label="tench")
    assert reply.status_code == 201
    image = Image.objects.get(sha256=reply.json()["sha256"])
    assert image.true_class == "n01440764"
    assert ImageSet.objects.get(name="uploads").images.get() == image
    again = upload(staff, png_bytes(color=(1, 2, 3)), label="tench")
    assert again.status_code == 200 and Image.objects.count() == 1


@pytest.mark.parametrize(
    "data, label, reason",
    [
        (b"%PDF-1.4 not an image", "", "not an image"),
        (png_bytes(color=(9, 9, 9)), "no-such-class", "not a class"),
        (noise_png()[:2000], "", "truncated"),
    ],
)
def test_rejected_uploads_are_400_with_the_reason_and_store_nothing(staff, data, label, reason):
    reply = upload(staff, data, label=label)
    assert reply.status_code == 400
    assert reason in reply.json()["detail"]
    assert Image.objects.count() == 0


def test_a_request_without_a_file_is_400(staff):
    reply = staff.post(URL, {"label": "x"}, format="multipart")
    assert reply.status_code == 400 and "file" in reply.json()["errors"]


def test_only_permitted_staff_may_upload(django_user_model):
    anonymous = APIClient()
    assert upload(anonymous, png_bytes()).status_code == 403
    plain_staff = APIClient()
    plain_staff.force_login(django_user_model.objects.create_user("s", password="x", is_staff=True))
    assert upload(plain_staff, png_bytes()).status_code == 403
    assert Image.objects.count() == 0


def test_the_api_docs_declare_the_upload_as_a_binary_file(client):
    # A binary string is what makes the docs page (Swagger UI) offer a file picker.
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    body = schema["paths"]["/api/v1/image-sets/{name}/images"]["post"]["requestBody"]["content"]
    reference = body["multipart/form-data"]["schema"]["$ref"]
    fields = schema["components"]["schemas"][reference.rsplit("/", 1)[1]]["properties"]
    assert fields["file"] == {"type": "string", "format": "binary"}
