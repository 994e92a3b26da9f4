"""Malformed, oversized or unstorable request bodies get a JSON 400 naming the problem, and
change nothing, on SQLite and PostgreSQL alike.

Regressions, all found by fuzzing: a body of deeply nested brackets (10 kB was enough) made
the JSON decoder raise RecursionError, which DRF's parser let through as a 500; a body over
DATA_UPLOAD_MAX_MEMORY_SIZE got Django's HTML 400 page instead of the API's JSON error; a
null character (U+0000) in the client information or in a parameter's name was stored by
SQLite but was a 500 on PostgreSQL, whose jsonb refuses it. A lone surrogate (JSON's "\\ud800")
was the same on PostgreSQL, was stored by SQLite and then broke every CSV export, and in an
answer was a 500 on both (the error message quoting it could not be rendered)."""

import json

import pytest
from django.conf import settings

from studies.api.parsers import MAX_DEPTH
from studies.models import Participant, Response


def nested(depth: int, inner: str = "1") -> str:
    """`depth` levels of lists around `inner`, as JSON text: built as text because
    json.dumps of such a value would itself run out of recursion."""
    return "[" * depth + inner + "]" * depth


def post_raw(participant, path: str, text: str):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {participant.token}"} if participant.token else {}
    return participant.client.generic(
        "POST", f"/api/v1/{path}", text, content_type="application/json", **auth
    )


@pytest.fixture
def on_screen(participant):
    participant.enter()
    participant.consent()
    return participant.next().json()["trial"]


def answer_body(trial: dict, client: str = "{}") -> str:
    """A valid answer to `trial`; with `{"screen": nested(n)}` as client it is n + 2 levels deep
    (the body and the client are dicts, then n lists)."""
    answer = json.dumps({"selected": [trial["options"][0]["id"]]})
    return f'{{"answer": {answer}, "rt_ms": 850, "client": {client}, "key": "key-0000000000000001"}}'


# One level too many, past where json.load gave up with RecursionError, and far past it.
@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, 2_000, 100_000])
def test_an_answer_nested_too_deeply_is_a_parse_error_and_stores_nothing(participant, on_screen, depth):
    text = answer_body(on_screen, client=f'{{"screen": {nested(depth)}}}')
    reply = post_raw(participant, f"session/trials/{on_screen['id']}/response", text)
    assert reply.status_code == 400
    assert reply.json() == {
        "detail": f"JSON parse error - nested deeper than {MAX_DEPTH} levels.",
        "code": "parse_error",
    }
    assert not Response.objects.exists()


def test_a_body_exactly_as_deep_as_allowed_is_accepted(participant, on_screen):
    text = answer_body(on_screen, client=f'{{"screen": {nested(MAX_DEPTH - 2)}}}')
    reply = post_raw(participant, f"session/trials/{on_screen['id']}/response", text)
    assert reply.status_code == 201, reply.json()
    assert Response.objects.get().client == {}  # not a declared field: dropped (ClientInfo)


def test_deeply_nested_session_parameters_create_no_participant(participant):
    reply = post_raw(participant, f"studies/{participant.slug}/sessions", f'{{"params": {nested(50_000)}}}')
    assert reply.status_code == 400
    assert reply.json()["code"] == "parse_error"
    assert not Participant.objects.exists()


def test_deeply_nested_consent_is_a_parse_error_and_leaves_consent_open(participant):
    participant.enter()
    reply = post_raw(participant, "session/consent", f'{{"version": 1, "agree": {nested(50_000, "true")}}}')
    assert reply.status_code == 400
    assert reply.json()["code"] == "parse_error"
    assert participant.get("session").json()["state"] == "consent"


def test_an_answer_larger_than_the_upload_limit_is_refused_as_json_and_stores_nothing(participant, on_screen):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    text = answer_body(on_screen, client=json.dumps({"notes": "x" * limit}))
    reply = post_raw(participant, f"session/trials/{on_screen['id']}/response", text)
    assert reply.status_code == 400
    detail = f"The request body is larger than {limit:,} bytes."
    assert reply.json() == {"detail": detail, "code": "too_large"}
    assert not Response.objects.exists()


NULL = "Null characters (U+0000) are not allowed."
SURROGATE = "Not valid Unicode text (a lone surrogate)."


@pytest.mark.parametrize(
    "client, errors",
    [
        ({"input": "key\u0000"}, {"client": {"input": [NULL]}}),
        ({"input\u0000": "key"}, {"client": [f"A field name: {NULL}"]}),
        (
            {"explanation_views": [{"open_ms": "\u0000"}]},
            {"client": {"explanation_views": {"0": {"open_ms": [NULL]}}}},
        ),
        ({"input": "\ud800"}, {"client": {"input": [SURROGATE]}}),
        ({"\udfff": 1}, {"client": [f"A field name: {SURROGATE}"]}),
    ],
    ids=["null in a value", "null in a key", "nested", "surrogate in a value", "surrogate in a key"],
)
def test_client_information_with_unstorable_text_is_refused_naming_the_field_and_stores_nothing(
    participant, on_screen, client, errors
):
    reply = post_raw(
        participant, f"session/trials/{on_screen['id']}/response", answer_body(on_screen, json.dumps(client))
    )
    assert reply.status_code == 400
    assert reply.json() == {"detail": "The request is invalid.", "code": "invalid", "errors": errors}
    assert not Response.objects.exists()


@pytest.mark.parametrize(
    "answer, errors",
    [
        ({"selected": ["\ud800"]}, {"answer": {"selected": {"0": [SURROGATE]}}}),
        ({"choice": "a\udc00b"}, {"answer": {"choice": [SURROGATE]}}),
    ],
)
def test_an_answer_with_a_lone_surrogate_is_a_json_400(participant, on_screen, answer, errors):
    body = json.dumps({"answer": answer, "rt_ms": 850, "key": "key-0000000000000001"})
    reply = post_raw(participant, f"session/trials/{on_screen['id']}/response", body)
    assert reply.status_code == 400 and reply["Content-Type"] == "application/json"
    assert reply.json()["errors"] == errors
    assert not Response.objects.exists()


def test_an_idempotency_key_with_a_lone_surrogate_is_a_json_400(participant, on_screen):
    answer = {"selected": [on_screen["options"][0]["id"]]}
    body = json.dumps({"answer": answer, "rt_ms": 850, "key": "key-00000000000\ud800"})
    reply = post_raw(participant, f"session/trials/{on_screen['id']}/response", body)
    assert reply.status_code == 400
    assert reply.json()["errors"] == {"key": [SURROGATE]}
    assert not Response.objects.exists()


@pytest.mark.parametrize(
    "params, errors",
    [
        ({"PROLIFIC_PID\u0000": "5f1a"}, {"params": [f"A field name: {NULL}"]}),
        ({"PROLIFIC_PID": "5f1a\ud800"}, {"params": {"PROLIFIC_PID": [SURROGATE]}}),
        ({"\ud834": "x"}, {"params": [f"A field name: {SURROGATE}"]}),
        ({"PROLIFIC_PID": 12345}, {"params": {"PROLIFIC_PID": ["A string is required."]}}),
        ({"p" * 101: "x"}, {"params": ["Parameter names are at most 100 characters."]}),
    ],
    ids=["null in a name", "surrogate in a value", "surrogate in a name", "a number", "a long name"],
)
def test_unstorable_or_untyped_parameters_create_no_participant(participant, params, errors):
    reply = post_raw(participant, f"studies/{participant.slug}/sessions", json.dumps({"params": params}))
    assert reply.status_code == 400
    assert reply.json()["errors"] == errors
    assert not Participant.objects.exists()
