"""`GET /health/` reports each dependency; participants need only the web process and the
database, so a missing broker or worker degrades the site without stopping them."""

import json

import pytest
from django.db import OperationalError, connection
from rest_framework.test import APIClient

from config.celery import app as celery_app
from studies.models import Participant, Response
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db
# Nothing listens on port 1: connecting fails at once, as with a stopped Redis.
DEAD_BROKER = "redis://127.0.0.1:1/0"


@pytest.fixture
def celery_mode_without_broker(settings, monkeypatch):
    settings.SECONDLOOK_TASK_MODE = "celery"
    monkeypatch.setitem(celery_app.conf, "broker_url", DEAD_BROKER)
    monkeypatch.setitem(celery_app.conf, "broker_read_url", None)


def test_the_embedded_default_is_healthy_with_in_process_tasks(client):
    reply = client.get("/health/")
    assert reply.status_code == 200 and reply["Cache-Control"].startswith("max-age=0")
    body = reply.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["database"]["vendor"] == connection.vendor
    assert body["checks"]["tasks"] == {"ok": True, "mode": "in-process"}
    assert body["checks"]["media"]["ok"]


def test_a_missing_broker_degrades_the_site_and_names_no_host(client, celery_mode_without_broker):
    reply = client.get("/health/")
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["ok"]
    assert body["checks"]["broker"]["ok"] is False and body["checks"]["broker"]["error"]
    assert body["checks"]["workers"] == {"ok": False, "error": "no broker"}
    assert "127.0.0.1" not in reply.content.decode()


def test_participants_complete_a_session_while_the_broker_is_down(live_study, celery_mode_without_broker):
    participant = ParticipantClient(APIClient(), live_study.slug)
    assert participant.enter().status_code == 201
    assert participant.consent().status_code == 200
    final = participant.complete()
    assert final["completion"]["outcome"] == "completed"
    stored = Participant.objects.get()
    assert stored.status == Participant.Status.COMPLETED
    assert Response.objects.filter(trial__participant=stored).count() == live_study.images_per_participant


def test_a_database_that_does_not_answer_makes_the_site_down(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server at 10.0.0.5")

    monkeypatch.setattr(connection, "cursor", refuse)
    monkeypatch.setattr(connection, "close", lambda: None)
    reply = client.get("/health/")
    assert reply.status_code == 503
    body = json.loads(reply.content)
    assert body["status"] == "down"
    assert body["checks"]["database"] == {
        "ok": False,
        "error": "OperationalError",
        "ms": body["checks"]["database"]["ms"],
    }
    assert "10.0.0.5" not in reply.content.decode()


def test_health_only_answers_get(client):
    assert client.post("/health/").status_code == 405
