"""Allocation: conditions balanced by weight with quotas, places released by idle,
screened-out and withdrawn sessions, K judgments per item per condition, the "full"
outcome and the study closing itself; impossible designs refused before launch."""

import random
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone
from rest_framework.test import APIClient

from studies.models import Condition, Participant, Study, Trial
from studies.services import allocation
from studies.services import launch as lifecycle
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db


def with_conditions(tmp_path, conditions, **fields):
    study = factories.study(tmp_path, live=False, slug="design", **fields)
    for name, weight, quota in conditions:
        Condition.objects.create(study=study, name=name, weight=weight, quota=quota)
    lifecycle.launch(study)
    study.refresh_from_db()
    return study


def arrive(study, params=None):
    client = ParticipantClient(APIClient(), study.slug)
    entered = client.enter(params)
    assert entered.status_code in (200, 201), entered.json()
    return client


def consent(client):
    reply = client.consent()
    assert reply.status_code == 200
    return reply.json()["state"]


def participant_of(client):
    return Participant.objects.get(pseudonym=client.get("session").json()["participant"])


def finish(client):
    """Answer everything; the final `next` reply."""
    return client.complete()


def test_conditions_fill_in_proportion_to_their_weights(tmp_path):
    study = with_conditions(tmp_path, [("none", 2, 0), ("heatmap", 1, 0)], n_images=6, per_participant=2)
    for _ in range(9):
        consent(arrive(study))
    counts = dict(Participant.objects.values_list("condition").annotate(n=Count("id")))
    assert counts == {"none": 6, "heatmap": 3}


def test_every_assignment_goes_to_a_least_loaded_open_condition(tmp_path):
    study = with_conditions(tmp_path, [("a", 1, 0), ("b", 1, 0), ("c", 1, 0)], n_images=6, per_participant=2)
    config = study.current_version.config
    for _ in range(12):
        before = allocation.places(study, config)
        client = arrive(study)
        consent(client)
        chosen = participant_of(client).condition
        assert before[chosen] == min(before.values())


def test_a_full_study_turns_newcomers_away_at_once_with_its_own_code(tmp_path):
    study = with_conditions(tmp_path, [("a", 1, 2), ("b", 1, 1)], full_code="FULL-1", per_participant=2)
    for _ in range(3):
        assert consent(arrive(study)) == "trials"
    late = arrive(study)
    assert late.get("session").json()["state"] == "full"
    assert late.next().json()["completion"] == {"outcome": "full", "code": "FULL-1", "redirect_url": ""}
    assert participant_of(late).status == "full"
    assert late.consent().status_code == 409  # nothing more to do in this session


def test_idle_screened_out_and_withdrawn_sessions_give_back_their_place(tmp_path):
    study = with_conditions(tmp_path, [("only", 1, 3)], per_participant=2, session_timeout_minutes=30)
    idle, withdrawn, kept = (arrive(study) for _ in range(3))
    for client in (idle, withdrawn, kept):
        consent(client)
    assert arrive(study).get("session").json()["state"] == "full"
    Participant.objects.filter(pk=participant_of(idle).pk).update(
        last_active_at=timezone.now() - timedelta(minutes=31)
    )
    withdrawn.post("session/withdraw")
    newcomers = [arrive(study) for _ in range(3)]
    states = [
        consent(client) if client.get("session").json()["state"] == "consent" else "full"
        for client in newcomers
    ]
    assert states == ["trials", "trials", "full"]


def test_the_study_closes_itself_once_every_quota_has_valid_completions(tmp_path):
    study = with_conditions(tmp_path, [("a", 1, 1), ("b", 1, 1)], per_participant=2)
    first, second = arrive(study), arrive(study)
    consent(first)
    consent(second)
    finish(first)
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE
    finish(second)
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSED


def test_k_judgments_per_item_are_reached_exactly_and_surplus_participants_are_told(tmp_path):
    study = factories.study(tmp_path, n_images=6, per_participant=2, judgments_per_item=2, slug="k")
    clients = [arrive(study) for _ in range(7)]
    states = [consent(client) for client in clients]
    assert states == ["trials"] * 6 + ["full"]
    given = Trial.objects.filter(role="main").values_list("item_id", flat=True)
    assert sorted(given) == sorted(list(study.current_version.items.values_list("id", flat=True)) * 2)
    assert clients[-1].next().json()["completion"]["outcome"] == "full"


def test_reservations_of_abandoned_sessions_are_reclaimed(tmp_path):
    study = factories.study(
        tmp_path,
        n_images=4,
        per_participant=2,
        judgments_per_item=1,
        slug="reclaim",
        session_timeout_minutes=10,
    )
    first, second = arrive(study), arrive(study)
    consent(first)
    consent(second)
    assert consent(arrive(study)) == "full"  # every item is reserved once
    abandoned = participant_of(first)
    Participant.objects.filter(pk=abandoned.pk).update(last_active_at=timezone.now() - timedelta(minutes=11))
    late = arrive(study)
    assert consent(late) == "trials"
    mine = set(participant_of(late).trials.values_list("item_id", flat=True))
    assert mine == set(abandoned.trials.values_list("item_id", flat=True))


def test_allocation_invariants_hold_over_random_arrivals_drop_outs_and_returns(tmp_path):
    """K is never exceeded among place holders, nobody gets an item twice or two versions of
    a source, and each assignment goes to a least-loaded open condition."""
    study = with_conditions(
        tmp_path,
        [("a", 1, 0), ("b", 1, 0)],
        n_images=8,
        per_participant=3,
        judgments_per_item=3,
        session_timeout_minutes=5,
    )
    config = study.current_version.config
    rng = random.Random(7)
    clients = []
    for _ in range(40):
        action = rng.random()
        if action < 0.55 or not clients:
            before = allocation.places(study, config)
            client = arrive(study)
            if client.get("session").json()["state"] == "consent" and consent(client) == "trials":
                chosen = participant_of(client).condition
                assert before[chosen] == min(before[c["name"]] for c in config["conditions"])
                clients.append(client)
        elif action < 0.7:
            rng.choice(clients).post("session/withdraw")
        elif action < 0.8:
            victim = participant_of(rng.choice(clients))
            Participant.objects.filter(pk=victim.pk).update(
                last_active_at=timezone.now() - timedelta(minutes=6)
            )
        else:
            client = rng.choice(clients)
            reply = client.next().json()
            if reply["trial"]:
                client.respond(reply["trial"], client.valid_answer(reply["trial"]))
        for condition in ("a", "b"):
            holders = allocation.holding_places(study, config).filter(condition=condition)
            per_item = {}
            for item_id in Trial.objects.filter(participant__in=holders, role="main").values_list(
                "item_id", flat=True
            ):
                per_item[item_id] = per_item.get(item_id, 0) + 1
            assert all(n <= 3 for n in per_item.values()), per_item
    for participant in Participant.objects.all():
        sources = list(participant.trials.filter(role="main").values_list("item__image_id", flat=True))
        assert len(sources) == len(set(sources))


@pytest.mark.parametrize(
    ("conditions", "fields", "expected"),
    [
        ([("a", 0, 0), ("b", 0, 0)], {}, "every condition has weight 0"),
        ([("a", 1, 0), ("b", 0, 5)], {}, "condition b has a quota of 5 but weight 0"),
        ([("a", 1, 10)], {"judgments_per_item": 2}, "condition a wants 10 participants of 4 items"),
        ([], {"per_participant": 7}, "7 images per participant, but only 6 source images"),
    ],
)
def test_impossible_designs_are_refused_before_launch(tmp_path, conditions, fields, expected):
    study = factories.study(tmp_path, live=False, slug="bad", **fields)
    for name, weight, quota in conditions:
        Condition.objects.create(study=study, name=name, weight=weight, quota=quota)
    with pytest.raises(lifecycle.NotReady) as refused:
        lifecycle.launch(study)
    assert any(problem.startswith(expected) for problem in refused.value.problems), refused.value.problems
    assert study.versions.count() == 0


def test_each_condition_shows_explanations_its_own_way(tmp_path):
    study = factories.study(
        tmp_path, live=False, slug="expl", task_kind="label_check", labels=None, explanation_display="none"
    )
    Condition.objects.create(study=study, name="without", weight=1)
    Condition.objects.create(study=study, name="heatmap", weight=1, explanation_display="side_by_side")
    factories.prepare_stimuli(study)
    lifecycle.launch(study)
    seen = {}
    for _ in range(4):
        client = arrive(study)
        consent(client)
        trial = client.next().json()["trial"]
        seen.setdefault(participant_of(client).condition, set()).add(
            trial["explanation"]["display"] if trial["explanation"] else None
        )
    assert seen == {"without": {None}, "heatmap": {"side_by_side"}}
