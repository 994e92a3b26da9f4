"""The responses table: one row per answered trial (long form), flat columns.

Rows are read with a server-side iterator in chunks and written as they are produced,
so memory stays flat however many responses a study has. Participants appear only by
pseudonym; raw recruitment ids are never exported."""

from collections.abc import Iterator
from dataclasses import dataclass

from studies.models import Item, Participant, Response, Study, Trial
from studies.services import allocation, task_kinds

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
    "dpr",
    "viewport_width",
    "viewport_height",
    "displayed_width",
    "displayed_height",
    "scaled",
    "input",
    "hidden_ms",
    "hidden_count",
    "explanation_opened",
    "explanation_open_ms",
]
# Lists inside a cell (never JSON): joined with this, in the order shown.
JOIN = "|"


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


def _pair(value, index: int):
    return value[index] if isinstance(value, list | tuple) and len(value) > index else ""


def _rank_columns(trial: "_TrialRow", answer: dict, k: int) -> list:
    """The model's top-k of a top-k trial, with each label's position and selection."""
    labels = trial.item.labels if trial.kind == Study.TaskKind.TOPK_SELECT else []
    selected = set(answer.get("selected", []))
    positions = {option["id"]: position for position, option in enumerate(trial.options, start=1)}
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
    overlay = item.explanation.overlay_sha256 if heatmap and item.explanation_id else ""
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
        overlay,
    ]


def _client_columns(client: dict) -> list:
    views = client.get("explanation_views") if isinstance(client.get("explanation_views"), list) else []
    open_ms = 0
    for view in views:
        if isinstance(view, dict) and isinstance(view.get("open_ms"), int | float):
            end = view.get("close_ms")
            if isinstance(end, int | float):
                open_ms += max(0, end - view["open_ms"])
    return [
        client.get("dpr", ""),
        _pair(client.get("viewport"), 0),
        _pair(client.get("viewport"), 1),
        _pair(client.get("displayed"), 0),
        _pair(client.get("displayed"), 1),
        _flag(client.get("scaled")),
        client.get("input", ""),
        client.get("hidden_ms", ""),
        client.get("hidden_count", ""),
        len(views) if views else "",
        round(open_ms) if views else "",
    ]


@dataclass(slots=True)
class _TrialRow:
    """The trial fields a row needs (what services such as allocation.display_of read)."""

    id: int
    index: int
    role: str
    block: str
    kind: str
    prompt: str
    options: list
    expected: dict | None
    presented_at: object
    item: Item
    participant: Participant


@dataclass(slots=True)
class _ResponseRow:
    rt_ms: int
    answer: dict
    client: dict
    created_at: object
    trial: _TrialRow

    FIELDS = (
        "rt_ms",
        "answer",
        "client",
        "created_at",
        "trial_id",
        "trial__index",
        "trial__role",
        "trial__block",
        "trial__kind",
        "trial__prompt",
        "trial__options",
        "trial__expected",
        "trial__presented_at",
        "trial__item_id",
        "trial__participant_id",
    )

    @classmethod
    def of(cls, values: tuple, participants: dict, items: dict) -> "_ResponseRow":
        rt_ms, answer, client, created_at, *trial, item_id, participant_id = values
        return cls(
            rt_ms, answer, client, created_at, _TrialRow(*trial, items[item_id], participants[participant_id])
        )


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
            found = self.participant_columns[participant.id] = [
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
        return found

    def of_item(self, item, config: dict, display: str) -> list:
        key = (item.id, display)
        found = self.item_columns.get(key)
        if found is None:
            image = item.image
            found = self.item_columns[key] = [
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
        return found


def _row(response: "_ResponseRow", k: int, shared: _Shared) -> list:
    trial = response.trial
    participant = trial.participant
    item = trial.item
    config = participant.version.config
    answer = response.answer
    selected = set(answer.get("selected", []))
    texts = {option["id"]: option["text"] for option in trial.options}
    ids = [option["id"] for option in trial.options]
    choice = answer.get("choice", "")
    expected = trial.expected or {}
    return [
        *shared.of_participant(participant),
        trial.index,
        trial.id,
        trial.role,
        trial.block,
        trial.kind,
        *shared.of_item(item, config, allocation.display_of(trial)),
        trial.prompt,
        *_rank_columns(trial, answer, k),
        _flag("none" in selected) if "selected" in answer else "",
        JOIN.join(texts[i] for i in ids if i in selected),
        JOIN.join(ids),
        JOIN.join(texts[i] for i in ids),
        choice,
        texts.get(choice, ""),
        ids.index(choice) + 1 if choice in ids else "",
        answer.get("confidence", ""),
        expected.get("choice") or JOIN.join(expected.get("selected", [])),
        _flag(task_kinds.is_correct(trial, answer)),
        response.rt_ms,
        _iso(trial.presented_at),
        _iso(response.created_at),
        *_client_columns(response.client or {}),
    ]


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


def response_rows(study: Study, included: Included = Included()) -> Iterator[list]:
    """The header, then one row per response, in participant and trial order. Practice
    answers, pilot and preview participants and excluded participants are left out unless
    asked for.

    Versions, participants and items are read once and shared by their rows (a response
    row then costs one Response and one Trial); only responses stream, so memory grows
    with participants and items, not with answers."""
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
    # Plain values, not model instances: a row then costs its own fields and nothing more.
    for values in responses.values_list(*_ResponseRow.FIELDS).iterator(chunk_size=5000):
        response = _ResponseRow.of(values, participants, items)
        yield _row(response, k, shared)
