"""The admin login locks out an account, and an address, after a few failed passwords
(django-axes, config/admin_login.py), for a cool-off period, even with the right password.

Regression: 30 wrong passwords in a row, then the right one, logged in."""

from datetime import timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from rest_framework.test import APIClient

from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db
PASSWORD = "pw-researcher"  # tests.factories.researcher's
LIMIT = settings.AXES_FAILURE_LIMIT
COOL_OFF = settings.AXES_COOLOFF_TIME


def log_in(username: str, password: str, address: str = "192.0.2.10", **headers):
    """A POST of the admin's login form; 302 to the admin when it logs in."""
    client = Client(REMOTE_ADDR=address)
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, **headers)


def logged_in(reply) -> bool:
    return reply.status_code == 302 and reply["Location"] == "/admin/"


def fail(times: int, username: str = "researcher", address: str = "192.0.2.10", **headers) -> list[int]:
    return [log_in(username, "wrong", address, **headers).status_code for _ in range(times)]


def age_attempts(by: timedelta):
    """What the clock passing `by` does to the failures on record."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - by)


@pytest.fixture
def researcher():
    return factories.researcher()


def test_by_default_five_failures_lock_out_for_fifteen_minutes():
    # As README.md says; ADMIN_LOGIN_FAILURE_LIMIT and ADMIN_LOGIN_LOCKOUT_MINUTES change them.
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60


def test_the_right_password_is_refused_once_an_account_reached_the_limit(researcher):
    assert fail(LIMIT - 1) == [200] * (LIMIT - 1)
    assert fail(1) == [429]  # the failure that reaches the limit is already refused
    refused = log_in("researcher", PASSWORD)
    assert refused.status_code == 429 and "_auth_user_id" not in refused.client.session


def test_thirty_wrong_passwords_then_the_right_one_do_not_log_in(researcher):
    fail(30)
    assert log_in("researcher", PASSWORD).status_code == 429


def test_an_account_is_locked_out_whichever_addresses_the_failures_came_from(researcher):
    for n in range(LIMIT):
        fail(1, address=f"198.51.100.{n}")
    assert log_in("researcher", PASSWORD, address="203.0.113.7").status_code == 429


def test_an_address_is_locked_out_for_every_account_once_it_reached_the_limit(researcher):
    factories.researcher("colleague")
    for n in range(LIMIT):
        fail(1, username=f"guess-{n}")  # under the limit for each account
    assert log_in("researcher", PASSWORD).status_code == 429
    assert log_in("colleague", PASSWORD).status_code == 429
    # Only that address: the same accounts log in from elsewhere.
    assert logged_in(log_in("researcher", PASSWORD, address="203.0.113.7"))


def test_a_successful_login_before_the_limit_resets_the_count(researcher):
    fail(LIMIT - 1)
    assert logged_in(log_in("researcher", PASSWORD))
    assert fail(LIMIT - 1) == [200] * (LIMIT - 1)
    assert logged_in(log_in("researcher", PASSWORD))


def test_the_lockout_ends_after_the_cool_off(researcher):
    fail(LIMIT)
    age_attempts(COOL_OFF - timedelta(minutes=1))
    assert log_in("researcher", PASSWORD).status_code == 429
    # That refused attempt counted as a failure: the cool-off starts again from it.
    age_attempts(COOL_OFF - timedelta(minutes=1))
    assert log_in("researcher", PASSWORD).status_code == 429
    age_attempts(COOL_OFF + timedelta(seconds=1))
    assert logged_in(log_in("researcher", PASSWORD))


def test_axes_reset_lifts_every_lockout(researcher):
    fail(LIMIT)
    output = StringIO()
    call_command("axes_reset", stdout=output)
    assert "attempts removed" in output.getvalue()
    assert logged_in(log_in("researcher", PASSWORD))


def test_axes_reset_username_lifts_that_accounts_lockout(researcher):
    fail(LIMIT, address="198.51.100.1")
    call_command("axes_reset_username", "researcher", stdout=StringIO())
    assert logged_in(log_in("researcher", PASSWORD, address="203.0.113.7"))


def test_a_forwarded_for_header_written_by_the_client_does_not_escape_the_lockout(researcher, settings):
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
    for n in range(LIMIT):
        fail(1, username=f"guess-{n}", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    reply = log_in("researcher", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert reply.status_code == 429


def test_behind_a_trusted_proxy_one_client_is_locked_out_not_every_client(researcher, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.1"
    for n in range(LIMIT):
        fail(1, username=f"guess-{n}", address=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1")
    locked = log_in("researcher", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert locked.status_code == 429
    # The address the proxy reports is the one counted: a client can only prepend to it.
    spoofed = log_in("researcher", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.1")
    assert spoofed.status_code == 429
    assert logged_in(log_in("researcher", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7"))


def test_a_forwarded_address_that_is_not_an_address_counts_as_the_proxys(researcher, settings):
    # A proxy that forwards a client's header unchecked (NUM_PROXIES set too high): the
    # value is no address, and storing it would fail on PostgreSQL's inet column.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 2}
    for n in range(LIMIT):
        fail(1, username=f"guess-{n}", address="10.0.0.1", HTTP_X_FORWARDED_FOR=f"not-an-address-{n}")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"10.0.0.1"}
    assert log_in("researcher", PASSWORD, address="10.0.0.1").status_code == 429


def test_the_lockout_page_is_plain_and_keeps_the_content_security_policy(researcher):
    fail(LIMIT)
    reply = log_in("researcher", PASSWORD)
    assert reply.status_code == 429
    assert reply["Content-Type"] == "text/html; charset=utf-8"
    assert int(reply["Retry-After"]) == COOL_OFF.total_seconds()
    body = reply.content.decode()
    assert "Too many failed logins" in body and "<script" not in body
    policy = reply["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy


def test_participants_at_a_locked_out_address_carry_on(live_study):
    for n in range(LIMIT):
        fail(1, username=f"guess-{n}", address="127.0.0.1")
    participant = ParticipantClient(APIClient(REMOTE_ADDR="127.0.0.1"), live_study.slug)
    assert participant.enter().status_code == 201
    assert participant.consent().status_code == 200
    trial = participant.next().json()["trial"]
    assert participant.answer(trial).status_code == 201
