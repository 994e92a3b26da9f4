"""Rate limits of the participant API: fixed one-minute windows counted in the database.

One statement counts a request against all its keys at once (an upsert that returns the
new counts), so a limited request costs one round trip. The counts need no durability: on
PostgreSQL their table is unlogged (migration 0014), so that statement does not wait for
the disk either."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from studies.models import RateCounter
from studies.services import prepared_statements

WINDOW = timedelta(minutes=1)
# Old windows are deleted now and then by the requests themselves (no scheduler needed).
PURGE_CHANCE = 0.001
KEEP = timedelta(hours=1)
# What "now" is; tests set it to stay inside one window.
clock = timezone.now


@dataclass(frozen=True)
class Limit:
    """At most `per_minute` requests for `key` (say "answers:token:42")."""

    key: str
    per_minute: int


@dataclass(frozen=True)
class Exceeded:
    limit: Limit
    retry_after_s: int


def _window_start(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def count(limits: list[Limit], now: datetime | None = None) -> Exceeded | None:
    """Count one request against every limit; the first limit now exceeded, or None."""
    if not limits:
        return None
    now = now or clock()
    start = _window_start(now)
    table, key = connection.ops.quote_name(RateCounter._meta.db_table), connection.ops.quote_name("key")
    rows = ", ".join(["(%s, %s, 1)"] * len(limits))
    params = [value for limit in limits for value in (limit.key, start)]
    # One statement, atomic on its own: no transaction around it.
    sql = (
        f"INSERT INTO {table} ({key}, window_start, count) VALUES {rows} "
        f"ON CONFLICT ({key}, window_start) DO UPDATE SET count = {table}.count + 1 "
        f"RETURNING {key}, count"
    )
    with connection.cursor() as cursor:
        prepared_statements.execute(cursor, f"secondlook_rate_count_{len(limits)}", sql, params)
        counts = dict(cursor.fetchall())
    if random.random() < PURGE_CHANCE:
        purge(now)
    for limit in limits:
        if counts[limit.key] > limit.per_minute:
            retry_after = (start + WINDOW - now).total_seconds()
            return Exceeded(limit, max(1, round(retry_after)))
    return None


def purge(now: datetime | None = None) -> int:
    """Delete the windows that ended long ago."""
    deleted, _ = RateCounter.objects.filter(window_start__lt=(now or clock()) - KEEP).delete()
    return deleted
