"""Cells of the CSV exports: what makes any stored value safe to write.

- **No cell starts a formula.** Researchers open these files in Excel and LibreOffice,
  which run a cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return as a
  formula (`=HYPERLINK(...)` sends data away, `=cmd|...` runs a program). Every text cell
  that begins so gets a leading single quote (OWASP's rule for CSV injection); numbers are
  written as numbers, so a negative number stays numeric.
- **Every cell can be encoded.** A lone surrogate (stored by SQLite from JSON's `\\ud800`
  before the API refused them) cannot be written as UTF-8; it is written as its escape.
- **A value is written as its column's type or, when it cannot be, as text**, and the
  caller counts it (export/report.py): an export never stops half-way on one stored row.

The codebook states both rules (TYPES and TEXT_CELLS) for whoever reads the files."""

import json
import math
from collections.abc import Iterable

STR, INT, NUM, TIME, FLAG, LIST = "string", "integer", "number", "datetime", "flag", "list"
TYPES = (
    "string; integer; number; datetime (ISO 8601 with time zone); flag (0 or 1, empty when it "
    'does not apply); list ("|"-separated, in the order shown)'
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_CELLS = (
    "A text cell that would begin with =, +, -, @, a tab or a carriage return begins with a "
    "single quote (') instead, so that spreadsheets show it as text and never run it as a "
    "formula: remove that one leading quote to get the stored text. Numbers are never changed. "
    "A stored value that is not of its column's type (possible only in rows stored before "
    "SecondLook typed participants' input) is written as text, and the export says how many."
)


def text(value: str) -> str:
    """A text cell that starts no formula and encodes as UTF-8."""
    if value.startswith(FORMULA_START):
        value = "'" + value
    if not value.isascii():
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def safe(cells: Iterable) -> list:
    """A row (or part of one) with every text cell made safe; other cells as they are."""
    return [text(cell) if isinstance(cell, str) else cell for cell in cells]


def as_text(value) -> str:
    """Any stored JSON value as a text cell: strings as themselves, the rest as JSON."""
    return text(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def typed(kind: str, value) -> tuple[object, bool]:
    """(cell, whether `value` had the column's type). A missing value (None) is an empty
    cell; a value of another type comes back as text. Integral floats are integers."""
    if value is None:
        return "", True
    if kind == INT and _number(value) and value == int(value):
        return int(value), True
    if kind == NUM and _number(value):
        return value, True
    if kind == FLAG and isinstance(value, bool):
        return int(value), True
    if kind == STR and isinstance(value, str):
        return text(value), True
    return as_text(value), False
