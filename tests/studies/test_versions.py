"""Frozen versions: editing a running study creates a new version for newcomers, those
already in keep theirs, every response points to its version, and the admin shows what
changed between versions."""

import json

import pytest
from django.forms.models import model_to_dict
from django.test import Client
from rest_framework.test import APIClient

from studies.models import Participant, Response, StudyVersion
from studies.services import launch as lifecycle
from studies.services import versions
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db


def started(study):
    client = ParticipantClient(APIClient(), study.slug)
    client.enter()
    client.consent()
    return client


def test_an_edit_of_a_live_study_is_a_new_version_for_newcomers_only(live_study):
    early = started(live_study)
    live_study.prompt = "Which labels fit this photo?"
    live_study.save()
    version = lifecycle.revise(live_study)
    assert version.number == 2
    live_study.refresh_from_db()
    assert live_study.current_version == version and live_study.status == "live"
    late = started(live_study)
    assert early.next().json()["trial"]["prompt"] != "Which labels fit this photo?"
    assert late.next().json()["trial"]["prompt"] == "Which labels fit this photo?"
    early.complete()
    late.complete()
    numbers = {
        r.trial.participant.pseudonym: r.trial.participant.version.number for r in Response.objects.all()
    }
    assert sorted(set(numbers.values())) == [1, 2]
    assert lifecycle.revise(live_study) is None  # nothing changed since


def test_an_edit_that_could_not_launch_leaves_the_running_version(live_study):
    live_study.images_per_participant = 50
    live_study.save()
    with pytest.raises(lifecycle.NotReady):
        lifecycle.revise(live_study)
    live_study.refresh_from_db()
    assert live_study.current_version.number == 1 and StudyVersion.objects.count() == 1


def test_the_diff_names_every_changed_setting():
    old = {"prompt": "a", "conditions": [{"name": "x", "quota": 1}], "k": 5, "gone": 1}
    new = {"prompt": "b", "conditions": [{"name": "x", "quota": 2}, {"name": "y", "quota": 0}], "k": 5}
    assert versions.diff(old, new) == [
        ("conditions.0.quota", 1, 2),
        ("conditions.1.name", None, "y"),
        ("conditions.1.quota", None, 0),
        ("gone", 1, None),
        ("prompt", "a", "b"),
    ]


def admin_form(study) -> dict:
    data = {k: v for k, v in model_to_dict(study).items() if v is not None and k not in ("current_version",)}
    data["attack"] = json.dumps(study.attack)
    data["exclusion_rules"] = json.dumps(study.exclusion_rules)
    data["image_set"], data["classifier"] = study.image_set_id, study.classifier_id
    data.update({f"conditions-{k}": v for k, v in {"TOTAL_FORMS": 0, "INITIAL_FORMS": 0}.items()})
    return {k: ("on" if v is True else v) for k, v in data.items() if v is not False}


def test_saving_a_live_study_in_the_admin_makes_a_new_version_and_shows_the_change(
    live_study, django_user_model
):
    started(live_study)
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    form = admin_form(live_study) | {"prompt": "Tick every fitting label."}
    reply = admin.post(f"/admin/studies/study/{live_study.pk}/change/", form, follow=True)
    assert "Newcomers now get version 2" in reply.content.decode(), reply.content.decode()[:3000]
    version = StudyVersion.objects.get(number=2)
    page = admin.get(f"/admin/studies/studyversion/{version.pk}/change/").content.decode()
    assert "<td>prompt</td>" in page and "Tick every fitting label." in page
    assert Participant.objects.get().version.number == 1
