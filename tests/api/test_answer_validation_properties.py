"""Property tests of answer validation (studies/services/task_kinds.validate_answer).

For every task kind and any JSON value as an answer: either the answer comes back in
canonical form (which is valid itself, keeps the participant's choice and names only options
the trial showed) or Invalid is raised with the API's 400 error, never another exception.
Every answer made from the trial's own options is accepted. Through the HTTP API, any body
sent to the trial on screen gets a 201 or a JSON 4xx, and a refused one stores nothing.
"""

import copy
import json
import re

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from inference.labelsets import imagenet_1k
from studies.api.parsers import unstorable_text
from studies.api.serializers import MAX_RT_MS
from studies.models import Response, Study, Trial
from studies.services import task_kinds
from studies.services.errors import Invalid
from tests import factories
from tests.conftest import ParticipantClient

KINDS = [*Study.TaskKind.values, task_kinds.ATTENTION]
CLASS_IDS = imagenet_1k().class_ids
PROPERTIES = settings(max_examples=300, derandomize=True, database=None, deadline=None)

# ---- strategies --------------------------------------------------------------------------

# What json.loads can hand the server (DRF's parser refuses NaN and infinities), with null
# characters and lone surrogates (JSON's "\\ud800") more often than chance would draw them:
# neither can be stored as text, and Hypothesis's text() never draws a surrogate.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "a\udfffb"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
not_strings = json_values.filter(lambda value: not isinstance(value, str))
# Label ids as label sets have them, and odd strings a custom label set might use.
label_ids = st.sampled_from(CLASS_IDS) | st.text(min_size=1, max_size=12)


def labels(size: int, most: int | None = None):
    """Distinct label ids for options, never the id of "none of these"."""
    ids = label_ids.filter(lambda i: i != task_kinds.NONE_OPTION["id"])
    return st.lists(ids, min_size=size, max_size=most or size, unique=True)


@st.composite
def trial_specs(draw, kinds=KINDS) -> dict:
    """A trial of any kind with options as task_kinds makes them, as plain data (Hypothesis
    prints what it drew, and an unsaved Trial cannot print itself)."""
    kind = draw(st.sampled_from(kinds))
    if kind == Study.TaskKind.TOPK_SELECT:
        options = [{"id": i, "text": f"label {i}"} for i in draw(labels(1, 10))] + [task_kinds.NONE_OPTION]
    elif kind in (Study.TaskKind.LABEL_CHECK, Study.TaskKind.MANIPULATION_CHECK):
        options = [task_kinds.YES, task_kinds.NO]
    elif kind == Study.TaskKind.FORCED_CHOICE:
        options = [{"id": i, "text": f"label {i}"} for i in draw(labels(2))]
    else:
        options = [{"id": i, "text": f"label {i}"} for i in draw(labels(1, task_kinds.ATTENTION_OPTIONS))]
    return {"kind": kind, "options": options, "config": {"ask_confidence": draw(st.booleans())}}


def build(spec: dict) -> tuple[Trial, dict]:
    return Trial(kind=spec["kind"], options=spec["options"]), spec["config"]


def shown(trial: Trial) -> list[str]:
    return [option["id"] for option in trial.options]


@st.composite
def valid_answers(draw, trial: Trial, config: dict) -> dict:
    """An answer a participant could give by clicking: shown options only, in any order."""
    ids = shown(trial)
    if trial.kind == Study.TaskKind.TOPK_SELECT:
        if draw(st.booleans()):
            return {"selected": [task_kinds.NONE_OPTION["id"]]}
        labels_shown = ids[:-1]  # the last option is "none of these", which stands alone
        return {"selected": draw(st.lists(st.sampled_from(labels_shown), min_size=1, unique=True))}
    answer = {"choice": draw(st.sampled_from(ids))}
    if task_kinds.asks_confidence(trial, config):
        answer["confidence"] = draw(st.integers(1, 5))
    return answer


# Confidences that look like a whole number from 1 to 5 but are not one (True == 1 in Python).
LOOKALIKE_CONFIDENCES = st.sampled_from([True, False, 1.0, 3.0, 5.0, 2.5, "3", [3], {"value": 3}])


@st.composite
def defective(draw, trial: Trial, config: dict, answer: dict) -> tuple[str, dict]:
    """A valid `answer` with exactly one thing wrong, and what: each is a reason to refuse."""
    ids, answer = shown(trial), copy.deepcopy(answer)
    stranger = label_ids.filter(lambda i: i not in ids)
    not_a_list = json_values.filter(lambda value: type(value) is not list)
    extra_field = st.text(max_size=10).filter(lambda name: name not in answer)
    if trial.kind == Study.TaskKind.TOPK_SELECT:
        selected, none = answer["selected"], task_kinds.NONE_OPTION["id"]
        at = draw(st.integers(0, len(selected)))
        defects = {
            "repeated option": lambda: selected.insert(at, draw(st.sampled_from(selected))),
            "option not shown": lambda: selected.insert(at, draw(stranger)),
            "not a string": lambda: selected.insert(at, draw(not_strings)),
            "none with others": lambda: selected.insert(at, none if none not in selected else ids[0]),
            "nothing selected": lambda: selected.clear(),
            "not a list": lambda: answer.update(selected=draw(not_a_list)),
            "no selection field": lambda: answer.clear(),
            "extra field": lambda: answer.update({draw(extra_field): draw(json_values)}),
        }
    else:
        defects = {
            "option not shown": lambda: answer.update(choice=draw(stranger)),
            "choice not a string": lambda: answer.update(choice=draw(not_strings | st.just(ids))),
            "missing choice": lambda: answer.pop("choice"),
            "extra field": lambda: answer.update({draw(extra_field): draw(json_values)}),
        }
        if "confidence" in answer:
            defects["confidence lookalike"] = lambda: answer.update(confidence=draw(LOOKALIKE_CONFIDENCES))
            out_of_range = st.integers(max_value=0) | st.integers(min_value=6)
            defects["confidence out of range"] = lambda: answer.update(confidence=draw(out_of_range))
            other_type = json_values.filter(lambda value: type(value) is not int)
            defects["confidence of another type"] = lambda: answer.update(confidence=draw(other_type))
            defects["missing confidence"] = lambda: answer.pop("confidence")
        else:  # not asked: even a good one is refused
            defects["confidence not asked"] = lambda: answer.update(confidence=draw(st.integers(1, 5)))
    name = draw(st.sampled_from(sorted(defects)))
    defects[name]()
    return name, answer


FIELDS = ["selected", "choice", "confidence"]


@st.composite
def tampered_answers(draw, trial: Trial, config: dict) -> dict:
    """A valid answer with a defect, and perhaps one of its fields then set to any value."""
    answer = draw(defective(trial, config, draw(valid_answers(trial, config))))[1]
    if draw(st.booleans()):
        answer[draw(st.sampled_from(FIELDS))] = draw(json_values)
    return answer


def any_answers(trial: Trial, config: dict):
    """Valid answers, answers just off valid, and any dict at all."""
    fields = st.sampled_from(FIELDS) | st.text(max_size=10)
    return (
        valid_answers(trial, config) | tampered_answers(trial, config) | st.dictionaries(fields, json_values)
    )


# ---- the function ------------------------------------------------------------------------


def assert_canonical(trial: Trial, config: dict, answer: dict, canonical: dict) -> None:
    """`canonical` is the accepted form of `answer`: same meaning, shown options only."""
    ids = shown(trial)
    if trial.kind == Study.TaskKind.TOPK_SELECT:
        assert set(answer) == set(canonical) == {"selected"}
        selected = canonical["selected"]
        assert selected and all(type(option) is str for option in selected)
        assert len(set(selected)) == len(selected) == len(answer["selected"])
        assert set(selected) <= set(ids) and set(selected) == set(answer["selected"])
        assert selected == sorted(selected, key=ids.index)  # in the order shown
        assert selected == [task_kinds.NONE_OPTION["id"]] or task_kinds.NONE_OPTION["id"] not in selected
    else:
        asked = task_kinds.asks_confidence(trial, config)
        assert set(answer) == set(canonical) == ({"choice", "confidence"} if asked else {"choice"})
        assert type(canonical["choice"]) is str and canonical["choice"] in ids
        assert canonical["choice"] == answer["choice"]
        if asked:
            assert type(canonical["confidence"]) is int and 1 <= canonical["confidence"] <= 5
            assert canonical["confidence"] == answer["confidence"]


def assert_api_error(error: Invalid) -> None:
    """What the API turns into its 400 body (studies/api/errors.py)."""
    assert error.status == 400 and error.code == "invalid_answer"
    assert isinstance(error.detail, str) and error.detail
    messages = error.extra["errors"]["answer"]
    assert messages and all(isinstance(message, str) and message for message in messages)
    json.dumps({"detail": error.detail, "code": error.code, **error.extra})  # the body must serialise


@PROPERTIES
@given(spec=trial_specs(), data=st.data())
def test_any_answer_is_accepted_in_canonical_form_or_refused_as_invalid(spec, data):
    trial, config = build(spec)
    answer = data.draw(any_answers(trial, config))
    before = copy.deepcopy(answer)
    try:
        canonical = task_kinds.validate_answer(trial, answer, config)
    except Invalid as error:  # any other exception fails the test
        event("refused")
        assert_api_error(error)
    else:
        event("accepted")
        assert_canonical(trial, config, answer, canonical)
        assert task_kinds.validate_answer(trial, canonical, config) == canonical
    assert answer == before  # the caller's answer is left as it was


@PROPERTIES
@given(spec=trial_specs(), data=st.data())
def test_every_answer_made_of_shown_options_is_accepted(spec, data):
    trial, config = build(spec)
    answer = data.draw(valid_answers(trial, config))
    canonical = task_kinds.validate_answer(trial, answer, config)
    assert_canonical(trial, config, answer, canonical)


# Per kind, so that each kind's defects get examples of their own.
@pytest.mark.parametrize("kind", KINDS)
@settings(PROPERTIES, max_examples=150)
@given(data=st.data())
def test_a_valid_answer_with_one_defect_is_always_refused(kind, data):
    trial, config = build(data.draw(trial_specs(kinds=[kind])))
    defect, answer = data.draw(defective(trial, config, data.draw(valid_answers(trial, config))))
    event(defect)
    with pytest.raises(Invalid) as refused:
        task_kinds.validate_answer(trial, answer, config)
    assert_api_error(refused.value)


# ---- through the API ---------------------------------------------------------------------

KEY = re.compile(r"^[A-Za-z0-9_\-]{16,100}$")


@st.composite
def response_bodies(draw, trial: Trial, config: dict):
    """Any JSON at all; a well-formed request around any answer (so that validation is
    reached); or a valid answer with one thing around it drawn freely (it may still be
    acceptable, and then the request goes on to be stored). Returns (body, whether the
    request around the answer is well-formed)."""
    shape = draw(st.sampled_from(["any JSON", "well-formed", "well-formed", "one thing around"]))
    if shape == "any JSON":
        return draw(json_values), False
    around = {"rt_ms": draw(st.integers(0, MAX_RT_MS)), "key": "key-" + "7" * 16}
    if shape == "well-formed":
        return {"answer": draw(any_answers(trial, config)), **around}, True
    drawn_freely = {
        "rt_ms": st.one_of(st.floats(allow_nan=False, allow_infinity=False), json_values),
        "key": st.one_of(st.from_regex(KEY, fullmatch=True), st.text(max_size=120), json_values),
        "client": st.dictionaries(st.text(max_size=10), json_values, max_size=4) | json_values,
    }
    field = draw(st.sampled_from(sorted(drawn_freely)))
    body = {"answer": draw(valid_answers(trial, config)), **around, field: draw(drawn_freely[field])}
    return body, False


ATTACK = {"attack": "pgd", "eps": 8, "steps": 10}
# One study per kind, confidence asked where the kind has one (the model's default).
STUDIES = {
    "topk_select": {"task_kind": "topk_select"},
    "label_check": {"task_kind": "label_check"},
    "forced_choice": {"task_kind": "forced_choice"},
    "manipulation_check": {"task_kind": "manipulation_check", "stimuli": "both", "attack": ATTACK},
}


@pytest.fixture(params=list(STUDIES))
def on_screen(request, db, tmp_path) -> tuple[Trial, ParticipantClient]:
    """A participant of a study of each kind, with their first trial handed out."""
    fields = {"labels": CLASS_IDS[:6], **STUDIES[request.param]}
    study = factories.study(tmp_path, prepared=True, slug=request.param.replace("_", "-"), **fields)
    participant = ParticipantClient(APIClient(), study.slug)
    participant.enter()
    participant.consent()
    trial = participant.next().json()["trial"]
    assert trial["kind"] == request.param
    return Trial.objects.select_related("participant__version").get(pk=trial["id"]), participant


@settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    # The fixture's participant serves all examples: each example runs in a savepoint that is
    # rolled back, so every one meets the same trial on screen, unanswered.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_response_body_gets_a_receipt_or_a_json_4xx_and_a_refused_one_stores_nothing(on_screen, data):
    trial, participant = on_screen
    config = trial.participant.version.config
    body, well_formed = data.draw(response_bodies(trial, config))
    with transaction.atomic():
        reply = participant.client.generic(
            "POST",
            f"/api/v1/session/trials/{trial.pk}/response",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {participant.token}",
        )
        stored = list(Response.objects.filter(trial=trial).values_list("answer", flat=True))
        transaction.set_rollback(True)
    event(f"{reply.status_code}, {'well-formed' if well_formed else 'other'} request")
    assert reply.status_code in (201, 400), (reply.status_code, reply.content[:300])
    if reply.status_code == 400:
        assert stored == []
        error = reply.json()
        assert isinstance(error["detail"], str) and isinstance(error["code"], str)
    else:
        assert stored == [task_kinds.validate_answer(trial, body["answer"], config)]
    unstorable = unstorable_text(body)
    if unstorable:
        # Text that cannot be stored is refused at the door, naming where it is.
        assert reply.status_code == 400
        assert reply.json() == {"detail": "The request is invalid.", "code": "invalid", "errors": unstorable}
    elif well_formed:
        # Then the API's verdict is validate_answer's, error for error.
        try:
            task_kinds.validate_answer(trial, body["answer"], config)
        except Invalid as error:
            assert reply.status_code == 400
            assert reply.json() == {"detail": error.detail, "code": error.code, **error.extra}
        else:
            assert reply.status_code == 201
