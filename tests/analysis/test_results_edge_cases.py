"""The results page on studies that give little to analyse: it says what cannot be computed
and why, never a 500 or a NaN presented as a result."""

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from inference.labelsets import imagenet_1k
from studies.models import Condition, Participant
from studies.services import launch as lifecycle
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db


def staff():
    client = Client()
    client.force_login(factories.researcher())
    return client


def take_part(study, n):
    for _ in range(n):
        client = ParticipantClient(APIClient(), study.slug)
        client.enter()
        client.consent()
        client.complete()


@pytest.mark.parametrize("kind", ["topk_select", "label_check"])
def test_one_rater_per_item_gives_no_agreement_and_says_why(tmp_path, kind):
    study = factories.study(tmp_path, slug="lonely", task_kind=kind, n_images=6, per_participant=6)
    take_part(study, 1)
    page = staff().get(f"/studies/{study.slug}/results/")
    assert page.status_code == 200
    numbers = page_json(study)
    [row] = numbers["agreement"]
    assert (
        row["fleiss_kappa"]["value"] is None
        and row["fleiss_kappa"]["why_not"] == "no item has two or more raters"
    )
    assert row["krippendorff_alpha"]["why_not"] == "no item has two or more ratings"
    assert "NaN" not in json.dumps(numbers) and "NaN" not in page.content.decode()


def test_all_raters_excluded_leaves_nothing_to_compute(tmp_path):
    study = factories.study(tmp_path, slug="flagged", n_images=6, per_participant=3)
    take_part(study, 3)
    Participant.objects.update(excluded=True)
    numbers = page_json(study)
    assert numbers["topk"]["items"] == 0
    assert numbers["topk"]["rectified_top1_error"] == {
        "value": None,
        "low": None,
        "high": None,
        "n": 0,
        "why_not": "no judged items",
    }
    assert staff().get(f"/studies/{study.slug}/results/").status_code == 200


def page_json(study) -> dict:
    reply = staff().get(f"/studies/{study.slug}/results/?format=json")
    assert reply.status_code == 200
    return reply.json()


def test_a_condition_without_data_gives_no_explanation_effect_and_says_why(tmp_path):
    study = factories.study(tmp_path, slug="half", task_kind="label_check", live=False, per_participant=3)
    Condition.objects.create(study=study, name="without", weight=1, explanation_display="none")
    Condition.objects.create(study=study, name="with", weight=0, explanation_display="examples")
    factories.prepare_stimuli(study)
    lifecycle.launch(study)
    take_part(study, 2)  # weight 0: everyone lands in "without"
    [effect] = page_json(study)["label_checks"]["explanation_effect"]
    assert effect["difference"]["value"] is None and effect["p_value"] is None
    assert effect["difference"]["why_not"] == "each group needs at least one participant with answers"


EFFECT_TABLES = {"label_check": "explanation-effect", "forced_choice": "forced-effect"}
SECTIONS = {"label_check": "label_checks", "forced_choice": "forced_choices"}


@pytest.mark.parametrize("kind", ["label_check", "forced_choice"])
def test_a_study_with_one_explanation_display_has_no_with_versus_without_section(tmp_path, kind):
    study = factories.study(
        tmp_path, slug="single", task_kind=kind, per_participant=3, labels=imagenet_1k().class_ids[:6]
    )
    take_part(study, 3)
    page = staff().get(f"/studies/{study.slug}/results/").content.decode()
    assert "With versus without an explanation" not in page
    assert f'id="{EFFECT_TABLES[kind]}"' not in page and "Difference with − without" not in page
    assert "every participant sees the same explanation display (none)" in page
    found = page_json(study)[SECTIONS[kind]]
    assert found["explanation_effect"] == []
    assert found["explanation_effect_why_not"].startswith("every participant sees the same")


@pytest.mark.parametrize("kind", ["label_check", "forced_choice"])
def test_a_study_with_and_without_an_explanation_has_the_section(tmp_path, kind):
    study = factories.study(
        tmp_path,
        slug="two",
        task_kind=kind,
        live=False,
        per_participant=3,
        labels=imagenet_1k().class_ids[:6],
    )
    Condition.objects.create(study=study, name="without", weight=1, explanation_display="none")
    Condition.objects.create(study=study, name="with", weight=1, explanation_display="side_by_side")
    factories.prepare_stimuli(study)
    lifecycle.launch(study)
    take_part(study, 4)
    page = staff().get(f"/studies/{study.slug}/results/").content.decode()
    assert "With versus without an explanation" in page and f'id="{EFFECT_TABLES[kind]}"' in page
    assert "Difference with − without an explanation" in page
    found = page_json(study)[SECTIONS[kind]]
    assert found["explanation_effect_why_not"] is None
    assert [effect["participants"] for effect in found["explanation_effect"]] == [4]


def test_explanations_that_differ_but_never_none_have_nothing_to_compare(tmp_path):
    study = factories.study(
        tmp_path, slug="both-shown", task_kind="label_check", live=False, per_participant=3
    )
    Condition.objects.create(study=study, name="heatmap", weight=1, explanation_display="side_by_side")
    Condition.objects.create(study=study, name="examples", weight=1, explanation_display="examples")
    factories.prepare_stimuli(study)
    lifecycle.launch(study)
    found = page_json(study)["label_checks"]
    assert found["explanation_effect"] == []
    assert "no condition or block shows no explanation" in found["explanation_effect_why_not"]
