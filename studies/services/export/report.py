"""What an export wrote, told to the researcher: every export (over HTTP or with
`manage.py export`) is recorded in the study's audit log once its last row is written, with
who asked, how many rows, and how many stored values per column were written as text
because they were not of the column's type (see cells.py). The dashboard shows the latest
such warnings; the command prints them."""

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from studies.models import AuditLog, Study

ACTION = "export"


@dataclass
class Report:
    rows: int = 0
    as_text: Counter = field(default_factory=Counter)

    def count(self, columns: Iterable[str]) -> None:
        self.as_text.update(columns)

    def warning(self) -> str:
        """One sentence for the researcher, or "" when every value had its column's type."""
        return warning(dict(self.as_text))


def warning(as_text: dict[str, int]) -> str:
    if not as_text:
        return ""
    total = sum(as_text.values())
    columns = ", ".join(f"{column} ({n})" for column, n in sorted(as_text.items()))
    values = "value was" if total == 1 else "values were"
    return f"{total} stored {values} not of their column's type and written as text: {columns}."


def recorded(study: Study, table: str, rows: Iterator[list], report: Report, by: str) -> Iterator[list]:
    """`rows` as they come (header first), then the audit-log entry once the last is out:
    an export the client broke off is not recorded as written."""
    yield next(rows)
    for row in rows:
        report.rows += 1
        yield row
    AuditLog.objects.create(
        study=study,
        action=ACTION,
        detail={"table": table, "by": by, "rows": report.rows, "as_text": dict(report.as_text)},
    )


def latest_warnings(study: Study, limit: int = 5) -> list[dict]:
    """The study's latest exports that wrote values as text, newest first (a bounded read)."""
    entries = (
        AuditLog.objects.filter(study=study, action=ACTION)
        .exclude(detail__as_text={})
        .order_by("-created_at")[:limit]
    )
    return [
        {"table": entry.detail["table"], "at": entry.created_at, "warning": warning(entry.detail["as_text"])}
        for entry in entries
    ]
