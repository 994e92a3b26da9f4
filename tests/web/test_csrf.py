"""CSRF: every endpoint a login cookie authenticates refuses a cross-site POST; the
participant API authenticates by bearer token, sends no cookie, and needs no CSRF token."""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from inference.models import Image
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator(django_user_model):
    user = django_user_model.objects.create_user("curator", password="x", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["add_image", "add_study", "view_response", "access_all_studies"]
        )
    )
    return user


def test_an_upload_with_the_login_cookie_but_no_csrf_token_is_refused(curator):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(curator)
    image = SimpleUploadedFile("a.png", factories.png_bytes(color=(3, 3, 3)))
    reply = client.post("/api/v1/image-sets/uploads/images", {"file": image}, format="multipart")
    assert reply.status_code == 403 and "CSRF" in reply.json()["detail"]
    assert Image.objects.count() == 0


def test_the_same_upload_with_the_csrf_token_is_stored(curator):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(curator)
    client.get("/admin/")  # sets the csrftoken cookie, as a page of the site would
    token = client.cookies["csrftoken"].value
    image = SimpleUploadedFile("a.png", factories.png_bytes(color=(3, 3, 3)))
    reply = client.post(
        "/api/v1/image-sets/uploads/images", {"file": image}, format="multipart", HTTP_X_CSRFTOKEN=token
    )
    assert reply.status_code == 201


@pytest.mark.parametrize("path", ["/bias/", "/admin/studies/study/preset/", "/admin/logout/"])
def test_researcher_pages_refuse_posts_without_a_csrf_token(curator, path):
    client = Client(enforce_csrf_checks=True)
    client.force_login(curator)
    assert client.post(path, {"slug": "x"}).status_code == 403


def test_participants_need_no_csrf_token_and_get_no_cookie(live_study):
    client = APIClient(enforce_csrf_checks=True)
    participant = ParticipantClient(client, live_study.slug)
    reply = participant.enter()
    assert reply.status_code == 201 and not reply.cookies
    assert participant.consent().status_code == 200
    assert participant.answer(participant.next().json()["trial"]).status_code == 201
