"""Many participants arriving, consenting and answering at the same moment on PostgreSQL:
afterwards no quota and no K is overshot, every answer is stored once, and every
newcomer beyond the places was told the study is full."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from studies.models import Condition, Participant, Response, Study, Trial
from studies.services import launch as lifecycle
from tests import factories
from tests.conftest import ParticipantClient
from tests.requirements import unavailable

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
ARRIVALS = 24


def run_participant(slug: str, barrier: threading.Barrier, outcomes: list, errors: list) -> None:
    try:
        client = ParticipantClient(APIClient(), slug)
        barrier.wait()
        client.enter()
        if client.get("session").json()["state"] == "consent":
            client.consent()
        outcomes.append(client.complete().get("completion", {}).get("outcome"))
    except Exception as error:  # reported by the test, not lost in the thread
        errors.append(repr(error))
    finally:
        connection.close()


def test_simultaneous_participants_never_overshoot_a_quota_or_k(tmp_path):
    if connection.vendor != "postgresql":
        unavailable("SECONDLOOK_REQUIRE_SERVICES", "DATABASE_URL does not point at PostgreSQL")
    study = factories.study(
        tmp_path, live=False, slug="rush", n_images=8, per_participant=2, judgments_per_item=1
    )
    Condition.objects.create(study=study, name="a", weight=1, quota=4)
    Condition.objects.create(study=study, name="b", weight=1, quota=4)
    lifecycle.launch(study)
    barrier = threading.Barrier(ARRIVALS)
    outcomes, errors = [], []
    threads = [
        threading.Thread(target=run_participant, args=(study.slug, barrier, outcomes, errors))
        for _ in range(ARRIVALS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(outcomes) == sorted(["completed"] * 8 + ["full"] * (ARRIVALS - 8))
    completed = Participant.objects.filter(status="completed")
    assert {c: completed.filter(condition=c).count() for c in ("a", "b")} == {"a": 4, "b": 4}
    for condition in ("a", "b"):
        given = Trial.objects.filter(role="main", participant__in=completed.filter(condition=condition))
        per_item = {}
        for item_id in given.values_list("item_id", flat=True):
            per_item[item_id] = per_item.get(item_id, 0) + 1
        # 4 participants × 2 items = every one of the 8 items exactly K=1 time.
        assert set(per_item.values()) == {1} and len(per_item) == 8
    assert Response.objects.count() == Trial.objects.count() == 16
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSED  # every quota met: the study closed itself
