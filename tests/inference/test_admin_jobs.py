"""Researchers ask for preparations in the admin and watch their progress there."""

import pytest
from django.test import Client

from inference.models import PreparationJob
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    return client


def test_a_bad_request_is_shown_on_the_form_and_nothing_is_queued(admin_client, tmp_path):
    images, classifier = factories.image_set(tmp_path, n=2), factories.classifier()
    page = admin_client.post(
        "/admin/inference/preparationjob/add/",
        {
            "kind": "adversarial",
            "image_set": images.pk,
            "classifier": classifier.pk,
            "params": '{"attack": "pgd", "eps": 999}',
        },
    )
    assert page.status_code == 200
    assert "eps must be" in page.content.decode()
    assert PreparationJob.objects.count() == 0


def test_a_request_creates_the_job_and_its_page_shows_progress_and_errors(
    admin_client, tmp_path, django_capture_on_commit_callbacks
):
    images, classifier = factories.image_set(tmp_path, n=2), factories.classifier()
    with django_capture_on_commit_callbacks(execute=True):
        page = admin_client.post(
            "/admin/inference/preparationjob/add/",
            {"kind": "predictions", "image_set": images.pk, "classifier": classifier.pk, "params": "{}"},
            follow=True,
        )
    job = PreparationJob.objects.get()
    assert job.params == {"k": 5}
    detail = admin_client.get(f"/admin/inference/preparationjob/{job.pk}/change/").content.decode()
    # The factory's classifier record names weights that are not there: the job says why.
    assert job.kind in detail and "failed" in detail
    assert "not the recorded" in detail
    listing = admin_client.get("/admin/inference/preparationjob/").content.decode()
    assert "<progress" in listing
    assert page.status_code == 200
