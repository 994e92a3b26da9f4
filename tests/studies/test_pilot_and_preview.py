"""Pilot stage and "preview as participant": such participants run the real study but
never count toward quotas, K or default exports. Also the study's choice of option order."""

import csv
import io
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from rest_framework.test import APIClient

from studies.models import Condition, Participant, Recruitment, Trial
from studies.services import allocation, sessions
from studies.services import launch as lifecycle
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db


def take_part(study, params=None):
    client = ParticipantClient(APIClient(), study.slug)
    reply = client.enter(params)
    assert reply.status_code in (200, 201), reply.json()
    client.consent()
    client.complete()
    return client


def exported(study, query=""):
    staff = APIClient()
    staff.force_login(factories.researcher())
    reply = staff.get(f"/api/v1/studies/{study.slug}/export/responses.csv{query}")
    return list(csv.DictReader(io.StringIO(b"".join(reply.streaming_content).decode())))


def test_pilot_participants_are_flagged_and_count_toward_nothing(tmp_path):
    study = factories.study(tmp_path, live=False, slug="piloted", per_participant=2)
    Condition.objects.create(study=study, name="only", weight=1, quota=1)
    pilot_version = lifecycle.pilot(study)
    study.refresh_from_db()
    assert study.status == "pilot"
    take_part(study)
    participant = Participant.objects.get()
    assert participant.kind == "pilot" and participant.status == "completed"
    assert allocation.places(study, pilot_version.config) == {"only": 0}
    study.refresh_from_db()
    assert study.status == "pilot"  # a pilot completion fills no quota
    assert exported(study) == []
    assert {row["participant_kind"] for row in exported(study, "?pilot=1")} == {"pilot"}

    live_version = lifecycle.launch(study)
    assert live_version.number == pilot_version.number + 1
    take_part(study)
    real = Participant.objects.get(kind="real")
    assert real.version == live_version
    study.refresh_from_db()
    assert study.status == "closed"  # the first real completion met the quota
    assert {row["participant"] for row in exported(study)} == {real.pseudonym}


def test_a_preview_link_from_the_admin_runs_the_study_as_a_test_participant(tmp_path, django_user_model):
    study = factories.study(tmp_path, live=False, slug="previewed", per_participant=2, platform="prolific")
    Condition.objects.create(study=study, name="only", weight=1, quota=1)
    lifecycle.launch(study)
    take_part(study, {"PROLIFIC_PID": "p-1"})  # the one real place is now taken
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    page = admin.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    href = page.split("preview as participant")[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    token = parse_qs(urlsplit(href).query)["preview"][0]
    # No PROLIFIC_PID needed, and the full study still lets the researcher in.
    client = ParticipantClient(APIClient(), study.slug)
    assert client.enter({"preview": token}).status_code == 201
    assert client.consent().json()["state"] == "trials"
    assert client.complete()["completion"]["outcome"] == "completed"
    tester = Participant.objects.get(kind="test")
    assert "preview" not in Recruitment.objects.get(participant=tester).params
    assert len(exported(study)) == 2 and len(exported(study, "?pilot=1")) == 4


@pytest.mark.parametrize("token_of", ["garbage", "other study"])
def test_a_bad_preview_link_is_refused(tmp_path, token_of):
    study = factories.study(tmp_path, slug="guarded")
    other = factories.study(tmp_path / "o", slug="other", set_name="other")
    token = sessions.preview_token(other) if token_of == "other study" else "abc:def"
    reply = ParticipantClient(APIClient(), study.slug).enter({"preview": token})
    assert reply.status_code == 400 and reply.json()["code"] == "bad_preview"
    assert not Participant.objects.exists()


def test_a_preview_works_on_a_paused_study_but_real_arrivals_are_turned_away(tmp_path):
    study = factories.study(tmp_path, slug="paused")
    lifecycle.pause(study)
    assert ParticipantClient(APIClient(), study.slug).enter().status_code == 409
    preview = ParticipantClient(APIClient(), study.slug).enter({"preview": sessions.preview_token(study)})
    assert preview.status_code == 201


def _draft(tmp_path):
    return factories.study(tmp_path, live=False, slug="rules")


def _paused(tmp_path):
    return lifecycle.pause(factories.study(tmp_path, slug="rules"))


def _closed(tmp_path):
    return lifecycle.close(factories.study(tmp_path, slug="rules"))


def _full(tmp_path):
    study = factories.study(tmp_path, live=False, slug="rules", per_participant=2)
    Condition.objects.create(study=study, name="only", weight=1, quota=1)
    lifecycle.launch(study)
    first = ParticipantClient(APIClient(), study.slug)
    first.enter()
    assert first.consent().json()["state"] == "trials"  # the one place is taken
    return study


def _prolific(tmp_path):
    return factories.study(tmp_path, slug="rules", platform="prolific")


# What a newcomer without a preview link gets from each study; an empty or malformed
# `preview` parameter must get exactly that, never a preview's exemptions.
WITHOUT_PREVIEW = {
    _draft: (409, "study_not_live"),
    _paused: (409, "study_not_live"),
    _closed: (409, "study_not_live"),
    _full: (201, "full"),
    _prolific: (400, "missing_identity"),
}


@pytest.mark.parametrize("make", list(WITHOUT_PREVIEW), ids=lambda make: make.__name__[1:])
@pytest.mark.parametrize("value", ["", "   ", "abc:def", "x" * 500])
def test_an_empty_or_malformed_preview_skips_no_rule(tmp_path, make, value):
    study = make(tmp_path)
    before = Participant.objects.count()
    reply = ParticipantClient(APIClient(), study.slug).enter({"preview": value})
    if value.strip():  # parameters are trimmed: blanks are an empty value
        assert reply.status_code == 400 and reply.json()["code"] == "bad_preview"
        assert Participant.objects.count() == before
        return
    status, outcome = WITHOUT_PREVIEW[make]
    assert reply.status_code == status
    if status == 201:
        assert reply.json()["state"] == outcome
        newcomer = Participant.objects.latest("id")
        assert newcomer.kind == "real" and newcomer.status == outcome
    else:
        assert reply.json()["code"] == outcome
        assert Participant.objects.count() == before


@pytest.mark.parametrize("make", [_paused, _closed, _full, _prolific], ids=lambda make: make.__name__[1:])
def test_the_signed_preview_link_runs_every_study_that_has_a_version(tmp_path, make):
    study = make(tmp_path)
    client = ParticipantClient(APIClient(), study.slug)
    reply = client.enter({"preview": sessions.preview_token(study)})
    assert reply.status_code == 201 and reply.json()["state"] == "consent"
    assert client.consent().json()["state"] == "trials"
    assert Participant.objects.latest("id").kind == "test"


def test_a_preview_link_does_not_open_a_draft_study(tmp_path):
    study = _draft(tmp_path)
    reply = ParticipantClient(APIClient(), study.slug).enter({"preview": sessions.preview_token(study)})
    assert reply.status_code == 409 and reply.json()["code"] == "study_not_live"
    assert not Participant.objects.exists()


def test_shuffled_options_are_stored_in_the_order_shown(tmp_path):
    study = factories.study(tmp_path, slug="shuffled", option_order="shuffled", per_participant=6)
    in_rank_order = []
    for _ in range(4):
        take_part(study)
    for trial in Trial.objects.all():
        shown = [o["id"] for o in trial.options]
        assert shown[-1] == "none"
        assert sorted(shown[:-1]) == sorted(label["id"] for label in trial.item.labels)
        in_rank_order.append(tuple(shown[:-1]) == tuple(label["id"] for label in trial.item.labels))
    # 1 in 120 shuffles of five labels is the rank order itself.
    assert in_rank_order.count(True) < len(in_rank_order) / 2
    for row in exported(study):
        trial = Trial.objects.get(pk=row["trial_id"])
        positions = {o["id"]: n for n, o in enumerate(trial.options, start=1)}
        assert row["rank1_position"] == str(positions[row["rank1_class_id"]])


def test_the_session_says_whether_it_is_a_researchers_preview(tmp_path):
    study = factories.study(tmp_path, live=False, slug="told", per_participant=2)
    lifecycle.pilot(study)
    pilot = ParticipantClient(APIClient(), study.slug)
    pilot.enter()
    lifecycle.launch(study)
    real, preview = ParticipantClient(APIClient(), study.slug), ParticipantClient(APIClient(), study.slug)
    real.enter()
    preview.enter({"preview": sessions.preview_token(study)})
    kinds = dict(Participant.objects.values_list("kind", "pk"))
    assert set(kinds) == {"pilot", "real", "test"}
    # Pilot participants are real people trying the study out: nothing tells them apart.
    assert [client.get("session").json()["preview"] for client in (real, pilot, preview)] == [
        False,
        False,
        True,
    ]
    preview.consent()
    preview.complete()
    assert preview.get("session").json()["preview"] is True  # on every screen, the last too
