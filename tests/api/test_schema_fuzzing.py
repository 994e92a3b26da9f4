"""Schemathesis against the participant API's OpenAPI schema (/api/v1/schema/), in process.

Every generated request, valid or not, must get a reply the schema documents: no 5xx, a
documented status code, a JSON body of the documented shape, and authentication enforced.
Requests carry a real participant's token, in a live study, with a trial on screen, so the
endpoints are exercised beyond 401. The researcher endpoints in the same schema (staff, by
session cookie) are not part of the participant API and are left out.

Hypothesis runs all examples of one operation inside one test, so they share its database
transaction: the participant may consent, answer or withdraw part-way, and the later
examples then see that state. Generation is derandomized, so a run is reproducible.
"""

from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from studies.models import Study

# negative_data_rejection is left out on purpose: DRF fields coerce like scalars (a detail of
# 0 is stored as "0", an rt_ms of "850" read as 850.0), which the contract does not forbid.
# Bad answers are covered by test_answer_validation_properties.py.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
]
PARTICIPANT_API = r"^/api/v1/(session(/.*)?|studies/\{slug\}/sessions)$"
# The slugs and ids a fuzzer invents seldom name anything in the database; these operations
# are fuzzed a second time with the path pointing at the live study and the trial on screen.
ADDRESSED = r"^/api/v1/(session/trials/\{trial_id\}/.*|studies/\{slug\}/sessions)$"

APP = get_wsgi_application()
SCHEMA_URL = "/api/v1/schema/?format=json"
schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, APP).include(path_regex=PARTICIPANT_API)
addressed = schemathesis.openapi.from_wsgi(SCHEMA_URL, APP).include(path_regex=ADDRESSED)

LIFTED = 1_000_000
FUZZ = settings(
    max_examples=30,
    derandomize=True,
    database=None,
    deadline=None,
    # The participant fixture is shared by all examples of an operation on purpose (see above).
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def on_screen(participant, live_study):
    """A consented participant with their first trial handed out (`next`), for the fuzzer.

    The study's rate limits are lifted: a fuzzer sends far more than a participant, and 429
    from then on would leave the rest of the examples untested (429 is documented and checked
    all the same). Django's WSGI handler closes the database connection after each request,
    which would end the test's transaction: like the test client, the fuzzed requests do
    without that. This comes after the set-up through the test client, which connects it
    again after each of its requests."""
    Study.objects.filter(pk=live_study.pk).update(
        sessions_per_address_per_minute=LIFTED,
        requests_per_token_per_minute=LIFTED,
        requests_per_address_per_minute=LIFTED,
    )
    assert participant.enter().status_code == 201
    assert participant.consent().status_code == 200
    trial = participant.next().json()["trial"]
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield trial
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def statuses():
    """Status codes of the requests that reached a view; after the test, some must have got
    past authentication (else the token was not sent and the fuzzing proved little)."""
    seen = Counter()
    yield seen
    assert seen, "no request reached a view"
    assert set(seen) - {401}, f"every request was refused authentication: {seen}"


def call_and_check(case, participant, statuses: Counter) -> None:
    auth = {"Authorization": f"Bearer {participant.token}"}
    response = case.call(headers=auth)
    try:
        resolve(case.formatted_path)
    except Resolver404:
        # Django's own 404 page, before any view: only a path the schema calls invalid may
        # miss the routes (the schema states what the path converters accept).
        assert case.meta.is_negative_at(ParameterLocation.PATH), case.formatted_path
        assert response.status_code == 404
        return
    statuses[response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=auth)


@schema.parametrize()
@FUZZ
def test_participant_api_replies_as_its_schema_says(case, participant, on_screen, statuses):
    call_and_check(case, participant, statuses)


@addressed.parametrize()
@FUZZ
def test_requests_about_the_live_study_and_the_trial_on_screen_reply_as_the_schema_says(
    case, participant, on_screen, live_study, statuses
):
    path = dict(case.path_parameters)
    if "slug" in path:
        path["slug"] = live_study.slug
    if "trial_id" in path:
        path["trial_id"] = on_screen["id"]
    case.path_parameters = path
    call_and_check(case, participant, statuses)
