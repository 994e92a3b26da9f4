"""JSON request bodies of the participant API, with a bound on nesting and only storable text.

`json.load` recurses once per level of nesting and past Python's recursion limit raises
RecursionError, which DRF's JSONParser (it catches ValueError) let through as a 500: ten
kilobytes of brackets were enough. A body that parses only just below the limit would fail
the same way later, in whatever walks it recursively (repr in an error message, str() of the
client info, the JSONField's encoder). Contract v1 bodies are three or four levels deep, so
anything deeper than MAX_DEPTH is refused here as a malformed body (400).

JSON's `\\ud800` escapes decode to lone surrogates, which are not Unicode text: UTF-8 cannot
encode them, so PostgreSQL refused them (a 500), SQLite stored them and every CSV export then
broke on them, and even an error message quoting one failed to render. PostgreSQL also
refuses U+0000. Both are refused here, anywhere in a body, as a 400 naming the field."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

MAX_DEPTH = 32


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if nested_deeper_than(data, MAX_DEPTH):
            raise too_deep
        errors = unstorable_text(data)
        if errors:
            raise ValidationError(errors)
        return data


def nested_deeper_than(value, limit: int) -> bool:
    """Whether `value` has more than `limit` levels of lists and dicts (walked without
    recursion, so that any depth can be measured)."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored as text, or None when it can."""
    if "\x00" in text:
        return "Null characters (U+0000) are not allowed."
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "Not valid Unicode text (a lone surrogate)."
    return None


def unstorable_text(value) -> dict | None:
    """Field errors for the first string (value or field name) that cannot be stored, nested
    like the body (list positions as keys, as DRF nests them); None when all can be."""
    pending = [(value, ())]
    while pending:
        node, path = pending.pop()
        if isinstance(node, str):
            problem = text_problem(node)
            if problem:
                return _nest(path, problem)
        elif isinstance(node, dict):
            for key, child in node.items():
                problem = text_problem(key)
                if problem:
                    return _nest(path, f"A field name: {problem}")
                pending.append((child, (*path, key)))
        elif isinstance(node, list):
            pending.extend((child, (*path, str(index))) for index, child in enumerate(node))
    return None


def _nest(path: tuple[str, ...], message: str) -> dict:
    errors: dict | list = [message]
    for key in reversed(path):
        errors = {key: errors}
    return errors if isinstance(errors, dict) else {"non_field_errors": errors}
