"""Reading the client information stored with answers: what the participant's browser
measured (declared, and typed at the door, by ClientInfo in studies/api/serializers.py).

Rows stored before that declaration, or edited in the database, may hold any JSON; readers
here return None for a value that is not of its declared type instead of raising, so that
no export, analysis or exclusion rule stops on one participant's row."""

import math


def whole_number(value) -> int | None:
    """`value` as an int if it is a JSON number without a fractional part (not `true`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def hidden_ms(client) -> int | None:
    """How long the page was hidden during the trial: 0 when not reported, None when the
    stored value is not a whole number of milliseconds."""
    if not isinstance(client, dict) or "hidden_ms" not in client:
        return 0
    return whole_number(client["hidden_ms"])
