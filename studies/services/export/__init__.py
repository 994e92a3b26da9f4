"""Researchers' exports: responses (long form), participants (wide form), items, and the
codebook that documents every column. Staff only; streamed; also management commands."""

from collections.abc import Iterator

from studies.services.export.codebook import codebook
from studies.services.export.csv_stream import csv_response, write_csv
from studies.services.export.items import item_rows
from studies.services.export.participants import participant_rows
from studies.services.export.report import Report, latest_warnings, recorded
from studies.services.export.responses import Included, header, max_k, response_rows

TABLES = {"responses": response_rows, "participants": participant_rows, "items": item_rows}


def rows(study, table: str, included: Included = Included(), report: Report | None = None):
    """The header and rows of one table; items do not depend on who is included. Values
    written as text because they were not of their column's type are counted in `report`."""
    if table == "items":
        return item_rows(study)
    return TABLES[table](study, included, Report() if report is None else report)


def recorded_rows(study, table: str, included: Included, by: str) -> tuple[Report, Iterator[list]]:
    """rows(), recorded in the study's audit log once the last is written (report.py)."""
    report = Report()
    return report, recorded(study, table, rows(study, table, included, report), report, by)


__all__ = [
    "TABLES",
    "Included",
    "Report",
    "codebook",
    "csv_response",
    "header",
    "latest_warnings",
    "max_k",
    "recorded_rows",
    "response_rows",
    "rows",
    "write_csv",
]
