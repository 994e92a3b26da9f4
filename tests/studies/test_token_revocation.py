"""Bearer tokens can be revoked: every participant endpoint then refuses them, the answers
stay, the audit log says who did it, and a recruit who comes back gets a new token."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.test import APIClient

from studies.models import AuditLog, Participant, Response
from studies.services import sessions
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db
ENDPOINTS = [
    ("get", "session"),
    ("get", "session/next"),
    ("post", "session/consent"),
    ("post", "session/withdraw"),
]


@pytest.fixture
def answered(tmp_path):
    study = factories.study(tmp_path, platform="prolific")
    client = ParticipantClient(APIClient(), study.slug)
    assert client.enter({"PROLIFIC_PID": "p-1", "STUDY_ID": "s", "SESSION_ID": "x"}).status_code == 201
    client.consent()
    assert client.answer(client.next().json()["trial"]).status_code == 201
    return study, client


def test_a_revoked_token_opens_nothing_and_the_answers_stay(answered):
    study, client = answered
    participant = Participant.objects.get()
    assert sessions.revoke_tokens([participant], by="alice") == 1
    for method, path in ENDPOINTS:
        reply = getattr(client, method)(path)
        assert reply.status_code == 401, path
        assert reply.json()["code"] == "authentication_failed"
    assert Response.objects.filter(trial__participant=participant).count() == 1
    participant.refresh_from_db()
    assert participant.status != Participant.Status.WITHDRAWN
    [entry] = AuditLog.objects.filter(action="token_revoked")
    assert entry.participant_pseudonym == participant.pseudonym and entry.detail == {"by": "alice"}


def test_a_returning_recruit_gets_a_new_token_and_resumes(answered):
    study, client = answered
    sessions.revoke_tokens(Participant.objects.all(), by="alice")
    again = ParticipantClient(APIClient(), study.slug)
    assert again.enter({"PROLIFIC_PID": "p-1", "STUDY_ID": "s", "SESSION_ID": "x"}).status_code == 200
    assert again.token != client.token
    assert again.next().json()["trial"]["index"] == 1  # the next unanswered trial


def test_the_admin_action_needs_the_change_permission(answered):
    study, _ = answered
    viewer = factories.researcher("viewer", True, "view_participant")
    browser = Client()
    browser.force_login(viewer)
    changelist = "/admin/studies/participant/"
    assert "revoke_tokens" not in browser.get(changelist).content.decode()
    viewer.user_permissions.add(Permission.objects.get(codename="change_participant"))
    browser = Client()
    browser.force_login(viewer)
    assert "revoke_tokens" in browser.get(changelist).content.decode()
    participant = Participant.objects.get()
    reply = browser.post(changelist, {"action": "revoke_tokens", "_selected_action": [participant.pk]})
    assert reply.status_code == 302
    assert AuditLog.objects.filter(action="token_revoked", detail={"by": "viewer"}).count() == 1
