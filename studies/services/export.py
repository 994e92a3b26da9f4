"""Exporting responses as CSV: one row per response, flat columns, streamed.

Rows are read with a server-side iterator in chunks and written as they are produced,
so memory stays flat however many responses a study has. Participants appear only by
pseudonym; raw recruitment ids are never exported."""

import csv
from collections.abc import Iterator

from django.http import StreamingHttpResponse

from studies.models import Response, Study

BASE_COLUMNS = [
    "study",
    "study_version",
    "participant",
    "participant_status",
    "consent_version",
    "trial_index",
    "trial_id",
    "task_kind",
    "item_id",
    "image_sha256",
    "image_name",
    "image_width",
    "image_height",
    "true_class",
    "true_label",
    "classifier",
    "classifier_weights_sha256",
]
OPTION_FIELDS = ["class_id", "label", "prob", "position", "selected"]
TAIL_COLUMNS = ["none_selected", "selected_labels", "rt_ms", "presented_at", "answered_at"]


def max_k(study: Study) -> int:
    ks = [version.config.get("k", 0) for version in study.versions.all()]
    return max(ks + [study.k])


def header(k: int) -> list[str]:
    options = [f"rank{rank}_{field}" for rank in range(1, k + 1) for field in OPTION_FIELDS]
    return BASE_COLUMNS + options + TAIL_COLUMNS


def _iso(value) -> str:
    return value.isoformat() if value else ""


def _row(response: Response, k: int) -> list:
    trial = response.trial
    participant = trial.participant
    item = trial.item
    image = item.image
    config = participant.version.config
    selected = set(response.answer.get("selected", []))
    positions = {option["id"]: position for position, option in enumerate(trial.options, start=1)}
    options = []
    for rank in range(1, k + 1):
        label = item.labels[rank - 1] if rank <= len(item.labels) else None
        if label is None:
            options += ["", "", "", "", ""]
        else:
            options += [
                label["id"],
                label["text"],
                label["prob"],
                positions.get(label["id"], ""),
                int(label["id"] in selected),
            ]
    chosen_labels = [option["text"] for option in trial.options if option["id"] in selected]
    return [
        config["slug"],
        participant.version.number,
        participant.pseudonym,
        participant.status,
        participant.consent_version or "",
        trial.index,
        trial.id,
        trial.kind,
        item.id,
        image.sha256,
        image.original_name,
        image.width,
        image.height,
        image.true_class,
        image.true_label,
        config["classifier"]["name"],
        config["classifier"]["weights_sha256"],
        *options,
        int("none" in selected),
        "|".join(chosen_labels),
        response.rt_ms,
        _iso(trial.presented_at),
        _iso(response.created_at),
    ]


def response_rows(study: Study) -> Iterator[list]:
    """The header, then one row per response, in participant and trial order."""
    k = max_k(study)
    yield header(k)
    responses = (
        Response.objects.filter(trial__participant__study=study)
        .select_related("trial__participant__version", "trial__item__image")
        .order_by("trial__participant_id", "trial__index")
    )
    for response in responses.iterator(chunk_size=2000):
        yield _row(response, k)


class _Echo:
    """csv.writer needs a file; this one hands each formatted line back instead."""

    def write(self, value: str) -> str:
        return value


def write_responses_csv(study: Study, handle) -> int:
    """Write the CSV to an open text file; returns the number of responses written."""
    rows = response_rows(study)
    writer = csv.writer(handle)
    writer.writerow(next(rows))
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def responses_csv_response(study: Study) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in response_rows(study)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-responses.csv"'
    response["Cache-Control"] = "no-store"
    return response
