"""Writing rows as CSV, to a file or streamed over HTTP, as they are produced: memory stays
flat however many rows a table has. Plain RFC 4180 CSV in UTF-8 with a header row, which
pandas (`read_csv`) and R (`read.csv`) read without options."""

import csv
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse


class _Echo:
    """csv.writer needs a file; this one hands each formatted line back instead."""

    def write(self, value: str) -> str:
        return value


def write_csv(rows: Iterator[list], handle) -> int:
    """Write the header and rows to an open text file; returns the number of rows after the header."""
    writer = csv.writer(handle)
    writer.writerow(next(rows))
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def csv_response(rows: Iterable[list], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
