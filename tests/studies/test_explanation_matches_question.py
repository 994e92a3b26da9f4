"""A trial's question, its explanation and the explanation's caption are about one label,
for every task kind, explanation display and trial role: practice trials teach the task,
so a practice question about one label beside a heatmap of another teaches the wrong one.

Practice and gold trials ask about the model's own labels, as real trials do, because the
explanation explains the model's label (task_kinds.question); attention checks show no
explanation. Captions are composed by the server (services/presentation.py); the page
shows them as sent, which tests/browser/test_task_kinds_in_browser.py checks on screen."""

import re

import pytest
from rest_framework.test import APIClient

from inference.labelsets import imagenet_1k
from studies.models import Trial
from studies.services import launch as lifecycle
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db
KINDS = ["topk_select", "label_check", "forced_choice", "manipulation_check"]
DISPLAYS = ["none", "side_by_side", "toggle", "examples"]
ROLES = ["practice", "gold", "attention", "main"]
ATTACK = {"attack": "pgd", "eps": 8, "steps": 10}
N_IMAGES = 10
QUOTED = re.compile(r"“(.+?)”")


def make(tmp_path, kind: str, display: str, **fields):
    if kind == "manipulation_check":
        fields.update(stimuli="both", attack=ATTACK)
    return factories.study(
        tmp_path,
        N_IMAGES,
        per_participant=3,
        prepared=True,
        slug="agree",
        labels=imagenet_1k().class_ids[:N_IMAGES],
        task_kind=kind,
        explanation_display=display,
        practice_trials=2,
        gold_trials=2,
        attention_checks=1,
        **fields,
    )


def session_trials(study) -> list[tuple[dict, Trial]]:
    """Every trial of one session as the API hands it out, with its stored row."""
    client = ParticipantClient(APIClient(), study.slug)
    client.enter()
    assert client.consent().status_code == 200
    seen = []
    while (trial := client.next().json()["trial"]) is not None:
        seen.append(
            (trial, Trial.objects.select_related("item__prediction", "item__adversarial").get(pk=trial["id"]))
        )
        assert client.respond(trial, client.valid_answer(trial)).status_code == 201
    return seen


def model_label(item) -> dict:
    top = (item.adversarial.topk if item.adversarial_id else item.prediction.topk)[0]
    return {"id": top["class_id"], "text": top["label"]}


def asked_labels(trial: dict) -> list[str]:
    """The labels the question is about, as the participant reads them: the one a yes/no
    prompt quotes, else the options that are labels (none for "was this altered")."""
    quoted = QUOTED.findall(trial["prompt"])
    if quoted:
        return quoted
    return [option["text"] for option in trial["options"] if option["id"] not in ("yes", "no", "none")]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("display", DISPLAYS)
@pytest.mark.parametrize("kind", KINDS)
def test_the_question_the_explanation_and_its_caption_name_the_same_label(tmp_path, kind, display, role):
    study = make(tmp_path, kind, display)
    checked = 0
    for trial, stored in session_trials(study):
        if stored.role != role:
            continue
        checked += 1
        explanation = trial["explanation"]
        if role == "attention":
            # An instructed response names its own answer; nothing beside it may suggest another.
            assert explanation is None
            continue
        model = model_label(stored.item)
        asked = asked_labels(trial)
        if kind == "label_check":
            assert asked == [model["text"]]
        elif kind == "manipulation_check":
            assert asked == []
        else:
            assert model["text"] in asked and model["id"] in [option["id"] for option in trial["options"]]
        if display == "none":
            assert explanation is None
            continue
        assert explanation["display"] == display
        assert explanation["label"] == model
        assert QUOTED.findall(explanation["caption"]) == [model["text"]]
    assert checked, f"no {role} trial in the session"


@pytest.mark.parametrize("display", ["side_by_side", "examples"])
def test_a_bias_audit_with_explanations_is_refused_before_launch(tmp_path, display):
    # The audit asks about its audited class; the explanations explain the model's label.
    study = factories.study(
        tmp_path,
        live=False,
        prepared=True,
        task_kind="label_check",
        item_selection="audit",
        audit_classes=["basketball"],
        explanation_display=display,
    )
    problems = lifecycle.readiness(study).problems
    assert any("a bias audit asks whether the audited class describes each image" in p for p in problems)
    with pytest.raises(lifecycle.NotReady):
        lifecycle.launch(study)


def test_a_bias_audit_without_explanations_is_not_refused_for_them(tmp_path):
    study = factories.study(
        tmp_path, live=False, task_kind="label_check", item_selection="audit", audit_classes=["basketball"]
    )
    assert not any("bias audit" in p for p in lifecycle.readiness(study).problems)
