"""Exclusion rules: each rule, live (ends the session as screened out) and post hoc (flags
a completed session), recorded with its evidence; gold trials; excluded participants give
back their place; bad rules refused before launch."""

import csv
import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from inference.labelsets import imagenet_1k
from studies.models import Condition, ExclusionEvent, Participant, Trial
from studies.services import allocation
from studies.services import launch as lifecycle
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db


def make(tmp_path, rules, **fields):
    fields.setdefault("labels", imagenet_1k().class_ids[:8])
    fields.setdefault("task_kind", "label_check")
    return factories.study(
        tmp_path, n_images=8, per_participant=4, prepared=True, slug="rules", exclusion_rules=rules, **fields
    )


def run(study, answer_for, rt_ms=900, client_info=None):
    """A participant answering every trial with answer_for(trial, stored); the last reply."""
    client = ParticipantClient(APIClient(), study.slug)
    client.enter()
    client.consent()
    while (trial := client.next().json()["trial"]) is not None:
        stored = Trial.objects.get(pk=trial["id"])
        reply = client.respond(
            trial, answer_for(trial, stored), rt_ms=rt_ms, client=client_info or {"dpr": 1}
        )
        assert reply.status_code == 201, reply.json()
    return client, client.next().json()


def first_option(trial, stored):
    return {"choice": trial["options"][0]["id"], "confidence": 3}


def right_answers(trial, stored):
    if stored.expected:
        return {"choice": stored.expected["choice"], "confidence": 3}
    return {"choice": "yes" if stored.index % 2 else "no", "confidence": 3}


def wrong_gold(trial, stored):
    if stored.role == "gold":
        return {"choice": "no" if stored.expected["choice"] == "yes" else "yes", "confidence": 3}
    return right_answers(trial, stored)


def test_gold_trials_look_like_the_others_and_keep_their_answer(tmp_path):
    study = make(tmp_path, [], gold_trials=2)
    client, final = run(study, right_answers)
    assert final["completion"]["outcome"] == "completed"
    gold = Trial.objects.filter(role="gold")
    assert gold.count() == 2
    for trial in gold:
        assert trial.kind == "label_check" and trial.expected["choice"] in ("yes", "no")
    main_sources = set(Trial.objects.filter(role="main").values_list("item__image_id", flat=True))
    assert not main_sources & set(gold.values_list("item__image_id", flat=True))
    assert client.get("session").json()["progress"] == {"done": 6, "total": 6}


def test_gold_accuracy_below_the_threshold_ends_the_session_live(tmp_path):
    rules = [{"rule": "gold_accuracy", "threshold": 0.5, "mode": "live"}]
    study = make(tmp_path, rules, gold_trials=2)
    _, final = run_until_done(study, wrong_gold)
    assert final["completion"]["outcome"] == "screened_out"
    event = ExclusionEvent.objects.get()
    assert (event.rule, event.mode) == ("gold_accuracy", "live")
    assert event.evidence["value"] == 0 and event.evidence["answered"] == 1


def run_until_done(study, answer_for):
    client = ParticipantClient(APIClient(), study.slug)
    client.enter()
    client.consent()
    while (trial := client.next().json()["trial"]) is not None:
        client.respond(trial, answer_for(trial, Trial.objects.get(pk=trial["id"])))
    return client, client.next().json()


def test_a_fast_median_reaction_time_flags_the_session_post_hoc_and_frees_its_place(tmp_path):
    rules = [{"rule": "median_rt", "threshold": 300, "mode": "posthoc"}]
    study = factories.study(tmp_path, live=False, slug="fast", per_participant=2, exclusion_rules=rules)
    Condition.objects.create(study=study, name="only", weight=1, quota=1)
    lifecycle.launch(study)
    study.refresh_from_db()
    _, final = run(study, lambda trial, stored: {"selected": [trial["options"][0]["id"]]}, rt_ms=120)
    assert final["completion"]["outcome"] == "completed"  # post-hoc rules only flag
    participant = Participant.objects.get()
    assert participant.excluded and participant.status == "completed"
    event = participant.exclusions.get()
    assert (event.rule, event.mode, event.evidence) == ("median_rt", "posthoc", {"value": 120, "answered": 2})
    # Not a valid completion: the quota's place is free again and the study stays open.
    assert allocation.places(study, study.current_version.config) == {"only": 0}
    study.refresh_from_db()
    assert study.status == "live"
    _, again = run(study, lambda trial, stored: {"selected": [trial["options"][0]["id"]]}, rt_ms=2000)
    assert again["completion"]["outcome"] == "completed"
    study.refresh_from_db()
    assert study.status == "closed"


def test_the_same_answer_on_too_many_trials_is_flagged(tmp_path):
    rules = [{"rule": "same_answer", "threshold": 90, "mode": "posthoc"}]
    study = make(tmp_path, rules)
    run(study, lambda trial, stored: {"choice": "yes", "confidence": 5})
    event = ExclusionEvent.objects.get()
    assert event.evidence == {"value": 100.0, "answered": 4, "answer": {"choice": "yes", "confidence": 5}}
    run(study, right_answers)  # alternating answers: not flagged
    assert ExclusionEvent.objects.count() == 1


def test_hidden_time_above_the_threshold_ends_the_session_live(tmp_path):
    rules = [{"rule": "hidden_time", "threshold": 10, "mode": "live"}]
    study = make(tmp_path, rules)
    client = ParticipantClient(APIClient(), study.slug)
    client.enter()
    client.consent()
    trial = client.next().json()["trial"]
    first = client.respond(trial, first_option(trial, None), client={"hidden_ms": 4000})
    assert first.json()["finished"] is False
    trial = client.next().json()["trial"]
    second = client.respond(trial, first_option(trial, None), client={"hidden_ms": 7000})
    assert second.json()["finished"] is True
    replay = client.respond(trial, first_option(trial, None), client={"hidden_ms": 7000})
    assert replay.status_code == 200 and replay.json() == second.json()  # the stored receipt says so too
    assert client.next().json()["completion"]["outcome"] == "screened_out"
    assert ExclusionEvent.objects.get().evidence == {"value": 11.0, "answered": 2}


def test_flags_and_rules_appear_in_the_export(tmp_path):
    rules = [{"rule": "same_answer", "threshold": 90, "mode": "posthoc"}]
    study = make(tmp_path, rules)
    run(study, lambda trial, stored: {"choice": "no", "confidence": 1})
    run(study, right_answers)
    target = tmp_path / "responses.csv"
    call_command("export_responses", study.slug, output=str(target))
    default = list(csv.DictReader(io.StringIO(target.read_text())))
    assert {(row["excluded"], row["exclusion_rules"]) for row in default} == {
        ("0", "")
    }  # left out by default
    call_command("export_responses", study.slug, output=str(target), include_excluded=True)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    flagged = {row["participant"]: (row["excluded"], row["exclusion_rules"]) for row in rows}
    assert sorted(flagged.values()) == [("0", ""), ("1", "same_answer")]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([{"rule": "speed", "threshold": 1, "mode": "live"}], "exclusion rule 1: unknown rule 'speed'"),
        ([{"rule": "median_rt", "threshold": 1, "mode": "sometimes"}], "exclusion rule 1: mode must be"),
        (
            [{"rule": "gold_accuracy", "threshold": 1.5, "mode": "live"}],
            "exclusion rule 1: gold_accuracy needs",
        ),
        (
            [{"rule": "failed_attention", "threshold": 1.5, "mode": "live"}],
            "exclusion rule 1: failed_attention",
        ),
        ([{"rule": "same_answer", "threshold": True, "mode": "live"}], "exclusion rule 1: same_answer needs"),
        ([{"rule": "median_rt", "threshold": 300}], "exclusion rule 1 must have exactly"),
        ({"rule": "median_rt"}, "exclusion rules must be a list"),
        (
            [{"rule": "gold_accuracy", "threshold": 0.8, "mode": "live"}],
            "the gold_accuracy rule needs gold trials",
        ),
    ],
)
def test_bad_rules_are_refused_before_launch(tmp_path, rules, expected):
    study = factories.study(tmp_path, live=False, slug="bad", exclusion_rules=rules)
    with pytest.raises(lifecycle.NotReady) as refused:
        lifecycle.launch(study)
    assert any(problem.startswith(expected) for problem in refused.value.problems), refused.value.problems
