"""Launching freezes the configuration; a study goes live only when its stimuli exist."""

import pytest
from django.test import Client

from inference.models import Prediction
from studies.models import Study
from studies.services import launch as lifecycle
from studies.services.errors import Conflict
from tests import factories

pytestmark = pytest.mark.django_db


def test_launch_freezes_the_configuration_and_creates_one_item_per_image(db, tmp_path):
    study = factories.study(tmp_path, live=False, n_images=5, k=3)
    version = lifecycle.launch(study)
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE and study.current_version == version
    assert version.number == 1
    assert version.config["k"] == 3 and version.config["classifier"]["weights_sha256"] == "0" * 64
    assert version.items.count() == 5
    item = version.items.first()
    assert [label["rank"] for label in item.labels] == [1, 2, 3]

    study.consent_text = "Changed after launch."
    study.save()
    assert study.current_version.config["consent_text"] == "You agree to take part."


def test_a_study_without_all_predictions_is_not_launched_and_says_what_is_missing(db, tmp_path):
    study = factories.study(tmp_path, live=False, n_images=4)
    Prediction.objects.filter(pk=Prediction.objects.first().pk).delete()
    with pytest.raises(lifecycle.NotReady) as raised:
        lifecycle.launch(study)
    assert "1 of 4 images have no predictions" in str(raised.value)
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT and study.versions.count() == 0


def test_an_empty_consent_text_blocks_launch(db, tmp_path):
    study = factories.study(tmp_path, live=False, consent_text=" ")
    assert lifecycle.readiness_problems(study) == ["the consent text is empty"]


def test_pause_resume_close_follow_the_allowed_transitions(live_study):
    lifecycle.pause(live_study)
    with pytest.raises(Conflict):
        lifecycle.pause(live_study)
    lifecycle.resume(live_study)
    lifecycle.close(live_study)
    with pytest.raises(Conflict):
        lifecycle.resume(live_study)


def test_launching_a_live_study_again_is_a_conflict(live_study):
    with pytest.raises(Conflict, match="already live"):
        lifecycle.launch(live_study)
    assert live_study.versions.count() == 1


def test_relaunching_a_closed_study_creates_a_new_version(live_study):
    lifecycle.close(live_study)
    version = lifecycle.launch(live_study)
    assert version.number == 2


def test_the_admin_shows_the_study_its_readiness_and_links(live_study, django_user_model):
    admin = django_user_model.objects.create_superuser("boss", "", "pw")
    client = Client()
    client.force_login(admin)
    page = client.get(f"/admin/studies/study/{live_study.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Ready: 6 items." in html
    assert f"/api/v1/studies/{live_study.slug}/export/responses.csv" in html
    assert "/s/topk/" in html
    listing = client.get("/admin/studies/study/")
    assert live_study.title in listing.content.decode()


def test_the_admin_launch_action_reports_what_is_missing(db, tmp_path, django_user_model):
    study = factories.study(tmp_path, live=False)
    Prediction.objects.all().delete()
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    page = client.post(
        "/admin/studies/study/", {"action": "launch", "_selected_action": [study.pk]}, follow=True
    )
    assert "have no predictions" in page.content.decode()
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_the_status_endpoint_summarises_stimuli_and_participants(live_study):
    from rest_framework.test import APIClient

    client = APIClient()
    assert client.get(f"/api/v1/studies/{live_study.slug}/status").status_code == 403
    client.force_login(factories.researcher())
    status = client.get(f"/api/v1/studies/{live_study.slug}/status").json()
    assert status["study"] == {"slug": "topk", "status": "live", "version": 1}
    assert status["stimuli"] == {"images": 6, "predicted": 6}
    assert status["participants"]["completed"] == 0 and status["responses"] == 0
    assert client.get("/api/v1/studies/nope/status").status_code == 404


def test_the_admin_prepare_action_reports_a_failed_job_with_its_reason(
    db, tmp_path, django_user_model, django_capture_on_commit_callbacks
):
    study = factories.study(tmp_path, live=False)
    Prediction.objects.all().delete()
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(
            "/admin/studies/study/", {"action": "prepare", "_selected_action": [study.pk]}, follow=True
        )
    assert "top-k predictions: pending" in page.content.decode()
    job = study.image_set.jobs.get()
    job.refresh_from_db()
    # The factory's classifier record names a sha256 that no weights file has.
    assert job.status == "failed" and "not the recorded 000000000000" in job.message
    assert Prediction.objects.count() == 0
