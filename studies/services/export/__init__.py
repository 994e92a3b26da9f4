"""Researchers' exports: responses (long form), participants (wide form), items, and the
codebook that documents every column. Staff only; streamed; also management commands."""

from studies.services.export.codebook import codebook
from studies.services.export.csv_stream import csv_response, write_csv
from studies.services.export.items import item_rows
from studies.services.export.participants import participant_rows
from studies.services.export.responses import Included, header, max_k, response_rows

TABLES = {"responses": response_rows, "participants": participant_rows, "items": item_rows}


def rows(study, table: str, included: Included = Included()):
    """The header and rows of one table; items do not depend on who is included."""
    if table == "items":
        return item_rows(study)
    return TABLES[table](study, included)


__all__ = [
    "TABLES",
    "Included",
    "codebook",
    "csv_response",
    "header",
    "max_k",
    "response_rows",
    "rows",
    "write_csv",
]
