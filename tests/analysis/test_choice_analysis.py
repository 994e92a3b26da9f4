"""Label checks with versus without explanation, manipulation checks (d') and agreement,
on studies whose answers are made to give known numbers."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from inference.labelsets import imagenet_1k
from studies.analysis import choices
from studies.analysis.statistics import dprime
from studies.models import Condition, Participant, Trial
from studies.services import launch as lifecycle
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db
ATTACK = {"attack": "pgd", "eps": 4, "steps": 10}


def study_with(tmp_path, conditions, per_participant=3, **fields):
    study = factories.study(
        tmp_path,
        n_images=6,
        per_participant=per_participant,
        live=False,
        slug="choices",
        labels=imagenet_1k().class_ids[:6],
        **fields,
    )
    for name, display in conditions:
        Condition.objects.create(study=study, name=name, weight=1, explanation_display=display)
    factories.prepare_stimuli(study)  # after the conditions: they decide what is needed
    lifecycle.launch(study)
    return study


def take_part(study, answer_for, n):
    for _ in range(n):
        client = ParticipantClient(APIClient(), study.slug)
        client.enter()
        client.consent()
        participant = Participant.objects.order_by("-id").first()
        while (trial := client.next().json()["trial"]) is not None:
            stored = Trial.objects.get(pk=trial["id"])
            assert (
                client.respond(
                    trial, {"choice": answer_for(participant, stored), "confidence": 3}
                ).status_code
                == 201
            )


def test_an_explanation_effect_on_label_checks_is_measured_over_participants(tmp_path):
    study = study_with(
        tmp_path,
        [("without", "none"), ("with", "side_by_side")],
        task_kind="label_check",
        stimuli="adversarial",
        attack=ATTACK,
        explanation_display="none",
    )
    take_part(study, lambda p, t: "no" if p.condition == "with" else "yes", 8)
    result = choices.label_checks(study)
    rates = {(r["stimulus"], r["display"]): r for r in result["rates"]}
    assert rates[("adversarial", "side_by_side")]["accepted"].value == 0
    assert rates[("adversarial", "none")]["accepted"].value == 1
    assert (
        rates[("adversarial", "none")]["accepted"].n == 12
        and rates[("adversarial", "none")]["participants"] == 4
    )
    [effect] = result["explanation_effect"]
    assert effect["difference"].value == -1 and effect["participants"] == 8 and effect["test"] == "between"
    # 4 against 4 participants: 2 of the 70 labellings are as extreme as the observed one.
    assert effect["p_value"] == pytest.approx(2 / 70, abs=0.01)
    agreement = {row["display"]: row for row in choices.agreement(study)}
    assert agreement["none"]["krippendorff_alpha"].why_not.startswith("every rating is in one category")
    staff = Client()
    staff.force_login(factories.researcher())
    page = staff.get(f"/studies/{study.slug}/results/")
    assert "<svg" in page.content.decode() and 'id="explanation-effect"' in page.content.decode()
    numbers = staff.get(f"/studies/{study.slug}/results/?format=json").json()
    assert numbers["label_checks"]["explanation_effect"][0]["difference"]["value"] == -1


def test_manipulation_checks_give_hit_and_false_alarm_rates_and_dprime(tmp_path):
    study = study_with(tmp_path, [], task_kind="manipulation_check", stimuli="both", attack=ATTACK)
    # Says "altered" for every altered image and for clean images of even id.
    take_part(study, lambda p, t: "yes" if t.item.altered or t.item.image_id % 2 == 0 else "no", 6)
    counts = {"hit": 0, "miss": 0, "fa": 0, "cr": 0}
    for trial in Trial.objects.filter(role="main").select_related("response", "item"):
        said = trial.response.answer["choice"] == "yes"
        key = ("hit" if said else "miss") if trial.item.altered else ("fa" if said else "cr")
        counts[key] += 1
    [row] = choices.manipulation_checks(study)
    assert row["hit_rate"].value == 1
    assert row["false_alarm_rate"].value == pytest.approx(counts["fa"] / (counts["fa"] + counts["cr"]))
    assert row["dprime"] == dprime(counts["hit"], counts["miss"], counts["fa"], counts["cr"])


def test_raters_who_always_agree_have_perfect_agreement(tmp_path):
    study = study_with(tmp_path, [], task_kind="label_check", judgments_per_item=3, per_participant=3)
    take_part(study, lambda p, t: "yes" if t.item.image_id % 2 else "no", 6)
    [row] = choices.agreement(study)
    assert row["task_kind"] == "label_check"
    assert row["krippendorff_alpha"].value == pytest.approx(1.0)
    assert row["fleiss_kappa"].value == pytest.approx(1.0)


def test_no_answers_no_numbers(tmp_path):
    study = study_with(tmp_path, [], task_kind="label_check")
    assert choices.label_checks(study) == {
        "rates": [],
        "explanation_effect": [],
        "explanation_effect_why_not": "every participant sees the same explanation display (none)",
    }
    assert choices.manipulation_checks(study) == [] and choices.agreement(study) == []


def test_within_subject_blocks_compare_each_participant_with_themselves(tmp_path):
    blocks = [
        {"name": "without", "explanation_display": "none"},
        {"name": "with", "explanation_display": "side_by_side"},
    ]
    study = study_with(
        tmp_path, [], per_participant=4, task_kind="label_check", explanation_display="none", blocks=blocks
    )
    take_part(study, lambda p, t: "no" if t.block == "with" else "yes", 4)
    [effect] = choices.label_checks(study)["explanation_effect"]
    assert effect["test"] == "paired" and effect["participants"] == 4
    assert effect["difference"].value == -1 and effect["difference"].n == 4
    # Four participants, all the same sign: 2 of the 16 sign patterns are as extreme.
    assert effect["p_value"] == pytest.approx(2 / 16, abs=0.02)


def test_forced_choices_measure_preference_for_the_models_label_and_list_disputed_images(tmp_path):
    study = study_with(
        tmp_path,
        [("without", "none"), ("with", "side_by_side")],
        task_kind="forced_choice",
        explanation_display="none",
        per_participant=3,
    )

    # With an explanation, everyone prefers the model's label; without, only for even images.
    def choose(participant, trial):
        model = trial.item.labels[1]["id"]
        dataset = trial.item.labels[0]["id"]
        prefers_model = participant.condition == "with" or trial.item.image_id % 2 == 0
        return model if prefers_model else dataset

    take_part(study, choose, 8)
    answered = Trial.objects.filter(role="main").select_related("response", "item", "participant")
    without = [t for t in answered if t.participant.condition == "without"]
    expected_without = sum(t.item.image_id % 2 == 0 for t in without) / len(without)
    result = choices.forced_choices(study)
    rates = {r["display"]: r["model_preferred"] for r in result["rates"]}
    assert rates["side_by_side"].value == 1 and rates["side_by_side"].n == 12
    assert rates["none"].value == pytest.approx(expected_without) and rates["none"].n == 12
    assert rates["none"].low < rates["none"].value < rates["none"].high
    [effect] = result["explanation_effect"]
    assert effect["stimulus"] == "clean" and effect["test"] == "between" and effect["participants"] == 8
    assert effect["difference"].value == pytest.approx(1 - expected_without)
    # Images most raters judged by the model's label: the even ones, and the odd ones only
    # where the raters who saw an explanation outnumber those who did not.
    votes = {}
    for trial in answered:
        chosen = trial.response.answer["choice"] == trial.item.labels[1]["id"]
        votes.setdefault(trial.item.image.original_name, []).append(chosen)
    disputed = {name for name, chosen in votes.items() if 2 * sum(chosen) > len(chosen)}
    assert {r["image"] for r in result["model_preferred_items"]} == disputed
    assert disputed
    staff = Client()
    staff.force_login(factories.researcher())
    page = staff.get(f"/studies/{study.slug}/results/").content.decode()
    assert 'id="forced-rates"' in page and 'id="forced-effect"' in page and 'id="model-preferred"' in page
    assert page.count("<svg") >= 3  # rates, effect, agreement
    data = staff.get(f"/studies/{study.slug}/results/?format=json").json()
    assert data["forced_choices"]["rates"][0]["model_preferred"]["n"] == 12
