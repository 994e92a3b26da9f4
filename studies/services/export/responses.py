"""The responses table: one row per answered trial (long form), flat columns.

Rows are read with a server-side iterator in chunks and written as they are produced,
so memory stays flat however many responses a study has. Participants appear only by
pseudonym; raw recruitment ids are never exported."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace

from django.db.models import TextField
from django.db.models.functions import Cast

from studies.models import Item, Participant, Response, Study, Trial
from studies.services import allocation, heatmaps, task_kinds
from studies.services.export import client_columns
from studies.services.export.cells import as_text, safe, text
from studies.services.export.report import Report

BASE_COLUMNS = [
    "study",
    "study_version",
    "participant",
    "participant_status",
    "participant_kind",
    "condition",
    "excluded",
    "exclusion_rules",
    "consent_version",
    "trial_index",
    "trial_id",
    "trial_role",
    "block",
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
    "stimulus_type",
    "stimulus_sha256",
    "stimulus_width",
    "stimulus_height",
    "attack",
    "attack_eps",
    "attack_linf",
    "attack_l2",
    "model_class_id",
    "model_label",
    "explanation_display",
    "explanation_method",
    "explanation_sha256",
    "heatmap_normalisation",
    "explanation_scale",
    "prompt",
]
OPTION_FIELDS = ["class_id", "label", "prob", "position", "selected"]
TAIL_COLUMNS = [
    "none_selected",
    "selected_labels",
    "option_ids",
    "option_texts",
    "choice_id",
    "choice_text",
    "choice_position",
    "confidence",
    "expected",
    "correct",
    "rt_ms",
    "presented_at",
    "answered_at",
    "display_scale_requested",
    *client_columns.COLUMNS,
]
# Lists inside a cell (never JSON): joined with this, in the order shown.
JOIN = "|"
# The column that holds each field of an answer.
ANSWER_COLUMNS = {"selected": "selected_labels", "choice": "choice_id", "confidence": "confidence"}


def max_k(study: Study) -> int:
    ks = [version.config.get("k", 0) for version in study.versions.all()]
    return max(ks + [study.k])


def header(k: int) -> list[str]:
    options = [f"rank{rank}_{field}" for rank in range(1, k + 1) for field in OPTION_FIELDS]
    return BASE_COLUMNS + options + TAIL_COLUMNS


def _iso(value) -> str:
    return value.isoformat() if value else ""


def _flag(value) -> int | str:
    return "" if value is None else int(bool(value))


def _rank_columns(labels: list, positions: dict, selected: set, k: int) -> list:
    """The model's top-k of a top-k trial, with each label's position and selection."""
    columns = []
    for rank in range(1, k + 1):
        label = labels[rank - 1] if rank <= len(labels) else None
        if label is None:
            columns += ["", "", "", "", ""]
        else:
            columns += [
                label["id"],
                label["text"],
                label["prob"],
                positions.get(label["id"], ""),
                int(label["id"] in selected),
            ]
    return columns


def _stimulus_columns(item, config: dict, display: str) -> list:
    adversarial = item.adversarial
    params = adversarial.params if adversarial else {}
    top = task_kinds.model_label(item)
    heatmap = display in ("side_by_side", "toggle")
    normalisation = heatmaps.normalisation_of(config) if heatmap and item.explanation_id else ""
    overlay = heatmaps.overlay(item.explanation, normalisation) if normalisation else None
    return [
        "adversarial" if adversarial else "clean",
        item.stimulus["sha256"],
        item.stimulus["width"],
        item.stimulus["height"],
        params.get("attack", ""),
        params.get("eps", ""),
        adversarial.linf if adversarial else "",
        adversarial.l2 if adversarial else "",
        top["id"],
        top["text"],
        display,
        config.get("explanation_method", "") if heatmap else "",
        overlay.sha256 if overlay else "",
        normalisation,
        overlay.scale if overlay and overlay.scale is not None else "",
    ]


# What a row reads, as plain values. JSON columns come as their text: the answer-dependent
# columns are a pure function of that text and the item, so repeated answers (a study has
# few distinct ones per item) are decoded and formatted once, in a bounded cache.
FIELDS = (
    "rt_ms",
    "answer_json",
    "client_json",
    "created_at",
    "trial_id",
    "trial__index",
    "trial__role",
    "trial__block",
    "trial__kind",
    "trial__prompt",
    "options_json",
    "expected_json",
    "trial__presented_at",
    "trial__item_id",
    "trial__participant_id",
)
JSON_FIELDS = {
    "answer_json": "answer",
    "client_json": "client",
    "options_json": "trial__options",
    "expected_json": "trial__expected",
}
CACHE_SIZE = 8192


class _Shared:
    """Columns that many rows share, computed once: a participant's, and an item's as shown
    in one way (its stimulus columns depend on how explanations were displayed)."""

    def __init__(self):
        self.participant_columns: dict[int, list] = {}
        self.item_columns: dict[tuple[int, str], list] = {}

    def of_participant(self, participant) -> list:
        found = self.participant_columns.get(participant.id)
        if found is None:
            config = participant.version.config
            found = self.participant_columns[participant.id] = safe(
                [
                    config["slug"],
                    participant.version.number,
                    participant.pseudonym,
                    participant.status,
                    participant.kind,
                    participant.condition,
                    int(participant.excluded),
                    JOIN.join(event.rule for event in participant.exclusions.all()),
                    participant.consent_version or "",
                ]
            )
        return found

    def of_item(self, item, config: dict, display: str) -> list:
        key = (item.id, display)
        found = self.item_columns.get(key)
        if found is None:
            image = item.image
            found = self.item_columns[key] = safe(
                [
                    item.id,
                    image.sha256,
                    image.original_name,
                    image.width,
                    image.height,
                    image.true_class,
                    image.true_label,
                    config["classifier"]["name"],
                    config["classifier"]["weights_sha256"],
                    *_stimulus_columns(item, config, display),
                ]
            )
        return found


class _AnswerColumns:
    """The columns from the model's top-k to `correct`: they depend only on the item, the
    task kind and the JSON of options, answer and expected answer."""

    def __init__(self, items: dict, k: int):
        self.items = items
        self.k = k
        self.of = lru_cache(maxsize=CACHE_SIZE)(self._columns)
        # Where each answer field's column sits in these cells (the rank columns come first).
        self.offset = {
            column: len(OPTION_FIELDS) * k + TAIL_COLUMNS.index(column) for column in ANSWER_COLUMNS.values()
        }

    def _columns(self, item_id: int, kind: str, options_json: str, answer_json: str, expected_json) -> tuple:
        """(cells, names of the columns whose stored value was written as text)."""
        options = json.loads(options_json)
        answer, off_type = task_kinds.read_answer(json.loads(answer_json))
        expected = json.loads(expected_json) if expected_json else None
        selected = set(answer.get("selected", []))
        texts = {option["id"]: option["text"] for option in options}
        ids = [option["id"] for option in options]
        positions = {option_id: position for position, option_id in enumerate(ids, start=1)}
        labels = self.items[item_id].labels if kind == Study.TaskKind.TOPK_SELECT else []
        choice = answer.get("choice", "")
        cells = [
            *_rank_columns(labels, positions, selected, self.k),
            _flag("none" in selected) if "selected" in answer else "",
            JOIN.join(texts[i] for i in ids if i in selected),
            JOIN.join(ids),
            JOIN.join(texts[i] for i in ids),
            choice,
            texts.get(choice, ""),
            positions.get(choice, ""),
            answer.get("confidence", ""),
            (expected or {}).get("choice") or JOIN.join((expected or {}).get("selected", [])),
            _flag(task_kinds.is_correct(SimpleNamespace(expected=expected), answer)),
        ]
        written_as_text = tuple(self._write_off_type(cells, kind, off_type))
        return tuple(safe(cells)), written_as_text

    def _write_off_type(self, cells: list, kind: str, off_type: dict):
        """Stored answer fields not of their type go, as text, in the column that holds the
        field (a whole answer that is not an object: in the column of its kind's answer)."""
        for field, value in off_type.items():
            if field == "answer":
                field = "selected" if kind == Study.TaskKind.TOPK_SELECT else "choice"
            column = ANSWER_COLUMNS[field]
            cells[self.offset[column]] = as_text(value)
            yield column


class _Display:
    """How each trial showed explanations, from its participant's version and its block."""

    def __init__(self):
        self.found: dict[tuple[int, str], str] = {}

    def of(self, participant, block: str) -> str:
        key = (participant.id, block)
        display = self.found.get(key)
        if display is None:
            trial = SimpleNamespace(participant=participant, block=block)
            display = self.found[key] = allocation.display_of(trial)
        return display


@dataclass(frozen=True)
class Included:
    """What the default export leaves out, and can include on request (flag columns
    participant_kind, excluded and trial_role tell the rows apart)."""

    practice: bool = False
    pilot: bool = False
    excluded: bool = False


def participants_of(study: Study, included: Included):
    participants = Participant.objects.filter(study=study)
    if not included.pilot:
        participants = participants.filter(kind=Participant.Kind.REAL)
    if not included.excluded:
        participants = participants.filter(excluded=False)
    return participants


def response_rows(
    study: Study, included: Included = Included(), report: Report | None = None
) -> Iterator[list]:
    """The header, then one row per response, in participant and trial order. Practice
    answers, pilot and preview participants and excluded participants are left out unless
    asked for.

    Versions, participants and items are read once and shared by their rows (a response
    row then costs one Response and one Trial); only responses stream, so memory grows
    with participants and items, not with answers. Stored values not of their column's
    type are written as text and counted in `report`."""
    report = Report() if report is None else report
    k = max_k(study)
    yield header(k)
    versions = {version.id: version for version in study.versions.all()}
    participants = {}
    for participant in (
        participants_of(study, included).prefetch_related("exclusions").iterator(chunk_size=2000)
    ):
        participant.version = versions[participant.version_id]
        participants[participant.id] = participant
    items = {
        item.id: item
        for item in Item.objects.filter(version__study=study).select_related(
            "image", "prediction", "adversarial", "explanation"
        )
    }
    responses = Response.objects.filter(trial__participant__study=study).order_by(
        "trial__participant_id", "trial__index"
    )
    if not included.practice:
        responses = responses.exclude(trial__role=Trial.Role.PRACTICE)
    if not (included.pilot and included.excluded):
        responses = responses.filter(trial__participant__in=participants_of(study, included))
    shared = _Shared()
    answers = _AnswerColumns(items, k)
    displays = _Display()
    client_cells = lru_cache(maxsize=CACHE_SIZE)(client_columns.columns)
    # Researchers name blocks, and prompts quote labels: both are text cells, few distinct.
    cell_text = lru_cache(maxsize=CACHE_SIZE)(text)
    # Plain values, not model instances; JSON as text (see FIELDS).
    responses = responses.annotate(
        **{name: Cast(field, TextField()) for name, field in JSON_FIELDS.items()}
    ).values_list(*FIELDS)
    for values in responses.iterator(chunk_size=5000):
        (
            rt_ms, answer_json, client_json, created_at, trial_id, index, role, block, kind, prompt,
            options_json, expected_json, presented_at, item_id, participant_id,
        ) = values  # fmt: skip
        participant = participants[participant_id]
        item = items[item_id]
        answer_cells, answer_off_type = answers.of(item_id, kind, options_json, answer_json, expected_json)
        client, client_off_type = client_cells(client_json)
        if answer_off_type or client_off_type:
            report.count(answer_off_type + client_off_type)
        yield [
            *shared.of_participant(participant),
            index,
            trial_id,
            role,
            cell_text(block),
            kind,
            *shared.of_item(item, participant.version.config, displays.of(participant, block)),
            cell_text(prompt),
            *answer_cells,
            rt_ms,
            _iso(presented_at),
            _iso(created_at),
            # Versions frozen before the display scale existed showed stimuli at 1×.
            participant.version.config.get("display_scale", 1),
            *client,
        ]
