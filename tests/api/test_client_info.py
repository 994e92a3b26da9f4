"""What a participant's browser reports with an answer is typed at the door (ClientInfo in
studies/api/serializers.py): a value of another type is a 400 naming the field, undeclared
fields are dropped, and what is stored is what the export's columns say.

Regressions: `"client": {"hidden_ms": "=1+1"}` was stored (201) and participants.csv then
stopped half-way; `"rt_ms": true` was stored as 1."""

import json

import pytest

from studies.models import Response
from tests.api.test_request_bodies import post_raw

# As static/js/trial/main.js sends it, toggled explanation included.
BROWSER = {
    "dpr": 2.625,
    "viewport": [412, 915],
    "displayed": [224, 224],
    "natural": [224, 224],
    "scaled": False,
    "display_scale": 1,
    "sha256_checked": True,
    "input": "touch",
    "hidden_ms": 0,
    "hidden_count": 0,
    "explanation_views": [{"open_ms": 812, "close_ms": 1904}, {"open_ms": 2500, "close_ms": None}],
}


@pytest.fixture
def on_screen(participant):
    participant.enter()
    participant.consent()
    return participant.next().json()["trial"]


def send(participant, trial, rt_ms=850, client=None, raw_client: str | None = None):
    answer = json.dumps({"selected": [trial["options"][0]["id"]]})
    client_text = raw_client if raw_client is not None else json.dumps(client or {})
    key = json.dumps(f"key-{trial['id']:016d}")
    text = f'{{"answer": {answer}, "rt_ms": {json.dumps(rt_ms)}, "client": {client_text}, "key": {key}}}'
    return post_raw(participant, f"session/trials/{trial['id']}/response", text)


def test_what_the_browser_sends_is_stored_as_sent(participant, on_screen):
    assert send(participant, on_screen, client=BROWSER).status_code == 201
    assert Response.objects.get().client == BROWSER


def test_a_display_scaled_down_to_fit_is_stored_as_its_fraction(participant, on_screen):
    assert send(participant, on_screen, client={"display_scale": 0.625, "scaled": True}).status_code == 201
    assert Response.objects.get().client == {"display_scale": 0.625, "scaled": True}


def test_undeclared_client_fields_are_dropped(participant, on_screen):
    reply = send(participant, on_screen, client={"input": "key", "notes": "=HYPERLINK(1)", "extra": {"a": 1}})
    assert reply.status_code == 201
    assert Response.objects.get().client == {"input": "key"}


def test_whole_numbers_sent_as_floats_are_stored_as_integers(participant, on_screen):
    assert (
        send(participant, on_screen, client={"hidden_ms": 1500.0, "viewport": [800.0, 600]}).status_code
        == 201
    )
    stored = Response.objects.get().client
    assert stored == {"hidden_ms": 1500, "viewport": [800, 600]}
    assert isinstance(stored["hidden_ms"], int)


@pytest.mark.parametrize(
    "client, field, message",
    [
        ({"hidden_ms": "=1+1"}, "hidden_ms", "A whole number is required."),
        ({"hidden_ms": True}, "hidden_ms", "A whole number is required."),
        ({"hidden_ms": 12.5}, "hidden_ms", "A whole number is required."),
        ({"hidden_ms": -1}, "hidden_ms", "Ensure this value is greater than or equal to 0."),
        ({"hidden_count": "3"}, "hidden_count", "A whole number is required."),
        ({"dpr": "2"}, "dpr", "A finite number is required."),
        ({"dpr": False}, "dpr", "A finite number is required."),
        ({"scaled": 1}, "scaled", "true or false is required."),
        ({"scaled": "true"}, "scaled", "true or false is required."),
        ({"display_scale": "2"}, "display_scale", "A finite number is required."),
        ({"display_scale": True}, "display_scale", "A finite number is required."),
        ({"display_scale": 0}, "display_scale", "Ensure this value is greater than or equal to 0.01."),
        ({"display_scale": -2}, "display_scale", "Ensure this value is greater than or equal to 0.01."),
        ({"display_scale": 5}, "display_scale", "Ensure this value is less than or equal to 4."),
        ({"sha256_checked": None}, "sha256_checked", "This field may not be null."),
        ({"input": "=cmd|' /C calc'!A0"}, "input", "\"=cmd|' /C calc'!A0\" is not a valid choice."),
        ({"input": ["key"]}, "input", "\"['key']\" is not a valid choice."),
    ],
)
def test_a_client_value_of_another_type_is_a_400_naming_the_field(
    participant, on_screen, client, field, message
):
    reply = send(participant, on_screen, client=client)
    assert reply.status_code == 400
    assert reply.json() == {
        "detail": "The request is invalid.",
        "code": "invalid",
        "errors": {"client": {field: [message]}},
    }
    assert not Response.objects.exists()


@pytest.mark.parametrize(
    "client, errors",
    [
        ({"viewport": [800, "x"]}, {"viewport": {"1": ["A whole number is required."]}}),
        ({"viewport": [800]}, {"viewport": ["Ensure this field has at least 2 elements."]}),
        ({"displayed": "224x224"}, {"displayed": ['Expected a list of items but got type "str".']}),
        (
            {"explanation_views": [{"open_ms": "@SUM(A1:A9)", "close_ms": None}]},
            {"explanation_views": {"0": {"open_ms": ["A whole number is required."]}}},
        ),
        (
            {"explanation_views": [{"open_ms": 1, "close_ms": None}] * 101},
            {"explanation_views": {"non_field_errors": ["Ensure this field has no more than 100 elements."]}},
        ),
        ("not an object", {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
    ],
    ids=["pair item", "pair length", "pair type", "view field", "too many views", "not an object"],
)
def test_nested_client_values_are_typed_too(participant, on_screen, client, errors):
    reply = send(participant, on_screen, client=client)
    assert reply.status_code == 400
    assert reply.json()["errors"] == {"client": errors}
    assert not Response.objects.exists()


def test_an_infinite_number_is_refused(participant, on_screen):
    # json.loads reads 1e400 as float("inf"), which no column can hold.
    reply = send(participant, on_screen, raw_client='{"dpr": 1e400}')
    assert reply.status_code == 400
    assert reply.json()["errors"] == {"client": {"dpr": ["A finite number is required."]}}


@pytest.mark.parametrize("rt_ms", [True, "850", None, [850], -1, 1e9])
def test_a_reaction_time_that_is_not_a_number_in_range_is_refused(participant, on_screen, rt_ms):
    reply = send(participant, on_screen, rt_ms=rt_ms)
    assert reply.status_code == 400 and list(reply.json()["errors"]) == ["rt_ms"]
    assert not Response.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"version": "1", "agree": True},
        {"version": 1, "agree": "true"},
        {"version": True, "agree": True},
        {"version": 1, "agree": 1},
    ],
)
def test_consent_fields_are_typed(participant, body):
    participant.enter()
    reply = participant.post("session/consent", body)
    assert reply.status_code == 400
    assert participant.get("session").json()["state"] == "consent"


def test_a_number_too_long_for_a_float_is_out_of_range_not_a_crash(participant, on_screen):
    reply = send(participant, on_screen, raw_client='{"hidden_ms": ' + "9" * 400 + "}")
    assert reply.status_code == 400
    assert list(reply.json()["errors"]["client"]) == ["hidden_ms"]
