"""Malformed, oversized or unstorable request bodies get a JSON 400 naming the problem, and
change nothing, on SQLite and PostgreSQL alike.

Regressions, all found by fuzzing: a body of deeply nested brackets (10 kB was enough) made
the JSON decoder raise RecursionError, which DRF's parser let through as a 500; a body over
DATA_UPLOAD_MAX_MEMORY_SIZE got Django's HTML 400 page instead of the API's JSON error; a
null character (U+0000) in the client information or in a parameter's name was stored by
SQLite but was a 500 on PostgreSQL, whose jsonb refuses it."""

import json

import pytest
from django.conf import settings
from django.test import Client

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
    assert Response.objects.get().client == {"screen": json.loads(nested(MAX_DEPTH - 2))}


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


@pytest.mark.parametrize(
    "client",
    [{"agent": "Mozilla\u0000"}, {"agent\u0000": "Mozilla"}, {"screens": [{"name": "\u0000"}]}],
    ids=["in a value", "in a key", "nested"],
)
def test_client_information_with_a_null_character_is_refused_and_stores_nothing(
    participant, on_screen, client
):
    reply = post_raw(
        participant, f"session/trials/{on_screen['id']}/response", answer_body(on_screen, json.dumps(client))
    )
    assert reply.status_code == 400
    assert reply.json()["errors"] == {"client": ["Client information must not contain null characters."]}
    assert not Response.objects.exists()


def test_a_parameter_name_with_a_null_character_creates_no_participant(participant):
    text = json.dumps({"params": {"PROLIFIC_PID\u0000": "5f1a"}})
    reply = post_raw(participant, f"studies/{participant.slug}/sessions", text)
    assert reply.status_code == 400
    assert reply.json()["errors"] == {"params": ["Parameter names must not contain null characters."]}
    assert not Participant.objects.exists()


@pytest.mark.parametrize("path", ["session/trials/abc/response", "no/such/thing", "studies/"])
def test_a_path_under_the_api_that_matches_no_endpoint_is_a_json_404(path):
    reply = Client(enforce_csrf_checks=True).post(f"/api/v1/{path}", {}, content_type="application/json")
    assert reply.status_code == 404 and reply["Content-Type"] == "application/json"
    assert reply.json() == {"detail": "There is no such endpoint.", "code": "not_found"}
