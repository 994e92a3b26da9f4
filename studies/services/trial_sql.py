"""The statements `next` and `response` run, written as SQL.

These two requests are most of a study's traffic (every trial of every session). Through
the ORM each cost a dozen or more round trips, each paying 0.2–0.9 ms of query compilation,
several times what the database itself spent (bench/load.py --profile). Here each step is
one statement of portable SQL (PostgreSQL, and SQLite for the embedded default; the suite
runs on both). The rules they serve stay in services/trials.py; this module only reads and
writes rows.

JSON columns come back as text (SQLite stores text; Django's PostgreSQL connection hands
jsonb over undecoded), so callers decode only the ones they use."""

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from studies.models import Participant, Response, Trial
from studies.services import prepared_statements

TRIAL = Trial._meta.db_table
RESPONSE = Response._meta.db_table
PARTICIPANT = Participant._meta.db_table
PRACTICE = Trial.Role.PRACTICE
LARGEST_ID = 2**63 - 1  # ids are 64-bit (BigAutoField)


@dataclass(frozen=True)
class SessionTrial:
    """One of a participant's trials, as `next` reads it. `options` and `presentation`
    (JSON text) are read only for trials still open; `presentation` is None also for a
    trial assigned before it was stored (services/presentation.py fills it in)."""

    id: int
    index: int
    kind: str
    role: str
    prompt: str
    presented: bool
    settled: bool  # answered, or skipped for a problem with its image
    options: str | None
    presentation: str | None


# The participant's trials in order, whether each is settled, and what an open one shows.
SESSION_TRIALS = f"""
SELECT t.id, t."index", t.kind, t.role, t.prompt, t.presented_at IS NOT NULL,
       r.id IS NOT NULL OR t.problem <> '',
       CASE WHEN r.id IS NULL AND t.problem = '' THEN t.options END,
       CASE WHEN r.id IS NULL AND t.problem = '' THEN t.presentation END
FROM {TRIAL} t LEFT JOIN {RESPONSE} r ON r.trial_id = t.id
WHERE t.participant_id = %s
ORDER BY t."index"
"""


def session_trials(participant_id: int) -> list[SessionTrial]:
    with connection.cursor() as cursor:
        prepared_statements.execute(cursor, "secondlook_session_trials", SESSION_TRIALS, [participant_id])
        return [
            SessionTrial(id_, index, kind, role, prompt, bool(presented), bool(settled), options, shown)
            for id_, index, kind, role, prompt, presented, settled, options, shown in cursor.fetchall()
        ]


MARK_PRESENTED = f"UPDATE {TRIAL} SET presented_at = %s WHERE id = %s AND presented_at IS NULL"


def mark_presented(trial_id: int, now: datetime) -> None:
    """The first time `next` hands the trial out (a reload hands out the same one)."""
    with connection.cursor() as cursor:
        prepared_statements.execute(
            cursor,
            "secondlook_mark_presented",
            MARK_PRESENTED,
            [connection.ops.adapt_datetimefield_value(now), trial_id],
        )


LOCK_PARTICIPANT = f"UPDATE {PARTICIPANT} SET last_active_at = %s WHERE id = %s RETURNING status, excluded"


def lock_participant(participant_id: int, now: datetime) -> tuple[str, bool]:
    """Lock the participant's row for the rest of the transaction (their answers are
    serialised by it) by recording their activity, and read what the lock protects: their
    status and whether an exclusion rule flagged them."""
    with connection.cursor() as cursor:
        prepared_statements.execute(
            cursor,
            "secondlook_lock_participant",
            LOCK_PARTICIPANT,
            [connection.ops.adapt_datetimefield_value(now), participant_id],
        )
        status, excluded = cursor.fetchone()
    return status, bool(excluded)


@dataclass(frozen=True)
class AnswerContext:
    """What an answer to one trial is checked against: the trial, the response it already
    has (if any) and the session's counts before this answer."""

    trial: Trial  # unsaved: the columns read here, for validation and feedback
    presented: bool
    problem: str
    response_id: int | None
    idempotency_key: str | None
    receipt: str | None
    total: int  # trials that count (not practice)
    done: int  # of those, answered or skipped
    unsettled: int  # trials of any role neither answered nor skipped


ANSWER_CONTEXT = f"""
SELECT t.id, t.kind, t.role, t.options, t.expected, t.item_id, t.presented_at IS NOT NULL,
       t.problem, r.id, r.idempotency_key, r.receipt, c.total, c.done, c.unsettled
FROM {TRIAL} t
LEFT JOIN {RESPONSE} r ON r.trial_id = t.id
CROSS JOIN (
    SELECT SUM(CASE WHEN o.role <> %s THEN 1 ELSE 0 END) AS total,
           SUM(CASE WHEN o.role <> %s AND (q.id IS NOT NULL OR o.problem <> '') THEN 1 ELSE 0 END)
               AS done,
           SUM(CASE WHEN q.id IS NULL AND o.problem = '' THEN 1 ELSE 0 END) AS unsettled
    FROM {TRIAL} o LEFT JOIN {RESPONSE} q ON q.trial_id = o.id
    WHERE o.participant_id = %s
) c
WHERE t.id = %s AND t.participant_id = %s
"""


def answer_context(participant: Participant, trial_id: int) -> AnswerContext | None:
    """None when the trial is not one of the participant's."""
    if trial_id > LARGEST_ID:
        return None  # names no row, and the drivers refuse integers past 64 bits
    with connection.cursor() as cursor:
        params = [PRACTICE, PRACTICE, participant.pk, trial_id, participant.pk]
        prepared_statements.execute(cursor, "secondlook_answer_context", ANSWER_CONTEXT, params)
        row = cursor.fetchone()
    if row is None:
        return None
    id_, kind, role, options, expected, item_id, presented, problem, *rest = row
    response_id, key, receipt, total, done, unsettled = rest
    trial = Trial(
        id=id_,
        participant=participant,
        kind=kind,
        role=role,
        options=json.loads(options),
        expected=None if expected is None else json.loads(expected),
        item_id=item_id,
    )
    return AnswerContext(trial, bool(presented), problem, response_id, key, receipt, total, done, unsettled)


INSERT_RESPONSE = (
    f"INSERT INTO {RESPONSE} (trial_id, answer, rt_ms, client, idempotency_key, receipt, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id"
)


def insert_response(
    trial_id: int, answer: dict, rt_ms: int, client: dict, key: str, receipt: dict, now: datetime
) -> int:
    """The new response's id. Raises IntegrityError if the trial already has one."""
    with connection.cursor() as cursor:
        prepared_statements.execute(
            cursor,
            "secondlook_insert_response",
            INSERT_RESPONSE,
            [
                trial_id,
                json.dumps(answer),
                rt_ms,
                json.dumps(client),
                key,
                json.dumps(receipt),
                connection.ops.adapt_datetimefield_value(now),
            ],
        )
        return cursor.fetchone()[0]
