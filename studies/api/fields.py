"""Strict JSON types for what participants send: a value of the wrong JSON type is refused,
never converted.

DRF's own fields coerce: IntegerField takes "12", FloatField takes `true` as 1.0, CharField
takes 5 as "5" and BooleanField takes "yes". What a participant's browser sends is stored
and exported as research data, so a value that is not already of its declared type is a
400 naming the field, and stored values are exactly what the column's type says."""

import math

from rest_framework import serializers


def _is_finite_number(value) -> bool:
    # bool is a subclass of int in Python, but `true` is not a number in JSON. Ints are
    # never tested with math.isfinite, which overflows on JSON's arbitrarily long integers.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


class StrictInteger(serializers.IntegerField):
    """A JSON number with no fractional part (12 or 12.0), within the field's bounds."""

    default_error_messages = {"invalid": "A whole number is required."}

    def to_internal_value(self, data):
        if not _is_finite_number(data) or data != int(data):
            self.fail("invalid")
        return int(data)


class StrictNumber(serializers.FloatField):
    """A finite JSON number, within the field's bounds (`1e400` parses as infinity)."""

    default_error_messages = {"invalid": "A finite number is required."}

    def to_internal_value(self, data):
        if not _is_finite_number(data):
            self.fail("invalid")
        return data  # 2 stays 2: the export writes what the browser measured


class StrictBoolean(serializers.BooleanField):
    """JSON `true` or `false`, nothing that merely looks like one."""

    default_error_messages = {"invalid": "true or false is required."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictText(serializers.CharField):
    """A JSON string (the field's length and blank rules apply as to any CharField)."""

    default_error_messages = {"invalid": "A string is required."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def size_pair(**bounds) -> serializers.ListField:
    """[width, height] in whole pixels."""
    return serializers.ListField(
        child=StrictInteger(min_value=0, max_value=100_000), min_length=2, max_length=2, **bounds
    )
