"""The participants table: one row per participant (wide form), with their design,
outcome, exclusions and summary measures."""

import statistics
from collections.abc import Iterator

from studies.models import Study, Trial
from studies.services import task_kinds
from studies.services.export.responses import Included, participants_of

Role = Trial.Role
COLUMNS = [
    "study",
    "study_version",
    "participant",
    "participant_kind",
    "participant_status",
    "condition",
    "rotation",
    "excluded",
    "exclusion_rules",
    "consent_version",
    "entered_at",
    "consented_at",
    "finished_at",
    "trials",
    "answered",
    "skipped",
    "attention_checks",
    "attention_failed",
    "gold_trials",
    "gold_correct",
    "median_rt_ms",
    "hidden_ms",
]


def _iso(value) -> str:
    return value.isoformat() if value else ""


def _row(participant) -> list:
    trials = list(participant.trials.all())
    answered = [t for t in trials if hasattr(t, "response")]
    data = [t.response.rt_ms for t in answered if t.role == Role.MAIN]
    checks = [task_kinds.is_correct(t, t.response.answer) for t in answered if t.role == Role.ATTENTION]
    gold = [task_kinds.is_correct(t, t.response.answer) for t in answered if t.role == Role.GOLD]
    counted = [t for t in trials if t.role != Role.PRACTICE]
    hidden = sum(int((t.response.client or {}).get("hidden_ms", 0) or 0) for t in answered)
    return [
        participant.study.slug,
        participant.version.number,
        participant.pseudonym,
        participant.kind,
        participant.status,
        participant.condition,
        "" if participant.rotation is None else participant.rotation,
        int(participant.excluded),
        "|".join(event.rule for event in participant.exclusions.all()),
        participant.consent_version or "",
        _iso(participant.created_at),
        _iso(participant.consented_at),
        _iso(participant.finished_at),
        len(counted),
        sum(1 for t in answered if t.role != Role.PRACTICE),
        sum(1 for t in counted if t.problem),
        sum(1 for t in trials if t.role == Role.ATTENTION),
        checks.count(False),
        sum(1 for t in trials if t.role == Role.GOLD),
        gold.count(True),
        statistics.median(data) if data else "",
        hidden,
    ]


def participant_rows(study: Study, included: Included = Included()) -> Iterator[list]:
    """The header, then one row per participant in order of arrival."""
    yield COLUMNS
    participants = (
        participants_of(study, included)
        .select_related("study", "version")
        .prefetch_related("exclusions", "trials__response")
        .order_by("id")
    )
    for participant in participants.iterator(chunk_size=500):
        yield _row(participant)
