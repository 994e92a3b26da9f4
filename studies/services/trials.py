"""Trials: which items a participant judges, in what order, and recording their answers.

Invariants:
- Items are assigned once, at consent: least-judged items first, ties broken by the
  participant's stored seed, so the assignment can be reproduced from the database.
  The database refuses a second data trial of the same item for a participant, and no
  participant gets two versions (clean, adversarial) of one source image.
- Practice trials come first and are not data (no progress, no export by default);
  attention checks are placed among the data trials, never first and never adjacent.
- A trial has at most one response. The first submission's receipt is stored and a
  replay with the same idempotency key gets it back unchanged; a different submission
  for an answered trial is a conflict, and nothing stored is changed.
- A participant's writes are serialised by locking their row, so the completion check
  ("every trial answered") cannot race with a concurrent answer.

`next` and an answer run on every trial of every session: their reads and writes are the
hand-written statements of services/trial_sql.py, and what a trial shows was decided when
it was assigned (services/presentation.py).
"""

import json
import random
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from studies.models import Item, Participant, Response, Study, Trial
from studies.services import allocation, blocks, exclusions, presentation, task_kinds, trial_sql
from studies.services.errors import Conflict, NotFound

UPCOMING = 3
Role = Trial.Role


@dataclass(frozen=True)
class _Spare:
    """An item that is not one of the participant's own, as far as choosing needs it."""

    id: int
    image_id: int
    true_class: str


def assign_trials(participant: Participant) -> list[Trial]:
    """Practice trials first, then the participant's items (see allocation) with gold
    trials anywhere among them and attention checks never first and never adjacent.
    Nothing is created, and [] returned, when no item is left for them.

    Runs under the study's lock: the other items are read as plain values, and full rows
    only for the few that practice, gold and attention trials use."""
    config = participant.version.config
    rng = random.Random(participant.seed)
    chosen = allocation.choose_items(participant, rng)
    if not chosen:
        return []
    all_items = participant.version.items.order_by("id").values_list("id", "image_id", "image__true_class")
    spare = _unused([_Spare(*row) for row in all_items], chosen)
    kind = config["task_kind"]
    practice = _known_answer_items(spare, kind, config.get("practice_trials", 0), rng)
    gold = _known_answer_items(_unused(spare, practice), kind, config.get("gold_trials", 0), rng)
    plan = [(Role.PRACTICE, item, "") for item in practice]
    # Gold trials look like the others and may sit anywhere among them.
    gold_before = sorted(rng.randrange(len(chosen) + 1) for _ in gold)
    checks_after = set(
        rng.sample(range(1, len(chosen) + 1), min(config.get("attention_checks", 0), len(chosen)))
    )
    gold_queue = list(zip(gold_before, gold, strict=True))
    # Within-subject blocks: the Latin square decides each image's level and the block order.
    ordered = blocks.arrange(participant, chosen, rng) if config.get("blocks") else [("", i) for i in chosen]
    for position, (block, item) in enumerate(ordered):
        while gold_queue and gold_queue[0][0] == position:
            plan.append((Role.GOLD, gold_queue.pop(0)[1], block))
        plan.append((Role.MAIN, item, block))
        if position + 1 in checks_after:
            plan.append((Role.ATTENTION, rng.choice(spare), ""))
    plan += [(Role.GOLD, item, "") for _, item in gold_queue]
    full = _full_items(participant, [item for _, item, _ in plan if isinstance(item, _Spare)])
    plan = [(role, full.get(item.id, item), block) for role, item, block in plan]
    decoys = _decoys(participant) if any(role == Role.ATTENTION for role, _, _ in plan) else []
    trials = []
    for index, (role, item, block) in enumerate(plan):
        if role == Role.ATTENTION:
            trial_kind, question = task_kinds.ATTENTION, task_kinds.attention_question(item, rng, decoys)
        else:
            known = role in (Role.PRACTICE, Role.GOLD)
            trial_kind, question = kind, task_kinds.question(kind, item, config, rng, known)
        trial = _trial(participant, trial_kind, role, item, question, index, block)
        trial.presentation = presentation.build(trial, config)
        trials.append(trial)
    return Trial.objects.bulk_create(trials)


def _full_items(participant: Participant, picked: list[_Spare]) -> dict[int, Item]:
    ids = {item.id for item in picked}
    if not ids:
        return {}
    related = ("image", "prediction", "adversarial", "explanation")
    return participant.version.items.select_related(*related).in_bulk(ids)


def _unused(items: list, taken: list) -> list:
    """Items of other source images than `taken` (all of them when none is left)."""
    sources = {item.image_id for item in taken}
    return [item for item in items if item.image_id not in sources] or items


def _decoys(participant: Participant) -> list[dict]:
    """Labels of the study's classes, for attention checks' options."""
    seen = {}
    rows = participant.version.items.order_by("id").values_list(
        "labels", "image__true_class", "image__true_label"
    )
    for labels, true_class, true_label in rows:
        for label in labels:
            seen.setdefault(label["id"], {"id": label["id"], "text": label["text"]})
        if true_class:
            seen.setdefault(true_class, {"id": true_class, "text": true_label})
    return sorted(seen.values(), key=lambda label: label["id"])


def _known_answer_items(spare: list[_Spare], kind: str, count: int, rng: random.Random) -> list[_Spare]:
    """Items for practice or gold trials: their answer must be known (the dataset's label)."""
    usable = spare
    if kind in task_kinds.NEEDS_TRUE_LABEL:
        usable = [item for item in spare if item.true_class]
    picked, sources = [], set()
    for item in usable:
        if item.image_id not in sources:
            picked.append(item)
            sources.add(item.image_id)
    return rng.sample(picked, min(count, len(picked)))


def _trial(participant, kind, role, item, question, index, block) -> Trial:
    return Trial(
        participant=participant,
        index=index,
        block=block,
        item=item,
        kind=kind,
        role=role,
        prompt=question.prompt,
        options=question.options,
        expected=question.expected,
    )


def progress(participant: Participant) -> dict:
    """Trials that count (practice does not): done means answered or skipped."""
    settled = Q(response__isnull=False) | ~Q(problem="")
    counts = participant.trials.exclude(role=Role.PRACTICE).aggregate(
        total=Count("id"), done=Count("id", filter=settled)
    )
    return {"done": counts["done"], "total": counts["total"]}


def next_trial(participant: Participant) -> tuple[dict | None, list[str], dict]:
    """The first open trial (the same one until it is answered or skipped), the image URLs
    of the ones after it, for preloading, and the session's progress. The trial is None
    once none is open."""
    rows = trial_sql.session_trials(participant.pk)
    counted = [row for row in rows if row.role != Role.PRACTICE]
    done = {"done": sum(row.settled for row in counted), "total": len(counted)}
    upcoming = [] if participant.is_finished else [row for row in rows if not row.settled][: UPCOMING + 1]
    if not upcoming:
        return None, [], done
    current = upcoming[0]
    if not current.presented:
        trial_sql.mark_presented(current.id, timezone.now())
    missing = [row.id for row in upcoming if row.presentation is None]
    shown = presentation.backfill(participant, missing) if missing else {}
    shown.update({row.id: json.loads(row.presentation) for row in upcoming if row.presentation is not None})
    trial = presentation.payload(current, json.loads(current.options), shown[current.id])
    urls = [url for row in upcoming[1:] for url in presentation.image_urls(shown[row.id])]
    return trial, urls, done


def _complete(participant: Participant) -> None:
    """No trial is open any more: the session is complete. A completion may fill the
    study's last quota, which closes it."""
    participant.finish(Participant.Status.COMPLETED)
    exclusions.apply(participant, "posthoc")
    study = Study.objects.select_for_update().get(pk=participant.study_id)
    allocation.close_if_complete(study, participant.version.config)


def _settle(participant: Participant) -> tuple[dict, bool]:
    """Progress, and whether the session just completed (no trial is open any more)."""
    done, still_open = _progress_and_open(participant)
    finished = not still_open
    if finished:
        _complete(participant)
    else:
        Participant.objects.filter(pk=participant.pk).update(last_active_at=timezone.now())
    return done, finished


def _progress_and_open(participant: Participant) -> tuple[dict, int]:
    """progress() and the number of trials still open (practice included), in one query."""
    counted = ~Q(role=Role.PRACTICE)
    counts = participant.trials.aggregate(
        total=Count("id", filter=counted),
        done=Count("id", filter=counted & (Q(response__isnull=False) | ~Q(problem=""))),
        open=Count("id", filter=Q(response__isnull=True, problem="")),
    )
    return {"done": counts["done"], "total": counts["total"]}, counts["open"]


def record_response(
    participant: Participant, trial_id: int, answer: dict, rt_ms: int, client: dict, key: str
) -> tuple[dict, bool]:
    """Store an answer. Returns (receipt, created).

    The stored receipt lacks the response's id, not known before the row is written:
    reply() adds it."""
    with transaction.atomic():
        now = timezone.now()
        participant.status, participant.excluded = trial_sql.lock_participant(participant.pk, now)
        context = trial_sql.answer_context(participant, trial_id)
        if context is None:
            raise NotFound("There is no such trial in this session.", code="unknown_trial")
        if context.response_id is not None:
            if context.idempotency_key == key:
                return reply(context.response_id, json.loads(context.receipt)), False
            raise Conflict(
                "This trial was already answered; the first answer is kept.", code="already_answered"
            )
        if participant.is_finished:
            raise Conflict("This session has ended.", code="session_ended")
        if context.problem:
            raise Conflict("This trial was skipped: its image could not be shown.", code="trial_skipped")
        if not context.presented:
            raise _not_presented()
        trial = context.trial
        canonical = task_kinds.validate_answer(trial, answer, participant.version.config)
        counts = trial.role != Role.PRACTICE
        finished = context.unsettled == 1  # this answer settles the last open trial
        receipt = {
            "trial": trial.id,
            "progress": {"done": context.done + counts, "total": context.total},
            "finished": finished,
        }
        if trial.role == Role.PRACTICE:
            receipt["feedback"] = task_kinds.feedback(trial, canonical)
        try:
            response_id = trial_sql.insert_response(trial.id, canonical, rt_ms, client, key, receipt, now)
        except IntegrityError:
            # The participant's lock serialises their answers, so only a bug gets here.
            raise Conflict(
                "This trial was already answered; the first answer is kept.", code="already_answered"
            ) from None
        if _screen_out_if_excluded(participant):
            if not finished:
                receipt["finished"] = True
                Response.objects.filter(pk=response_id).update(receipt=receipt)
        elif finished:
            _complete(participant)
    return reply(response_id, receipt), True


def reply(response_id: int, receipt: dict) -> dict:
    """What an answer's submitter is told, the first time and on every replay: the stored
    receipt and the response's id."""
    return {"id": response_id, **receipt}


def _not_presented() -> Conflict:
    """Trials are answered in order: one that `next` has not handed out yet was never
    seen, so an answer to it (a forged or reordered request) means nothing."""
    return Conflict("This trial has not been shown yet; answer the current one first.", code="not_presented")


def _screen_out_if_excluded(participant: Participant) -> bool:
    """The study's live exclusion rules, after every answer: a rule that fires ends the
    session as screened out (even on its last trial), giving back its place."""
    if not exclusions.apply(participant, "live"):
        return False
    participant.finish(Participant.Status.SCREENED_OUT)
    return True


# Why a browser could not show a trial's images (the problem report's reason).
PROBLEMS = ("image_unavailable", "checksum_mismatch")


def report_problem(participant: Participant, trial_id: int, reason: str, detail: str) -> tuple[dict, bool]:
    """The browser could not load or verify a trial's images: the trial is skipped (kept,
    with the reason, for the researcher) and the session goes on. Returns (receipt, created)."""
    with transaction.atomic():
        participant = Participant.objects.select_for_update().get(pk=participant.pk)
        trial = participant.trials.filter(pk=trial_id).first()
        if trial is None:
            raise NotFound("There is no such trial in this session.", code="unknown_trial")
        if Response.objects.filter(trial=trial).exists():
            raise Conflict("This trial was already answered; the answer is kept.", code="already_answered")
        created = not trial.problem
        if created:
            if participant.is_finished:
                raise Conflict("This session has ended.", code="session_ended")
            if trial.presented_at is None:
                raise _not_presented()
            trial.problem, trial.problem_detail, trial.reported_at = reason, detail[:200], timezone.now()
            trial.save(update_fields=["problem", "problem_detail", "reported_at"])
            done, finished = _settle(participant)
        else:
            done, finished = progress(participant), participant.is_finished
    return {"trial": trial.id, "progress": done, "finished": finished}, created
