"""Trials: which items a participant judges, in what order, and recording their answers.

Invariants:
- Items are assigned once, at consent: least-judged items first, ties broken by the
  participant's stored seed, so the assignment can be reproduced from the database.
  The database refuses a second trial of the same item for a participant.
- A trial has at most one response. The first submission's receipt is stored and a
  replay with the same idempotency key gets it back unchanged; a different submission
  for an answered trial is a conflict, and nothing stored is changed.
- A participant's writes are serialised by locking their row, so the completion check
  ("every trial answered") cannot race with a concurrent answer.
"""

import random

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from studies.models import Item, Participant, Response, Trial
from studies.services.errors import Conflict, Invalid, NotFound

NONE_OPTION = {"id": "none", "text": "None of these"}
UPCOMING = 3


def assign_trials(participant: Participant) -> list[Trial]:
    version = participant.version
    config = version.config
    counted = ~Q(trials__participant__status__in=[Participant.Status.WITHDRAWN])
    items = list(
        Item.objects.filter(version=version)
        .annotate(judged=Count("trials", filter=counted))
        .values_list("id", "judged", "labels")
    )
    rng = random.Random(participant.seed)
    rng.shuffle(items)
    items.sort(key=lambda row: row[1])  # stable: shuffled order breaks ties
    chosen = items[: config["images_per_participant"]]
    rng.shuffle(chosen)
    trials = [
        Trial(
            participant=participant,
            index=index,
            item_id=item_id,
            kind=config["task_kind"],
            options=[{"id": label["id"], "text": label["text"]} for label in labels] + [NONE_OPTION],
        )
        for index, (item_id, _, labels) in enumerate(chosen)
    ]
    return Trial.objects.bulk_create(trials)


def progress(participant: Participant) -> dict:
    counts = participant.trials.aggregate(
        total=Count("id"), done=Count("id", filter=Q(response__isnull=False))
    )
    return {"done": counts["done"], "total": counts["total"]}


def _open_trials(participant: Participant):
    return participant.trials.filter(response__isnull=True).select_related("item__image").order_by("index")


def trial_payload(trial: Trial) -> dict:
    image = trial.item.image
    return {
        "id": trial.id,
        "index": trial.index,
        "kind": trial.kind,
        "prompt": trial.participant.version.config["prompt"],
        "image": {
            "url": image.stimulus_path,
            "width": image.width,
            "height": image.height,
            "sha256": image.sha256,
        },
        "explanation": None,
        "options": trial.options,
        "multi": True,
    }


def next_trial(participant: Participant) -> tuple[dict | None, list[str]]:
    """The first unanswered trial (the same one until it is answered) and the image URLs
    of the ones after it, for preloading. (None, []) once every trial is answered."""
    if participant.is_finished:
        return None, []
    upcoming = list(_open_trials(participant)[: UPCOMING + 1])
    if not upcoming:
        return None, []
    current = upcoming[0]
    if current.presented_at is None:
        Trial.objects.filter(pk=current.pk, presented_at__isnull=True).update(presented_at=timezone.now())
    current.participant = participant
    return trial_payload(current), [t.item.image.stimulus_path for t in upcoming[1:]]


def validate_answer(trial: Trial, answer: dict) -> dict:
    """The answer in canonical form, or Invalid naming what is wrong."""
    selected = answer.get("selected")
    if not isinstance(selected, list) or not selected:
        raise Invalid(
            "Select at least one option.",
            code="invalid_answer",
            errors={"answer": ["selected must be a non-empty list of option ids"]},
        )
    if not all(isinstance(option, str) for option in selected) or len(set(selected)) != len(selected):
        raise Invalid(
            "Options must be distinct option ids.",
            code="invalid_answer",
            errors={"answer": ["selected must hold distinct strings"]},
        )
    known = {option["id"] for option in trial.options}
    unknown = [option for option in selected if option not in known]
    if unknown:
        raise Invalid(
            f"Unknown option ids: {', '.join(unknown)}.",
            code="invalid_answer",
            errors={"answer": [f"unknown option id {option!r}" for option in unknown]},
        )
    if NONE_OPTION["id"] in selected and len(selected) > 1:
        raise Invalid(
            "'None of these' cannot be combined with other options.",
            code="invalid_answer",
            errors={"answer": ["'none' excludes the other options"]},
        )
    order = [option["id"] for option in trial.options]
    return {"selected": sorted(selected, key=order.index)}


def record_response(
    participant: Participant, trial_id: int, answer: dict, rt_ms: int, client: dict, key: str
) -> tuple[dict, bool]:
    """Store an answer. Returns (receipt, created)."""
    with transaction.atomic():
        participant = Participant.objects.select_for_update().get(pk=participant.pk)
        trial = participant.trials.filter(pk=trial_id).first()
        if trial is None:
            raise NotFound("There is no such trial in this session.", code="unknown_trial")
        existing = Response.objects.filter(trial=trial).first()
        if existing is not None:
            if existing.idempotency_key == key:
                return existing.receipt, False
            raise Conflict(
                "This trial was already answered; the first answer is kept.", code="already_answered"
            )
        if participant.is_finished:
            raise Conflict("This session has ended.", code="session_ended")
        canonical = validate_answer(trial, answer)
        try:
            with transaction.atomic():
                response = Response.objects.create(
                    trial=trial, answer=canonical, rt_ms=rt_ms, client=client, idempotency_key=key, receipt={}
                )
        except IntegrityError:
            raise Conflict(
                "This trial was already answered; the first answer is kept.", code="already_answered"
            ) from None
        done = progress(participant)
        finished = done["done"] == done["total"]
        if finished:
            participant.finish(Participant.Status.COMPLETED)
        response.receipt = {"id": response.id, "trial": trial.id, "progress": done, "finished": finished}
        response.save(update_fields=["receipt"])
    return response.receipt, True
