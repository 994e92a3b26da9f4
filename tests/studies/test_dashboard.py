"""The live dashboard: the funnel, conditions against quotas, judgments against K,
attention and exclusions, for real participants only; staff with the permission only."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from studies.models import Condition, Participant, Trial
from studies.services import dashboard, sessions
from studies.services import launch as lifecycle
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(tmp_path):
    created = factories.study(
        tmp_path,
        live=False,
        slug="watched",
        per_participant=2,
        judgments_per_item=3,
        attention_checks=1,
        exclusion_rules=[{"rule": "median_rt", "threshold": 300, "mode": "posthoc"}],
    )
    Condition.objects.create(study=created, name="a", weight=1, quota=5)
    Condition.objects.create(study=created, name="b", weight=1, quota=5)
    lifecycle.launch(created)
    created.refresh_from_db()
    return created


def arrive(study, params=None):
    client = ParticipantClient(APIClient(), study.slug)
    client.enter(params)
    return client


def finish(client, rt_ms=900, fail_check=False):
    while (trial := client.next().json()["trial"]) is not None:
        answer = {"selected": [trial["options"][0]["id"]]}
        if trial["kind"] == "attention":
            asked = Trial.objects.get(pk=trial["id"]).expected["choice"]
            wrong = next(o["id"] for o in trial["options"] if o["id"] != asked)
            answer = {"choice": wrong if fail_check else asked}
        client.respond(trial, answer, rt_ms=rt_ms)


def test_the_numbers_follow_every_way_through_the_funnel(study):
    done = arrive(study)
    done.consent()
    finish(done, fail_check=True)
    fast = arrive(study)
    fast.consent()
    finish(fast, rt_ms=100)  # flagged by the post-hoc rule
    arrive(study).consent(agree=False)
    leaver = arrive(study)
    leaver.consent()
    leaver.post("session/withdraw")
    idle = arrive(study)
    idle.consent()
    Participant.objects.filter(pk=Participant.objects.order_by("-id").first().pk).update(
        last_active_at=timezone.now() - timedelta(hours=2)
    )
    arrive(study).consent()  # judging now
    arrive(study)  # still reading the consent
    arrive(study, {"preview": sessions.preview_token(study)}).consent()

    numbers = dashboard.summary(study)
    assert numbers["funnel"] == {
        "entered": 7,
        "consented": 5,
        "completed": 2,
        "screened_out": 0,
        "no_consent": 1,
        "withdrawn": 1,
        "full": 0,
        "active": 1,
        "abandoned": 1,
        "reading_consent": 1,
        "pilot_or_preview": 1,
    }
    by_name = {c["name"]: c for c in numbers["conditions"]}
    assert sum(c["valid_completed"] for c in by_name.values()) == 1  # the flagged one is not valid
    assert sum(c["excluded"] for c in by_name.values()) == 1
    assert {c["quota"] for c in by_name.values()} == {5}
    assert numbers["attention"] == {"answered": 2, "failed": 1, "percent_failed": 50.0}
    assert numbers["exclusions"] == [{"rule": "median_rt", "mode": "posthoc", "n": 1}]
    assert numbers["judgments"]["k"] == 3 and numbers["judgments"]["max"] == 1
    assert sum(n for _, n in numbers["judgments"]["histogram"]) == numbers["judgments"]["items"] == 6


def test_the_dashboard_page_is_for_staff_with_the_permission(study, django_user_model):
    url = f"/studies/{study.slug}/dashboard/"
    assert Client().get(url).status_code == 302  # to the admin login
    outsider = Client()
    outsider.force_login(django_user_model.objects.create_user("someone", password="pw", is_staff=True))
    assert outsider.get(url).status_code == 403
    staff = Client()
    staff.force_login(factories.researcher())
    page = staff.get(url + "?refresh=5")
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    assert 'data-refresh-seconds="5"' in html and '<table id="conditions">' in html


def test_a_study_not_launched_yet_has_nothing_to_show(tmp_path):
    draft = factories.study(tmp_path, live=False, slug="draft")
    staff = Client()
    staff.force_login(factories.researcher())
    assert "has not been launched yet" in staff.get(f"/studies/{draft.slug}/dashboard/").content.decode()
