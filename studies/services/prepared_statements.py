"""The participant path's statements, prepared once per PostgreSQL connection.

Every participant request runs a few small statements (the token lookup, a rate-limit count,
`next`'s and an answer's reads and writes). For each, parsing and planning cost PostgreSQL
more than running it does: prepared, they took PostgreSQL's CPU for a `next` and an answer
from 2.4 to 1.4 ms (bench/load.py, 20 participants at once). So on PostgreSQL each is
prepared the first time a connection runs it (`PREPARE`, which outlives
the transaction it ran in) and executed by name after that; a new connection (after a
restart of the server, or CONN_MAX_AGE) prepares its own again.

SQL-level prepared statements belong to one server connection. Behind a pooler that hands a
client another server connection for each transaction (PgBouncer's transaction mode) they
would be missing there: PREPARED_STATEMENTS=0 in the environment turns them off. SQLite's
driver already caches its own compiled statements, so there the SQL runs as it is."""

import re
import weakref

from django.conf import settings
from django.db import connection

# Prepared statements' names per driver connection (a weak key: a connection that is
# closed takes its names with it).
_prepared: "weakref.WeakKeyDictionary[object, set[str]]" = weakref.WeakKeyDictionary()
PLACEHOLDER = re.compile(r"%(s|%)")


def positional(sql: str) -> str:
    """The statement with the driver's placeholders (%s) numbered as PREPARE wants them
    ($1, $2, …), and %% (a literal %) made plain again."""
    count = 0

    def number(match: re.Match) -> str:
        nonlocal count
        if match.group(1) == "%":
            return "%"
        count += 1
        return f"${count}"

    return PLACEHOLDER.sub(number, sql)


def enabled() -> bool:
    return connection.vendor == "postgresql" and settings.PREPARED_STATEMENTS


def execute(cursor, name: str, sql: str, params: list) -> None:
    """Run `sql` with `params` on `cursor`, through the prepared statement `name` on
    PostgreSQL. `name` must stand for this `sql` alone (one name per statement text)."""
    if not enabled():
        cursor.execute(sql, params)
        return
    names = _prepared.setdefault(connection.connection, set())
    if name not in names:
        cursor.execute(f"PREPARE {name} AS {positional(sql)}")
        names.add(name)
    arguments = f" ({', '.join(['%s'] * len(params))})" if params else ""
    cursor.execute(f"EXECUTE {name}{arguments}", params)
