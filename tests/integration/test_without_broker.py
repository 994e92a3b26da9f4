"""The participant path needs only the web process and PostgreSQL: with the broker
unreachable (Redis stopped, so no worker either), gunicorn on the production settings serves
whole sessions, stores every answer exactly once, and reports itself degraded, not down."""

import asyncio
import json
import urllib.request

import pytest

from bench import load_study, loadgen, web_server
from studies.models import Participant, Response

PARTICIPANTS = 6
# Nothing listens on port 1 of the loopback: connecting fails at once, as with Redis stopped.
NO_BROKER = "redis://127.0.0.1:1/0"
pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_participants_finish_and_nothing_is_lost_while_the_broker_is_down(tmp_path, postgres):
    design = load_study.saturating_design(PARTICIPANTS)
    load_study.make_study("no-broker", design)
    env = {**web_server.production_env(postgres, tmp_path), "REDIS_URL": NO_BROKER}
    ledger = loadgen.Ledger()
    server = web_server.Gunicorn(env, tmp_path / "gunicorn.log")
    with server as target:
        phase = asyncio.run(loadgen.realistic(target, "no-broker", ledger, PARTICIPANTS, 0, 0, 0.0))
        request = urllib.request.Request(
            f"http://{target.host}:{target.port}/health/",
            headers={"X-Forwarded-For": "10.9.9.9", "X-Forwarded-Proto": "https"},
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            status, health = reply.status, json.loads(reply.read())
    assert phase.errors == [], server.log_tail()
    assert load_study.violations(["no-broker"], ledger) == []
    assert Participant.objects.filter(status="completed").count() == PARTICIPANTS
    assert len(ledger.acks) == Response.objects.count() == PARTICIPANTS * design.per_participant
    assert status == 200 and health["status"] == "degraded", health
    assert health["checks"]["database"]["ok"] and not health["checks"]["broker"]["ok"]
