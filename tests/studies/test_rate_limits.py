"""Rate limits on the participant API: new sessions per client address, requests per
participant token and per address, each at its study's limits, counted in the database."""

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from studies.models import Participant, RateCounter, Response
from studies.services import rate_limits
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db
# 20 s into a minute: every request of a test falls in the same window.
NOW = datetime(2026, 11, 28, 12, 30, 20, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(rate_limits, "clock", lambda: NOW)
    # No purge by chance: a test that purges finds every window it made.
    monkeypatch.setattr(rate_limits, "PURGE_CHANCE", 0.0)


def test_a_request_over_the_limit_is_refused_until_the_next_minute():
    limit = rate_limits.Limit("answers:token:1", 3)
    assert [rate_limits.count([limit]) for _ in range(3)] == [None, None, None]
    exceeded = rate_limits.count([limit])
    assert exceeded == rate_limits.Exceeded(limit, 40)
    assert rate_limits.count([limit], now=NOW + timedelta(seconds=40)) is None


def test_one_request_counts_against_every_key_and_reports_the_first_exceeded():
    token, address = rate_limits.Limit("participant:1", 5), rate_limits.Limit("address:10.1.1.1", 2)
    rate_limits.count([token, address])
    rate_limits.count([token, address])
    assert rate_limits.count([token, address]).limit == address
    counts = dict(RateCounter.objects.values_list("key", "count"))
    assert counts == {"participant:1": 3, "address:10.1.1.1": 3}


def test_old_windows_are_purged():
    rate_limits.count([rate_limits.Limit("a", 1)], now=NOW - timedelta(hours=2))
    rate_limits.count([rate_limits.Limit("a", 1)])
    assert rate_limits.purge() == 1
    assert RateCounter.objects.get().window_start == NOW.replace(second=0)


def test_counting_purges_old_windows_now_and_then(monkeypatch):
    rate_limits.count([rate_limits.Limit("a", 1)], now=NOW - timedelta(hours=2))
    monkeypatch.setattr(rate_limits, "PURGE_CHANCE", 1.0)
    rate_limits.count([rate_limits.Limit("a", 1)])
    assert RateCounter.objects.get().window_start == NOW.replace(second=0)


def enter(study, address="203.0.113.7", **headers):
    return APIClient().post(
        f"/api/v1/studies/{study.slug}/sessions",
        {"params": {}},
        format="json",
        REMOTE_ADDR=address,
        **headers,
    )


def test_new_sessions_per_address_stop_at_the_studys_limit(tmp_path):
    study = factories.study(tmp_path, sessions_per_address_per_minute=3)
    assert [enter(study).status_code for _ in range(3)] == [201, 201, 201]
    refused = enter(study)
    assert refused.status_code == 429 and refused["Retry-After"] == "40"
    assert refused.json()["code"] == "throttled"
    assert "at most 3 a minute" in refused.json()["detail"]
    assert Participant.objects.count() == 3
    # Another address is not affected.
    assert enter(study, address="198.51.100.2").status_code == 201


def test_a_study_can_raise_its_limit_for_participants_who_share_an_address(tmp_path):
    study = factories.study(tmp_path, sessions_per_address_per_minute=40, per_participant=1, n_images=6)
    assert {enter(study).status_code for _ in range(35)} == {201}


def test_a_forwarded_for_header_written_by_the_client_does_not_escape_the_limit(tmp_path, settings):
    study = factories.study(tmp_path, sessions_per_address_per_minute=2)
    replies = [enter(study, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code for n in range(3)]
    assert replies == [201, 201, 429]


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_clients(tmp_path, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    study = factories.study(tmp_path, sessions_per_address_per_minute=2)
    replies = [
        enter(study, address="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code for n in range(4)
    ]
    assert replies == [201, 201, 201, 201]


def test_an_unknown_study_is_limited_like_a_known_one(tmp_path):
    study = factories.study(tmp_path, sessions_per_address_per_minute=30)
    missing = type("Missing", (), {"slug": "no-such-study"})
    replies = [enter(missing).status_code for _ in range(31)]
    assert replies == [404] * 30 + [429]
    # Each study counts its own sessions: the address can still enter a real one.
    assert enter(study).status_code == 201


def test_requests_per_token_stop_at_the_limit_and_store_nothing_refused(tmp_path):
    study = factories.study(tmp_path, requests_per_token_per_minute=4, per_participant=4)
    participant = ParticipantClient(APIClient(), study.slug)
    participant.enter()
    assert participant.consent().status_code == 200  # 1
    trial = participant.next().json()["trial"]  # 2
    assert participant.answer(trial).status_code == 201  # 3
    trial = participant.next().json()["trial"]  # 4
    refused = participant.answer(trial)
    assert refused.status_code == 429 and int(refused["Retry-After"]) == 40
    assert Response.objects.count() == 1
    # Another participant of the same study has their own allowance.
    other = ParticipantClient(APIClient(), study.slug)
    other.enter()
    assert other.consent().status_code == 200


def test_requests_from_one_address_count_across_participants(tmp_path):
    study = factories.study(tmp_path, requests_per_address_per_minute=3)
    first, second = ParticipantClient(APIClient(), study.slug), ParticipantClient(APIClient(), study.slug)
    first.enter(), second.enter()
    assert first.consent().status_code == 200
    assert second.consent().status_code == 200
    assert first.next().status_code == 200
    assert second.next().status_code == 429
