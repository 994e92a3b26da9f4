"""Schemathesis against the participant API's OpenAPI schema (/api/v1/schema/), in process,
with hostile strings among what it sends.

Every generated request, valid or not, must get a reply the schema documents: no 5xx, a
documented status code, a JSON body of the documented shape, and authentication enforced.
Requests carry a real participant's token, in a live study, with a trial on screen, so the
endpoints are exercised beyond 401. The researcher endpoints in the same schema (staff, by
session cookie) are not part of the participant API and are left out.

Some of the fuzzer's bodies have strings, numbers and field names swapped for HOSTILE ones:
lone surrogates and U+0000, which no text column can hold, and spreadsheet formulas; session
requests also get a `preview` that is not the admin's signed link. Before issue 14 these were
stored, were a 500 on PostgreSQL, or let a recruit past a paused study's or a Prolific
study's rules. So beyond the schema: a body holding unstorable text is a 400, a refused
request stores nothing, and what is stored is typed (client information only as ClientInfo
declares it, recruitment parameters as text, no test participant). The hypothesis tests at
the end send the same strings to each participant endpoint inside an otherwise valid body,
so that the reply can be predicted exactly, and to studies that are paused, closed, a draft
or on Prolific.

Hypothesis runs all examples of one operation inside one test, so they share its database
transaction: the participant may consent, answer or withdraw part-way, and the later
examples then see that state (the tests at the end roll each example back instead).
Generation is derandomized, so a run is reproducible.
"""

import json
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from studies.api.serializers import MAX_HIDDEN_MS, ClientInfo
from studies.models import AuditLog, ExclusionEvent, Participant, Recruitment, Response, Study, Trial
from studies.services import launch as lifecycle
from tests import factories
from tests.api.test_client_info import BROWSER
from tests.hostile_strings import FORMULAS, UNSTORABLE

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

# ---- hostile strings -----------------------------------------------------------------------

HOSTILE = UNSTORABLE + FORMULAS
# `preview` values that are not the admin's signed link: each must skip no rule.
PREVIEWS = ["", "   ", "garbage", "a:b:c"]
hostile = st.sampled_from(HOSTILE)


def strings(value):
    """Every string in `value`, any JSON: field names and values, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def unstorable(value) -> bool:
    """Whether a string in `value` holds U+0000 or a lone surrogate (written apart from
    studies/api/parsers.py, which it checks)."""
    return any(char == "\x00" or "\ud800" <= char <= "\udfff" for text in strings(value) for char in text)


def sometimes_hostile(value, one_in: int) -> st.SearchStrategy:
    """A hostile string once in `one_in` draws, else `value` (which it shrinks towards)."""
    return st.integers(1, one_in).flatmap(lambda n: hostile if n == one_in else st.just(value))


def spiked(value, one_in: int = 4) -> st.SearchStrategy:
    """`value`, any JSON, with each of its scalars and field names swapped for a hostile
    string once in `one_in` draws."""
    if isinstance(value, dict):
        fields = [
            st.tuples(sometimes_hostile(key, one_in), spiked(item, one_in)) for key, item in value.items()
        ]
        return st.tuples(*fields).map(dict)
    if isinstance(value, list):
        return st.tuples(*(spiked(item, one_in) for item in value)).map(list)
    return sometimes_hostile(value, one_in)


def with_extra_fields(body) -> st.SearchStrategy:
    """A dict `body` with up to two more fields, hostile name and value."""
    if not isinstance(body, dict):
        return st.just(body)
    return st.dictionaries(hostile, hostile, max_size=2).map(lambda extra: {**body, **extra})


def with_preview(body_and_preview: tuple) -> dict:
    body, preview = body_and_preview
    params = body.get("params")
    return {**body, "params": {**(params if isinstance(params, dict) else {}), "preview": preview}}


def flatmap_body(context, body) -> st.SearchStrategy:
    """The fuzzer's body as generated or spiked; a session request's may also carry a
    `preview` that is not the admin's link."""
    bodies = st.just(body) | spiked(body).flatmap(with_extra_fields)
    if context.operation.path.endswith("/sessions") and isinstance(body, dict):
        bodies |= st.tuples(spiked(body), st.sampled_from(PREVIEWS) | hostile).map(with_preview)
    return bodies


schema.hook(flatmap_body)
addressed.hook(flatmap_body)

# ---- what is stored ------------------------------------------------------------------------

# Every row a participant request may write. Rate counters are left out: a refused request
# is counted too.
STORED = [Participant, Recruitment, Trial, Response, AuditLog, ExclusionEvent]


def stored() -> dict[str, list[dict]]:
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in STORED}


def _whole(most: int):
    return lambda value: type(value) is int and 0 <= value <= most


def _size_pair(value) -> bool:
    return type(value) is list and len(value) == 2 and all(map(_whole(100_000), value))


def _views(value) -> bool:
    def one(view) -> bool:
        return (
            type(view) is dict
            and set(view) == {"open_ms", "close_ms"}
            and _whole(MAX_HIDDEN_MS)(view["open_ms"])
            and (view["close_ms"] is None or _whole(MAX_HIDDEN_MS)(view["close_ms"]))
        )

    return type(value) is list and len(value) <= 100 and all(map(one, value))


# ClientInfo's fields (studies/api/serializers.py) and what each may hold once stored: the
# exports read them as these types.
CLIENT_INFO = {
    "dpr": lambda value: type(value) in (int, float) and 0.01 <= value <= 100,
    "viewport": _size_pair,
    "displayed": _size_pair,
    "natural": _size_pair,
    "scaled": lambda value: type(value) is bool,
    "display_scale": lambda value: type(value) in (int, float) and 0.01 <= value <= 4,
    "sha256_checked": lambda value: type(value) is bool,
    "input": lambda value: type(value) is str and value in ("key", "mouse", "touch"),
    "hidden_ms": _whole(MAX_HIDDEN_MS),
    "hidden_count": _whole(100_000),
    "explanation_views": _views,
}


def assert_stored_input_is_typed() -> None:
    """Client information holds only ClientInfo's fields, each of its type; recruitment
    parameters are storable text without `preview`; nobody is a test participant (only the
    admin's signed link makes one, and no request here has it)."""
    for client in Response.objects.values_list("client", flat=True):
        assert type(client) is dict and set(client) <= set(CLIENT_INFO), client
        for field, value in client.items():
            assert CLIENT_INFO[field](value), (field, value)
    for params in Recruitment.objects.values_list("params", flat=True):
        assert all(type(value) is str for value in params.values()), params
        assert "preview" not in params and not unstorable(params), params
    assert not Participant.objects.filter(kind=Participant.Kind.TEST).exists()


def test_the_client_information_check_knows_every_declared_field():
    assert set(CLIENT_INFO) == set(ClientInfo().fields)


# ---- the schema, fuzzed --------------------------------------------------------------------


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


@pytest.fixture
def bodies():
    """JSON bodies sent to a view, and how many held a hostile string: where there were
    bodies, some must have (else flatmap_body was not applied)."""
    sent = Counter()
    yield sent
    assert sent["hostile"] or not sent["all"], f"no hostile string in any of {sent['all']} bodies"


def parsed_as_json(case, route: str | None) -> bool:
    """Whether the view at `route` parses the case's body: a participant endpoint (not the
    catch-all 404), the operation's own method, and JSON (the coverage phase also tries others)."""
    content_type = case.headers.get("Content-Type", case.media_type) if case.headers else case.media_type
    same_method = case.method.upper() == case.operation.method.upper()
    return bool(route) and same_method and content_type == "application/json"


def call_and_check(case, participant, statuses: Counter, bodies: Counter) -> None:
    auth = {"Authorization": f"Bearer {participant.token}"}
    before = stored()
    response = case.call(headers=auth)
    after = stored()
    try:
        route = resolve(case.formatted_path).url_name
    except Resolver404:
        # Django's own 404 page, before any view: only a path the schema calls invalid may
        # miss the routes (the schema states what the path converters accept).
        assert case.meta.is_negative_at(ParameterLocation.PATH), case.formatted_path
        assert response.status_code == 404
        return
    statuses[response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=auth)
    if 400 <= response.status_code < 500:
        assert after == before, "a refused request changed what is stored"
    assert_stored_input_is_typed()
    if parsed_as_json(case, route):
        bodies["all"] += 1
        bodies["hostile"] += any(text in HOSTILE or text == "preview" for text in strings(case.body))
        if unstorable(case.body):
            # Refused as the body is parsed, before the view reads it; only authentication
            # and the rate limits come first.
            assert response.status_code in (400, 401, 429), response.text
            assert response.status_code != 400 or response.json()["code"] == "invalid", response.text


@schema.parametrize()
@FUZZ
def test_participant_api_replies_as_its_schema_says(case, participant, on_screen, statuses, bodies):
    call_and_check(case, participant, statuses, bodies)


@addressed.parametrize()
@FUZZ
def test_requests_about_the_live_study_and_the_trial_on_screen_reply_as_the_schema_says(
    case, participant, on_screen, live_study, statuses, bodies
):
    path = dict(case.path_parameters)
    if "slug" in path:
        path["slug"] = live_study.slug
    if "trial_id" in path:
        path["trial_id"] = on_screen["id"]
    case.path_parameters = path
    call_and_check(case, participant, statuses, bodies)


# ---- hostile strings in otherwise valid bodies ---------------------------------------------

# Each example runs in a savepoint that is rolled back, so every one meets the fixture's
# participant (and trial on screen) as the fixture left them.
HOSTILE_BODIES = settings(FUZZ, max_examples=60)


def post(participant, path: str, body) -> tuple:
    """The reply to `body` at `path`, what was stored before and after, rolled back."""
    auth = {"HTTP_AUTHORIZATION": f"Bearer {participant.token}"} if participant.token else {}
    with transaction.atomic():
        before = stored()
        reply = participant.client.generic(
            "POST", f"/api/v1/{path}", json.dumps(body), content_type="application/json", **auth
        )
        after = stored()
        transaction.set_rollback(True)
    event(str(reply.status_code))
    assert reply["Content-Type"] == "application/json", reply.content[:300]
    return reply, before, after


def new_rows(before: dict, after: dict, model) -> list[dict]:
    known = {row["id"] for row in before[model.__name__]}
    return [row for row in after[model.__name__] if row["id"] not in known]


@pytest.fixture
def studies(live_study, tmp_path) -> dict[str, Study]:
    """The live study (anonymous links), and one study for each rule a newcomer without the
    admin's preview link must meet: a draft, a paused and a closed study, and a Prolific
    study (PROLIFIC_PID required)."""
    made = {
        "live": live_study,
        "draft": factories.study(tmp_path, live=False, slug="draft", set_name="draft"),
        "paused": lifecycle.pause(factories.study(tmp_path, slug="paused", set_name="paused")),
        "closed": lifecycle.close(factories.study(tmp_path, slug="closed", set_name="closed")),
        "prolific": factories.study(tmp_path, slug="prolific", set_name="prolific", platform="prolific"),
    }
    Study.objects.update(sessions_per_address_per_minute=LIFTED)
    return {name: Study.objects.get(pk=study.pk) for name, study in made.items()}


def expected_entry(study: Study, params: dict) -> tuple[int, str | None]:
    """The status and error code a newcomer's `params` must get (parameters are trimmed)."""
    if unstorable(params):
        return 400, "invalid"
    if params.get("preview", "").strip():
        return 400, "bad_preview"
    if study.status not in (Study.Status.LIVE, Study.Status.PILOT):
        return 409, "study_not_live"
    if study.platform == "prolific" and not params.get("PROLIFIC_PID", "").strip():
        return 400, "missing_identity"
    return 201, None


recruit_values = st.sampled_from(["", "5f1a0e2b9c"]) | hostile
session_params = st.builds(
    lambda named, extra: {**extra, **named},
    st.fixed_dictionaries(
        {},
        optional={
            "preview": st.sampled_from(PREVIEWS) | hostile,
            "PROLIFIC_PID": recruit_values,
            "STUDY_ID": recruit_values,
        },
    ),
    st.dictionaries(hostile, hostile, max_size=2),
)


@settings(HOSTILE_BODIES, max_examples=100)
@given(name=st.sampled_from(["live", "draft", "paused", "closed", "prolific"]), params=session_params)
def test_no_hostile_parameter_lets_a_newcomer_skip_a_studys_rules(participant, studies, name, params):
    study = studies[name]
    reply, before, after = post(participant, f"studies/{study.slug}/sessions", {"params": params})
    status, code = expected_entry(study, params)
    assert reply.status_code == status, (reply.status_code, reply.json())
    created = new_rows(before, after, Participant)
    if status != 201:
        assert reply.json()["code"] == code
        assert after == before
        return
    [newcomer] = created
    assert reply.json()["state"] == "consent"
    assert newcomer["study_id"] == study.pk and newcomer["kind"] == Participant.Kind.REAL
    assert bool(newcomer["identity_hash"]) == (name == "prolific")
    [recruitment] = new_rows(before, after, Recruitment)
    assert recruitment["params"] == {key: value.strip() for key, value in params.items() if key != "preview"}


@pytest.fixture
def entered(participant, live_study):
    Study.objects.filter(pk=live_study.pk).update(
        requests_per_token_per_minute=LIFTED, requests_per_address_per_minute=LIFTED
    )
    assert participant.enter().status_code == 201
    return participant


@HOSTILE_BODIES
@given(body=spiked({"version": 1, "agree": True}).flatmap(with_extra_fields))
def test_consent_holding_hostile_strings_is_taken_only_when_valid_and_storable(entered, body):
    reply, before, after = post(entered, "session/consent", body)
    valid = type(body.get("version")) is int and body["version"] == 1 and body.get("agree") is True
    if valid and not unstorable(body):
        assert reply.status_code == 200 and reply.json()["state"] == "trials"
    else:
        assert reply.status_code == 400
        assert after == before


@pytest.fixture
def trial_on_screen(entered):
    assert entered.consent().status_code == 200
    return entered.next().json()["trial"]


@HOSTILE_BODIES
@given(data=st.data())
def test_a_hostile_answer_is_refused_or_stored_only_as_declared(entered, trial_on_screen, data):
    valid = {
        "answer": entered.valid_answer(trial_on_screen),
        "rt_ms": 850,
        "client": BROWSER,
        "key": "key-0000000000000001",
    }
    # About 35 places can be spiked: at one in 50, now and then none is, and an answer with
    # its client information is stored.
    body = data.draw(spiked(valid, one_in=data.draw(st.sampled_from([4, 50]))))
    body["client"] = data.draw(with_extra_fields(body.get("client", {})))
    reply, before, after = post(entered, f"session/trials/{trial_on_screen['id']}/response", body)
    sent = body["client"]
    declared = {field: value for field, value in sent.items() if field in CLIENT_INFO}
    valid_client = all(value == BROWSER[field] for field, value in declared.items())
    valid_rest = all(body.get(field) == valid[field] for field in ("answer", "rt_ms", "key"))
    if valid_client and valid_rest and not unstorable(body):
        assert reply.status_code == 201, reply.json()
        [response] = new_rows(before, after, Response)
        # Undeclared fields, hostile names and values included, are dropped.
        assert response["client"] == declared
        assert all(CLIENT_INFO[field](value) for field, value in response["client"].items())
        assert response["answer"] == valid["answer"] and response["rt_ms"] == 850
    else:
        assert reply.status_code == 400, reply.json()
        assert after == before


PROBLEM = {"reason": "image_unavailable", "detail": "The image did not load."}


@HOSTILE_BODIES
@given(body=spiked(PROBLEM).flatmap(with_extra_fields))
def test_a_hostile_problem_report_is_refused_or_stored_as_text(entered, trial_on_screen, body):
    reply, before, after = post(entered, f"session/trials/{trial_on_screen['id']}/problem", body)
    if body.get("reason") == PROBLEM["reason"] and not unstorable(body):
        assert reply.status_code == 201, reply.json()
        [trial] = [row for row in after["Trial"] if row["id"] == trial_on_screen["id"]]
        assert trial["problem"] == "image_unavailable"
        assert trial["problem_detail"] == body.get("detail", "").strip()
    else:
        assert reply.status_code == 400, reply.json()
        assert after == before
