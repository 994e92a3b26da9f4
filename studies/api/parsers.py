"""JSON request bodies of the participant API, with a bound on nesting.

`json.load` recurses once per level of nesting and past Python's recursion limit raises
RecursionError, which DRF's JSONParser (it catches ValueError) let through as a 500: ten
kilobytes of brackets were enough. A body that parses only just below the limit would fail
the same way later, in whatever walks it recursively (repr in an error message, str() of the
client info, the JSONField's encoder). Contract v1 bodies are three or four levels deep, so
anything deeper than MAX_DEPTH is refused here as a malformed body (400)."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

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
