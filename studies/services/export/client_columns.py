"""The responses table's columns from the client information stored with an answer (what
the browser measured; declared by ClientInfo in studies/api/serializers.py).

The API stores only typed values, but a row stored before it did, or edited in the
database, may hold any JSON: each value is written as its column's type or, when it is not
of that type, as text, and the columns so written are returned for the export's report."""

import json

from studies.services.export.cells import FLAG, INT, NUM, STR, as_text, typed

COLUMNS = [
    "dpr",
    "viewport_width",
    "viewport_height",
    "displayed_width",
    "displayed_height",
    "scaled",
    "display_scale",
    "input",
    "hidden_ms",
    "hidden_count",
    "explanation_opened",
    "explanation_open_ms",
]
EMPTY = ("",) * len(COLUMNS)


def columns(client_json: str | None) -> tuple[tuple, tuple[str, ...]]:
    """(cells in COLUMNS order, names of the columns whose stored value was written as
    text). A pure function of the JSON text, so that the export can cache it."""
    client = json.loads(client_json) if client_json else {}
    if not isinstance(client, dict):
        return EMPTY, ("client",)
    off_type: list[str] = []

    def cell(kind: str, field: str, column: str):
        value, has_type = typed(kind, client.get(field))
        if not has_type:
            off_type.append(column)
        return value

    cells = (
        cell(NUM, "dpr", "dpr"),
        *_pair(client.get("viewport"), "viewport", off_type),
        *_pair(client.get("displayed"), "displayed", off_type),
        cell(FLAG, "scaled", "scaled"),
        cell(NUM, "display_scale", "display_scale"),
        cell(STR, "input", "input"),
        cell(INT, "hidden_ms", "hidden_ms"),
        cell(INT, "hidden_count", "hidden_count"),
        *_views(client.get("explanation_views"), off_type),
    )
    return cells, tuple(off_type)


def _pair(value, field: str, off_type: list[str]) -> tuple:
    """[width, height] as two integer cells."""
    if value is None:
        return "", ""
    if isinstance(value, list) and len(value) == 2:
        (width, wide), (height, high) = typed(INT, value[0]), typed(INT, value[1])
        if wide and high:
            return width, height
    off_type.append(f"{field}_width")
    return as_text(value), ""


def _is_time(value) -> bool:
    return typed(NUM, value)[1] and value is not None


def _views(views, off_type: list[str]) -> tuple:
    """How often the toggled explanation was opened, and for how long in all (an opening
    still open at the answer counts as opened, not towards the time)."""
    if views is None or views == []:
        return "", ""
    valid = isinstance(views, list) and all(
        isinstance(view, dict)
        and _is_time(view.get("open_ms"))
        and (view.get("close_ms") is None or _is_time(view["close_ms"]))
        for view in views
    )
    if not valid:
        off_type.append("explanation_opened")
        return as_text(views), ""
    closed = [view for view in views if view.get("close_ms") is not None]
    open_ms = sum(max(0, view["close_ms"] - view["open_ms"]) for view in closed)
    return len(views), round(open_ms)
