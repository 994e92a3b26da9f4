"""The participants table: one row per participant (wide form), with their design,
outcome, exclusions and summary measures."""

import statistics
from collections.abc import Iterator

from studies.models import Study, Trial
from studies.services import client_info, task_kinds
from studies.services.export.cells import safe
from studies.services.export.report import Report
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


def _row(participant, report: Report) -> list:
    trials = list(participant.trials.all())
    answered = [t for t in trials if hasattr(t, "response")]
    data = [t.response.rt_ms for t in answered if t.role == Role.MAIN]
    checks = [task_kinds.is_correct(t, t.response.answer) for t in answered if t.role == Role.ATTENTION]
    gold = [task_kinds.is_correct(t, t.response.answer) for t in answered if t.role == Role.GOLD]
    counted = [t for t in trials if t.role != Role.PRACTICE]
    hidden = [client_info.hidden_ms(t.response.client) for t in answered]
    if None in hidden:
        # Not a whole number of ms: left out of the sum, and the researcher told.
        report.count(["hidden_ms"] * hidden.count(None))
    return safe(
        [
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
            sum(ms for ms in hidden if ms is not None),
        ]
    )


def participant_rows(
    study: Study, included: Included = Included(), report: Report | None = None
) -> Iterator[list]:
    """The header, then one row per participant in order of arrival."""
    report = Report() if report is None else report
    yield COLUMNS
    participants = (
        participants_of(study, included)
        .select_related("study", "version")
        .prefetch_related("exclusions", "trials__response")
        .order_by("id")
    )
    for participant in participants.iterator(chunk_size=500):
        yield _row(participant, report)
