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
"""

import random
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from studies.models import Item, Participant, Response, Study, Trial
from studies.services import allocation, blocks, exclusions, task_kinds
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
    decoys = _decoys(participant) if any(role != Role.MAIN for role, _, _ in plan) else []
    trials = []
    for index, (role, item, block) in enumerate(plan):
        if role == Role.ATTENTION:
            trial_kind, question = task_kinds.ATTENTION, task_kinds.attention_question(item, rng, decoys)
        else:
            known = role in (Role.PRACTICE, Role.GOLD)
            trial_kind, question = kind, task_kinds.question(kind, item, config, rng, known, decoys)
        trials.append(_trial(participant, trial_kind, role, item, question, index, block))
    return Trial.objects.bulk_create(trials)


def _full_items(participant: Participant, picked: list[_Spare]) -> dict[int, Item]:
    ids = {item.id for item in picked}
    if not ids:
        return {}
    return participant.version.items.select_related("image", "prediction", "adversarial").in_bulk(ids)


def _unused(items: list, taken: list) -> list:
    """Items of other source images than `taken` (all of them when none is left)."""
    sources = {item.image_id for item in taken}
    return [item for item in items if item.image_id not in sources] or items


def _decoys(participant: Participant) -> list[dict]:
    """Labels of the study's classes, for practice and attention options."""
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


def _open_trials(participant: Participant):
    return (
        participant.trials.filter(response__isnull=True, problem="")
        .select_related("item__image", "item__prediction", "item__adversarial", "item__explanation")
        .order_by("index")
    )


def explanation_payload(trial: Trial, config: dict) -> dict | None:
    display = allocation.display_of(trial)
    if display == "none" or trial.role == Role.ATTENTION:
        return None
    item = trial.item
    label = task_kinds.quoted(task_kinds.model_label(item)["text"])
    if display == "examples":
        return {
            "display": display,
            "method": None,
            "caption": f"Images the model considers typical of {label}",
            "image": None,
            "examples": item.examples,
        }
    overlay = item.explanation
    stimulus = item.stimulus
    return {
        "display": display,
        "method": config["explanation_method"],
        "caption": f"Where the model looked when it answered {label}",
        "image": {
            "url": overlay.stimulus_path,
            "width": stimulus["width"],
            "height": stimulus["height"],
            "sha256": overlay.overlay_sha256,
        },
        "examples": [],
    }


def trial_payload(trial: Trial, config: dict) -> dict:
    return {
        "id": trial.id,
        "index": trial.index,
        "kind": trial.kind,
        "prompt": trial.prompt,
        "image": trial.item.stimulus,
        "explanation": explanation_payload(trial, config),
        "options": trial.options,
        "multi": trial.kind == task_kinds.Kind.TOPK_SELECT,
        "confidence": task_kinds.asks_confidence(trial, config),
        "practice": trial.role == Role.PRACTICE,
    }


def _image_urls(payload: dict) -> list[str]:
    explanation = payload["explanation"] or {}
    extra = [explanation["image"]] if explanation.get("image") else []
    return [image["url"] for image in [payload["image"], *extra, *explanation.get("examples", [])]]


def next_trial(participant: Participant) -> tuple[dict | None, list[str]]:
    """The first open trial (the same one until it is answered or skipped) and the image
    URLs of the ones after it, for preloading. (None, []) once none is open."""
    if participant.is_finished:
        return None, []
    upcoming = list(_open_trials(participant)[: UPCOMING + 1])
    if not upcoming:
        return None, []
    for trial in upcoming:
        trial.participant = participant
    current = upcoming[0]
    if current.presented_at is None:
        Trial.objects.filter(pk=current.pk, presented_at__isnull=True).update(presented_at=timezone.now())
    config = participant.version.config
    urls = [url for trial in upcoming[1:] for url in _image_urls(trial_payload(trial, config))]
    return trial_payload(current, config), urls


def _settle(participant: Participant) -> tuple[dict, bool]:
    """Progress, and whether the session just completed (no trial is open any more). A
    completion may fill the study's last quota, which closes it."""
    done, still_open = _progress_and_open(participant)
    finished = not still_open
    if finished:
        participant.finish(Participant.Status.COMPLETED)
        exclusions.apply(participant, "posthoc")
        study = Study.objects.select_for_update().get(pk=participant.study_id)
        allocation.close_if_complete(study, participant.version.config)
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
    """Store an answer. Returns (receipt, created)."""
    with transaction.atomic():
        version = participant.version  # frozen: the one already read is the one locked
        participant = Participant.objects.select_for_update().get(pk=participant.pk)
        participant.version = version
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
        if trial.problem:
            raise Conflict("This trial was skipped: its image could not be shown.", code="trial_skipped")
        _check_presented(trial)
        canonical = task_kinds.validate_answer(trial, answer, participant.version.config)
        # No savepoint: the participant's lock serialises their answers, so a duplicate can
        # only be a bug, and raising it rolls the whole transaction back anyway.
        try:
            response = Response.objects.create(
                trial=trial, answer=canonical, rt_ms=rt_ms, client=client, idempotency_key=key, receipt={}
            )
        except IntegrityError:
            raise Conflict(
                "This trial was already answered; the first answer is kept.", code="already_answered"
            ) from None
        if _screen_out_if_excluded(participant):
            done, finished = progress(participant), True
        else:
            done, finished = _settle(participant)
        response.receipt = {"id": response.id, "trial": trial.id, "progress": done, "finished": finished}
        if trial.role == Role.PRACTICE:
            response.receipt["feedback"] = task_kinds.feedback(trial, canonical)
        response.save(update_fields=["receipt"])
    return response.receipt, True


def _check_presented(trial: Trial) -> None:
    """Trials are answered in order: one that `next` has not handed out yet was never
    seen, so an answer to it (a forged or reordered request) means nothing."""
    if trial.presented_at is None:
        raise Conflict(
            "This trial has not been shown yet; answer the current one first.", code="not_presented"
        )


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
            _check_presented(trial)
            trial.problem, trial.problem_detail, trial.reported_at = reason, detail[:200], timezone.now()
            trial.save(update_fields=["problem", "problem_detail", "reported_at"])
            done, finished = _settle(participant)
        else:
            done, finished = progress(participant), participant.is_finished
    return {"trial": trial.id, "progress": done, "finished": finished}, created
