"""The live dashboard's numbers: where participants are in the funnel, places per condition
against quota, judgments per item against K, attention and exclusions, reaction times,
and active sessions. Real participants only; pilot and preview ones are counted apart."""

import statistics
from collections import Counter
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from studies.models import ExclusionEvent, Item, Participant, Response, Study, Trial
from studies.services import allocation, export, task_kinds

Status = Participant.Status
Role = Trial.Role


def _config(study: Study) -> dict | None:
    return study.current_version.config if study.current_version_id else None


def funnel(study: Study, cutoff) -> dict:
    real = Participant.objects.filter(study=study, kind=Participant.Kind.REAL)
    counts = real.aggregate(
        entered=Count("id"),
        consented=Count("id", filter=Q(consented_at__isnull=False)),
        completed=Count("id", filter=Q(status=Status.COMPLETED)),
        screened_out=Count("id", filter=Q(status=Status.SCREENED_OUT)),
        no_consent=Count("id", filter=Q(status=Status.NO_CONSENT)),
        withdrawn=Count("id", filter=Q(status=Status.WITHDRAWN)),
        full=Count("id", filter=Q(status=Status.FULL)),
        active=Count("id", filter=Q(status=Status.ACTIVE, last_active_at__gte=cutoff)),
        abandoned=Count("id", filter=Q(status=Status.ACTIVE, last_active_at__lt=cutoff)),
        reading_consent=Count("id", filter=Q(status=Status.CONSENT)),
    )
    counts["pilot_or_preview"] = (
        Participant.objects.filter(study=study).exclude(kind=Participant.Kind.REAL).count()
    )
    return counts


def conditions(study: Study, config: dict, cutoff) -> list[dict]:
    held = allocation.places(study, config)
    done = allocation.completions(study)
    real = Participant.objects.filter(study=study, kind=Participant.Kind.REAL)
    excluded = dict(real.filter(excluded=True).values_list("condition").annotate(n=Count("id")))
    active = dict(
        real.filter(status=Status.ACTIVE, last_active_at__gte=cutoff, excluded=False)
        .values_list("condition")
        .annotate(n=Count("id"))
    )
    rows = []
    for condition in config["conditions"]:
        name = condition["name"]
        rts = list(
            Response.objects.filter(
                trial__participant__in=real.filter(condition=name, excluded=False), trial__role=Role.MAIN
            ).values_list("rt_ms", flat=True)
        )
        rows.append(
            {
                "name": name,
                "weight": condition["weight"],
                "quota": condition["quota"],
                "valid_completed": done.get(name, 0),
                "active": active.get(name, 0),
                "places_held": held[name],
                "excluded": excluded.get(name, 0),
                "median_rt_ms": statistics.median(rts) if rts else None,
                "responses": len(rts),
            }
        )
    return rows


def judgments(study: Study, config: dict) -> dict:
    """Answered data trials of valid real participants per item of the current version."""
    valid = Q(
        trials__role=Role.MAIN,
        trials__response__isnull=False,
        trials__participant__kind=Participant.Kind.REAL,
        trials__participant__excluded=False,
    )
    counts = list(
        Item.objects.filter(version=study.current_version)
        .annotate(n=Count("trials", filter=valid))
        .values_list("n", flat=True)
    )
    k = config.get("judgments_per_item", 0)
    return {
        "items": len(counts),
        "k": k,
        "min": min(counts, default=0),
        "median": statistics.median(counts) if counts else 0,
        "max": max(counts, default=0),
        "at_k": sum(1 for n in counts if k and n >= k),
        "histogram": sorted(Counter(counts).items()),
    }


def attention(study: Study) -> dict:
    answered = Trial.objects.filter(
        participant__study=study,
        participant__kind=Participant.Kind.REAL,
        role=Role.ATTENTION,
        response__isnull=False,
    ).select_related("response")
    results = [task_kinds.is_correct(trial, trial.response.answer) for trial in answered]
    failed = results.count(False)
    percent = round(100 * failed / len(results), 1) if results else None
    return {"answered": len(results), "failed": failed, "percent_failed": percent}


def exclusions(study: Study) -> list[dict]:
    events = (
        ExclusionEvent.objects.filter(participant__study=study, participant__kind=Participant.Kind.REAL)
        .values("rule", "mode")
        .annotate(n=Count("id"))
        .order_by("rule", "mode")
    )
    return list(events)


def summary(study: Study) -> dict:
    config = _config(study)
    if config is None:
        return {"study": study, "launched": False}
    # Exports that had to write stored values as text (export/report.py): the researcher
    # downloading a CSV cannot be told inside it, so they are told here.
    cutoff = timezone.now() - timedelta(minutes=config["session_timeout_minutes"])
    return {
        "study": study,
        "launched": True,
        "version": study.current_version.number,
        "funnel": funnel(study, cutoff),
        "conditions": conditions(study, config, cutoff),
        "judgments": judgments(study, config),
        "attention": attention(study),
        "exclusions": exclusions(study),
        "skipped_trials": Trial.objects.filter(participant__study=study).exclude(problem="").count(),
        "export_warnings": export.latest_warnings(study),
        "updated_at": timezone.now(),
    }
