"""The study's display scale: frozen with the version, handed to the browser with every
trial, and exported beside the scale each browser recorded having shown."""

import csv
import io

import pytest
from rest_framework.test import APIClient

from studies.models import Study, StudyVersion
from studies.services import launch as lifecycle
from studies.services.export import codebook
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db


def session(study) -> ParticipantClient:
    client = ParticipantClient(APIClient(), study.slug)
    client.enter()
    assert client.consent().status_code == 200
    return client


def responses_csv(study) -> list[dict]:
    staff = APIClient()
    staff.force_login(factories.researcher())
    reply = staff.get(f"/api/v1/studies/{study.slug}/export/responses.csv")
    return list(csv.DictReader(io.StringIO(b"".join(reply.streaming_content).decode())))


def test_the_scale_is_frozen_and_every_trial_carries_it(tmp_path):
    study = factories.study(tmp_path, display_scale=3)
    assert study.current_version.config["display_scale"] == 3
    client = session(study)
    trial = client.next().json()["trial"]
    assert trial["display_scale"] == 3


def test_a_new_scale_on_a_running_study_is_a_new_version_for_newcomers(tmp_path):
    study = factories.study(tmp_path, display_scale=1)
    first = session(study)
    Study.objects.filter(pk=study.pk).update(display_scale=2)
    study.refresh_from_db()
    version = lifecycle.revise(study)
    assert version is not None and version.config["display_scale"] == 2
    assert first.next().json()["trial"]["display_scale"] == 1
    assert session(study).next().json()["trial"]["display_scale"] == 2


def test_a_version_frozen_before_the_scale_existed_shows_stimuli_at_one(tmp_path):
    study = factories.study(tmp_path, display_scale=4)
    version = study.current_version
    config = {key: value for key, value in version.config.items() if key != "display_scale"}
    StudyVersion.objects.filter(pk=version.pk).update(config=config)
    client = session(study)
    trial = client.next().json()["trial"]
    assert trial["display_scale"] == 1
    assert client.respond(trial, client.valid_answer(trial)).status_code == 201
    assert responses_csv(study)[0]["display_scale_requested"] == "1"


def test_the_requested_and_the_shown_scale_are_exported_and_documented(tmp_path):
    study = factories.study(tmp_path, display_scale=2)
    client = session(study)
    shown = [2, 1, 0.625]  # enlarged as asked, a smaller screen, shrunk to fit a phone
    for scale in shown:
        trial = client.next().json()["trial"]
        reply = client.respond(trial, client.valid_answer(trial), client={"display_scale": scale})
        assert reply.status_code == 201
    rows = responses_csv(study)
    assert [row["display_scale_requested"] for row in rows] == ["2", "2", "2"]
    assert [row["display_scale"] for row in rows] == ["2", "1", "0.625"]
    documented = {entry["name"]: entry for entry in codebook(study)["tables"]["responses"]}
    assert documented["display_scale_requested"]["values"] == [1, 2, 3, 4]
    assert documented["display_scale"]["type"] == "number"
