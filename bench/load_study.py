"""The study bench/load.py and the load tests run participants through, and the check
afterwards, from the database, that every answer the server acknowledged is stored exactly
once, nothing else is, and the design's invariants hold. Django is imported inside the
functions: the HTTP side of the load generator runs without it."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass

from bench.loadgen import Ledger


@dataclass(frozen=True)
class Design:
    images: int
    per_participant: int
    judgments_per_item: int
    conditions: tuple[str, ...] = ("a", "b")


def saturating_design(participants: int, per_participant: int = 10, k: int = 2) -> Design:
    """Just enough items for `participants` split evenly over two conditions to judge each
    item exactly K times in each condition (given at least one session's worth of images):
    a race that overshoots K or unbalances the conditions leaves someone without work, or
    breaks the K check."""
    per_condition = math.ceil(participants / 2)
    return Design(max(per_participant, math.ceil(per_condition * per_participant / k)), per_participant, k)


def make_study(slug: str, design: Design):
    """A live top-k study on `design.images` image rows with fabricated top-5 predictions
    (the participant API reads neither image files nor a model), two conditions of equal
    weight and no quota, K judgments per item and condition."""
    from bench import databases
    from inference.labelsets import imagenet_1k
    from inference.models import Image, ImageSet, Prediction
    from studies.models import Condition, Study
    from studies.services import launch

    labels = imagenet_1k()
    image_set = ImageSet.objects.create(name=f"{slug}-images")
    classifier = databases.stand_in_classifier("load-bench")
    images = Image.objects.bulk_create(
        Image(
            sha256=hashlib.sha256(f"{slug}-{n}".encode()).hexdigest(),
            file="images/none.png",
            format="PNG",
            width=224,
            height=224,
            true_class=labels.class_ids[n % 1000],
            true_label=labels.names[n % 1000],
            original_name=f"load/{slug}/{n:05d}.png",
        )
        for n in range(design.images)
    )
    image_set.images.add(*images)
    Prediction.objects.bulk_create(
        Prediction(
            image=image,
            classifier=classifier,
            topk=[
                {
                    "rank": r + 1,
                    "index": c,
                    "class_id": labels.class_ids[c],
                    "label": labels.names[c],
                    "prob": 0.1,
                }
                for r, c in enumerate((n + 7 * j) % 1000 for j in range(5))
            ],
        )
        for n, image in enumerate(images)
    )
    study = Study.objects.create(
        slug=slug,
        title=slug,
        image_set=image_set,
        classifier=classifier,
        images_per_participant=design.per_participant,
        judgments_per_item=design.judgments_per_item,
        consent_text="You agree to take part.",
    )
    Condition.objects.bulk_create(Condition(study=study, name=name) for name in design.conditions)
    launch.launch(study)
    return study


def violations(slugs: list[str], ledger: Ledger) -> list[str]:
    """What the database says against the acknowledgements and the design, [] when all
    holds: every acknowledged answer stored once, with its key, receipt and answer; nothing
    stored that was not acknowledged; and each study's design invariants."""
    from django.db.models import Count

    from studies.models import Response, Study
    from studies.services import trials

    problems = list(ledger.problems)
    stored = Response.objects.filter(trial__participant__study__slug__in=slugs)
    twice = stored.values("trial_id").annotate(n=Count("id")).filter(n__gt=1)
    problems += [f"trial {row['trial_id']}: stored {row['n']} times" for row in twice]
    rows = {r["trial_id"]: r for r in stored.values("id", "trial_id", "idempotency_key", "answer", "receipt")}
    for trial_id, ack in ledger.acks.items():
        row = rows.get(trial_id)
        if row is None:
            problems.append(f"trial {trial_id}: acknowledged ({ack.receipt}) but not stored")
        elif (row["idempotency_key"], row["answer"], trials.reply(row["id"], row["receipt"])) != (
            ack.key,
            ack.answer,
            ack.receipt,
        ):
            problems.append(f"trial {trial_id}: stored {row} differs from the acknowledged {ack}")
    problems += [f"trial {t}: stored but never acknowledged" for t in rows.keys() - ledger.acks.keys()]
    for study in Study.objects.filter(slug__in=slugs).select_related("current_version"):
        problems += design_violations(study)
    return problems


def design_violations(study) -> list[str]:
    """Balance (no quota here: places per weight differ by at most one participant's
    share), at most K data trials per item and condition among place holders, no source
    image twice for one participant, and completed sessions fully answered."""
    from django.db.models import Count, Q

    from studies.models import Participant, Trial

    config = study.current_version.config
    problems = []
    # Place holders (allocation's invariants): valid participants who completed or are
    # judging. Nobody in these runs is idle past the session timeout.
    holders = Participant.objects.filter(
        study=study, kind="real", excluded=False, status__in=("completed", "active")
    ).exclude(condition="")
    held = Counter(holders.values_list("condition", flat=True))
    weights = {c["name"]: c["weight"] for c in config["conditions"] if c["weight"]}
    loads = {name: held[name] / weight for name, weight in weights.items()}
    if max(loads.values()) - min(loads.values()) > max(1 / w for w in weights.values()):
        problems.append(f"{study.slug}: conditions unbalanced: {dict(held)} for weights {weights}")
    main = Trial.objects.filter(role="main", participant__study=study)
    k = config["judgments_per_item"]
    if k:
        over = (
            main.filter(participant__in=holders)
            .values("participant__condition", "item_id")
            .annotate(n=Count("id"))
            .filter(n__gt=k)
        )
        problems += [f"{study.slug}: item judged more than K={k} times: {row}" for row in over]
    source = "item__image_id" if config.get("one_version_per_image", True) else "item_id"
    repeats = main.values("participant_id", source).annotate(n=Count("id")).filter(n__gt=1)
    problems += [f"{study.slug}: a participant got one image twice: {row}" for row in repeats]
    too_many = (
        main.values("participant_id").annotate(n=Count("id")).filter(n__gt=config["images_per_participant"])
    )
    problems += [f"{study.slug}: more trials than images_per_participant: {row}" for row in too_many]
    unfinished = Participant.objects.filter(study=study, status="completed").filter(
        Q(trials__response__isnull=True) & Q(trials__problem="")
    )
    problems += [f"{study.slug}: {p} completed with unanswered trials" for p in unfinished.distinct()]
    return problems
