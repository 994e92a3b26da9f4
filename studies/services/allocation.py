"""Allocation: which condition a participant runs under and which items they judge.

Invariants:
- A place is held by a valid participant (real, not pilot or test; no exclusion rule fired)
  who completed, or who
  is judging and was active within the study's session timeout. Screened-out, excluded,
  withdrawn and idle sessions hold none, so their place (and their items) go back to
  newcomers.
- A participant joins the open condition (quota not reached) with the fewest places held
  relative to its weight; ties are broken by the participant's stored seed. With no open
  condition, or no item left to judge, they get the "full" outcome; once every condition
  with a quota has its valid completions, the study closes itself.
- An item counts toward K (judgments per item per condition) for every place-holding
  participant it was given to: answered, or reserved by someone still active.
- Decisions are taken under a lock on the study row, so simultaneous consents are
  serialised and no quota or K is overshot by a race.
"""

import random
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from studies.models import Item, Participant, Study, Trial
from studies.services import blocks

Status = Participant.Status


def conditions(config: dict) -> list[dict]:
    return config["conditions"]


def _cutoff(config: dict):
    return timezone.now() - timedelta(minutes=config["session_timeout_minutes"])


def holding_places(study: Study, config: dict):
    """Participants who hold a place (see the module's invariants)."""
    active = Q(status=Status.ACTIVE, last_active_at__gte=_cutoff(config))
    valid = Participant.objects.filter(study=study, excluded=False, kind=Participant.Kind.REAL).exclude(
        condition=""
    )
    return valid.filter(Q(status=Status.COMPLETED) | active)


def places(study: Study, config: dict) -> dict[str, int]:
    held = dict(holding_places(study, config).values_list("condition").annotate(n=Count("id")))
    return {c["name"]: held.get(c["name"], 0) for c in conditions(config)}


def completions(study: Study) -> dict[str, int]:
    done = Participant.objects.filter(study=study, status=Status.COMPLETED, excluded=False).exclude(
        condition=""
    )
    return dict(done.values_list("condition").annotate(n=Count("id")))


def _open(config: dict, held: dict[str, int]) -> list[dict]:
    return [
        c for c in conditions(config) if c["weight"] > 0 and (not c["quota"] or held[c["name"]] < c["quota"])
    ]


def has_room(study: Study, config: dict) -> bool:
    """Whether a newcomer could get a place now (checked again, under the lock, at consent)."""
    return bool(_open(config, places(study, config)))


def assign_condition(participant: Participant) -> str:
    """The condition for a consenting participant, or "" when every quota is reached.
    The caller holds the study's row lock."""
    config = participant.version.config
    held = places(participant.study, config)
    candidates = _open(config, held)
    if participant.kind != Participant.Kind.REAL:
        # Pilot and test participants take no place: they may see any condition, full or not.
        candidates = [c for c in conditions(config) if c["weight"] > 0]
    if not candidates:
        return ""
    load = {c["name"]: held[c["name"]] / c["weight"] for c in candidates}
    lightest = min(load.values())
    tied = [c["name"] for c in candidates if load[c["name"]] == lightest]
    return random.Random(participant.seed).choice(tied)


def judged(participant: Participant) -> dict[int, int]:
    """How many place-holding participants of the same condition each item was given to."""
    config = participant.version.config
    holders = holding_places(participant.study, config).filter(condition=participant.condition)
    counts = (
        Trial.objects.filter(
            role=Trial.Role.MAIN, participant__in=holders, item__version__study=participant.study
        )
        .values_list("item_id")
        .annotate(n=Count("id"))
    )
    return dict(counts)


def choose_items(participant: Participant, rng: random.Random) -> list[Item]:
    """The participant's items: least-judged first among those below K, ties broken by
    the seeded shuffle, at most one per source image, in a random order.

    Runs under the study's lock (at consent), so it decides on plain ids and loads full
    rows only for the items chosen: the cost grows with the chosen, not with the study."""
    config = participant.version.config
    # Pilot and test participants reserve nothing and are never turned away for want of items.
    limit = config.get("judgments_per_item", 0) if participant.kind == Participant.Kind.REAL else 0
    counts = judged(participant)
    # (id, image id, adversarial?) in id order, so the seeded shuffle sees what it always saw.
    items = [
        (item_id, image_id, adversarial_id is not None)
        for item_id, image_id, adversarial_id in Item.objects.filter(version=participant.version)
        .order_by("id")
        .values_list("id", "image_id", "adversarial_id")
    ]
    if blocks.needs_both_versions(config):
        # Clean and adversarial blocks: only images with both versions can go to either.
        versions: dict[int, set[bool]] = {}
        for _, image_id, adversarial in items:
            versions.setdefault(image_id, set()).add(adversarial)
        items = [item for item in items if len(versions[item[1]]) == 2]
    rng.shuffle(items)
    items.sort(key=lambda item: counts.get(item[0], 0))  # stable: the shuffle breaks ties
    chosen, sources = [], set()
    # A clean image and its adversarial version are one source, unless the design says not.
    one_version = config.get("one_version_per_image", True)
    for item_id, image_id, _ in items:
        if limit and counts.get(item_id, 0) >= limit:
            break
        source = image_id if one_version else item_id
        if source not in sources and len(chosen) < config["images_per_participant"]:
            chosen.append(item_id)
            sources.add(source)
    rng.shuffle(chosen)
    rows = Item.objects.select_related("image", "prediction", "adversarial", "explanation").in_bulk(chosen)
    return [rows[item_id] for item_id in chosen]


def close_if_complete(study: Study, config: dict) -> bool:
    """Close the study once every condition has a quota and has reached it with valid
    completions. The caller holds the study's row lock."""
    quotas = {c["name"]: c["quota"] for c in conditions(config) if c["weight"] > 0}
    if not quotas or not all(quotas.values()):
        return False
    done = completions(study)
    if any(done.get(name, 0) < quota for name, quota in quotas.items()):
        return False
    Study.objects.filter(pk=study.pk, status=Study.Status.LIVE).update(status=Study.Status.CLOSED)
    return True


def display_of(trial: Trial) -> str:
    """How the trial shows explanations: its block's level when that sets it, else the
    participant's condition."""
    level = blocks.level_of(trial.participant.version.config, trial.block) if trial.block else {}
    return level.get("explanation_display") or condition_of(trial.participant)["explanation_display"]


def condition_of(participant: Participant) -> dict:
    """The participant's condition as frozen in their version."""
    config = participant.version.config
    for condition in config["conditions"]:
        if condition["name"] == participant.condition:
            return condition
    return {"name": participant.condition, "explanation_display": config["explanation_display"]}
